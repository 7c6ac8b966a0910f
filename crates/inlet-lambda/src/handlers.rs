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

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use serde_json::{Value, json};

use crate::Retry;
use crate::events::{self, ObjectEvent};

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
#[cfg(any(feature = "unzip", feature = "pipeline-runner"))]
fn check_bucket(config: &inlet_core::EngineConfig, object: &ObjectEvent) -> Result<(), String> {
    if object.bucket == config.input_bucket {
        return Ok(());
    }
    Err(format!(
        "s3://{}/{} is not in the input bucket {}; check the notification configuration",
        object.bucket, object.key, config.input_bucket
    ))
}

/// The answer for one object's outcome; an outcome that leaves the input to
/// do (a transient failure, or one that could not be filed) asks for a retry.
#[cfg(any(feature = "unzip", feature = "pipeline-runner"))]
fn answer(object: &ObjectEvent, outcome: inlet_core::Outcome) -> Result<Value, String> {
    crate::metrics::publish(&outcome);
    if outcome.needs_retry() {
        let reason = match &outcome {
            inlet_core::Outcome::Retry(deferral) => deferral.error.clone(),
            inlet_core::Outcome::Failed(failure) => format!("it failed and could not be moved to failed/: {}", failure.error),
            _ => unreachable!("only these need a retry"),
        };
        return Err(format!("{}: {reason}", object.key));
    }
    Ok(serde_json::to_value(&outcome).expect("an outcome serializes"))
}

/// Reports the sweep of the scratch of invocations that died (a timeout
/// kills the process).
#[cfg(any(feature = "unzip", feature = "pipeline-runner"))]
fn report_sweep(swept: std::io::Result<Vec<std::path::PathBuf>>) {
    match swept {
        Ok(removed) if !removed.is_empty() => tracing::info!(removed = removed.len(), "removed scratch of earlier invocations"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not sweep scratch; it is tried again next invocation"),
    }
}

#[cfg(feature = "unzip")]
pub mod unzip {
    use inlet_contract::InputKind;
    use inlet_core::{Expander, layout};

    use super::*;

    /// Expands the archives the entry point forwards into `in/<stem>/…`.
    pub async fn handle(expander: &Expander, payload: &Value) -> Result<Value, Retry> {
        report_sweep(expander.sweep_scratch());
        dispatch(payload, |objects| async move {
            let mut results = Vec::new();
            for object in objects {
                check_bucket(expander.config(), &object)?;
                if InputKind::of(&object.key) != InputKind::Archive || !object.key.starts_with(layout::INBOX) {
                    tracing::info!(key = %object.key, "not an archive in in/; skipped");
                    results.push(json!({ "outcome": "skipped", "key": object.key }));
                    continue;
                }
                results.push(answer(&object, expander.process(&object.key).await)?);
            }
            Ok(results)
        })
        .await
    }
}

#[cfg(feature = "pipeline-runner")]
pub mod pipeline_runner {
    use std::sync::Arc;

    use inlet_contract::InputKind;
    use inlet_core::queue::MessageQueue;
    use inlet_core::{Classify, Engine, layout};

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
        report_sweep(runner.engine.sweep_scratch());
        dispatch(payload, |objects| async move {
            let mut results = Vec::new();
            for object in objects {
                check_bucket(runner.engine.config(), &object)?;
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
                results.push(answer(&object, runner.engine.process(&object.key).await)?);
            }
            Ok(results)
        })
        .await
    }
}

#[cfg(feature = "partitioner")]
pub mod partitioner {
    use inlet_core::{Classify, Registrar};

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
