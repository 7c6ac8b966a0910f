//! A real moto server on a free 127.0.0.1 port, and the AWS wiring the
//! integration tests share: buckets, queues with DLQs, S3 → SQS
//! notifications, a Glue database.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// moto's server from the repository's venv (tests/run installs it), or `INLET_MOTO_SERVER`.
fn moto_command() -> PathBuf {
    if let Ok(path) = std::env::var("INLET_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = repo().join(".venv/bin/moto_server");
    assert!(
        venv.is_file(),
        "moto's server is not installed: run tests/run, or `.venv/bin/pip install 'moto[server]>=5.2.5'`, or set INLET_MOTO_SERVER"
    );
    venv
}

pub struct Moto {
    child: Child,
    pub endpoint: String,
    pub config: SdkConfig,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts a server and waits until it answers.
    pub async fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(moto_command())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(std::env::temp_dir().join(format!("moto-{port}.log"))).map(Stdio::from).unwrap_or(Stdio::null()))
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on port {port} within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await;
        Moto { child, endpoint, config }
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&self.config).force_path_style(true).build())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    pub fn glue(&self) -> aws_sdk_glue::Client {
        aws_sdk_glue::Client::new(&self.config)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.config)
    }

    pub fn emr(&self) -> aws_sdk_emr::Client {
        aws_sdk_emr::Client::new(&self.config)
    }

    pub fn emr_serverless(&self) -> aws_sdk_emrserverless::Client {
        aws_sdk_emrserverless::Client::new(&self.config)
    }

    /// A table keyed by the string attributes `hash` and `range`.
    pub async fn table(&self, name: &str, hash: &str, range: &str) {
        use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
        let mut request = self.dynamodb().create_table().table_name(name).billing_mode(BillingMode::PayPerRequest);
        for (attribute, kind) in [(hash, KeyType::Hash), (range, KeyType::Range)] {
            request = request
                .attribute_definitions(
                    AttributeDefinition::builder().attribute_name(attribute).attribute_type(ScalarAttributeType::S).build().unwrap(),
                )
                .key_schema(KeySchemaElement::builder().attribute_name(attribute).key_type(kind).build().unwrap());
        }
        request.send().await.unwrap();
    }
}

/// The queues of the data path.
pub struct Queues {
    pub unzip: String,
    pub runner: String,
    pub runner_dlq: String,
    pub partitioner: String,
}

/// Creates a queue with a DLQ after `max_receives` receives; returns (queue url, dlq url).
pub async fn queue_with_dlq(sqs: &aws_sdk_sqs::Client, name: &str, max_receives: u32) -> (String, String) {
    let dlq = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap().queue_url.unwrap();
    let dlq_arn =
        sqs.get_queue_attributes().queue_url(&dlq).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap().attributes.unwrap()
            [&QueueAttributeName::QueueArn]
            .clone();
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receives}"}}"#);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (url, dlq)
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap().attributes.unwrap()
        [&QueueAttributeName::QueueArn]
        .clone()
}

pub fn notification(arn: &str, prefix: &str, suffix: &str) -> QueueConfiguration {
    // S3 (and moto) refuse a rule with an empty value: leave it out instead.
    let rules: Vec<FilterRule> = [(FilterRuleName::Prefix, prefix), (FilterRuleName::Suffix, suffix)]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| FilterRule::builder().name(name).value(value).build())
        .collect();
    QueueConfiguration::builder()
        .queue_arn(arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(NotificationConfigurationFilter::builder().key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build()).build())
        .build()
        .unwrap()
}

/// Buckets `input` and `output`, the queues, the notifications and the Glue database `inlet`.
pub async fn data_path(moto: &Moto) -> Queues {
    let s3 = moto.s3();
    let sqs = moto.sqs();
    for bucket in ["input", "output"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let (unzip, _) = queue_with_dlq(&sqs, "unzip", 3).await;
    let (runner, runner_dlq) = queue_with_dlq(&sqs, "runner", 2).await;
    let (partitioner, _) = queue_with_dlq(&sqs, "partitioner", 3).await;

    let unzip_arn = queue_arn(&sqs, &unzip).await;
    let runner_arn = queue_arn(&sqs, &runner).await;
    let partitioner_arn = queue_arn(&sqs, &partitioner).await;
    // As the app stack wires it: every object under in/ reaches the entry
    // point, which forwards archives to the unzip queue itself.
    let _ = unzip_arn;
    let input_notifications =
        NotificationConfiguration::builder().queue_configurations(notification(&runner_arn, inlet_core::layout::INBOX, "")).build();
    s3.put_bucket_notification_configuration().bucket("input").notification_configuration(input_notifications).send().await.unwrap();
    let output_notifications =
        NotificationConfiguration::builder().queue_configurations(notification(&partitioner_arn, "", ".parquet")).build();
    s3.put_bucket_notification_configuration().bucket("output").notification_configuration(output_notifications).send().await.unwrap();

    moto.glue()
        .create_database()
        .database_input(aws_sdk_glue::types::DatabaseInput::builder().name("inlet").build().unwrap())
        .send()
        .await
        .unwrap();
    Queues { unzip, runner, runner_dlq, partitioner }
}

/// The messages waiting in a queue, as the Lambda SQS event source would hand them over.
pub async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut messages = Vec::new();
    // A few empty polls in a row mean the queue is drained; bounded either way.
    let mut empty = 0;
    for _ in 0..50 {
        let batch = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap().messages.unwrap_or_default();
        if batch.is_empty() {
            empty += 1;
            if empty >= 2 {
                break;
            }
            continue;
        }
        empty = 0;
        messages.extend(batch);
    }
    messages
}

/// An SQS Lambda event of these messages.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "attributes": {}, "messageAttributes": {}, "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

pub async fn delete_all(sqs: &aws_sdk_sqs::Client, url: &str, messages: &[aws_sdk_sqs::types::Message]) {
    for m in messages {
        sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
    }
}

/// The buoy zips: the real exports when the reference data is at hand, else the repository's sample.
pub fn buoy_zips() -> Vec<PathBuf> {
    let reference = std::env::var("INLET_REF_DATA").map(PathBuf::from).unwrap_or_else(|_| repo().join("../shared/ref-data"));
    let real = [
        reference.join("a2e_buoy_ingest/humboldt/buoy.z05.00.20201201.000000.zip"),
        reference.join("a2e_buoy_ingest/morro/buoy.z06.00.20201201.000000.zip"),
    ];
    if real.iter().all(|p| p.is_file()) {
        return real.to_vec();
    }
    eprintln!("reference data not found; using data/buoy.z05.00.20210115.000000.zip");
    vec![repo().join("data/buoy.z05.00.20210115.000000.zip")]
}

/// Rows per table in a zip of buoy CSVs, counted from the raw text: records
/// after the header, macOS debris excluded.
pub fn raw_rows_per_table(zip_path: &Path) -> Vec<(String, u64)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    let mut counts = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        if name.contains("__MACOSX") || !name.ends_with(".csv") {
            continue;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        let rows = text.lines().filter(|l| !l.trim().is_empty()).count() as u64 - 1;
        let kind = name.trim_end_matches(".csv").rsplit('.').next().unwrap().to_owned();
        counts.push((format!("a2e_buoy_{kind}"), rows));
    }
    counts
}
