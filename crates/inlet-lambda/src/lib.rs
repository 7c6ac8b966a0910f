//! # inlet-lambda
//!
//! The handlers behind inlet's Lambda functions. Each function is a crate of
//! its own under `crates/` whose `main.rs` only wires tracing, AWS clients from
//! the environment and `lambda_runtime::run`; the handlers here are plain
//! async functions over inlet-core's traits, so tests and the CLI call exactly
//! the code that runs in AWS.
//!
//! - [`pipeline_runner`]: the entry point for every object created in `in/`:
//!   data files → Parquet in the output bucket, archives → the unzip queue,
//!   anything else → `failed/` with the reason;
//! - [`unzip`]: archives → members in `in/<stem>/…`;
//! - [`partitioner`]: new Parquet objects → Glue tables and partitions, or a
//!   full `repair`;
//! - [`sources`]: the harvester (a schedule → download messages on a FIFO
//!   queue) and the downloader (each message → new files in `in/`);
//! - [`emr`]: the EMR launcher: markers and payloads start backfills on
//!   Spark, EMR's events move them on or relaunch them;
//! - [`metrics`]: each input's counts, as embedded-metric log lines the
//!   app stack's alarms watch;
//! - [`custom_resource`]: the CloudFormation custom-resource protocol, and the
//!   `create-folders` and `clean-test-files` resources.
//!
//! Each function is a cargo feature of this crate (`unzip`,
//! `pipeline-runner`, `partitioner`, `harvester`, `downloader`,
//! `emr-launcher`, `custom-resources`), which turns on the inlet-core and
//! inlet-aws parts it calls, so a function's release build links only those.
//! The default, `all`, is what the tests build.

#[cfg(feature = "custom-resources")]
pub mod custom_resource;
#[cfg(feature = "emr-launcher")]
pub mod emr;
pub mod env;
pub mod events;
#[cfg(any(feature = "unzip", feature = "pipeline-runner", feature = "partitioner"))]
mod handlers;
pub mod metrics;
#[cfg(any(feature = "harvester", feature = "downloader"))]
pub mod sources;

#[cfg(feature = "partitioner")]
pub use handlers::partitioner;
#[cfg(feature = "pipeline-runner")]
pub use handlers::pipeline_runner::{self, Runner};
#[cfg(feature = "unzip")]
pub use handlers::unzip;
/// Called first in the functions that convert or expand files.
pub use inlet_core::allocator::keep_freed_memory;

use std::future::Future;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// Why an event must be delivered again.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} deliveries failed: {reasons}")]
pub struct Retry {
    pub failed: usize,
    pub total: usize,
    pub reasons: String,
}

impl From<Retry> for lambda_runtime::Diagnostic {
    fn from(retry: Retry) -> Self {
        lambda_runtime::Diagnostic { error_type: "inlet::Retry".into(), error_message: retry.to_string() }
    }
}

/// Runs `handler` for every invocation, with `state` (an engine or a
/// registrar) built once at start-up.
pub async fn serve<S, F, Fut>(state: S, handler: F) -> Result<(), lambda_runtime::Error>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Retry>> + Send,
{
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| handler(state.clone(), event.payload))).await
}

/// JSON-lines logs on stdout, where Lambda collects them. The runtime's
/// per-invocation span carries the request id into every line, and the
/// engine's per-input span the input's correlation id: the list of spans
/// keeps both.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .init();
}
