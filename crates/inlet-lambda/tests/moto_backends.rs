//! The backend conformance suites against moto's server, and what the AWS
//! backends do with real SDK errors: responses rewritten by an SDK
//! interceptor into the 503 `SlowDown` and 403 `AccessDenied` S3 sends, and
//! Glue requests inspected on their way out.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::{BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use inlet_aws::{GlueCatalog, S3ObjectStore};
use inlet_core::catalog::Catalog;
use inlet_core::conformance::{self, VersionChecked};
use inlet_core::pipeline::PipelineSet;
use inlet_core::{Engine, EngineConfig, Outcome};
use support::*;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_passes_the_object_store_suite() {
    let moto = Moto::start().await;
    moto.s3().create_bucket().bucket("conformance").send().await.unwrap();
    conformance::object_store(&S3ObjectStore::new(moto.s3()), "conformance").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_passes_the_source_state_suite() {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let moto = Moto::start().await;
    let attribute = |name: &str, kind| {
        (
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap(),
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap(),
        )
    };
    let (source, source_key) = attribute("source", KeyType::Hash);
    let (url, url_key) = attribute("url", KeyType::Range);
    moto.dynamodb()
        .create_table()
        .table_name("source-state")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(source)
        .attribute_definitions(url)
        .key_schema(source_key)
        .key_schema(url_key)
        .send()
        .await
        .unwrap();
    inlet_sources::state::conformance(&inlet_aws::DynamoSourceState::new(moto.dynamodb(), "source-state")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_reaches_the_topics_subscribers() {
    use inlet_core::alerts::{Alert, Alerts};
    let moto = Moto::start().await;
    let topic = moto.sns().create_topic().name("alerts").send().await.unwrap().topic_arn.unwrap();
    let queue = moto.sqs().create_queue().queue_name("alerts-inbox").send().await.unwrap().queue_url.unwrap();
    let attributes = moto
        .sqs()
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    moto.sns().subscribe().topic_arn(&topic).protocol("sqs").endpoint(queue_arn).send().await.unwrap();

    let details = serde_json::json!({ "source": "asx_eod", "url": "https://x/a.csv", "error": "answered 404" });
    let alert = Alert::new("inlet: source asx_eod failed 3 times in a row", &details);
    inlet_aws::SnsAlerts::new(moto.sns(), &topic).publish(&alert).await.unwrap();

    let delivered = receive(&moto.sqs(), &queue).await;
    let envelope: serde_json::Value = serde_json::from_str(delivered[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Subject"], "inlet: source asx_eod failed 3 times in a row");
    let message: serde_json::Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!((message["url"].as_str(), message["error"].as_str()), (Some("https://x/a.csv"), Some("answered 404")));
}

/// Records each Glue request's operation and JSON body as it leaves. A clone
/// goes to the client; the test keeps the other to read what was sent.
#[derive(Debug, Default, Clone)]
struct GlueRequests(Arc<Mutex<Vec<(String, serde_json::Value)>>>);

impl Intercept for GlueRequests {
    fn name(&self) -> &'static str {
        "GlueRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request.headers().get("x-amz-target").unwrap_or_default().trim_start_matches("AWSGlue.").to_owned();
        let body = request.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
        self.0.lock().unwrap().push((operation, body));
        Ok(())
    }
}

impl GlueRequests {
    fn bodies(&self, operation: &str) -> Vec<serde_json::Value> {
        self.0.lock().unwrap().iter().filter(|(o, _)| o == operation).map(|(_, b)| b.clone()).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glue_passes_the_catalog_suite_with_at_most_100_partitions_a_call_and_versioned_updates() {
    let moto = Moto::start().await;
    let glue = moto.glue();
    glue.create_database()
        .database_input(aws_sdk_glue::types::DatabaseInput::builder().name("inlet").build().unwrap())
        .send()
        .await
        .unwrap();
    let requests = GlueRequests::default();
    let watched = aws_sdk_glue::Client::from_conf(aws_sdk_glue::config::Builder::from(&moto.config).interceptor(requests.clone()).build());
    let catalog = GlueCatalog::new(watched);

    // moto accepts a stale VersionId, so the stale-update check is not asked of it here.
    conformance::catalog(&catalog, "inlet", false).await;

    // moto also takes more than 100 partitions a call; the requests show inlet never sends more.
    let batches: Vec<usize> =
        requests.bodies("BatchCreatePartition").iter().map(|b| b["PartitionInputList"].as_array().unwrap().len()).collect();
    assert!(batches.iter().all(|n| *n <= 100), "{batches:?}");
    assert_eq!(batches.iter().sum::<usize>(), 250 + 120, "every partition was sent: {batches:?}");
    // And every update names the version it read, which Glue enforces.
    let updates = requests.bodies("UpdateTable");
    assert!(!updates.is_empty());
    for update in &updates {
        assert!(update["VersionId"].as_str().is_some_and(|v| !v.is_empty()), "an update without VersionId: {update}");
    }

    // With versions enforced in front of moto, as Glue enforces them, two
    // concurrent writers that each add a column keep both.
    let checked: Arc<dyn Catalog> = Arc::new(VersionChecked::new(Arc::new(catalog)));
    conformance::concurrent_schema_updates(checked, "inlet").await;
}

/// Rewrites S3's answers to GetObject of chosen keys into the error S3 sends:
/// a 503 `SlowDown`, or a 403 `AccessDenied`. Clones share their state.
#[derive(Debug, Default, Clone)]
struct S3Answers(Arc<AnswerState>);

#[derive(Debug, Default)]
struct AnswerState {
    last_path: Mutex<String>,
    slow_down_left: AtomicUsize,
    slow_down_seen: AtomicUsize,
}

impl std::ops::Deref for S3Answers {
    type Target = AnswerState;
    fn deref(&self) -> &AnswerState {
        &self.0
    }
}

impl Intercept for S3Answers {
    fn name(&self) -> &'static str {
        "S3Answers"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let path = if request.method() == "GET" { request.uri().to_owned() } else { String::new() };
        *self.last_path.lock().unwrap() = path;
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let path = self.last_path.lock().unwrap().clone();
        let (status, code) = if path.contains("in/asx_eod_denied") {
            (403, "AccessDenied")
        } else if path.contains("in/asx_eod_slow") && self.slow_down_left.load(Ordering::SeqCst) > 0 {
            self.slow_down_left.fetch_sub(1, Ordering::SeqCst);
            self.slow_down_seen.fetch_add(1, Ordering::SeqCst);
            (503, "SlowDown")
        } else {
            return Ok(());
        };
        let response = context.response_mut();
        // The error has no checksum, and its length is its own.
        let stale: Vec<String> = response
            .headers()
            .iter()
            .map(|(name, _)| name.to_owned())
            .filter(|name| name.starts_with("x-amz-checksum") || name.eq_ignore_ascii_case("content-length"))
            .collect();
        for name in stale {
            response.headers_mut().remove(name);
        }
        *response.status_mut() = aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap();
        *response.body_mut() = SdkBody::from(format!("<Error><Code>{code}</Code><Message>injected</Message></Error>"));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_goes_to_failed_at_once_and_slow_down_is_retried() {
    let moto = Moto::start().await;
    data_path(&moto).await;
    let row = b"AAA,20201201,1,2,0.5,1.5,100\n".to_vec();
    for key in ["in/asx_eod_denied.csv", "in/asx_eod_slow.csv"] {
        moto.s3().put_object().bucket("input").key(key).body(ByteStream::from(row.clone())).send().await.unwrap();
    }
    let answers = S3Answers::default();
    let retry =
        aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(3).with_initial_backoff(std::time::Duration::from_millis(10));
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&moto.config).force_path_style(true).retry_config(retry).interceptor(answers.clone()).build(),
    );
    let config = EngineConfig { input_bucket: "input".into(), output_bucket: "output".into(), ..EngineConfig::default() };
    let engine = Engine::new(Arc::new(S3ObjectStore::new(s3)), Arc::new(PipelineSet::embedded().unwrap()), config);

    let denied = engine.process("in/asx_eod_denied.csv").await;
    let Outcome::Failed(failure) = &denied else { panic!("{denied:?}") };
    assert!(failure.filed && failure.error.contains("AccessDenied"), "{failure:?}");

    // Two SlowDowns: the SDK's own retries absorb them within one call.
    answers.slow_down_left.store(2, Ordering::SeqCst);
    moto.s3().put_object().bucket("input").key("in/asx_eod_slow.csv").body(ByteStream::from(row.clone())).send().await.unwrap();
    let absorbed = engine.process("in/asx_eod_slow.csv").await;
    assert!(matches!(absorbed, Outcome::Loaded(_)), "{absorbed:?}");
    assert_eq!(answers.slow_down_seen.load(Ordering::SeqCst), 2);

    // More SlowDowns than the SDK's attempts: the input stays in in/ for the redelivery.
    moto.s3().put_object().bucket("input").key("in/asx_eod_slow.csv").body(ByteStream::from(row.clone())).send().await.unwrap();
    answers.slow_down_left.store(3, Ordering::SeqCst);
    let deferred = engine.process("in/asx_eod_slow.csv").await;
    let Outcome::Retry(deferral) = &deferred else { panic!("{deferred:?}") };
    assert!(deferral.error.contains("SlowDown"), "{deferral:?}");
    let listed = moto.s3().list_objects_v2().bucket("input").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(keys.contains(&"in/asx_eod_slow.csv") && !keys.iter().any(|k| k.starts_with("failed/asx_eod_slow")), "{keys:?}");
    assert!(keys.contains(&"failed/asx_eod_denied.csv.error.json"), "{keys:?}");

    let redelivered = engine.process("in/asx_eod_slow.csv").await;
    assert!(matches!(redelivered, Outcome::Loaded(_)), "{redelivered:?}");
}
