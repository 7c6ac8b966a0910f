//! The three data-path handlers.
//!
//! Each takes the raw Lambda payload, so one function serves every trigger
//! shape. Invoked through SQS, a handler answers with `batchItemFailures`
//! naming only the messages to retry; invoked directly, it answers with a
//! summary, or an error that makes Lambda retry the whole event.
//!
//! Every object created under `in/` reaches the pipeline runner, whatever its
//! suffix: S3's notification filters are case-sensitive and may not overlap,
//! so one filter on the prefix is the only one that misses nothing. The runner
//! forwards archives to the unzip function's queue and handles the rest.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use inlet_contract::InputKind;
use inlet_core::queue::MessageQueue;
use inlet_core::{Classify, Engine, Outcome, Registrar, layout};
use serde_json::{Value, json};

use crate::events::{self, ObjectEvent};

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

/// Runs `handle` over every object of every delivery and shapes the answer.
async fn dispatch<F, Fut>(payload: &Value, mut handle: F) -> Result<Value, Retry>
where
    F: FnMut(Vec<ObjectEvent>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Value>, String>>,
{
    let deliveries = events::deliveries(payload);
    let total = deliveries.len();
    let mut reports = Vec::new();
    let mut failures: Vec<(Option<String>, String)> = Vec::new();
    for delivery in deliveries {
        let result = match delivery.objects {
            Ok(objects) => handle(objects).await,
            Err(reason) => Err(reason),
        };
        match result {
            Ok(mut done) => reports.append(&mut done),
            Err(reason) => {
                tracing::error!(message_id = delivery.message_id.as_deref().unwrap_or(""), error = %reason, "delivery failed");
                reports.push(json!({ "outcome": "retry", "message_id": delivery.message_id, "error": reason }));
                failures.push((delivery.message_id, reason));
            }
        }
    }
    if payload.pointer("/Records/0/eventSource").and_then(Value::as_str) == Some("aws:sqs") {
        let mut response = SqsBatchResponse::default();
        for (id, _) in &failures {
            let mut item = BatchItemFailure::default();
            item.item_identifier = id.clone().unwrap_or_default();
            response.batch_item_failures.push(item);
        }
        let mut value = serde_json::to_value(&response).expect("a batch response serializes");
        value["results"] = Value::Array(reports);
        return Ok(value);
    }
    if failures.is_empty() {
        Ok(json!({ "results": reports }))
    } else {
        let reasons = failures.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>().join("; ");
        Err(Retry { failed: failures.len(), total, reasons })
    }
}

/// Refuses objects from another bucket: a notification wired to the wrong queue.
fn check_bucket(engine: &Engine, object: &ObjectEvent) -> Result<(), String> {
    if object.bucket == engine.config().input_bucket {
        return Ok(());
    }
    Err(format!(
        "s3://{}/{} is not in the input bucket {}; check the notification configuration",
        object.bucket,
        object.key,
        engine.config().input_bucket
    ))
}

/// Runs one object through the engine; an outcome that leaves the input to
/// do (a transient failure, or one that could not be filed) asks for a retry.
async fn process(engine: &Engine, object: &ObjectEvent) -> Result<Value, String> {
    let outcome = engine.process(&object.key).await;
    crate::metrics::publish(&outcome);
    if outcome.needs_retry() {
        let reason = match &outcome {
            Outcome::Retry(deferral) => deferral.error.clone(),
            Outcome::Failed(failure) => format!("it failed and could not be moved to failed/: {}", failure.error),
            _ => unreachable!("only these need a retry"),
        };
        return Err(format!("{}: {reason}", object.key));
    }
    Ok(serde_json::to_value(&outcome).expect("an outcome serializes"))
}

/// Sweeps the scratch of invocations that died (a timeout kills the process).
fn sweep_scratch(engine: &Engine) {
    match engine.sweep_scratch() {
        Ok(removed) if !removed.is_empty() => tracing::info!(removed = removed.len(), "removed scratch of earlier invocations"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not sweep scratch; it is tried again next invocation"),
    }
}

pub mod unzip {
    use super::*;

    /// Expands the archives the entry point forwards into `in/<stem>/…`.
    pub async fn handle(engine: &Engine, payload: &Value) -> Result<Value, Retry> {
        sweep_scratch(engine);
        dispatch(payload, |objects| async move {
            let mut results = Vec::new();
            for object in objects {
                check_bucket(engine, &object)?;
                if InputKind::of(&object.key) != InputKind::Archive || !object.key.starts_with(layout::INBOX) {
                    tracing::info!(key = %object.key, "not an archive in in/; skipped");
                    results.push(json!({ "outcome": "skipped", "key": object.key }));
                    continue;
                }
                results.push(process(engine, &object).await?);
            }
            Ok(results)
        })
        .await
    }
}

pub mod pipeline_runner {
    use super::*;

    /// The entry point for every object created under `in/`.
    #[derive(Debug, Clone)]
    pub struct Runner {
        pub engine: Engine,
        /// Where archives go: the unzip function's queue.
        pub unzip_queue: Arc<dyn MessageQueue>,
    }

    /// Converts data files, forwards archives to unzip, and files anything
    /// else in `failed/` with the reason.
    pub async fn handle(runner: &Runner, payload: &Value) -> Result<Value, Retry> {
        sweep_scratch(&runner.engine);
        dispatch(payload, |objects| async move {
            let mut results = Vec::new();
            for object in objects {
                check_bucket(&runner.engine, &object)?;
                if !object.key.starts_with(layout::INBOX) {
                    results.push(json!({ "outcome": "skipped", "key": object.key }));
                    continue;
                }
                // An archive a pipeline reads whole (a package) is loaded here.
                if InputKind::of(&object.key) == InputKind::Archive && !runner.engine.pipelines().claims(&object.key) {
                    runner
                        .unzip_queue
                        .send(events::object_created(&object).to_string())
                        .await
                        .map_err(|e| format!("{}: could not hand the archive to unzip ({:?}): {e}", object.key, e.class()))?;
                    results.push(json!({ "outcome": "forwarded", "key": object.key, "to": "unzip" }));
                    continue;
                }
                results.push(process(&runner.engine, &object).await?);
            }
            Ok(results)
        })
        .await
    }
}

pub mod partitioner {
    use super::*;

    /// Registers new Parquet objects' tables and partitions, or, for
    /// `{"action": "repair"}`, every output file the catalog is missing.
    pub async fn handle(registrar: &Registrar, payload: &Value) -> Result<Value, Retry> {
        if payload.get("action").and_then(Value::as_str) == Some("repair") {
            return match registrar.repair().await {
                Ok(report) => Ok(json!({ "repair": report })),
                Err(e) => Err(Retry { failed: 1, total: 1, reasons: e.to_string() }),
            };
        }
        dispatch(payload, |objects| async move {
            let keys: Vec<String> = objects.into_iter().map(|o| o.key).filter(|k| k.ends_with(".parquet")).collect();
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            // Either class fails the message: a transient error is retried,
            // and a permanent one (a type conflict) ends in the DLQ, whose
            // alarm shows it, rather than being dropped.
            let report = registrar.register(&keys).await.map_err(|e| format!("{} ({:?})", e, e.class()))?;
            tracing::info!(files = report.files, tables = ?report.tables, partitions_added = report.partitions_added, correlation_ids = ?report.correlation_ids, "registered");
            Ok(vec![serde_json::to_value(&report).expect("a report serializes")])
        })
        .await
    }
}
