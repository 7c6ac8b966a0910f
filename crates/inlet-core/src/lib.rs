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
//! - [`ingest`]: the lifecycle of one input (`in/` → `done/` or `failed/`),
//!   the [`Expander`] that unpacks archives, and the [`Engine`] that runs a
//!   file through all of the above.
//! - [`drive`]: the loop that takes many keys through the handler, and
//!   lists and re-drives failed inputs.
//! - [`register`]: the partitioner: output files → catalog tables and partitions.
//! - [`scratch`]: temporary folders, and sweeping those of dead runs.
//! - [`allocator`]: keeping freed heap memory for reuse, set once by each binary.
//! - [`queue`]: the message-queue trait the entry point forwards archives through.
//! - [`conformance`] and [`faults`]: the suites every backend passes, and a
//!   fault-injecting store, for the backends' and the engine's tests.
//!
//! Backends are traits, so the same handler runs on a laptop (folders and a
//! JSON catalog) and in AWS (S3 and Glue).
//!
//! ## Features
//!
//! Without default features the crate is the base every function shares:
//! storage, catalog, layout, archive expansion and the input lifecycle. The
//! unzip function links only that. `register` adds the partitioner's
//! [`register`]; `pipelines` the [`pipeline`] definitions (for the stacks'
//! synthesizer); `engine` (the default) both, and [`convert`], [`drive`] and
//! the [`Engine`].

pub mod alerts;
pub mod allocator;
pub mod archive;
pub mod catalog;
pub mod conformance;
#[cfg(feature = "engine")]
pub mod convert;
#[cfg(feature = "engine")]
pub mod drive;
pub mod error;
pub mod faults;
pub mod ingest;
pub mod json_file;
pub mod layout;
pub mod metadata;
pub mod partition;
#[cfg(feature = "pipelines")]
pub mod pipeline;
pub mod queue;
#[cfg(feature = "register")]
pub mod register;
pub mod scratch;
pub mod storage;

pub use error::{Classify, ErrorClass};
#[cfg(feature = "engine")]
pub use ingest::Engine;
pub use ingest::{EngineConfig, Expander, Failure, LoadReport, Outcome, Stage};
pub use inlet_contract as contract;
pub use partition::Partition;
#[cfg(feature = "register")]
pub use register::{RegisterReport, Registrar};
