//! Load on moto's server: 1,000 small files uploaded into the input bucket,
//! processed through the SQS-driven pipeline-runner and partitioner handlers
//! by concurrent workers, as Lambda's event source mappings would run them.
//! Every file ends in `done/`, every partition is in the catalog once, no row
//! is lost or doubled; the figures are printed: files per second, and the
//! 50th and 99th percentiles of the time from an upload to its rows being
//! queryable (its Parquet written and its partition registered).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use inlet_aws::{GlueCatalog, S3ObjectStore, SqsQueue};
use inlet_core::pipeline::PipelineSet;
use inlet_core::{Engine, EngineConfig, Registrar, layout};
use inlet_lambda::Runner;
use support::*;

const FILES: usize = 1_000;
const ROWS_PER_FILE: usize = 20;
const MONTHS: usize = 12;
const UPLOADERS: usize = 8;
const RUNNERS: usize = 4;
const PARTITIONERS: usize = 2;
/// How long a received batch stays invisible. Long enough that a slow batch
/// is seldom handed out twice; short enough that a batch whose receive
/// answer was lost (moto, like SQS, can fail a poll after marking its
/// messages received) comes back within the run.
const VISIBILITY_SECONDS: i32 = 60;
/// The whole run is bounded: a stall fails the test rather than hanging CI.
const DEADLINE: Duration = Duration::from_secs(480);

fn file(i: usize) -> (String, Vec<u8>) {
    let month = i % MONTHS + 1;
    let rows: String = (0..ROWS_PER_FILE).map(|r| format!("L{i:04}{r:02},2020{month:02}{:02},1,2,0.5,1.5,{r}\n", r % 28 + 1)).collect();
    (format!("in/load/asx_eod_load_{i:04}.csv"), rows.into_bytes())
}

/// When each source's rows became queryable, by source id.
#[derive(Default)]
struct Clock {
    uploaded: HashMap<String, Instant>,
    queryable: HashMap<String, Instant>,
}

/// `asx_eod%2Fyear%3D2020%2F…%2Fpart-<source id>-…`: an event's key is URL-encoded.
fn source_id_of_parquet(key: &str) -> Option<String> {
    let name = key.rsplit("%2F").next()?.rsplit('/').next()?;
    Some(name.strip_prefix("part-")?.split('-').next()?.to_owned())
}

async fn work_queue<F, Fut>(moto: &Moto, url: String, done: Arc<Mutex<Clock>>, handler: F)
where
    F: Fn(serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    let sqs = moto.sqs();
    let started = Instant::now();
    while started.elapsed() < DEADLINE && done.lock().unwrap().queryable.len() < FILES {
        // moto's single-threaded server now and then answers a poll with a
        // 500 under this load; Lambda's pollers retry, and so do these.
        let poll = sqs.receive_message().queue_url(&url).max_number_of_messages(10).visibility_timeout(VISIBILITY_SECONDS);
        let Ok(polled) = poll.send().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let messages = polled.messages.unwrap_or_default();
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let answer = handler(sqs_event(&messages)).await;
        assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{answer}");
        // Under concurrent receivers moto, like SQS, now and then hands one
        // message to two of them; the second delete then finds it gone.
        // Both deliveries were handled, which is what at-least-once means.
        for m in &messages {
            let deleted = sqs.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap()).send().await;
            if let Err(e) = deleted {
                let code = e.as_service_error().and_then(|e| aws_sdk_sqs::error::ProvideErrorMetadata::code(e));
                assert_eq!(code, Some("ReceiptHandleIsInvalid"), "{e:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_files_through_concurrent_handlers_all_land_once() {
    let moto = Arc::new(Moto::start().await);
    let queues = data_path(&moto).await;
    let store = Arc::new(S3ObjectStore::new(moto.s3()));
    let config = EngineConfig { input_bucket: "input".into(), output_bucket: "output".into(), ..EngineConfig::default() };
    let engine = Engine::new(store.clone(), Arc::new(PipelineSet::embedded().unwrap()), config);
    let runner = Runner { engine, unzip_queue: Arc::new(SqsQueue::new(moto.sqs(), &queues.unzip)) };
    let registrar = Registrar::new(store, Arc::new(GlueCatalog::new(moto.glue())), "output", "inlet");
    let clock = Arc::new(Mutex::new(Clock::default()));
    let started = Instant::now();

    let mut tasks = tokio::task::JoinSet::new();
    for uploader in 0..UPLOADERS {
        let (moto, clock) = (moto.clone(), clock.clone());
        tasks.spawn(async move {
            for i in (uploader..FILES).step_by(UPLOADERS) {
                let (key, body) = file(i);
                moto.s3().put_object().bucket("input").key(&key).body(ByteStream::from(body)).send().await.unwrap();
                clock.lock().unwrap().uploaded.insert(layout::source_id("input", &key), Instant::now());
            }
        });
    }
    for _ in 0..RUNNERS {
        let (moto, clock, runner, url) = (moto.clone(), clock.clone(), runner.clone(), queues.runner.clone());
        tasks.spawn(async move {
            work_queue(&moto, url, clock, |event| {
                let runner = runner.clone();
                async move { inlet_lambda::pipeline_runner::handle(&runner, &event).await.unwrap() }
            })
            .await
        });
    }
    for _ in 0..PARTITIONERS {
        let (moto, clock, registrar, url) = (moto.clone(), clock.clone(), registrar.clone(), queues.partitioner.clone());
        let marks = clock.clone();
        tasks.spawn(async move {
            work_queue(&moto, url, clock, |event| {
                let (registrar, marks) = (registrar.clone(), marks.clone());
                async move {
                    let answer = inlet_lambda::partitioner::handle(&registrar, &event).await.unwrap();
                    let now = Instant::now();
                    let mut marks = marks.lock().unwrap();
                    for record in event["Records"].as_array().unwrap() {
                        let body: serde_json::Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
                        for s3 in body["Records"].as_array().into_iter().flatten() {
                            if let Some(id) = s3["s3"]["object"]["key"].as_str().and_then(source_id_of_parquet) {
                                marks.queryable.insert(id, now);
                            }
                        }
                    }
                    answer
                }
            })
            .await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
    let elapsed = started.elapsed();

    let clock = std::mem::take(&mut *clock.lock().unwrap());
    if clock.queryable.len() < FILES {
        let outputs = list(&moto, "output", "asx_eod/").await;
        let inputs = list(&moto, "input", "").await;
        let missing: Vec<String> = (0..FILES)
            .map(file)
            .filter(|(key, _)| !clock.queryable.contains_key(&layout::source_id("input", key)))
            .map(|(key, _)| {
                let id = layout::source_id("input", &key);
                let name = key.rsplit('/').next().unwrap().to_owned();
                let written = outputs.iter().filter(|k| k.contains(&id)).count();
                let places: Vec<&String> = inputs.iter().filter(|k| k.ends_with(&name)).collect();
                format!("{key}: {written} Parquet files, input at {places:?}")
            })
            .collect();
        panic!("{} of {FILES} files never became queryable within {DEADLINE:?}: {:#?}", missing.len(), &missing[..missing.len().min(10)]);
    }
    let mut latencies: Vec<Duration> = clock.queryable.iter().map(|(id, at)| *at - clock.uploaded[id]).collect();
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "{FILES} files in {:.1} s: {:.1} files/s; upload to queryable p50 {:.2} s, p99 {:.2} s ({RUNNERS} runner and {PARTITIONERS} partitioner workers, debug build, moto)",
        elapsed.as_secs_f64(),
        FILES as f64 / elapsed.as_secs_f64(),
        percentile(50).as_secs_f64(),
        percentile(99).as_secs_f64()
    );

    let done = list(&moto, "input", "done/load/").await;
    assert_eq!(done.len(), FILES, "every input in done/");
    assert!(list(&moto, "input", "in/").await.is_empty(), "none left in in/");
    assert!(list(&moto, "input", "failed/").await.is_empty(), "none failed");
    let partitions = moto.glue().get_partitions().database_name("inlet").table_name("asx_eod").send().await.unwrap();
    let values: Vec<Vec<String>> = partitions.partitions().iter().map(|p| p.values().to_vec()).collect();
    let distinct: std::collections::BTreeSet<_> = values.iter().collect();
    assert_eq!((values.len(), distinct.len()), (MONTHS, MONTHS), "each month's partition registered once: {values:?}");
    assert_eq!(
        parquet_rows(&moto).await,
        BTreeMap::from([("asx_eod".to_owned(), (FILES * ROWS_PER_FILE) as u64)]),
        "no row lost or doubled"
    );
}

async fn list(moto: &Moto, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = moto.s3().list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        keys.extend(page.unwrap().contents().iter().filter_map(|o| o.key().map(str::to_owned)));
    }
    keys
}

/// Rows per table, from the Parquet footers of every output file.
async fn parquet_rows(moto: &Moto) -> BTreeMap<String, u64> {
    let mut rows = BTreeMap::new();
    for key in list(moto, "output", "").await.into_iter().filter(|k| k.ends_with(".parquet")) {
        let body = moto.s3().get_object().bucket("output").key(&key).send().await.unwrap().body.collect().await.unwrap().into_bytes();
        let reader = parquet::file::reader::SerializedFileReader::new(body).unwrap();
        let n = parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows() as u64;
        *rows.entry(key.split('/').next().unwrap().to_owned()).or_default() += n;
    }
    rows
}
