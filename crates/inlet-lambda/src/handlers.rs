//! The three data-path handlers.
//!
//! Each takes the raw Lambda payload, so one function serves every trigger
//! shape. Invoked through SQS, a handler answers with `batchItemFailures`
//! naming only the messages to retry; invoked directly, it answers with a
//! summary, or an error that makes Lambda retry the whole event.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use inlet_core::archive::ArchiveKind;
use inlet_core::{Engine, Outcome, Registrar, layout};
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

/// Processes objects through the engine; a failure that could not even be
/// filed in `failed/` asks for a retry.
async fn process(engine: &Engine, objects: Vec<ObjectEvent>, wants: fn(&str) -> bool, role: &str) -> Result<Vec<Value>, String> {
    let mut results = Vec::new();
    for object in objects {
        if object.bucket != engine.config().input_bucket {
            return Err(format!(
                "s3://{}/{} is not in the input bucket {}; check the notification configuration",
                object.bucket,
                object.key,
                engine.config().input_bucket
            ));
        }
        if !object.key.starts_with(layout::INBOX) || !wants(&object.key) {
            tracing::info!(bucket = %object.bucket, key = %object.key, "not for the {role}; skipped");
            results.push(json!({ "outcome": "skipped", "key": object.key }));
            continue;
        }
        let outcome = engine.process(&object.key).await;
        if let Outcome::Failed(failure) = &outcome
            && !failure.filed
        {
            return Err(format!("{} failed and could not be moved to failed/: {}", object.key, failure.error));
        }
        results.push(serde_json::to_value(&outcome).expect("an outcome serializes"));
    }
    Ok(results)
}

fn is_archive(key: &str) -> bool {
    ArchiveKind::detect(key.rsplit('/').next().unwrap_or(key)).is_some()
}

pub mod unzip {
    use super::*;

    /// Expands archives dropped in `in/` into `in/<stem>/…`.
    pub async fn handle(engine: &Engine, payload: &Value) -> Result<Value, Retry> {
        dispatch(payload, |objects| process(engine, objects, is_archive, "unzip function")).await
    }
}

pub mod pipeline_runner {
    use super::*;

    /// Converts files dropped in `in/` (archives are the unzip function's).
    pub async fn handle(engine: &Engine, payload: &Value) -> Result<Value, Retry> {
        dispatch(payload, |objects| process(engine, objects, |key| !is_archive(key), "pipeline runner")).await
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
            let report = registrar.register(&keys).await.map_err(|e| e.to_string())?;
            tracing::info!(files = report.files, tables = ?report.tables, partitions_added = report.partitions_added, "registered");
            Ok(vec![serde_json::to_value(&report).expect("a report serializes")])
        })
        .await
    }
}
