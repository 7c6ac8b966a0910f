//! # inlet-core
//!
//! The engine behind inlet: files that land in an input bucket become
//! Hive-partitioned Snappy Parquet in an output bucket, registered in a catalog.
//!
//! The crate is organised as the data flows:
//!
//! - [`storage`]: the object-store trait and its local (folder) backend.
//! - [`pipeline`]: pipeline definitions, their validation, and routing by key.
//! - [`archive`]: safe expansion of zip / tar / tar.gz / gz inputs.
//! - [`convert`]: source rows → typed, quality-checked Arrow → Parquet files.
//! - [`catalog`]: the Glue-model catalog trait and its local (JSON) backend.
//! - [`layout`]: lifecycle keys and deterministic output names.
//! - [`partition`]: Hive `k=v/…` partition paths, built and parsed in one place.
//! - [`error`]: error classes: transient (retry) or permanent (`failed/`).
//! - [`ingest`]: the handler that runs one input through all of the above.
//! - [`drive`]: the loop that takes many keys through the handler, and
//!   lists and re-drives failed inputs.
//! - [`register`]: the partitioner: output files → catalog tables and partitions.
//! - [`scratch`]: temporary folders, and sweeping those of dead runs.
//! - [`queue`]: the message-queue trait the entry point forwards archives through.
//! - [`conformance`] and [`faults`]: the suites every backend passes, and a
//!   fault-injecting store, for the backends' and the engine's tests.
//!
//! Backends are traits, so the same handler runs on a laptop (folders and a
//! JSON catalog) and in AWS (S3 and Glue).

pub mod alerts;
pub mod archive;
pub mod catalog;
pub mod conformance;
pub mod convert;
pub mod drive;
pub mod error;
pub mod faults;
pub mod ingest;
pub mod json_file;
pub mod layout;
pub mod partition;
pub mod pipeline;
pub mod queue;
pub mod register;
pub mod scratch;
pub mod storage;

pub use error::{Classify, ErrorClass};
pub use ingest::{Engine, EngineConfig, Failure, LoadReport, Outcome, Stage};
pub use inlet_contract as contract;
pub use partition::Partition;
pub use register::{RegisterReport, Registrar};
