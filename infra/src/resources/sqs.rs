//! Queues, each with a dead-letter queue.

use serde_json::json;

use crate::expr::Expr;
use crate::iam::Grantee;
use crate::stack::{ResourceRef, Stack};

#[derive(Debug, Clone)]
pub struct Queue {
    resource: ResourceRef,
    dead_letters: ResourceRef,
}

/// How a queue holds and retries messages.
#[derive(Debug, Clone, Copy)]
pub struct QueueProps {
    pub visibility_timeout_seconds: u32,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receives: u32,
    /// In-order delivery per message group, and sends deduplicated by id
    /// for five minutes. The dead-letter queue of a FIFO queue is FIFO too.
    pub fifo: bool,
}

impl Queue {
    /// `<id>` and its dead-letter queue `<id>DeadLetters`, which keeps
    /// messages for 14 days, SQS's maximum.
    pub fn new(stack: &Stack, id: &str, props: QueueProps) -> Self {
        let mut dead_letter_properties = json!({ "MessageRetentionPeriod": 1_209_600, "SqsManagedSseEnabled": true });
        let mut properties = json!({
            "VisibilityTimeout": props.visibility_timeout_seconds,
            "SqsManagedSseEnabled": true,
        });
        if props.fifo {
            // A FIFO queue's name must end in .fifo; CloudFormation's generated names do not.
            let names = [format!("${{AWS::StackName}}-{id}-dead-letters.fifo"), format!("${{AWS::StackName}}-{id}.fifo")];
            for (queue, name) in [&mut dead_letter_properties, &mut properties].into_iter().zip(names) {
                queue["FifoQueue"] = json!(true);
                queue["QueueName"] = Expr::sub(name).into_value();
            }
        }
        let dead_letters = stack.resource(&format!("{id}DeadLetters"), "AWS::SQS::Queue", dead_letter_properties);
        properties["RedrivePolicy"] = json!({ "deadLetterTargetArn": dead_letters.get_att("Arn"), "maxReceiveCount": props.max_receives });
        let resource = stack.resource(id, "AWS::SQS::Queue", properties);
        for queue in [&resource, &dead_letters] {
            queue.skip_check("CKV_AWS_27", "Encrypted with SQS-managed keys (SqsManagedSseEnabled); messages carry object keys, not data.");
        }
        Self { resource, dead_letters }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    pub fn url(&self) -> Expr {
        self.resource.reference()
    }

    pub fn dead_letters(&self) -> &ResourceRef {
        &self.dead_letters
    }

    pub fn dead_letters_url(&self) -> Expr {
        self.dead_letters.reference()
    }

    /// The queue policy that lets the bucket `bucket_id` (whose ARN is
    /// `bucket_arn`) send its notifications here, created on first use.
    pub(crate) fn allow_s3_from(&self, bucket_id: &str, bucket_arn: Expr) -> ResourceRef {
        let stack = self.resource.stack();
        let id = format!("{}Policy", self.resource.id());
        let statement = json!({
            "Sid": format!("S3Notifications{bucket_id}"),
            "Effect": "Allow",
            "Principal": { "Service": "s3.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": self.arn(),
            "Condition": {
                "ArnEquals": { "aws:SourceArn": bucket_arn },
                "StringEquals": { "aws:SourceAccount": Expr::reference("AWS::AccountId") }
            }
        });
        if !stack.has_resource(&id) {
            stack.resource(
                &id,
                "AWS::SQS::QueuePolicy",
                json!({ "Queues": [self.url()], "PolicyDocument": { "Version": "2012-10-17", "Statement": [] } }),
            );
        }
        let policy = stack.handle(&id);
        policy.with_properties(|p| {
            let statements = p["PolicyDocument"]["Statement"].as_array_mut().expect("a list");
            if !statements.contains(&statement) {
                statements.push(statement);
            }
        });
        policy
    }

    /// Receive and delete messages, as an event source mapping does.
    pub fn grant_consume(&self, grantee: &impl Grantee) {
        grantee
            .role()
            .allow(&["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], [self.arn()]);
    }

    pub fn grant_send(&self, grantee: &impl Grantee) {
        grantee.role().allow(&["sqs:SendMessage"], [self.arn()]);
    }
}
