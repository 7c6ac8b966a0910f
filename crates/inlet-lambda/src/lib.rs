//! # inlet-lambda
//!
//! inlet's Lambda functions. Each binary in `src/bin/` only wires tracing, AWS
//! clients from the environment and `lambda_runtime::run`; the handlers here
//! are plain async functions over inlet-core's traits, so tests and the CLI
//! call exactly the code that runs in AWS.
//!
//! - [`unzip`]: archives in `in/` → members in `in/<stem>/…`;
//! - [`pipeline_runner`]: other files in `in/` → Parquet in the output bucket;
//! - [`partitioner`]: new Parquet objects → Glue tables and partitions, or a
//!   full `repair`.

pub mod env;
pub mod events;
mod handlers;

pub use handlers::{partitioner, pipeline_runner, unzip};

/// JSON-lines logs on stdout, where Lambda collects them. The runtime's
/// per-invocation span carries the request id into every line.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .init();
}
