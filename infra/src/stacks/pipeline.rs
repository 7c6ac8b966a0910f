//! The delivery pipeline: source → build → test stack, smoke test, approval,
//! cleanup → production through a change set.

use serde_json::json;

use super::{PROD, TEST};
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

    let artifacts = Bucket::new(&stack, "ArtifactBucket", "inlet-pipeline-${AWS::AccountId}-${AWS::Region}");
    artifacts.expire("expire-function-zips", "lambda/", 90);
    let repo_connection = connection(&stack, "RepositoryConnection", Expr::sub("inlet-${AWS::Region}"), "GitHub");
    let approvals = Topic::new(&stack, "ApprovalTopic", "inlet approvals");
    approvals.subscribe_email("ApprovalSubscription", email);

    let deploy_role = deploy_role(&stack, &artifacts);

    // Build: tests, the function zips (uploaded under lambda/<commit>/) and the templates.
    let build = Project::new(
        &stack,
        "Build",
        ProjectProps::arm("Runs the tests, builds the arm64 functions with cargo-lambda and synthesizes the templates.", "buildspec.yaml")
            .env("ARTIFACT_BUCKET", artifacts.name()),
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
        Expr::sub(format!("arn:${{AWS::Partition}}:s3:::{}-{kind}-${{AWS::AccountId}}-${{AWS::Region}}{objects}", TEST.stack_name))
    };
    let smoke_role = smoke.role();
    smoke_role.allow(&["s3:PutObject"], [test_bucket("input", "/in/*")]);
    smoke_role.allow(&["s3:GetObject"], [test_bucket("input", "/*"), test_bucket("athena", "/*")]);
    smoke_role.allow(&["s3:ListBucket", "s3:GetBucketLocation"], [test_bucket("input", ""), test_bucket("athena", "")]);
    smoke_role.allow(&["s3:PutObject", "s3:AbortMultipartUpload"], [test_bucket("athena", "/results/*")]);
    smoke_role.allow(
        &["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:GetWorkGroup"],
        [Expr::sub(format!("arn:${{AWS::Partition}}:athena:${{AWS::Region}}:${{AWS::AccountId}}:workgroup/{}", TEST.stack_name))],
    );
    smoke_role.allow(
        &["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"],
        [
            Expr::sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
            Expr::sub(format!("arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:database/{}", TEST.glue_database)),
            Expr::sub(format!("arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/{}/*", TEST.glue_database)),
        ],
    );

    let stack_arn =
        |name: &str| Expr::sub(format!("arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/{name}/*"));
    let code = json!({
        "CodeBucket": { "Fn::GetParam": [BUILD, "build/code.json", "CodeBucket"] },
        "CodePrefix": { "Fn::GetParam": [BUILD, "build/code.json", "CodePrefix"] }
    });
    let cleaner_stack = format!("{}-cleaner", TEST.stack_name);

    let mut pipeline = Pipeline::new(&stack, "Pipeline", &artifacts, &deploy_role);
    let source = pipeline.source("Source", &repo_connection, repository, branch, SOURCE);
    let build_action = pipeline.build("BuildAndTest", &build, &[SOURCE], &[BUILD], 1, None);
    let test_stage = vec![
        pipeline.deploy(
            "DeployTestStack",
            Deploy::new(DeployMode::ReplaceOnFailure, TEST.stack_name.into())
                .template(BUILD, "cloudformation/lambda.cfn.yaml")
                .configuration(BUILD, &format!("config/{}.json", TEST.configuration_file()))
                .overrides(code.clone())
                .namespace("TestStack"),
            stack_arn(TEST.stack_name),
            1,
        ),
        pipeline.deploy(
            "ArmTestCleaner",
            Deploy::new(DeployMode::CreateUpdate, cleaner_stack.as_str().into())
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
        pipeline.deploy("CleanTestFiles", Deploy::new(DeployMode::DeleteOnly, cleaner_stack.as_str().into()), stack_arn(&cleaner_stack), 4),
        pipeline.deploy("DeleteTestStack", Deploy::new(DeployMode::DeleteOnly, TEST.stack_name.into()), stack_arn(TEST.stack_name), 5),
    ];
    let change_set: Expr = format!("{}-changes", PROD.stack_name).into();
    let prod_stage = vec![
        pipeline.deploy(
            "CreateChangeSet",
            Deploy::new(DeployMode::ChangeSetReplace, PROD.stack_name.into())
                .template(BUILD, "cloudformation/lambda.cfn.yaml")
                .configuration(BUILD, &format!("config/{}.json", PROD.configuration_file()))
                .overrides(code)
                .change_set(change_set.clone()),
            stack_arn(PROD.stack_name),
            1,
        ),
        pipeline.deploy(
            "ExecuteChangeSet",
            Deploy::new(DeployMode::ChangeSetExecute, PROD.stack_name.into()).change_set(change_set),
            stack_arn(PROD.stack_name),
            2,
        ),
    ];
    pipeline.stage("Source", vec![source]).stage("Build", vec![build_action]).stage("TestStage", test_stage).stage("ProdStage", prod_stage);
    pipeline.finish().set("Name", "inlet");

    stack.output("PipelineName", "The pipeline; `aws codepipeline get-pipeline-state --name inlet`.", Expr::reference("Pipeline"), None);
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
/// resources whose names start with `inlet`, and read the function zips.
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
    role.allow(&["s3:*"], [Expr::sub("arn:${AWS::Partition}:s3:::inlet-*")]);
    role.allow(&["sqs:*"], [arn("sqs", "inlet-*")]);
    role.allow(&["lambda:*"], [arn("lambda", "function:inlet-*"), arn("lambda", "event-source-mapping:*")]);
    role.allow_if(
        &[
            "lambda:CreateEventSourceMapping",
            "lambda:GetEventSourceMapping",
            "lambda:DeleteEventSourceMapping",
            "lambda:UpdateEventSourceMapping",
        ],
        [Expr::literal("*")],
        json!({ "ArnLike": { "lambda:FunctionArn": arn("lambda", "function:inlet-*") } }),
    );
    role.allow(&["logs:*"], [arn("logs", "log-group:inlet-*")]);
    role.allow(&["dynamodb:*"], [arn("dynamodb", "table/inlet-*")]);
    role.allow(&["glue:*"], [arn("glue", "catalog"), arn("glue", "database/inlet*"), arn("glue", "table/inlet*/*")]);
    role.allow(&["athena:*"], [arn("athena", "workgroup/inlet-*")]);
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
        [Expr::sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/inlet-*")],
    );
    role.allow_if(
        &["iam:PassRole"],
        [Expr::sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/inlet-*")],
        json!({ "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" } }),
    );
    role
}
