//! The app stack: buckets, queues, the eight functions, the EMR roles, the run-state and
//! source-state tables, the alerts topic with an alarm on every queue,
//! function and pipeline threshold, the harvest schedules, the Glue database
//! and the Athena workgroup.

use inlet_contract::{env, functions, outputs, prefixes};
use inlet_core::pipeline::PipelineSet;
use inlet_emr::events::{CLUSTER_STATE_CHANGE, STEP_STATUS_CHANGE};
use inlet_emr::product::Templates;
use inlet_emr::serverless::JOB_RUN_STATE_CHANGE;
use inlet_sources::SourceSet;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::expr::Expr;
use crate::resources::alarms::Alarms;
use crate::resources::analytics::{GlueDatabase, WorkGroup};
use crate::resources::dynamodb::Table;
use crate::resources::emr::EmrRoles;
use crate::resources::lambda::{Code, Function, FunctionProps, custom_resource};
use crate::resources::notify::{Topic, event_rule, schedule};
use crate::resources::s3::Bucket;
use crate::resources::sqs::Queue;
use crate::stack::{Parameter, Stack};

pub fn stack() -> Stack {
    let stack = Stack::new(
        "lambda",
        "inlet: files dropped into the input bucket become Parquet partitions registered in Glue, queryable in Athena.",
    );
    let stage = stack.parameter(
        "Stage",
        Parameter::string("Which deployment this is; test stacks get the clean-test-files function.").allowed(&["test", "prod"]),
    );
    stack.parameter(
        "NamePrefix",
        Parameter::string("Lowercase prefix of bucket and workgroup names, e.g. inlet-prod.")
            .pattern("^[a-z][a-z0-9-]{2,30}$", "lowercase letters, digits and hyphens, 3 to 31 characters"),
    );
    stack.parameter(
        "GlueDatabaseName",
        Parameter::string("The Glue database tables are registered in.")
            .pattern("^[a-z][a-z0-9_]{0,63}$", "lowercase letters, digits and underscores"),
    );
    let code_bucket =
        stack.parameter("CodeBucket", Parameter::string("Bucket holding the functions' deployment zips (the pipeline's artifact bucket)."));
    stack.parameter("CodePrefix", Parameter::string("Key prefix of the zips, ending in a slash: <prefix><function>.zip."));
    let done_days = stack.parameter(
        "DoneRetentionDays",
        Parameter::number("Days processed inputs stay in done/ before they expire.").default_value(90).range(1, 3650),
    );
    let is_test = stack.condition("IsTest", Expr::equals(stage.clone(), "test".into()));
    let code = |function: &str| Code { bucket: code_bucket.clone(), key: Expr::sub(format!("${{CodePrefix}}{function}.zip")) };

    // Storage. Names are known up front, so policies and notifications can
    // name the buckets without reference cycles.
    let input = Bucket::new(&stack, "InputBucket", "${NamePrefix}-input-${AWS::AccountId}-${AWS::Region}");
    input.expire("expire-done", "done/", done_days);
    // A download cut off mid-way leaves its staged copy; nothing reads it after a day.
    input.expire("expire-staging", prefixes::STAGING, 1);
    let output = Bucket::new(&stack, "OutputBucket", "${NamePrefix}-output-${AWS::AccountId}-${AWS::Region}");
    let results = Bucket::new(&stack, "AthenaResultsBucket", "${NamePrefix}-athena-${AWS::AccountId}-${AWS::Region}");
    results.expire("expire-results", "results/", 30);

    let database = GlueDatabase::new(
        &stack,
        "GlueDatabase",
        "${GlueDatabaseName}",
        "Tables inlet writes; partitions are registered by the partitioner.",
    );
    let workgroup = WorkGroup::new(&stack, "WorkGroup", Expr::sub("${NamePrefix}"), &results, "results/");

    // unzip: archives the entry point forwards → members in in/<stem>/. An
    // archive dropped again replaces its previous content, so unzip reads the
    // manifests and removes the outputs of members that are gone.
    let unzip = Function::new(
        &stack,
        "Unzip",
        FunctionProps::new("Expands archives dropped into in/ into their members.", code(functions::UNZIP.name))
            .env(env::INPUT_BUCKET, input.name())
            .env(env::OUTPUT_BUCKET, output.name())
            .timeout(300)
            .memory(1024)
            .scratch(4096),
    );
    grant_lifecycle_moves(&input, &unzip);
    input.grant_write(&unzip, &format!("{}*", prefixes::INBOX));
    output.grant_read(&unzip, &format!("{}*", prefixes::BOOKKEEPING));
    output.grant_write(&unzip, &format!("{}*", prefixes::ARCHIVE_MANIFESTS));
    output.grant_write(&unzip, &format!("{}*", prefixes::ORIGINS));
    output.grant_delete(&unzip, "*");
    let unzip_queue = unzip.queue("UnzipQueue", 3, 1, 5);

    // pipeline-runner: the entry point for every object created in in/.
    // Notification filters are case-sensitive and may not overlap, so the
    // only filter that misses nothing is the prefix alone; the runner decides
    // by the lower-cased name, and forwards archives to unzip.
    let runner = Function::new(
        &stack,
        "PipelineRunner",
        FunctionProps::new(
            "Routes each file to its pipeline, checks it and writes Parquet partitions.",
            code(functions::PIPELINE_RUNNER.name),
        )
        .env(env::INPUT_BUCKET, input.name())
        .env(env::OUTPUT_BUCKET, output.name())
        .env(env::UNZIP_QUEUE_URL, unzip_queue.url())
        .timeout(900)
        .memory(2048)
        .scratch(4096),
    );
    grant_lifecycle_moves(&input, &runner);
    output.grant_read(&runner, "*");
    output.grant_write(&runner, "*");
    output.grant_delete(&runner, "*");
    output.grant_list(&runner, "");
    unzip_queue.grant_send(&runner);
    let runner_queue = runner.queue("PipelineRunnerQueue", 3, 5, 10);

    // partitioner: new Parquet → Glue tables and partitions.
    let partitioner = Function::new(
        &stack,
        "Partitioner",
        FunctionProps::new("Registers tables and partitions in Glue for new Parquet objects.", code(functions::PARTITIONER.name))
            .env(env::OUTPUT_BUCKET, output.name())
            .env(env::GLUE_DATABASE, database.name())
            .timeout(120)
            .memory(256),
    );
    output.grant_read(&partitioner, "*");
    output.grant_list(&partitioner, "");
    database.grant_register(&partitioner);
    let partitioner_queue = partitioner.queue("PartitionerQueue", 5, 10, 2);

    input.notify(&runner_queue, prefixes::INBOX, "");

    let alerts = Topic::new(&stack, "AlertsTopic", "inlet alerts");
    remote_sources(&stack, &input, &alerts, &code);
    let (run_state, launcher_queue) =
        emr_backfills(&stack, Storage { input: &input, output: &output, results: &results, database: &database }, &alerts, &code);
    output.notify(&partitioner_queue, "", ".parquet");

    // create-folders: the input bucket's lifecycle folders, at stack creation.
    let create_folders = Function::new(
        &stack,
        "CreateFolders",
        FunctionProps::new("Creates the input bucket's folder markers (custom resource).", code(functions::CREATE_FOLDERS.name))
            .timeout(60)
            .memory(128),
    );
    for folder in prefixes::INPUT_FOLDERS {
        input.grant_write(&create_folders, folder);
    }
    custom_resource(
        &stack,
        "InputFolders",
        "Folders",
        &create_folders,
        json!({ "Bucket": input.name(), "Folders": prefixes::INPUT_FOLDERS }),
    );

    // clean-test-files: test stacks only, so no production role can empty a bucket.
    let cleaner = Function::new(
        &stack,
        "CleanTestFiles",
        FunctionProps::new(
            "Empties the test buckets before the test stack is deleted (custom resource).",
            code(functions::CLEAN_TEST_FILES.name),
        )
        .timeout(900)
        .memory(256),
    );
    cleaner.only_if(&is_test);
    for bucket in [&input, &output, &results] {
        bucket.grant_empty(&cleaner);
    }

    alarm_on_everything(&stack, &alerts);

    stack.output(outputs::INPUT_BUCKET, "Drop files under in/ here.", input.name(), None);
    stack.output(outputs::OUTPUT_BUCKET, "Parquet partitions.", output.name(), None);
    stack.output(outputs::ATHENA_RESULTS_BUCKET, "Athena query results.", results.name(), None);
    stack.output(outputs::GLUE_DATABASE, "The Glue database.", database.name(), None);
    stack.output(outputs::WORKGROUP, "The Athena workgroup.", workgroup.name(), None);
    stack.output(
        outputs::RUN_STATE_TABLE,
        "EMR runs by (Correlation_Id, DataProduct); `inlet runs list` reads it.",
        run_state.name(),
        None,
    );
    for (output, queue, what) in [
        (outputs::UNZIP_DEAD_LETTER_QUEUE_URL, &unzip_queue, "Archives"),
        (outputs::RUNNER_DEAD_LETTER_QUEUE_URL, &runner_queue, "Inputs"),
        (outputs::PARTITIONER_DEAD_LETTER_QUEUE_URL, &partitioner_queue, "Output files to register"),
    ] {
        let description = format!("{what} whose processing failed on every try; `inlet redrive --dlq` sends them back.");
        stack.output(output, &description, queue.dead_letters_url(), None);
    }
    stack.output(
        outputs::EMR_LAUNCHER_QUEUE_URL,
        "Direct backfill payloads; `inlet backfill --stack NAME` sends here.",
        launcher_queue.url(),
        None,
    );
    stack.output(outputs::ALERTS_TOPIC, "Alarms, and sources that keep failing; subscribe to hear of them.", alerts.arn(), None);
    stack.output(
        outputs::CLEAN_TEST_FILES_FUNCTION,
        "The clean-test-files function, for the cleaner stack.",
        cleaner.arn(),
        Some(&is_test),
    );
    stack
}

/// Mails the alerts topic's messages to `AlertsEmail`, if it is given, and
/// alarms on every queue and function (once all exist) and on the thresholds
/// each pipeline's `alarms:` sets.
fn alarm_on_everything(stack: &Stack, alerts: &Topic) {
    let email = stack.parameter(
        "AlertsEmail",
        Parameter::string("Who is mailed every alarm and source alert (confirming once); empty for nobody.").default_value(""),
    );
    let has_email = stack.condition("HasAlertsEmail", !Expr::equals(email.clone(), "".into()));
    alerts.subscribe_email("AlertsSubscription", email).only_if(&has_email);

    let alarms = Alarms::new(stack, alerts);
    alarms.watch_queues_and_functions();
    let pipelines = PipelineSet::embedded().expect("pipelines/ is checked by inlet-core's tests");
    for pipeline in pipelines.iter() {
        if let Some(share) = pipeline.alarms.max_reject_share {
            alarms.reject_share(&pipeline.name, share);
        }
        if let Some(interval) = pipeline.alarms.expected_every {
            alarms.no_arrivals(&pipeline.name, interval);
        }
    }
}

/// The harvester, run by one rule per distinct schedule in
/// `config/sources.yaml`, queues downloads on a FIFO queue; the downloader
/// fetches each into `staging/`, then `in/`, keeping per-URL state in a
/// table of its own and alerting on the alerts topic.
fn remote_sources(stack: &Stack, input: &Bucket, alerts: &Topic, code: &dyn Fn(&str) -> Code) {
    let state = Table::new(stack, "SourceStateTable", "source", "url", "expires_at");
    let downloader = Function::new(
        stack,
        "Downloader",
        FunctionProps::new(
            "Fetches each queued download into the input bucket when its content changed.",
            code(functions::DOWNLOADER.name),
        )
        .env(env::INPUT_BUCKET, input.name())
        .env(env::SOURCE_STATE_TABLE, state.name())
        .env(env::ALERTS_TOPIC_ARN, alerts.arn())
        .timeout(900)
        .memory(256),
    );
    // Stream to staging/, then copy to in/ and delete the staged copy; the
    // head after a multipart upload and the copy read staging/ only.
    let staged = format!("{}*", prefixes::STAGING);
    input.grant_write(&downloader, &staged);
    input.grant_read(&downloader, &staged);
    input.grant_delete(&downloader, &staged);
    input.grant_write(&downloader, &format!("{}*", prefixes::INBOX));
    state.grant_read_write(&downloader);
    alerts.grant_publish(&downloader);
    let downloads = downloader.fifo_queue("DownloadQueue", 3, 10, 2);

    let harvester = Function::new(
        stack,
        "Harvester",
        FunctionProps::new("Queues the downloads of each scheduled run of the remote sources.", code(functions::HARVESTER.name))
            .env(env::DOWNLOAD_QUEUE_URL, downloads.url())
            .timeout(60)
            .memory(128),
    );
    downloads.grant_send(&harvester);
    let sources = SourceSet::embedded().expect("config/sources.yaml is checked by inlet-sources' tests");
    for expression in sources.schedules().iter().map(|s| s.expression()) {
        let id = format!("HarvestSchedule{}", &hex::encode(Sha256::digest(expression))[..8]);
        schedule(stack, &id, &format!("Harvests the sources on {expression}."), expression, &harvester);
    }
}

/// The buckets and the database the backfills read and write.
struct Storage<'a> {
    input: &'a Bucket,
    output: &'a Bucket,
    results: &'a Bucket,
    database: &'a GlueDatabase,
}

/// The EMR launcher: a day's marker (`<product>/<YYYY-MM-DD>/<marker>` in the
/// input bucket, outside `in/`) reaches it through a queue; EMR's state
/// changes (and EMR Serverless's) through EventBridge. Its runs are rows of
/// the run-state table; clusters and job runs run as the EMR roles, which are
/// all it may pass.
fn emr_backfills(stack: &Stack, storage: Storage, alerts: &Topic, code: &dyn Fn(&str) -> Code) -> (Table, Queue) {
    let Storage { input, output, results, database } = storage;
    let run_state = Table::new(stack, "RunStateTable", "Correlation_Id", "DataProduct", "TimeToExist");
    let roles = EmrRoles::new(stack, "Emr");
    let serverless_application = stack.parameter(
        "EmrServerlessApplicationId",
        Parameter::string(
            "The EMR Serverless application of products whose launcher.yaml says engine: emr-serverless; empty if none does.",
        )
        .default_value(""),
    );
    let logs = "emr-logs/";
    results.expire("expire-emr-logs", logs, 30);
    let launcher = Function::new(
        stack,
        "EmrLauncher",
        FunctionProps::new(
            "Starts backfills on EMR and relaunches failed ones from their failed step.",
            code(functions::EMR_LAUNCHER.name),
        )
        .env(env::INPUT_BUCKET, input.name())
        .env(env::OUTPUT_BUCKET, output.name())
        .env(env::GLUE_DATABASE, database.name())
        .env(env::RUN_STATE_TABLE, run_state.name())
        .env(env::ALERTS_TOPIC_ARN, alerts.arn())
        .env(env::EMR_SCRIPTS, Expr::sub("s3://${CodeBucket}/${CodePrefix}pipelines"))
        .env(env::EMR_SERVICE_ROLE, roles.service_role_name())
        .env(env::EMR_INSTANCE_PROFILE, roles.instance_profile_name())
        .env(env::EMR_LOG_URI, Expr::sub(format!("s3://${{NamePrefix}}-athena-${{AWS::AccountId}}-${{AWS::Region}}/{logs}")))
        .env(env::EMR_SERVERLESS_APPLICATION_ID, serverless_application)
        .env(env::EMR_SERVERLESS_EXECUTION_ROLE, roles.job_runs.arn())
        .timeout(120)
        .memory(256),
    );
    run_state.grant_read_write(&launcher);
    alerts.grant_publish(&launcher);
    roles.grant_launch(&launcher);
    let markers = launcher.queue("EmrLauncherQueue", 3, 10, 2);
    let templates = Templates::embedded();
    for product in templates.products() {
        let marker = templates.launcher_settings(product).expect("config/emr is checked by inlet-emr's tests").marker;
        input.notify(&markers, &format!("{product}/"), &format!("/{marker}"));
        // The steps read the product's exports.
        for role in roles.step_roles() {
            input.grant_read(role, &format!("{product}/*"));
            input.grant_list(role, &format!("{product}/"));
        }
    }
    for (id, source, kind, detail) in [
        ("EmrClusterStateRule", "aws.emr", CLUSTER_STATE_CHANGE, json!({ "state": ["TERMINATED_WITH_ERRORS"] })),
        ("EmrStepStatusRule", "aws.emr", STEP_STATUS_CHANGE, json!({ "state": ["RUNNING", "COMPLETED", "FAILED"] })),
        ("EmrServerlessJobRunRule", "aws.emr-serverless", JOB_RUN_STATE_CHANGE, json!({ "state": ["SUCCESS", "FAILED", "CANCELLED"] })),
    ] {
        let pattern = json!({ "source": [source], "detail-type": [kind], "detail": detail });
        event_rule(stack, id, &format!("{kind} events to the EMR launcher."), pattern, &launcher);
    }

    // The steps: scripts from the code bucket, Parquet into the output
    // bucket (fresh prefixes, old ones deleted), partitions in Glue, logs.
    for role in roles.step_roles() {
        role.allow(&["s3:GetObject"], [Expr::sub("arn:${AWS::Partition}:s3:::${CodeBucket}/${CodePrefix}pipelines/*")]);
        output.grant_read(role, "*");
        output.grant_write(role, "*");
        output.grant_delete(role, "*");
        output.grant_list(role, "");
        results.grant_write(role, &format!("{logs}*"));
        database.grant_register(role);
        database.grant_update_partitions(role);
    }
    (run_state, markers)
}

/// What a function needs to take an input through its lifecycle: read it in
/// `in/`, move it to `done/` or `failed/` (S3 moves are copy, then delete),
/// and write the error document beside a failure. Listing lets S3 answer 404
/// rather than 403 for an input a duplicate delivery already moved, which is
/// how a redelivery is recognised.
fn grant_lifecycle_moves(input: &Bucket, function: &Function) {
    let objects_in = |prefix: &str| format!("{prefix}*");
    input.grant_list(function, "");
    input.grant_read(function, &objects_in(prefixes::INBOX));
    for folder in [prefixes::DONE, prefixes::FAILED] {
        input.grant_write(function, &objects_in(folder));
    }
    input.grant_delete(function, &objects_in(prefixes::INBOX));
}
