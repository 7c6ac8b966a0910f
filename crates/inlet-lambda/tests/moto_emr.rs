//! The EMR launcher against moto's server: real `RunJobFlow`, `ListSteps`,
//! `TerminateJobFlows`, DynamoDB conditional writes, S3 → SQS notifications
//! and SNS. moto's clusters never fail and their steps never finish, so the
//! tests send EMR's EventBridge events themselves, as EMR would.

mod support;

use std::sync::Arc;

use aws_sdk_emr::types::ClusterState;
use inlet_emr::launcher::{Launcher, Leases};
use inlet_emr::product::Templates;
use inlet_emr::run::{RunState, RunStatus};
use inlet_lambda::emr::{LauncherFunction, launch};
use serde_json::{Value, json};
use support::*;

const NOW: i64 = 1_705_300_000;
const PRODUCT: &str = "cyi_exports";

struct Harness {
    moto: Moto,
    function: LauncherFunction,
    state: inlet_aws::DynamoRunState,
    markers: String,
    alerts: String,
}

/// The run-state table, the alerts topic with a queue subscribed, and the
/// input bucket notifying the launcher's queue of markers only.
async fn harness() -> Harness {
    let moto = Moto::start().await;
    moto.table("runs", "Correlation_Id", "DataProduct").await;
    let topic = moto.sns().create_topic().name("alerts").send().await.unwrap().topic_arn.unwrap();
    let (alerts, _) = queue_with_dlq(&moto.sqs(), "alerts-inbox", 3).await;
    let alerts_arn = queue_arn(&moto.sqs(), &alerts).await;
    moto.sns().subscribe().topic_arn(&topic).protocol("sqs").endpoint(alerts_arn).send().await.unwrap();

    let (markers, _) = queue_with_dlq(&moto.sqs(), "launcher", 3).await;
    let markers_arn = queue_arn(&moto.sqs(), &markers).await;
    moto.s3().create_bucket().bucket("input").send().await.unwrap();
    let notifications = aws_sdk_s3::types::NotificationConfiguration::builder()
        .queue_configurations(notification(&markers_arn, "cyi_exports/", "_SUCCESS"))
        .build();
    moto.s3().put_bucket_notification_configuration().bucket("input").notification_configuration(notifications).send().await.unwrap();

    let state = inlet_aws::DynamoRunState::new(moto.dynamodb(), "runs");
    let launcher = Launcher {
        templates: Arc::new(Templates::embedded()),
        variables: Arc::new(|name: &str| Some(format!("test-{}", name.to_lowercase()))),
        state: Arc::new(state.clone()),
        engine: Arc::new(inlet_aws::EmrClusters::new(moto.emr())),
        alerts: Arc::new(inlet_aws::SnsAlerts::new(moto.sns(), topic)),
        leases: Leases::default(),
    };
    let function = LauncherFunction { launcher: Arc::new(launcher), input_bucket: "input".into() };
    Harness { moto, function, state, markers, alerts }
}

impl Harness {
    /// Drops a day's files and its marker: the launcher queue's event (S3's
    /// test event, sent when the notification was configured, included) and
    /// the id of the marker's message.
    async fn drop_day(&self, day: &str) -> (Value, String) {
        for name in ["part-0001.json", "_SUCCESS"] {
            let body = aws_sdk_s3::primitives::ByteStream::from_static(b"{}\n");
            self.moto.s3().put_object().bucket("input").key(format!("{PRODUCT}/{day}/{name}")).body(body).send().await.unwrap();
        }
        let messages = receive(&self.moto.sqs(), &self.markers).await;
        // Done with, as the event source would: the queue's visibility
        // timeout is a second, and a slow test would see them again.
        delete_all(&self.moto.sqs(), &self.markers, &messages).await;
        let markers: Vec<&aws_sdk_sqs::types::Message> =
            messages.iter().filter(|m| !m.body().unwrap_or_default().contains("s3:TestEvent")).collect();
        assert_eq!(markers.len(), 1, "only the marker notifies the launcher");
        (sqs_event(&messages), markers[0].message_id().unwrap().to_owned())
    }

    async fn live_clusters(&self) -> Vec<String> {
        let live = [ClusterState::Starting, ClusterState::Bootstrapping, ClusterState::Running, ClusterState::Waiting];
        let listed = self.moto.emr().list_clusters().set_cluster_states(Some(live.to_vec())).send().await.unwrap();
        listed.clusters().iter().filter_map(|c| c.id().map(str::to_owned)).collect()
    }

    /// Each step's name and arguments.
    async fn steps_of(&self, cluster: &str) -> Vec<(String, Vec<String>)> {
        let listed = self.moto.emr().list_steps().cluster_id(cluster).send().await.unwrap();
        let mut steps: Vec<(String, Vec<String>)> = listed
            .steps()
            .iter()
            .map(|s| (s.name().unwrap().to_owned(), s.config().map(|c| c.args().to_vec()).unwrap_or_default()))
            .collect();
        // ListSteps answers newest first.
        steps.reverse();
        steps
    }

    async fn run(&self, correlation_id: &str) -> inlet_emr::run::Run {
        self.state.get(correlation_id, PRODUCT).await.unwrap().expect("the run exists")
    }

    async fn handle(&self, event: Value) -> Value {
        launch(&self.function, &event, NOW).await.unwrap()
    }
}

fn step_event(cluster: &str, step: &str, state: &str) -> Value {
    json!({ "detail-type": "EMR Step Status Change", "source": "aws.emr",
            "detail": { "clusterId": cluster, "stepId": "s-1", "name": step, "state": state, "message": format!("{step} {state}") } })
}

fn cluster_event(cluster: &str, state: &str) -> Value {
    json!({ "detail-type": "EMR Cluster State Change", "source": "aws.emr",
            "detail": { "clusterId": cluster, "state": state, "stateChangeReason": "{\"code\":\"STEP_FAILURE\",\"message\":\"Step failed\"}" } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_passes_the_run_state_suite() {
    let moto = Moto::start().await;
    moto.table("runs", "Correlation_Id", "DataProduct").await;
    inlet_emr::run::conformance(&inlet_aws::DynamoRunState::new(moto.dynamodb(), "runs")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_marker_starts_one_cluster_however_often_it_is_delivered() {
    let h = harness().await;
    let (event, message_id) = h.drop_day("2024-01-15").await;

    let first = h.handle(event.clone()).await;
    assert_eq!(first["batchItemFailures"], json!([]), "{first}");
    let clusters = h.live_clusters().await;
    assert_eq!(clusters.len(), 1);

    let steps = h.steps_of(&clusters[0]).await;
    assert_eq!(steps.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["load-days", "publish-days"]);
    let expected_tail = [
        "--correlation_id",
        &message_id,
        "--s3_bucket_name",
        "input",
        "--s3_prefix",
        "cyi_exports/2024-01-15/",
        "--export_date",
        "2024-01-15",
    ];
    for (name, args) in &steps {
        assert_eq!(&args[args.len() - expected_tail.len()..], expected_tail, "{name}'s arguments end with the run's");
        assert!(args.contains(&"test-output_bucket".to_string()), "{name}: the template's ${{OUTPUT_BUCKET}} came from the environment");
    }
    let described = h.moto.emr().describe_cluster().cluster_id(&clusters[0]).send().await.unwrap();
    let tags: Vec<(String, String)> =
        described.cluster().unwrap().tags().iter().map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned())).collect();
    assert!(tags.contains(&("Correlation_Id".into(), message_id.clone())), "{tags:?}");
    assert!(tags.contains(&("DataProduct".into(), PRODUCT.into())), "{tags:?}");

    // SQS delivers at least once: again, and twice at the same time.
    h.handle(event.clone()).await;
    let (a, b) = tokio::join!(h.handle(event.clone()), h.handle(event.clone()));
    assert_eq!((a["batchItemFailures"].clone(), b["batchItemFailures"].clone()), (json!([]), json!([])));
    assert_eq!(h.live_clusters().await, clusters, "still one cluster");
    let run = h.run(&message_id).await;
    assert_eq!((run.run_id, run.status, run.cluster_id.as_deref()), (1, RunStatus::InProgress, Some(clusters[0].as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_is_relaunched_from_that_step_until_the_retries_run_out() {
    let h = harness().await;
    let (event, id) = h.drop_day("2024-01-16").await;
    h.handle(event).await;
    let first = h.live_clusters().await.remove(0);

    h.handle(step_event(&first, "load-days", "COMPLETED")).await;
    h.handle(step_event(&first, "publish-days", "RUNNING")).await;
    h.handle(step_event(&first, "publish-days", "FAILED")).await;
    // A late event of the first step must not move the run back.
    let late = h.handle(step_event(&first, "load-days", "RUNNING")).await;
    assert_eq!(late["outcome"], "ignored", "{late}");
    assert_eq!(h.run(&id).await.current_step, 1);

    let relaunched = h.handle(cluster_event(&first, "TERMINATED_WITH_ERRORS")).await;
    assert_eq!(relaunched["outcome"], "relaunched", "{relaunched}");
    assert_eq!((relaunched["run_id"].as_u64(), relaunched["from_step"].as_str()), (Some(2), Some("publish-days")));
    let second = relaunched["cluster_id"].as_str().unwrap().to_owned();
    let steps = h.steps_of(&second).await;
    assert_eq!(steps.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["publish-days"], "only the steps from the failed one");
    let run = h.run(&id).await;
    assert_eq!((run.run_id, run.current_step, run.cluster_id.as_deref()), (2, 1, Some(second.as_str())));

    // Events of the first cluster no longer count.
    let stale = h.handle(step_event(&first, "publish-days", "COMPLETED")).await;
    assert_eq!(stale["outcome"], "ignored", "{stale}");
    assert_eq!(h.handle(cluster_event(&first, "TERMINATED_WITH_ERRORS")).await["outcome"], "ignored");

    // max_retries is 2: Run_Id 3 is the last relaunch; its failure is final.
    let third = h.handle(cluster_event(&second, "TERMINATED_WITH_ERRORS")).await;
    assert_eq!(third["run_id"].as_u64(), Some(3), "{third}");
    let third_cluster = third["cluster_id"].as_str().unwrap().to_owned();
    let gave_up = h.handle(cluster_event(&third_cluster, "TERMINATED_WITH_ERRORS")).await;
    assert_eq!(gave_up["outcome"], "gave_up", "{gave_up}");
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.reason.as_deref().unwrap().contains("gave up after 3 runs"), "{:?}", run.reason);

    let notified = receive(&h.moto.sqs(), &h.alerts).await;
    assert_eq!(notified.len(), 1, "one notification");
    let envelope: Value = serde_json::from_str(notified[0].body().unwrap()).unwrap();
    assert!(envelope["Subject"].as_str().unwrap().contains(&id), "{envelope}");
    let clusters_started = h.moto.emr().list_clusters().send().await.unwrap().clusters().len();
    assert_eq!(clusters_started, 3, "the first run and two relaunches, no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_steps_complete_the_run_and_a_cleared_run_starts_from_the_first_step() {
    let h = harness().await;
    let (event, id) = h.drop_day("2024-01-17").await;
    h.handle(event.clone()).await;
    let cluster = h.live_clusters().await.remove(0);
    h.handle(step_event(&cluster, "load-days", "COMPLETED")).await;
    let done = h.handle(step_event(&cluster, "publish-days", "COMPLETED")).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(h.handle(event.clone()).await["batchItemFailures"], json!([]));
    assert_eq!(h.moto.emr().list_clusters().send().await.unwrap().clusters().len(), 1, "a completed run is not started again");

    assert!(h.state.delete(&id, PRODUCT).await.unwrap(), "runs clear deletes the row");
    h.handle(event).await;
    let run = h.run(&id).await;
    assert_eq!((run.run_id, run.current_step, run.status), (1, 0, RunStatus::InProgress));
    let newest = run.cluster_id.unwrap();
    assert_eq!(h.steps_of(&newest).await.len(), 2, "from step 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_terminates_the_products_clusters_and_cancels_their_runs() {
    let h = harness().await;
    for day in ["2024-01-18", "2024-01-19"] {
        let (event, _) = h.drop_day(day).await;
        h.handle(event).await;
    }
    let direct = json!({ "product": PRODUCT, "start_date": "2024-01-01", "end_date": "2024-01-10", "correlation_id": "backfill-jan" });
    let started = h.handle(direct).await;
    assert_eq!(started["outcome"], "launched", "{started}");
    assert_eq!(h.live_clusters().await.len(), 3);

    let launcher = &h.function.launcher;
    let stopped = inlet_emr::launcher::stop(launcher.engine.as_ref(), launcher.state.as_ref(), PRODUCT, NOW).await.unwrap();
    assert_eq!((stopped.clusters.len(), stopped.runs_cancelled.len()), (3, 3));
    assert_eq!(h.live_clusters().await, Vec::<String>::new(), "no cluster of the product is left running");
    let runs = h.state.list().await.unwrap();
    assert!(runs.iter().all(|r| r.status == RunStatus::Cancelled), "{runs:?}");
    let range = h.run("backfill-jan").await;
    assert_eq!(range.request.start_date.map(|d| d.to_string()).as_deref(), Some("2024-01-01"));
}
