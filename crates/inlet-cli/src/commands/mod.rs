//! One module per subcommand.

pub mod download;
pub mod emr;
pub mod explain;
pub mod failed;
pub mod follow;
pub mod harvest;
pub mod ingest;
pub mod pipelines;
pub mod query;
pub mod redrive;
pub mod rejects;
pub mod repair;
pub mod reprocess;
pub mod tables;
