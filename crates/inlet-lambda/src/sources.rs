//! The harvester and the downloader: remote sources fetched on a schedule.
//!
//! The harvester expands the sources of one schedule for the run's time and
//! queues one message per download on a FIFO queue, whose deduplication ids
//! make a retried run harmless. The downloader fetches each message's
//! download into the input bucket with [`Downloader::run`].

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use chrono::{DateTime, Utc};
use inlet_core::Classify;
use inlet_core::queue::{FifoMessage, MAX_BATCH, MessageQueue};
use inlet_sources::download::{DownloadReport, Downloader};
use inlet_sources::{Download, SourceSet, harvest};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Retry;

/// What the harvester needs: the sources and the download queue.
#[derive(Debug, Clone)]
pub struct Harvester {
    pub sources: Arc<SourceSet>,
    pub queue: Arc<dyn MessageQueue>,
}

/// The schedule rule's input: its expression, and EventBridge's `time` of
/// the run (a raw scheduled event carries `time` alone, and runs every source).
#[derive(Debug, Default, Deserialize)]
struct HarvestEvent {
    schedule: Option<String>,
    time: Option<String>,
}

/// Queues the downloads of the run `payload` describes. `now` stands in for
/// an event without a time.
pub async fn harvest_run(harvester: &Harvester, payload: &Value, now: DateTime<Utc>) -> Result<Value, Retry> {
    let event: HarvestEvent = serde_json::from_value(payload.clone()).unwrap_or_default();
    let at = match &event.time {
        None => now,
        Some(time) => DateTime::parse_from_rfc3339(time).map(|t| t.with_timezone(&Utc)).map_err(|e| Retry {
            failed: 1,
            total: 1,
            reasons: format!("the event's time {time:?} is not an RFC 3339 time: {e}"),
        })?,
    };
    let downloads = harvest(&harvester.sources, event.schedule.as_deref(), at);
    for batch in downloads.chunks(MAX_BATCH) {
        let messages: Vec<FifoMessage> = batch.iter().map(message).collect();
        if let Err(error) = harvester.queue.send_fifo_batch(&messages).await {
            // The whole run is retried; the messages already sent are dropped by their deduplication ids.
            tracing::error!(error = %error, "queueing downloads failed");
            return Err(Retry { failed: 1, total: 1, reasons: error.to_string() });
        }
    }
    tracing::info!(schedule = event.schedule.as_deref().unwrap_or("every schedule"), at = %at, queued = downloads.len(), "harvested");
    let urls: Vec<&str> = downloads.iter().map(|d| d.url.as_str()).collect();
    Ok(json!({ "queued": downloads.len(), "at": at.to_rfc3339(), "urls": urls }))
}

/// One source's downloads are one FIFO group, so they run in order.
fn message(download: &Download) -> FifoMessage {
    FifoMessage {
        body: serde_json::to_string(download).expect("a download serializes"),
        group_id: download.source.clone(),
        deduplication_id: download.deduplication_id.clone(),
    }
}

/// Fetches the downloads of an SQS batch (or one download invoked directly).
///
/// A URL that failed for good (a 404, a refused address) is recorded in the
/// source state and alerted on, and its message is done: SQS retrying it
/// would only fail again. A transient failure reports its message back to
/// SQS, and, as a FIFO queue requires, every message after it, unprocessed.
pub async fn download_batch(downloader: &Downloader, payload: &Value) -> Result<Value, Retry> {
    let Some(records) = payload.get("Records").and_then(Value::as_array) else {
        return download_direct(downloader, payload).await;
    };
    let mut response = SqsBatchResponse::default();
    let mut results = Vec::new();
    let mut retrying = false;
    for record in records {
        let id = record.get("messageId").and_then(Value::as_str).unwrap_or_default().to_owned();
        let outcome = if retrying { Err("not tried: an earlier message of the batch is retried first".to_owned()) } else { download_message(downloader, record).await };
        match outcome {
            Ok(summary) => results.push(json!({ "message_id": id, "result": summary })),
            Err(reason) => {
                retrying = true;
                results.push(json!({ "message_id": id, "outcome": "retry", "error": reason }));
                let mut item = BatchItemFailure::default();
                item.item_identifier = id;
                response.batch_item_failures.push(item);
            }
        }
    }
    let mut value = serde_json::to_value(&response).expect("a batch response serializes");
    value["results"] = Value::Array(results);
    Ok(value)
}

async fn download_direct(downloader: &Downloader, payload: &Value) -> Result<Value, Retry> {
    let retry = |reasons: String| Retry { failed: 1, total: 1, reasons };
    let download: Download = serde_json::from_value(payload.clone()).map_err(|e| retry(format!("the payload is not a download: {e}")))?;
    run(downloader, &download).await.map_err(retry)
}

/// `Err` when the message should come back.
async fn download_message(downloader: &Downloader, record: &Value) -> Result<Value, String> {
    let body = record.get("body").and_then(Value::as_str).unwrap_or_default();
    match serde_json::from_str::<Download>(body) {
        Ok(download) => run(downloader, &download).await,
        Err(e) => {
            // Retried until the dead-letter queue keeps it for a person to read.
            tracing::error!(error = %e, body, "a message is not a download");
            Err(format!("the message is not a download: {e}"))
        }
    }
}

async fn run(downloader: &Downloader, download: &Download) -> Result<Value, String> {
    match downloader.run(download).await {
        Ok(report) => {
            let summary = summary(download, &report);
            match report.failure_class() {
                Some(class) if class.is_transient() => Err(summary.to_string()),
                _ => Ok(summary),
            }
        }
        Err(error) if error.class().is_transient() => Err(error.to_string()),
        Err(error) => {
            tracing::error!(source = %download.source, url = %download.url, error = %error, "the download failed for good");
            Ok(json!({ "source": download.source, "url": download.url, "error": error.to_string() }))
        }
    }
}

fn summary(download: &Download, report: &DownloadReport) -> Value {
    let fetched: Vec<Value> = report.fetched.iter().map(|(url, outcome)| json!({ "url": url.as_str(), "outcome": outcome })).collect();
    let failed: Vec<Value> = report.failed.iter().map(|(url, error)| json!({ "url": url.as_str(), "error": error.to_string() })).collect();
    json!({ "source": download.source, "fetched": fetched, "failed": failed })
}
