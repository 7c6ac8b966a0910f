//! The data path on moto's server: files dropped through the S3 API, the SQS
//! messages moto really produced, handed to the unzip, pipeline-runner and
//! partitioner handlers; results checked in moto's S3 and Glue.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use inlet_aws::{GlueCatalog, S3ObjectStore, SqsQueue};
use inlet_core::pipeline::PipelineSet;
use inlet_core::{Engine, EngineConfig, Expander, Registrar};
use inlet_lambda::Runner;
use support::*;

struct Functions {
    expander: Expander,
    runner: Runner,
    registrar: Registrar,
}

fn functions(moto: &Moto, queues: &Queues) -> Functions {
    let store = Arc::new(S3ObjectStore::new(moto.s3()));
    let config = EngineConfig { input_bucket: "input".into(), output_bucket: "output".into(), ..EngineConfig::default() };
    let expander = Expander::new(store.clone(), config.clone());
    let engine = Engine::new(store.clone(), Arc::new(PipelineSet::embedded().unwrap()), config);
    let runner = Runner { engine, unzip_queue: Arc::new(SqsQueue::new(moto.sqs(), &queues.unzip)) };
    let registrar = Registrar::new(store, Arc::new(GlueCatalog::new(moto.glue())), "output", "inlet");
    Functions { expander, runner, registrar }
}

async fn put(moto: &Moto, key: &str, body: Vec<u8>) {
    moto.s3().put_object().bucket("input").key(key).body(ByteStream::from(body)).send().await.unwrap();
}

async fn keys(moto: &Moto, bucket: &str, prefix: &str) -> Vec<String> {
    let listed = moto.s3().list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

/// Rows per table in moto's output bucket, read from the Parquet files.
async fn parquet_rows(moto: &Moto) -> BTreeMap<String, u64> {
    let mut rows = BTreeMap::new();
    let dir = tempfile::tempdir().unwrap();
    for key in keys(moto, "output", "").await.into_iter().filter(|k| k.ends_with(".parquet")) {
        let body = moto.s3().get_object().bucket("output").key(&key).send().await.unwrap().body.collect().await.unwrap().into_bytes();
        let path = dir.path().join("f.parquet");
        std::fs::write(&path, &body).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let n = parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows() as u64;
        *rows.entry(key.split('/').next().unwrap().to_owned()).or_default() += n;
    }
    rows
}

/// Hands a queue's messages to a handler, deleting the ones it did not report as failed.
async fn drain<F, Fut>(moto: &Moto, url: &str, handler: F) -> Vec<serde_json::Value>
where
    F: Fn(serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    let sqs = moto.sqs();
    let mut answers = Vec::new();
    loop {
        let messages = receive(&sqs, url).await;
        if messages.is_empty() {
            return answers;
        }
        let answer = handler(sqs_event(&messages)).await;
        let failed: Vec<&str> =
            answer["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].as_str().unwrap()).collect();
        assert!(failed.is_empty(), "unexpected failures: {answer}");
        delete_all(&sqs, url, &messages).await;
        answers.push(answer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buoy_zips_flow_through_unzip_runner_and_partitioner_exactly_once() {
    let moto = Moto::start().await;
    let queues = data_path(&moto).await;
    let f = functions(&moto, &queues);

    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut members = 0;
    for zip in buoy_zips() {
        for (table, rows) in raw_rows_per_table(&zip) {
            *expected.entry(table).or_default() += rows;
            members += 1;
        }
        put(&moto, &format!("in/{}", zip.file_name().unwrap().to_string_lossy()), std::fs::read(&zip).unwrap()).await;
    }

    // The entry point's queue holds the s3:TestEvent from the notification
    // set-up, then the archives, which it forwards to the unzip queue.
    let forwarded = drain(&moto, &queues.runner, |event| {
        let runner = f.runner.clone();
        async move { inlet_lambda::pipeline_runner::handle(&runner, &event).await.unwrap() }
    })
    .await;
    let forwards = forwarded.iter().flat_map(|a| a["results"].as_array().unwrap().clone()).filter(|r| r["outcome"] == "forwarded").count();
    assert_eq!(forwards, buoy_zips().len());
    let unzip_answers = drain(&moto, &queues.unzip, |event| {
        let expander = f.expander.clone();
        async move { inlet_lambda::unzip::handle(&expander, &event).await.unwrap() }
    })
    .await;
    let expanded: usize =
        unzip_answers.iter().flat_map(|a| a["results"].as_array().unwrap().clone()).filter(|r| r["outcome"] == "expanded").count();
    assert_eq!(expanded, buoy_zips().len());

    // The runner gets every member; deliver each batch twice, the second time reversed.
    let sqs = moto.sqs();
    let member_messages = receive(&sqs, &queues.runner).await;
    assert_eq!(member_messages.len(), members, "one message per CSV member");
    for chunk in member_messages.chunks(10) {
        let first = inlet_lambda::pipeline_runner::handle(&f.runner, &sqs_event(chunk)).await.unwrap();
        assert_eq!(first["batchItemFailures"], serde_json::json!([]), "{first}");
        let mut reversed = chunk.to_vec();
        reversed.reverse();
        let second = inlet_lambda::pipeline_runner::handle(&f.runner, &sqs_event(&reversed)).await.unwrap();
        assert!(second["results"].as_array().unwrap().iter().all(|r| r["outcome"] == "gone"), "a redelivery does nothing: {second}");
        assert_eq!(second["batchItemFailures"], serde_json::json!([]));
    }
    delete_all(&sqs, &queues.runner, &member_messages).await;

    // moto delivered a notification per Parquet object to the partitioner queue.
    drain(&moto, &queues.partitioner, |event| {
        let registrar = f.registrar.clone();
        async move { inlet_lambda::partitioner::handle(&registrar, &event).await.unwrap() }
    })
    .await;

    assert_eq!(parquet_rows(&moto).await, expected, "Parquet rows equal the raw CSV records");
    let inputs = keys(&moto, "input", "").await;
    assert!(inputs.iter().all(|k| k.starts_with("done/")), "every input ends in done/: {inputs:?}");
    assert!(!inputs.iter().any(|k| k.contains("__MACOSX")), "macOS debris is skipped");

    let glue = moto.glue();
    let tables = glue.get_tables().database_name("inlet").send().await.unwrap();
    let names: Vec<&str> = tables.table_list().iter().map(|t| t.name()).collect();
    assert_eq!(names.len(), expected.len(), "{names:?}");
    for table in tables.table_list() {
        let descriptor = table.storage_descriptor().unwrap();
        assert_eq!(
            descriptor.serde_info().unwrap().serialization_library(),
            Some("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
        );
        assert_eq!(descriptor.columns()[0].name(), "time");
        assert_eq!(descriptor.columns()[0].r#type(), Some("timestamp"));
        let keys: Vec<(&str, Option<&str>)> = table.partition_keys().iter().map(|k| (k.name(), k.r#type())).collect();
        assert_eq!(keys, [("location", Some("string")), ("year", Some("string")), ("month", Some("string"))]);
        let partitions = glue.get_partitions().database_name("inlet").table_name(table.name()).send().await.unwrap();
        assert_eq!(partitions.partitions().len(), buoy_zips().len(), "{}: one partition per location", table.name());
        for partition in partitions.partitions() {
            let columns: Vec<&str> = partition.storage_descriptor().unwrap().columns().iter().map(|c| c.name()).collect();
            let table_columns: Vec<&str> = descriptor.columns().iter().map(|c| c.name()).collect();
            assert_eq!(columns, table_columns, "partition schema in line with the table's");
        }
    }
    let conductivity = glue.get_table().database_name("inlet").name("a2e_buoy_conductivity").send().await.unwrap();
    let column =
        conductivity.table().unwrap().storage_descriptor().unwrap().columns().iter().find(|c| c.name() == "conductivity").unwrap().clone();
    assert_eq!(column.parameters().unwrap()["units"], "Siemens/m");

    // Replaying everything (the partitioner too) changes nothing.
    let before = parquet_rows(&moto).await;
    let repaired = inlet_lambda::partitioner::handle(&f.registrar, &serde_json::json!({"action": "repair"})).await.unwrap();
    assert_eq!(repaired["repair"]["partitions_added"], 0, "{repaired}");
    assert_eq!(parquet_rows(&moto).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_spaces_and_plus_signs_and_a_poison_message() {
    let moto = Moto::start().await;
    let queues = data_path(&moto).await;
    let f = functions(&moto, &queues);
    let sqs = moto.sqs();

    put(&moto, "in/asx_eod_end of day+v2.csv", b"AAA,20201201,1,2,0.5,1.5,100\nBBB,20201201,3,4,2.5,3.5,200\n".to_vec()).await;
    // The notification set-up's test events go first; the handler ignores them.
    let test_events = receive(&sqs, &queues.runner).await;
    let ignored = inlet_lambda::pipeline_runner::handle(&f.runner, &sqs_event(&test_events)).await.unwrap();
    assert_eq!(ignored["batchItemFailures"], serde_json::json!([]));
    delete_all(&sqs, &queues.runner, &test_events).await;
    let mut messages: Vec<_> = test_events.into_iter().filter(|m| !m.body().unwrap().contains("s3:TestEvent")).collect();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].body().unwrap().contains("asx_eod_end+of+day%2Bv2.csv"), "moto encodes the key: {}", messages[0].body().unwrap());

    // A poison message shares the batch with the good one.
    sqs.send_message().queue_url(&queues.runner).message_body("{ this is not an event").send().await.unwrap();
    messages.extend(receive(&sqs, &queues.runner).await);
    assert_eq!(messages.len(), 2);
    let poison_id = messages.iter().find(|m| m.body().unwrap().starts_with("{ this")).unwrap().message_id().unwrap().to_owned();
    let answer = inlet_lambda::pipeline_runner::handle(&f.runner, &sqs_event(&messages)).await.unwrap();
    assert_eq!(answer["batchItemFailures"], serde_json::json!([{ "itemIdentifier": poison_id }]), "{answer}");
    let good: Vec<_> = messages.iter().filter(|m| m.message_id() != Some(poison_id.as_str())).cloned().collect();
    delete_all(&sqs, &queues.runner, &good).await;
    assert_eq!(keys(&moto, "input", "").await, ["done/asx_eod_end of day+v2.csv"]);

    // The Lambda event source would redeliver it; after two receives it belongs to the DLQ.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let again = receive(&sqs, &queues.runner).await;
        if !again.is_empty() {
            let answer = inlet_lambda::pipeline_runner::handle(&f.runner, &sqs_event(&again)).await.unwrap();
            assert_eq!(answer["batchItemFailures"].as_array().unwrap().len(), again.len());
        }
        let dead = sqs.receive_message().queue_url(&queues.runner_dlq).send().await.unwrap().messages.unwrap_or_default();
        if let Some(message) = dead.first() {
            assert_eq!(message.body(), Some("{ this is not an event"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the poison message never reached the DLQ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_event_alone_is_ignored() {
    let moto = Moto::start().await;
    let queues = data_path(&moto).await;
    let f = functions(&moto, &queues);
    let messages = receive(&moto.sqs(), &queues.runner).await;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].body().unwrap().contains("s3:TestEvent"));
    let answer = inlet_lambda::pipeline_runner::handle(&f.runner, &sqs_event(&messages)).await.unwrap();
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    assert_eq!(answer["results"], serde_json::json!([]));
}

/// A new upload under the same key while the old version is processed must
/// survive the move to `done/`: the delete is conditional on the e-tag read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_uploaded_during_processing_is_not_swept_away() {
    use inlet_core::storage::{ObjectLocation, ObjectStore};
    let moto = Moto::start().await;
    data_path(&moto).await;
    let store = S3ObjectStore::new(moto.s3());
    let source = ObjectLocation::new("input", "in/race/a.csv");
    let done = ObjectLocation::new("input", "done/race/a.csv");
    put(&moto, &source.key, b"old".to_vec()).await;
    let seen = store.head(&source).await.unwrap().e_tag.unwrap();
    put(&moto, &source.key, b"newer".to_vec()).await;

    let err = store.rename(&source, &done, Some(&seen)).await.unwrap_err();
    assert!(err.is_changed(), "{err}");
    assert_eq!(store.head(&source).await.unwrap().size, 5, "the new version stays in in/");

    let current = store.head(&source).await.unwrap().e_tag.unwrap();
    store.rename(&source, &done, Some(&current)).await.unwrap();
    assert!(store.head(&source).await.unwrap_err().is_not_found());
    assert_eq!(store.head(&done).await.unwrap().size, 5);
}

fn zip_of(members: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buffer);
    for (name, text) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    buffer.into_inner()
}

/// Everything moto queued for the entry point and unzip, handled until both
/// queues are empty, as the two functions' event sources would.
async fn settle(moto: &Moto, queues: &Queues, f: &Functions) {
    for _ in 0..3 {
        drain(moto, &queues.runner, |event| {
            let runner = f.runner.clone();
            async move { inlet_lambda::pipeline_runner::handle(&runner, &event).await.unwrap() }
        })
        .await;
        drain(moto, &queues.unzip, |event| {
            let expander = f.expander.clone();
            async move { inlet_lambda::unzip::handle(&expander, &event).await.unwrap() }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_suffix_in_any_case_reaches_the_entry_point_and_an_archive_replaces_its_content() {
    let moto = Moto::start().await;
    let queues = data_path(&moto).await;
    let f = functions(&moto, &queues);
    let one = "AAA,20201201,1,2,0.5,1.5,100\n";
    let two = "BBB,20201201,3,4,2.5,3.5,200\n";
    put(&moto, "in/DATA.ZIP", zip_of(&[("asx_eod_1.csv", one), ("asx_eod_2.csv", two)])).await;
    put(&moto, "in/asx_eod_X.CSV", b"CCC,20201201,1,1,1,1,1\n".to_vec()).await;
    put(&moto, "in/notes.xyz", b"hello".to_vec()).await;
    settle(&moto, &queues, &f).await;

    let mut inputs = keys(&moto, "input", "").await;
    inputs.sort();
    assert_eq!(
        inputs,
        [
            "done/DATA.ZIP",
            "done/DATA/asx_eod_1.csv",
            "done/DATA/asx_eod_2.csv",
            "done/asx_eod_X.CSV",
            "failed/notes.xyz",
            "failed/notes.xyz.error.json"
        ]
    );
    let document = moto.s3().get_object().bucket("input").key("failed/notes.xyz.error.json").send().await.unwrap();
    let document: serde_json::Value = serde_json::from_slice(&document.body.collect().await.unwrap().into_bytes()).unwrap();
    assert!(document["error"].as_str().unwrap().contains("is neither an archive"), "{document}");
    assert_eq!(parquet_rows(&moto).await["asx_eod"], 3);

    // The archive again, without its second member: that member's row goes.
    put(&moto, "in/DATA.ZIP", zip_of(&[("asx_eod_1.csv", one)])).await;
    settle(&moto, &queues, &f).await;
    assert_eq!(parquet_rows(&moto).await["asx_eod"], 2, "AAA and CCC remain; BBB left with its member");
}
