//! SNS topics, EventBridge schedules and event rules.

use serde_json::json;

use crate::expr::Expr;
use crate::iam::Grantee;
use crate::resources::lambda::Function;
use crate::stack::{ResourceRef, Stack};

#[derive(Debug, Clone)]
pub struct Topic {
    resource: ResourceRef,
}

impl Topic {
    /// A topic encrypted with the AWS-managed SNS key.
    pub fn new(stack: &Stack, id: &str, display_name: &str) -> Self {
        let resource = stack.resource(id, "AWS::SNS::Topic", json!({ "DisplayName": display_name, "KmsMasterKeyId": "alias/aws/sns" }));
        Self { resource }
    }

    pub fn arn(&self) -> Expr {
        self.resource.reference()
    }

    /// Mails `address` every message (the address confirms once).
    pub fn subscribe_email(&self, id: &str, address: Expr) -> ResourceRef {
        self.resource.stack().resource(
            id,
            "AWS::SNS::Subscription",
            json!({ "TopicArn": self.arn(), "Protocol": "email", "Endpoint": address }),
        )
    }

    pub fn grant_publish(&self, grantee: &impl Grantee) {
        grantee.role().allow(&["sns:Publish"], [self.arn()]);
    }
}

/// Runs a function on a schedule: `rate(1 hour)` or `cron(0 6 * * ? *)`.
/// The function receives `{"schedule": <expression>, "time": <the run's
/// scheduled time>}`, so it knows which schedule fired, and a retried run
/// sees the same time.
pub fn schedule(stack: &Stack, id: &str, description: &str, expression: &str, target: &Function) -> ResourceRef {
    let template = format!("{{\"schedule\": {}, \"time\": <time>}}", serde_json::to_string(expression).expect("a string serializes"));
    let rule = stack.resource(
        id,
        "AWS::Events::Rule",
        json!({
            "Description": description,
            "ScheduleExpression": expression,
            "State": "ENABLED",
            "Targets": [{
                "Id": "function",
                "Arn": target.arn(),
                "InputTransformer": { "InputPathsMap": { "time": "$.time" }, "InputTemplate": template }
            }]
        }),
    );
    target.allow_invoke(&format!("{id}Permission"), "events.amazonaws.com", rule.get_att("Arn"));
    rule
}

/// Sends the events matching `pattern` to a function, as they are.
pub fn event_rule(stack: &Stack, id: &str, description: &str, pattern: serde_json::Value, target: &Function) -> ResourceRef {
    let rule = stack.resource(
        id,
        "AWS::Events::Rule",
        json!({
            "Description": description,
            "EventPattern": pattern,
            "State": "ENABLED",
            "Targets": [{ "Id": "function", "Arn": target.arn() }]
        }),
    );
    target.allow_invoke(&format!("{id}Permission"), "events.amazonaws.com", rule.get_att("Arn"));
    rule
}
