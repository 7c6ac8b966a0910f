//! The construct library: ids, grants, and the building blocks later
//! functions need (a schedule, a queue-fed function, a DynamoDB-backed one).

use infra::expr::Expr;
use infra::resources::dynamodb::Table;
use infra::resources::lambda::{Code, Function, FunctionProps};
use infra::resources::notify::schedule;
use infra::resources::s3::Bucket;
use infra::stack::Stack;
use serde_json::{Value, json};

fn code() -> Code {
    Code { bucket: "artifacts".into(), key: "lambda/x.zip".into() }
}

fn statements(stack: &Stack, role: &str) -> Vec<Value> {
    stack.to_template()["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_grant_writes_one_scoped_statement() {
    let stack = Stack::new("t", "test");
    let bucket = Bucket::new(&stack, "InputBucket", "my-input");
    let function = Function::new(&stack, "Reader", FunctionProps::new("reads", code()));
    bucket.grant_read(&function, "in/*");
    bucket.grant_read(&function, "in/*");

    let statements = statements(&stack, "ReaderFunctionRole");
    let reads: Vec<_> = statements.iter().filter(|s| s["Action"] == json!(["s3:GetObject"])).collect();
    assert_eq!(reads.len(), 1, "a repeated grant is not repeated: {statements:?}");
    assert_eq!(reads[0]["Resource"], json!([{ "Fn::Sub": "arn:${AWS::Partition}:s3:::my-input/in/*" }]));
    assert!(statements.iter().all(|s| s["Resource"] != json!("*") && s["Action"] != json!("*")));
    // Logging is granted on the function's own log group only.
    assert!(statements.iter().any(|s| s["Resource"] == json!([{ "Fn::GetAtt": ["ReaderFunctionLogs", "Arn"] }])));
}

#[test]
#[should_panic(expected = "logical id InputBucket is used twice")]
fn a_logical_id_cannot_be_used_twice() {
    let stack = Stack::new("t", "test");
    Bucket::new(&stack, "InputBucket", "a");
    Bucket::new(&stack, "InputBucket", "b");
}

#[test]
fn buckets_are_private_encrypted_and_tls_only() {
    let stack = Stack::new("t", "test");
    Bucket::new(&stack, "Data", "data-${AWS::AccountId}");
    let template = stack.to_template();
    let bucket = &template["Resources"]["Data"]["Properties"];
    assert_eq!(bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"], true);
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
    let policy = &template["Resources"]["DataPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Effect"], "Deny");
    assert_eq!(policy["Condition"]["Bool"]["aws:SecureTransport"], "false");
}

#[test]
fn a_queue_fed_function_is_a_few_lines() {
    let stack = Stack::new("t", "test");
    let downloader = Function::new(&stack, "Downloader", FunctionProps::new("downloads", code()).timeout(120));
    let queue = downloader.queue("DownloadQueue", 4, 5, 3);

    let template = stack.to_template();
    let resources = &template["Resources"];
    assert_eq!(resources["DownloadQueue"]["Properties"]["VisibilityTimeout"], 720);
    assert_eq!(resources["DownloadQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"], 4);
    assert_eq!(resources["DownloadQueueSource"]["Properties"]["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
    assert_eq!(resources["DownloadQueueSource"]["Properties"]["EventSourceArn"], queue.arn().into_value());
    let consume = statements(&stack, "DownloaderFunctionRole");
    assert!(consume.iter().any(|s| s["Action"].as_array().unwrap().contains(&json!("sqs:DeleteMessage"))));
}

#[test]
fn a_scheduled_function_backed_by_dynamodb_is_a_few_lines() {
    let stack = Stack::new("t", "test");
    let harvester = Function::new(&stack, "Harvester", FunctionProps::new("harvests", code()));
    schedule(&stack, "HarvestSchedule", "Harvests hourly sources.", "rate(1 hour)", &harvester);
    let runs = Table::new(&stack, "Runs", "pk", "sk", "expires_at");
    runs.grant_read_write(&harvester);

    let template = stack.to_template();
    let resources = &template["Resources"];
    assert_eq!(resources["HarvestSchedule"]["Properties"]["ScheduleExpression"], "rate(1 hour)");
    assert_eq!(resources["HarvestSchedulePermission"]["Properties"]["Principal"], "events.amazonaws.com");
    let input = &resources["HarvestSchedule"]["Properties"]["Targets"][0]["InputTransformer"];
    assert_eq!(input["InputTemplate"], r#"{"schedule": "rate(1 hour)", "time": <time>}"#);
    assert_eq!(input["InputPathsMap"]["time"], "$.time");
    let table = &resources["Runs"]["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    let granted = statements(&stack, "HarvesterFunctionRole");
    assert!(granted.iter().any(|s| s["Resource"] == json!([{ "Fn::GetAtt": ["Runs", "Arn"] }])));
}

#[test]
fn intrinsics_render_in_long_form() {
    assert_eq!(Expr::reference("X").into_value(), json!({ "Ref": "X" }));
    assert_eq!(Expr::get_att("X", "Arn").into_value(), json!({ "Fn::GetAtt": ["X", "Arn"] }));
    assert_eq!(Expr::sub("${A}-b").into_value(), json!({ "Fn::Sub": "${A}-b" }));
    let yaml = {
        let stack = Stack::new("t", "test");
        Bucket::new(&stack, "B", "b");
        stack.to_yaml()
    };
    assert!(yaml.contains("Fn::Sub: b") && !yaml.contains("!Sub"), "{yaml}");
    assert!(yaml.contains("Version: '2012-10-17'"), "dates are quoted for YAML 1.1 readers");
}

#[test]
fn the_emr_launcher_may_pass_only_the_step_and_service_roles() {
    let stack = infra::stacks::lambda::stack();
    let statements = statements(&stack, "EmrLauncherFunctionRole");
    let mut passed: Vec<Value> = statements
        .iter()
        .filter(|s| s["Action"].as_array().is_some_and(|a| a.contains(&json!("iam:PassRole"))))
        .flat_map(|s| s["Resource"].as_array().cloned().unwrap_or_default())
        .collect();
    passed.sort_by_key(|r| r.to_string());
    let role = |id: &str| json!({ "Fn::GetAtt": [id, "Arn"] });
    assert_eq!(passed, [role("EmrInstanceRole"), role("EmrServerlessJobRunRole"), role("EmrServiceRole")], "{statements:?}");

    let template = stack.to_template();
    let rule = &template["Resources"]["EmrServerlessJobRunRule"]["Properties"]["EventPattern"];
    assert_eq!(rule["source"], json!(["aws.emr-serverless"]));
    assert_eq!(rule["detail-type"], json!([inlet_emr::serverless::JOB_RUN_STATE_CHANGE]));
    let variables = &template["Resources"]["EmrLauncherFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(variables["EMR_SERVERLESS_APPLICATION_ID"], json!({ "Ref": "EmrServerlessApplicationId" }));
}
