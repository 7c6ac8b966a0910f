//! The delivery pipeline: source → build → test stack, smoke test, approval,
//! cleanup → production through a change set.

use serde_json::json;

use super::{DEFAULT_NAME_PREFIX, NAME_PREFIX, PROD, TEST};
use crate::expr::Expr;
use crate::iam::{Grantee, Role};
use crate::resources::delivery::{Deploy, DeployMode, Pipeline, Project, ProjectProps, connection};
use crate::resources::notify::Topic;
use crate::resources::s3::Bucket;
use crate::stack::{Parameter, Stack};

const SOURCE: &str = "SourceCode";
const BUILD: &str = "BuildOutput";

pub fn stack() -> Stack {
    let stack = Stack::new(
        "pipeline",
        "inlet's delivery pipeline: build and test, deploy a test stack, smoke-test it, approve, clean up, then change prod.",
    );
    let repository =
        stack.parameter("RepositoryId", Parameter::string("The repository, as owner/name.").pattern("^[\\w.-]+/[\\w.-]+$", "owner/name"));
    let branch = stack.parameter("BranchName", Parameter::string("The branch that deploys.").default_value("main"));
    let email = stack.parameter("ApprovalEmail", Parameter::string("Who is asked to approve each production change."));
    // No hyphen, so that `<prefix>-*` in the deploy role's patterns matches
    // no other deployment's names, and the database name can be derived;
    // 16 characters keep the connection's name within its 32.
    stack.parameter(
        NAME_PREFIX,
        Parameter::string("Starts every name: the pipeline, its bucket, the stacks <prefix>-test and <prefix>-prod and their databases. One per inlet in an account.")
            .default_value(DEFAULT_NAME_PREFIX)
            .pattern("^[a-z][a-z0-9]{1,15}$", "2 to 16 lowercase letters and digits, starting with a letter"),
    );

    let artifacts = Bucket::new(&stack, "ArtifactBucket", "${NamePrefix}-pipeline-${AWS::AccountId}-${AWS::Region}");
    artifacts.expire("expire-function-zips", "lambda/", 90);
    let repo_connection = connection(&stack, "RepositoryConnection", Expr::sub("${NamePrefix}-${AWS::Region}"), "GitHub");
    let approvals = Topic::new(&stack, "ApprovalTopic", "inlet approvals");
    approvals.subscribe_email("ApprovalSubscription", email);

    let deploy_role = deploy_role(&stack, &artifacts);

    // Build: tests, the function zips (uploaded under lambda/<commit>/) and the templates.
    let build = Project::new(
        &stack,
        "Build",
        ProjectProps::arm("Runs the tests, builds the arm64 functions with cargo-lambda and synthesizes the templates.", "buildspec.yaml")
            .env("ARTIFACT_BUCKET", artifacts.name())
            .cache_in(&artifacts, "build-cache"),
    );
    artifacts.grant_read(&build, "*");
    artifacts.grant_write(&build, "*");

    // Smoke test: a sample file through the deployed test stack, checked with Athena.
    let smoke = Project::new(
        &stack,
        "SmokeTest",
        ProjectProps::arm("Drops a sample file into the test stack and checks the result through Athena.", "tests/smoke/buildspec.yaml")
            .compute("BUILD_GENERAL1_SMALL")
            .timeout(20),
    );
    artifacts.grant_read(&smoke, "*");
    let test_bucket = |kind: &str, objects: &str| {
        Expr::sub(format!("arn:${{AWS::Partition}}:s3:::{}-{kind}-${{AWS::AccountId}}-${{AWS::Region}}{objects}", TEST.stack_name()))
    };
    let smoke_role = smoke.role();
    smoke_role.allow(&["s3:PutObject"], [test_bucket("input", "/in/*")]);
    smoke_role.allow(&["s3:GetObject"], [test_bucket("input", "/*"), test_bucket("athena", "/*")]);
    smoke_role.allow(&["s3:ListBucket", "s3:GetBucketLocation"], [test_bucket("input", ""), test_bucket("athena", "")]);
    smoke_role.allow(&["s3:PutObject", "s3:AbortMultipartUpload"], [test_bucket("athena", "/results/*")]);
    smoke_role.allow(
        &["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:GetWorkGroup"],
        [Expr::sub(format!("arn:${{AWS::Partition}}:athena:${{AWS::Region}}:${{AWS::AccountId}}:workgroup/{}", TEST.stack_name()))],
    );
    smoke_role.allow(
        &["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"],
        [
            Expr::sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
            Expr::sub(format!("arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:database/{}", TEST.glue_database())),
            Expr::sub(format!("arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/{}/*", TEST.glue_database())),
        ],
    );

    let stack_arn =
        |name: &str| Expr::sub(format!("arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/{name}/*"));
    let parameters = |deployment: &super::Deployment| {
        json!({
            "NamePrefix": deployment.stack_name(),
            "GlueDatabaseName": deployment.glue_database(),
            "CodeBucket": { "Fn::GetParam": [BUILD, "build/code.json", "CodeBucket"] },
            "CodePrefix": { "Fn::GetParam": [BUILD, "build/code.json", "CodePrefix"] }
        })
    };
    let test_stack = TEST.stack_name();
    let cleaner_stack = format!("{test_stack}-cleaner");

    let mut pipeline = Pipeline::new(&stack, "Pipeline", &artifacts, &deploy_role);
    let source = pipeline.source("Source", &repo_connection, repository, branch, SOURCE);
    let build_action = pipeline.build("BuildAndTest", &build, &[SOURCE], &[BUILD], 1, None);
    let test_stage = vec![
        pipeline.deploy(
            "DeployTestStack",
            Deploy::new(DeployMode::ReplaceOnFailure, Expr::sub(&test_stack))
                .template(BUILD, "cloudformation/lambda.cfn.yaml")
                .configuration(BUILD, &format!("config/{}.json", TEST.configuration_file()))
                .overrides(parameters(&TEST))
                .namespace("TestStack"),
            stack_arn(&test_stack),
            1,
        ),
        pipeline.deploy(
            "ArmTestCleaner",
            Deploy::new(DeployMode::CreateUpdate, Expr::sub(&cleaner_stack))
                .template(BUILD, "cloudformation/clean-test-files.cfn.yaml")
                .overrides(json!({
                    "ServiceToken": "#{TestStack.CleanTestFilesFunctionArn}",
                    "Buckets": "#{TestStack.InputBucketName},#{TestStack.OutputBucketName},#{TestStack.AthenaResultsBucketName}"
                })),
            stack_arn(&cleaner_stack),
            2,
        ),
        pipeline.build(
            "SmokeTest",
            &smoke,
            &[SOURCE],
            &[],
            2,
            Some(json!([
                { "name": "INPUT_BUCKET", "value": "#{TestStack.InputBucketName}", "type": "PLAINTEXT" },
                { "name": "GLUE_DATABASE", "value": "#{TestStack.GlueDatabaseName}", "type": "PLAINTEXT" },
                { "name": "WORKGROUP", "value": "#{TestStack.WorkGroupName}", "type": "PLAINTEXT" }
            ])),
        ),
        pipeline.approval(
            "ApproveProduction",
            &approvals,
            "The test stack passed its smoke test. Approve to clean it up and change production.",
            3,
        ),
        pipeline.deploy("CleanTestFiles", Deploy::new(DeployMode::DeleteOnly, Expr::sub(&cleaner_stack)), stack_arn(&cleaner_stack), 4),
        pipeline.deploy("DeleteTestStack", Deploy::new(DeployMode::DeleteOnly, Expr::sub(&test_stack)), stack_arn(&test_stack), 5),
    ];
    let prod_stack = PROD.stack_name();
    let change_set = Expr::sub(format!("{prod_stack}-changes"));
    let prod_stage = vec![
        pipeline.deploy(
            "CreateChangeSet",
            Deploy::new(DeployMode::ChangeSetReplace, Expr::sub(&prod_stack))
                .template(BUILD, "cloudformation/lambda.cfn.yaml")
                .configuration(BUILD, &format!("config/{}.json", PROD.configuration_file()))
                .overrides(parameters(&PROD))
                .change_set(change_set.clone()),
            stack_arn(&prod_stack),
            1,
        ),
        pipeline.deploy(
            "ExecuteChangeSet",
            Deploy::new(DeployMode::ChangeSetExecute, Expr::sub(&prod_stack)).change_set(change_set),
            stack_arn(&prod_stack),
            2,
        ),
    ];
    pipeline.stage("Source", vec![source]).stage("Build", vec![build_action]).stage("TestStage", test_stage).stage("ProdStage", prod_stage);
    pipeline.finish().set("Name", Expr::sub("${NamePrefix}"));

    stack.output("PipelineName", "The pipeline; `aws codepipeline get-pipeline-state --name <this>`.", Expr::reference("Pipeline"), None);
    stack.output("ArtifactBucketName", "Pipeline artifacts and function zips.", artifacts.name(), None);
    stack.output(
        "ConnectionArn",
        "Complete this connection's handshake once in the console (Developer Tools → Connections).",
        Expr::reference("RepositoryConnection"),
        None,
    );
    stack
}

/// The role CloudFormation deploys the app stacks with. It may manage only
/// resources whose names start with `<NamePrefix>-` (the two stacks' names
/// do, and CloudFormation names their resources after the stack) and the
/// two databases, and read the function zips.
///
/// Its actions are service-wide (`s3:*`, `sqs:*`, …) on purpose: creating,
/// updating and deleting a bucket alone touches some thirty S3 actions
/// (encryption, lifecycle, notifications, policy, versioning, ownership), and
/// a list kept by hand would fail a deploy each time a construct sets a new
/// property. The resource patterns are what bounds it.
fn deploy_role(stack: &Stack, artifacts: &Bucket) -> Role {
    let role = Role::new(stack, "DeployRole", "cloudformation.amazonaws.com", "Deploys inlet's app stacks for the pipeline");
    let arn = |service: &str, resource: &str| {
        Expr::sub(format!("arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"))
    };
    artifacts.grant_read(&role, "lambda/*");
    role.allow(&["s3:*"], [Expr::sub("arn:${AWS::Partition}:s3:::${NamePrefix}-*")]);
    role.allow(&["sqs:*"], [arn("sqs", "${NamePrefix}-*")]);
    role.allow(&["lambda:*"], [arn("lambda", "function:${NamePrefix}-*"), arn("lambda", "event-source-mapping:*")]);
    role.allow_if(
        &[
            "lambda:CreateEventSourceMapping",
            "lambda:GetEventSourceMapping",
            "lambda:DeleteEventSourceMapping",
            "lambda:UpdateEventSourceMapping",
        ],
        [Expr::literal("*")],
        json!({ "ArnLike": { "lambda:FunctionArn": arn("lambda", "function:${NamePrefix}-*") } }),
    );
    role.allow(&["logs:*"], [arn("logs", "log-group:${NamePrefix}-*")]);
    role.allow(&["dynamodb:*"], [arn("dynamodb", "table/${NamePrefix}-*")]);
    let mut glue = vec![arn("glue", "catalog")];
    for deployment in [TEST, PROD] {
        let database = deployment.glue_database();
        glue.extend([arn("glue", &format!("database/{database}")), arn("glue", &format!("table/{database}/*"))]);
    }
    role.allow(&["glue:*"], glue);
    role.allow(&["athena:*"], [arn("athena", "workgroup/${NamePrefix}-*")]);
    role.allow(
        &[
            "iam:GetRole",
            "iam:CreateRole",
            "iam:DeleteRole",
            "iam:UpdateRole",
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy",
            "iam:GetRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
        ],
        [Expr::sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${NamePrefix}-*")],
    );
    role.allow_if(
        &["iam:PassRole"],
        [Expr::sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${NamePrefix}-*")],
        json!({ "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" } }),
    );
    role
}
