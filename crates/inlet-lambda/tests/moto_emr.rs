//! The EMR launcher against moto's server: real `RunJobFlow`, `ListSteps`,
//! `TerminateJobFlows`, DynamoDB conditional writes, S3 → SQS notifications
//! and SNS. moto's clusters never fail and their steps never finish, so the
//! tests send EMR's EventBridge events themselves, as EMR would.

mod support;

use std::sync::Arc;

use aws_sdk_emr::types::ClusterState;
use inlet_emr::engine::Engines;
use inlet_emr::launcher::{Launcher, Leases, VariableLookup};
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
    harness_on(moto, Templates::embedded(), Arc::new(|name: &str| Some(format!("test-{}", name.to_lowercase())))).await
}

async fn harness_on(moto: Moto, templates: Templates, variables: VariableLookup) -> Harness {
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
        templates: Arc::new(templates),
        variables,
        state: Arc::new(state.clone()),
        engines: Engines {
            clusters: Arc::new(inlet_aws::EmrClusters::new(moto.emr())),
            job_runs: Arc::new(inlet_aws::EmrServerlessJobRuns::new(moto.emr_serverless())),
        },
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
    let engine = launcher.engines.for_product(&launcher.templates, PRODUCT, &|_| None).unwrap();
    let stopped = inlet_emr::launcher::stop(&engine, launcher.state.as_ref(), PRODUCT, NOW).await.unwrap();
    assert_eq!((stopped.clusters.len(), stopped.runs_cancelled.len()), (3, 3));
    assert_eq!(h.live_clusters().await, Vec::<String>::new(), "no cluster of the product is left running");
    let runs = h.state.list().await.unwrap();
    assert!(runs.iter().all(|r| r.status == RunStatus::Cancelled), "{runs:?}");
    let range = h.run("backfill-jan").await;
    assert_eq!(range.request.start_date.map(|d| d.to_string()).as_deref(), Some("2024-01-01"));
}

/// The sample product switched to EMR Serverless as a user would switch it:
/// a copy of its folder whose launcher.yaml says `engine: emr-serverless`.
fn serverless_templates() -> Templates {
    let dir = tempfile::tempdir().unwrap();
    let product = dir.path().join(PRODUCT);
    std::fs::create_dir(&product).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/emr").join(PRODUCT);
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, product.join(path.file_name().unwrap())).unwrap();
    }
    let launcher = std::fs::read_to_string(product.join("launcher.yaml")).unwrap();
    assert!(launcher.contains("\nengine: emr\n"), "{launcher}");
    std::fs::write(product.join("launcher.yaml"), launcher.replace("\nengine: emr\n", "\nengine: emr-serverless\n")).unwrap();
    Templates::load_dir(dir.path()).unwrap()
}

/// A launcher for the serverless product, with an application on moto.
async fn serverless_harness() -> (Harness, String) {
    let moto = Moto::start().await;
    let application = moto.emr_serverless().create_application().name("inlet").release_label("emr-7.5.0").r#type("SPARK").send().await;
    let application_id = application.unwrap().application_id;
    let app = application_id.clone();
    let variables: VariableLookup = Arc::new(move |name: &str| match name {
        "EMR_SERVERLESS_APPLICATION_ID" => Some(app.clone()),
        "EMR_SERVERLESS_EXECUTION_ROLE" => Some("arn:aws:iam::123456789012:role/inlet-job-runs".into()),
        other => Some(format!("test-{}", other.to_lowercase())),
    });
    (harness_on(moto, serverless_templates(), variables).await, application_id)
}

fn job_run_event(application: &str, job_run: &str, state: &str) -> Value {
    json!({ "detail-type": "EMR Serverless Job Run State Change", "source": "aws.emr-serverless",
            "detail": { "applicationId": application, "jobRunId": job_run, "state": state, "previousState": "RUNNING",
                        "stateDetails": format!("job run {state}") } })
}

impl Harness {
    /// Every job run of `application`, in the order they were started: (id, step tag, the job run).
    async fn job_runs(&self, application: &str) -> Vec<(String, String, aws_sdk_emrserverless::types::JobRun)> {
        let client = self.moto.emr_serverless();
        let listed = client.list_job_runs().application_id(application).send().await.unwrap();
        let mut runs = Vec::new();
        for summary in listed.job_runs() {
            let job_run = client.get_job_run().application_id(application).job_run_id(summary.id()).send().await.unwrap().job_run.unwrap();
            let step = job_run.tags().and_then(|t| t.get("Step").cloned()).unwrap_or_default();
            runs.push((summary.id().to_owned(), step, job_run));
        }
        // moto lists them in the order they were started, and stamps them
        // all with the same midnight, so that order is kept.
        runs
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_emr_serverless_each_step_is_one_job_run_started_once() {
    let (h, app) = serverless_harness().await;
    let payload = json!({ "product": PRODUCT, "start_date": "2024-02-01", "end_date": "2024-02-05", "correlation_id": "feb" });
    let started = h.handle(payload.clone()).await;
    assert_eq!((started["outcome"].as_str(), started["from_step"].as_str()), (Some("launched"), Some("load-days")), "{started}");

    let runs = h.job_runs(&app).await;
    assert_eq!(runs.len(), 1, "one job run: the first step");
    let (first, step, job_run) = &runs[0];
    assert_eq!(step, "load-days");
    let tags = job_run.tags().unwrap();
    assert_eq!((tags["Correlation_Id"].as_str(), tags["DataProduct"].as_str(), tags["Run_Id"].as_str()), ("feb", PRODUCT, "1"));
    assert_eq!(job_run.execution_role(), "arn:aws:iam::123456789012:role/inlet-job-runs");
    let Some(aws_sdk_emrserverless::types::JobDriver::SparkSubmit(submit)) = job_run.job_driver() else { panic!("{job_run:?}") };
    assert_eq!(submit.entry_point(), "test-emr_scripts/cyi_exports/emr/load_days.py");
    let parameters = submit.spark_submit_parameters().unwrap();
    assert!(parameters.contains("--py-files test-emr_scripts/cyi_exports/emr/common.py"), "{parameters}");
    assert!(!parameters.contains("--deploy-mode"), "EMR Serverless decides where the driver runs: {parameters}");
    let arguments = submit.entry_point_arguments();
    assert_eq!(&arguments[arguments.len() - 2..], ["--start_date", "2024-02-01"], "{arguments:?}");
    assert!(arguments.windows(2).any(|w| w == ["--correlation_id", "feb"]), "{arguments:?}");

    // moto ignores client tokens, so this is the run-state table's doing.
    h.handle(payload.clone()).await;
    let (a, b) = tokio::join!(h.handle(payload.clone()), h.handle(payload.clone()));
    assert_eq!((a["outcome"].as_str(), b["outcome"].as_str()), (Some("already_running"), Some("already_running")), "{a} {b}");
    assert_eq!(h.job_runs(&app).await.len(), 1, "still one job run");
    assert_eq!(h.handle(job_run_event(&app, first, "RUNNING")).await["outcome"], "ignored");

    // Success starts the next step; the same event again starts nothing.
    let next = h.handle(job_run_event(&app, first, "SUCCESS")).await;
    assert_eq!((next["outcome"].as_str(), next["step"].as_str()), (Some("next_step"), Some("publish-days")), "{next}");
    assert_eq!(h.handle(job_run_event(&app, first, "SUCCESS")).await["outcome"], "ignored");
    let runs = h.job_runs(&app).await;
    assert_eq!(runs.iter().map(|(_, step, _)| step.as_str()).collect::<Vec<_>>(), ["load-days", "publish-days"]);
    let second = runs[1].0.clone();
    let run = h.run("feb").await;
    assert_eq!((run.current_step, run.cluster_id.as_deref()), (1, Some(second.as_str())));

    let done = h.handle(job_run_event(&app, &second, "SUCCESS")).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(h.handle(payload).await["outcome"], "already_completed");
    assert_eq!(h.job_runs(&app).await.len(), 2, "two steps, two job runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_emr_serverless_a_failed_job_run_resumes_from_its_step_until_the_retries_run_out() {
    let (h, app) = serverless_harness().await;
    let payload = json!({ "product": PRODUCT, "start_date": "2024-03-01", "end_date": "2024-03-02", "correlation_id": "mar" });
    h.handle(payload).await;
    let first = h.run("mar").await.cluster_id.unwrap();
    h.handle(job_run_event(&app, &first, "SUCCESS")).await;
    let second = h.run("mar").await.cluster_id.unwrap();

    let relaunched = h.handle(job_run_event(&app, &second, "FAILED")).await;
    assert_eq!(relaunched["outcome"], "relaunched", "{relaunched}");
    assert_eq!((relaunched["run_id"].as_u64(), relaunched["from_step"].as_str()), (Some(2), Some("publish-days")));
    let runs = h.job_runs(&app).await;
    assert_eq!(runs.iter().map(|(_, step, _)| step.as_str()).collect::<Vec<_>>(), ["load-days", "publish-days", "publish-days"]);
    assert_eq!(runs[2].2.tags().unwrap()["Run_Id"], "2", "resumed from the failed step, not from the first");
    assert_eq!(h.handle(job_run_event(&app, &second, "FAILED")).await["outcome"], "ignored", "an old job run's event");

    let third = h.handle(job_run_event(&app, &runs[2].0, "FAILED")).await;
    assert_eq!(third["run_id"].as_u64(), Some(3), "{third}");
    let gave_up = h.handle(job_run_event(&app, third["cluster_id"].as_str().unwrap(), "FAILED")).await;
    assert_eq!(gave_up["outcome"], "gave_up", "{gave_up}");
    let run = h.run("mar").await;
    assert_eq!((run.status, run.current_step), (RunStatus::Failed, 1));
    assert!(run.reason.as_deref().unwrap().contains("job run FAILED"), "the engine's reason is kept: {:?}", run.reason);
    assert_eq!(receive(&h.moto.sqs(), &h.alerts).await.len(), 1, "one notification");
    assert_eq!(h.job_runs(&app).await.len(), 4, "one first step, then the second step three times");

    let launcher = &h.function.launcher;
    let engine = launcher.engines.for_product(&launcher.templates, PRODUCT, &|name| (launcher.variables)(name)).unwrap();
    assert!(matches!(engine, inlet_emr::engine::Engine::JobRuns(..)));
    // moto's job runs end at once, so stop finds none to cancel.
    let stopped = inlet_emr::launcher::stop(&engine, launcher.state.as_ref(), PRODUCT, NOW).await.unwrap();
    assert_eq!((stopped.clusters.len(), stopped.runs_cancelled.len()), (0, 0));
}
