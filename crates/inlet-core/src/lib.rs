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
//! - [`layout`]: lifecycle prefixes and deterministic output names.
//! - [`ingest`]: the handler that runs one input through all of the above.
//! - [`register`]: the partitioner: output files → catalog tables and partitions.
//!
//! Backends are traits, so the same handler runs on a laptop (folders and a
//! JSON catalog) and in AWS (S3 and Glue).

pub mod archive;
pub mod catalog;
pub mod convert;
pub mod ingest;
pub mod layout;
pub mod pipeline;
pub mod register;
pub mod storage;

pub use ingest::{Engine, EngineConfig, Failure, LoadReport, Outcome, Stage};
pub use register::{RegisterReport, Registrar};
