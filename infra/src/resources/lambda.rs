//! Functions: Rust binaries on `provided.al2023`, arm64 by default, each with
//! its own role and log group.

use serde_json::{Map, Value, json};

use crate::expr::Expr;
use crate::iam::{Grantee, Role};
use crate::resources::sqs::{Queue, QueueProps};
use crate::stack::{ResourceRef, Stack};

/// Where a function's deployment zip is.
#[derive(Debug, Clone)]
pub struct Code {
    pub bucket: Expr,
    pub key: Expr,
}

#[derive(Debug, Clone)]
pub struct FunctionProps {
    pub description: String,
    pub code: Code,
    pub timeout_seconds: u32,
    pub memory_mib: u32,
    /// `/tmp` size; Lambda's default is 512 MiB.
    pub ephemeral_storage_mib: u32,
    pub environment: Vec<(String, Expr)>,
    pub architecture: Architecture,
}

#[derive(Debug, Clone, Copy, Default)]
pub enum Architecture {
    #[default]
    Arm64,
    X86_64,
}

impl FunctionProps {
    pub fn new(description: &str, code: Code) -> Self {
        Self {
            description: description.to_owned(),
            code,
            timeout_seconds: 60,
            memory_mib: 256,
            ephemeral_storage_mib: 512,
            environment: Vec::new(),
            architecture: Architecture::default(),
        }
    }

    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout_seconds = seconds;
        self
    }

    pub fn memory(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    pub fn scratch(mut self, mib: u32) -> Self {
        self.ephemeral_storage_mib = mib;
        self
    }

    pub fn env(mut self, name: &str, value: impl Into<Expr>) -> Self {
        self.environment.push((name.to_owned(), value.into()));
        self
    }
}

/// Days a function's logs are kept.
const LOG_RETENTION_DAYS: u32 = 30;

#[derive(Debug, Clone)]
pub struct Function {
    resource: ResourceRef,
    role: Role,
    timeout_seconds: u32,
}

impl Function {
    /// `<id>Function`, with `<id>FunctionRole` and `<id>FunctionLogs`.
    pub fn new(stack: &Stack, id: &str, props: FunctionProps) -> Self {
        let id = format!("{id}Function");
        let role = Role::new(stack, &format!("{id}Role"), "lambda.amazonaws.com", &props.description);
        let logs = stack.resource(&format!("{id}Logs"), "AWS::Logs::LogGroup", json!({ "RetentionInDays": LOG_RETENTION_DAYS }));
        logs.skip_check("CKV_AWS_158", "CloudWatch Logs encrypts log data at rest by default; the logs hold keys and counts, not data.");
        role.allow(&["logs:CreateLogStream", "logs:PutLogEvents"], [logs.get_att("Arn")]);

        let environment: Map<String, Value> = props.environment.into_iter().map(|(k, v)| (k, v.into_value())).collect();
        let architecture = match props.architecture {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        };
        let mut properties = json!({
            "Description": props.description,
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Architectures": [architecture],
            "Code": { "S3Bucket": props.code.bucket, "S3Key": props.code.key },
            "Role": role.arn(),
            "Timeout": props.timeout_seconds,
            "MemorySize": props.memory_mib,
            "EphemeralStorage": { "Size": props.ephemeral_storage_mib },
            "LoggingConfig": { "LogGroup": logs.reference(), "LogFormat": "JSON" }
        });
        let has_environment = !environment.is_empty();
        if has_environment {
            properties["Environment"] = json!({ "Variables": environment });
        }
        let resource = stack.resource(&id, "AWS::Lambda::Function", properties);
        resource
            .skip_check("CKV_AWS_117", "The functions reach only AWS service endpoints (S3, SQS, Glue); a VPC adds NAT cost and cold-start latency and protects nothing here.")
            .skip_check("CKV_AWS_115", "Queue-fed functions are bounded by their event source's MaximumConcurrency and the custom resources run once per stack operation; reserving concurrency per function would starve small accounts.")
            .skip_check("CKV_AWS_116", "Invoked through SQS, whose redrive policy keeps failed messages in a dead-letter queue, synchronously by CloudFormation, or by a schedule whose next run repeats a failed one.");
        if has_environment {
            resource.skip_check("CKV_AWS_173", "The environment holds bucket and database names, no secrets.");
        }
        Self { resource, role, timeout_seconds: props.timeout_seconds }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// Only where `condition` holds, with its role and logs.
    pub fn only_if(&self, condition: &str) -> &Self {
        let stack = self.resource.stack();
        for id in [self.resource.id().to_owned(), format!("{}Role", self.resource.id()), format!("{}Logs", self.resource.id())] {
            stack.handle(&id).only_if(condition);
        }
        self
    }

    /// A queue feeding this function, with a dead-letter queue after
    /// `max_receives`. Its visibility timeout is six times the function's
    /// timeout, as AWS advises, so a message is never handed out again while
    /// a slow batch still holds it. Failed records are reported one by one
    /// (`ReportBatchItemFailures`).
    pub fn queue(&self, id: &str, max_receives: u32, batch_size: u32, max_concurrency: u32) -> Queue {
        self.queue_of(id, max_receives, batch_size, max_concurrency, false)
    }

    /// As [`Function::queue`], a FIFO queue: one message group's messages
    /// reach the function in order, one batch at a time.
    pub fn fifo_queue(&self, id: &str, max_receives: u32, batch_size: u32, max_concurrency: u32) -> Queue {
        self.queue_of(id, max_receives, batch_size, max_concurrency, true)
    }

    fn queue_of(&self, id: &str, max_receives: u32, batch_size: u32, max_concurrency: u32, fifo: bool) -> Queue {
        let stack = self.resource.stack();
        let queue = Queue::new(stack, id, QueueProps { visibility_timeout_seconds: 6 * self.timeout_seconds, max_receives, fifo });
        queue.grant_consume(self);
        let mapping = stack.resource(
            &format!("{id}Source"),
            "AWS::Lambda::EventSourceMapping",
            json!({
                "EventSourceArn": queue.arn(),
                "FunctionName": self.resource.reference(),
                "BatchSize": batch_size,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": { "MaximumConcurrency": max_concurrency }
            }),
        );
        // The mapping checks the role's SQS permissions when it is created.
        mapping.depends_on(self.role.resource());
        queue
    }

    /// Lets a service invoke the function, e.g. EventBridge for a schedule.
    pub fn allow_invoke(&self, id: &str, service: &str, source_arn: Expr) -> ResourceRef {
        self.resource.stack().resource(
            id,
            "AWS::Lambda::Permission",
            json!({ "Action": "lambda:InvokeFunction", "FunctionName": self.resource.reference(), "Principal": service, "SourceArn": source_arn }),
        )
    }
}

impl Grantee for Function {
    fn role(&self) -> &Role {
        &self.role
    }
}

/// A custom resource served by a function.
pub fn custom_resource(stack: &Stack, id: &str, kind: &str, service: &Function, properties: Value) -> ResourceRef {
    let mut properties = properties;
    properties["ServiceToken"] = service.arn().into_value();
    stack.resource(id, &format!("Custom::{kind}"), properties)
}
