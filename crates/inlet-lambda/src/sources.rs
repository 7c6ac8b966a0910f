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
        let outcome = if retrying {
            Err("not tried: an earlier message of the batch is retried first".to_owned())
        } else {
            download_message(downloader, record).await
        };
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use inlet_core::queue::QueueError;
    use inlet_core::storage::LocalObjectStore;
    use inlet_sources::download::{DownloadSettings, LocalAlerts};
    use inlet_sources::fetch::{FetchSettings, Fetcher, Network};
    use inlet_sources::state::LocalSourceState;

    use super::*;

    /// Records each batch as sent.
    #[derive(Debug, Default)]
    struct Batches(Mutex<Vec<Vec<FifoMessage>>>);

    #[async_trait]
    impl MessageQueue for Batches {
        async fn send(&self, _: String) -> Result<(), QueueError> {
            unreachable!("the harvester sends batches")
        }

        async fn send_fifo_batch(&self, messages: &[FifoMessage]) -> Result<(), QueueError> {
            self.0.lock().unwrap().push(messages.to_vec());
            Ok(())
        }
    }

    fn many_sources(n: usize) -> SourceSet {
        let mut yaml = String::from("sources:\n");
        for i in 0..n {
            yaml.push_str(&format!(
                "  - id: s{i}\n    url: \"https://data.example.com/{i}/{{yesterday}}.csv\"\n    type: direct\n    schedule: rate(1 day)\n    target: t/\n"
            ));
        }
        SourceSet::from_yaml("sources.yaml", &yaml).unwrap()
    }

    #[tokio::test]
    async fn a_run_queues_batches_of_ten_with_stable_deduplication_ids() {
        let queue = Arc::new(Batches::default());
        let harvester = Harvester { sources: Arc::new(many_sources(23)), queue: queue.clone() };
        let event = json!({ "schedule": "rate(1 day)", "time": "2021-01-15T00:00:00Z" });
        let answer = harvest_run(&harvester, &event, Utc::now()).await.unwrap();
        assert_eq!(answer["queued"], 23);
        assert_eq!(answer["urls"][0], "https://data.example.com/0/20210114.csv", "the event's time, not the clock's");
        harvest_run(&harvester, &event, Utc::now()).await.unwrap();

        let batches = queue.0.lock().unwrap();
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3, 10, 10, 3]);
        let ids = |run: &[Vec<FifoMessage>]| run.iter().flatten().map(|m| m.deduplication_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&batches[..3]), ids(&batches[3..]), "a retried run repeats its ids");
        assert_eq!(batches[0][4].group_id, "s4");
        let download: Download = serde_json::from_str(&batches[0][4].body).unwrap();
        assert_eq!((download.source.as_str(), download.target.as_str()), ("s4", "t/"));
    }

    #[tokio::test]
    async fn a_bad_event_time_is_refused_clearly() {
        let harvester = Harvester { sources: Arc::new(many_sources(1)), queue: Arc::new(Batches::default()) };
        let error = harvest_run(&harvester, &json!({ "time": "yesterday" }), Utc::now()).await.unwrap_err();
        assert!(error.reasons.contains("\"yesterday\" is not an RFC 3339 time"), "{error}");
    }

    fn download(url: &str, allow_private: bool) -> Download {
        Download {
            source: "s".into(),
            url: url.into(),
            kind: inlet_sources::SourceKind::Direct,
            pattern: None,
            target: "t/".into(),
            allow_private_addresses: allow_private,
            period: "2021-01-15T00:00Z".into(),
            deduplication_id: "d".into(),
        }
    }

    fn record(id: &str, download: &Download) -> Value {
        json!({ "messageId": id, "body": serde_json::to_string(download).unwrap(), "eventSource": "aws:sqs" })
    }

    #[tokio::test]
    async fn a_transient_failure_returns_its_message_and_every_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let fetch = FetchSettings::default();
        let downloader = Downloader {
            fetcher: Fetcher::new(Network::system(fetch.connect_timeout), fetch),
            store: Arc::new(LocalObjectStore::new(dir.path().join("buckets"))),
            state: Arc::new(LocalSourceState::new(dir.path().join("state.json"))),
            alerts: Arc::new(LocalAlerts { path: dir.path().join("alerts.jsonl") }),
            input_bucket: "input".into(),
            settings: DownloadSettings { attempts: 1, ..DownloadSettings::default() },
        };
        // Every address is on loopback, so even a wrong refusal connects nowhere else.
        // Loopback without the flag is refused before any connection: permanent, recorded, the message done.
        let refused = download("http://127.0.0.1:1/refused.csv", false);
        // Nothing listens on port 1: a refused connection is transient.
        let unreachable = download("http://127.0.0.1:1/a.csv", true);
        let later = download("http://127.0.0.1:1/b.csv", true);
        let event = json!({ "Records": [record("m1", &refused), record("m2", &unreachable), record("m3", &later)] });

        let answer = download_batch(&downloader, &event).await.unwrap();
        let failed: Vec<&str> =
            answer["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].as_str().unwrap()).collect();
        assert_eq!(failed, ["m2", "m3"]);
        assert!(answer["results"][2]["error"].as_str().unwrap().starts_with("not tried"), "{answer}");
        let records = LocalSourceState::new(dir.path().join("state.json"));
        use inlet_sources::state::SourceState;
        assert_eq!(records.list("s").await.unwrap().len(), 2, "m3 was not tried");
    }
}
