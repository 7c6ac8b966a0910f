//! One module per subcommand.

pub mod failed;
pub mod ingest;
pub mod pipelines;
pub mod query;
pub mod redrive;
pub mod repair;
pub mod tables;
