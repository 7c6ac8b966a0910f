//! Continuous delivery: CodeBuild projects and a CodePipeline whose source is
//! a CodeStar (CodeConnections) connection, so no OAuth token is ever stored.

use serde_json::{Value, json};

use crate::expr::Expr;
use crate::iam::{Grantee, Role};
use crate::resources::notify::Topic;
use crate::resources::s3::Bucket;
use crate::stack::{ResourceRef, Stack};

/// A connection to the repository host. CloudFormation creates it PENDING;
/// an administrator completes the handshake once in the console.
pub fn connection(stack: &Stack, id: &str, name: Expr, provider: &str) -> ResourceRef {
    stack.resource(id, "AWS::CodeStarConnections::Connection", json!({ "ConnectionName": name, "ProviderType": provider }))
}

#[derive(Debug, Clone)]
pub struct Project {
    resource: ResourceRef,
    role: Role,
}

/// A build project fed and collected by CodePipeline.
#[derive(Debug, Clone)]
pub struct ProjectProps {
    pub description: String,
    /// Path of the buildspec in the source artifact.
    pub buildspec: String,
    pub compute_type: String,
    /// `ARM_CONTAINER` builds arm64 Lambda binaries natively.
    pub environment_type: String,
    pub image: String,
    pub timeout_minutes: u32,
    pub environment: Vec<(String, Expr)>,
    /// `bucket/prefix` where the buildspec's `cache.paths` are kept between builds.
    pub cache_location: Option<Expr>,
}

impl ProjectProps {
    /// An arm64 Amazon Linux build with the given buildspec.
    pub fn arm(description: &str, buildspec: &str) -> Self {
        Self {
            description: description.to_owned(),
            buildspec: buildspec.to_owned(),
            compute_type: "BUILD_GENERAL1_LARGE".into(),
            environment_type: "ARM_CONTAINER".into(),
            image: "aws/codebuild/amazonlinux-aarch64-standard:3.0".into(),
            timeout_minutes: 90,
            environment: Vec::new(),
            cache_location: None,
        }
    }

    /// Keeps the buildspec's `cache.paths` under `prefix` of `bucket`
    /// between builds; without it CodeBuild ignores them.
    pub fn cache_in(mut self, bucket: &Bucket, prefix: &str) -> Self {
        self.cache_location = Some(Expr::join("/", [bucket.name(), prefix.into()]));
        self
    }

    pub fn env(mut self, name: &str, value: impl Into<Expr>) -> Self {
        self.environment.push((name.to_owned(), value.into()));
        self
    }

    pub fn timeout(mut self, minutes: u32) -> Self {
        self.timeout_minutes = minutes;
        self
    }

    pub fn compute(mut self, compute_type: &str) -> Self {
        self.compute_type = compute_type.to_owned();
        self
    }
}

impl Project {
    /// `<id>Project`, with `<id>ProjectRole` and `<id>ProjectLogs`.
    pub fn new(stack: &Stack, id: &str, props: ProjectProps) -> Self {
        let id = format!("{id}Project");
        let role = Role::new(stack, &format!("{id}Role"), "codebuild.amazonaws.com", &props.description);
        let logs = stack.resource(&format!("{id}Logs"), "AWS::Logs::LogGroup", json!({ "RetentionInDays": 30 }));
        logs.skip_check("CKV_AWS_158", "CloudWatch Logs encrypts log data at rest by default; build logs hold no data.");
        role.allow(&["logs:CreateLogStream", "logs:PutLogEvents"], [logs.get_att("Arn")]);
        let variables: Vec<Value> = props.environment.into_iter().map(|(name, value)| json!({ "Name": name, "Value": value })).collect();
        let cache = match props.cache_location {
            Some(location) => json!({ "Type": "S3", "Location": location }),
            None => json!({ "Type": "NO_CACHE" }),
        };
        let resource = stack.resource(
            &id,
            "AWS::CodeBuild::Project",
            json!({
                "Description": props.description,
                "ServiceRole": role.arn(),
                "Source": { "Type": "CODEPIPELINE", "BuildSpec": props.buildspec },
                "Artifacts": { "Type": "CODEPIPELINE" },
                "Environment": {
                    "Type": props.environment_type,
                    "ComputeType": props.compute_type,
                    "Image": props.image,
                    "EnvironmentVariables": variables
                },
                "TimeoutInMinutes": props.timeout_minutes,
                "Cache": cache,
                "LogsConfig": { "CloudWatchLogs": { "Status": "ENABLED", "GroupName": logs.reference() } }
            }),
        );
        Self { resource, role }
    }

    pub fn name(&self) -> Expr {
        self.resource.reference()
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }
}

impl Grantee for Project {
    fn role(&self) -> &Role {
        &self.role
    }
}

/// How a CloudFormation action treats its stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployMode {
    /// Create or update; a stack stuck in a failed state is deleted and recreated. For test stacks.
    ReplaceOnFailure,
    CreateUpdate,
    DeleteOnly,
    ChangeSetReplace,
    ChangeSetExecute,
}

impl DeployMode {
    fn as_str(self) -> &'static str {
        match self {
            DeployMode::ReplaceOnFailure => "REPLACE_ON_FAILURE",
            DeployMode::CreateUpdate => "CREATE_UPDATE",
            DeployMode::DeleteOnly => "DELETE_ONLY",
            DeployMode::ChangeSetReplace => "CHANGE_SET_REPLACE",
            DeployMode::ChangeSetExecute => "CHANGE_SET_EXECUTE",
        }
    }
}

/// One CloudFormation action.
#[derive(Debug, Clone)]
pub struct Deploy {
    pub mode: DeployMode,
    pub stack_name: Expr,
    /// `Artifact::path/to/template.yaml`.
    pub template: Option<String>,
    /// `Artifact::config/….json`: parameters and tags.
    pub configuration: Option<String>,
    /// A JSON object as text; may use `Fn::GetParam` and `#{Namespace.Variable}`.
    pub parameter_overrides: Option<Value>,
    pub change_set: Option<Expr>,
    /// Exposes the stack's outputs as `#{namespace.OutputName}`.
    pub namespace: Option<String>,
    pub inputs: Vec<String>,
}

impl Deploy {
    pub fn new(mode: DeployMode, stack_name: Expr) -> Self {
        Self {
            mode,
            stack_name,
            template: None,
            configuration: None,
            parameter_overrides: None,
            change_set: None,
            namespace: None,
            inputs: Vec::new(),
        }
    }

    pub fn template(mut self, artifact: &str, path: &str) -> Self {
        self.template = Some(format!("{artifact}::{path}"));
        self.add_input(artifact)
    }

    pub fn configuration(mut self, artifact: &str, path: &str) -> Self {
        self.configuration = Some(format!("{artifact}::{path}"));
        self.add_input(artifact)
    }

    pub fn overrides(mut self, overrides: Value) -> Self {
        self.parameter_overrides = Some(overrides);
        self
    }

    pub fn change_set(mut self, name: Expr) -> Self {
        self.change_set = Some(name);
        self
    }

    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    fn add_input(mut self, artifact: &str) -> Self {
        if !self.inputs.iter().any(|a| a == artifact) {
            self.inputs.push(artifact.to_owned());
        }
        self
    }
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    stack: Stack,
    id: String,
    role: Role,
    artifacts: Bucket,
    stages: Vec<Value>,
    /// The role CloudFormation actions hand to CloudFormation.
    deploy_role: Role,
}

impl Pipeline {
    /// A pipeline storing artifacts in `artifacts`. CloudFormation actions run
    /// as `deploy_role`, which the pipeline may pass and nothing else may.
    pub fn new(stack: &Stack, id: &str, artifacts: &Bucket, deploy_role: &Role) -> Self {
        let role = Role::new(stack, &format!("{id}Role"), "codepipeline.amazonaws.com", "Runs the delivery pipeline's actions");
        artifacts.grant_read(&role, "*");
        artifacts.grant_write(&role, "*");
        role.allow(&["s3:GetBucketVersioning", "s3:GetBucketLocation"], [artifacts.arn()]);
        role.allow(&["iam:PassRole"], [deploy_role.arn()]);
        Self {
            stack: stack.clone(),
            id: id.to_owned(),
            role,
            artifacts: artifacts.clone(),
            stages: Vec::new(),
            deploy_role: deploy_role.clone(),
        }
    }

    pub fn stage(&mut self, name: &str, actions: Vec<Value>) -> &mut Self {
        self.stages.push(json!({ "Name": name, "Actions": actions }));
        self
    }

    /// Source from a connection: the branch's head as artifact `output`.
    pub fn source(&self, name: &str, connection: &ResourceRef, repository: Expr, branch: Expr, output: &str) -> Value {
        self.role.allow(&["codestar-connections:UseConnection", "codeconnections:UseConnection"], [connection.reference()]);
        json!({
            "Name": name,
            "ActionTypeId": { "Category": "Source", "Owner": "AWS", "Provider": "CodeStarSourceConnection", "Version": "1" },
            "Configuration": {
                "ConnectionArn": connection.reference(),
                "FullRepositoryId": repository,
                "BranchName": branch,
                "OutputArtifactFormat": "CODE_ZIP"
            },
            "OutputArtifacts": [{ "Name": output }],
            "RunOrder": 1
        })
    }

    /// Runs `project` on `inputs` (the first is the primary source).
    pub fn build(
        &self,
        name: &str,
        project: &Project,
        inputs: &[&str],
        outputs: &[&str],
        run_order: u32,
        variables: Option<Value>,
    ) -> Value {
        self.role.allow(&["codebuild:StartBuild", "codebuild:BatchGetBuilds"], [project.arn()]);
        let mut configuration = json!({ "ProjectName": project.name(), "PrimarySource": inputs[0] });
        if let Some(variables) = variables {
            configuration["EnvironmentVariables"] = json!(serde_json::to_string(&variables).expect("JSON serializes"));
        }
        json!({
            "Name": name,
            "ActionTypeId": { "Category": "Build", "Owner": "AWS", "Provider": "CodeBuild", "Version": "1" },
            "Configuration": configuration,
            "InputArtifacts": inputs.iter().map(|a| json!({ "Name": a })).collect::<Vec<_>>(),
            "OutputArtifacts": outputs.iter().map(|a| json!({ "Name": a })).collect::<Vec<_>>(),
            "RunOrder": run_order
        })
    }

    /// A CloudFormation action. The pipeline may manage only the stacks
    /// matching `stack_arn_pattern`.
    pub fn deploy(&self, name: &str, deploy: Deploy, stack_arn_pattern: Expr, run_order: u32) -> Value {
        self.role.allow(
            &[
                "cloudformation:DescribeStacks",
                "cloudformation:CreateStack",
                "cloudformation:UpdateStack",
                "cloudformation:DeleteStack",
                "cloudformation:CreateChangeSet",
                "cloudformation:DescribeChangeSet",
                "cloudformation:ExecuteChangeSet",
                "cloudformation:DeleteChangeSet",
                "cloudformation:SetStackPolicy",
            ],
            [stack_arn_pattern],
        );
        let mut configuration = json!({
            "ActionMode": deploy.mode.as_str(),
            "StackName": deploy.stack_name,
            "RoleArn": self.deploy_role.arn(),
        });
        if deploy.mode != DeployMode::DeleteOnly && deploy.mode != DeployMode::ChangeSetExecute {
            configuration["Capabilities"] = json!("CAPABILITY_IAM,CAPABILITY_AUTO_EXPAND");
        }
        if let Some(template) = deploy.template {
            configuration["TemplatePath"] = json!(template);
        }
        if let Some(path) = deploy.configuration {
            configuration["TemplateConfiguration"] = json!(path);
        }
        if let Some(overrides) = deploy.parameter_overrides {
            configuration["ParameterOverrides"] = parameter_overrides(&overrides);
        }
        if let Some(change_set) = deploy.change_set {
            configuration["ChangeSetName"] = change_set.into_value();
        }
        let mut action = json!({
            "Name": name,
            "ActionTypeId": { "Category": "Deploy", "Owner": "AWS", "Provider": "CloudFormation", "Version": "1" },
            "Configuration": configuration,
            "InputArtifacts": deploy.inputs.iter().map(|a| json!({ "Name": a })).collect::<Vec<_>>(),
            "RunOrder": run_order
        });
        if let Some(namespace) = deploy.namespace {
            action["Namespace"] = json!(namespace);
        }
        action
    }

    /// Waits for a person, announcing itself on `topic`.
    pub fn approval(&self, name: &str, topic: &Topic, message: &str, run_order: u32) -> Value {
        topic.grant_publish(&self.role);
        json!({
            "Name": name,
            "ActionTypeId": { "Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1" },
            "Configuration": { "NotificationArn": topic.arn(), "CustomData": message },
            "RunOrder": run_order
        })
    }

    /// Adds the pipeline to its stack.
    pub fn finish(self) -> ResourceRef {
        self.stack.resource(
            &self.id,
            "AWS::CodePipeline::Pipeline",
            json!({
                "RoleArn": self.role.arn(),
                "PipelineType": "V2",
                "ArtifactStore": { "Type": "S3", "Location": self.artifacts.name() },
                "RestartExecutionOnUpdate": false,
                "Stages": self.stages
            }),
        )
    }
}

/// CodePipeline takes the overrides as one JSON string; values naming the
/// pipeline stack's parameters (`${NamePrefix}-test`) are substituted in it.
fn parameter_overrides(overrides: &Value) -> Value {
    let text = serde_json::to_string(overrides).expect("JSON serializes");
    if text.contains("${") { Expr::sub(text).into() } else { json!(text) }
}
