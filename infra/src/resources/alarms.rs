//! CloudWatch alarms that publish to a topic, when they go off and when they
//! clear.
//!
//! [`Alarms::watch_queues_and_functions`] walks the stack rather than being
//! called once per construct, so a queue or function added later is watched
//! without anyone remembering to: every dead-letter queue alarms on its
//! first message, every other queue on a message older than its visibility
//! timeout, and every function on its first error.

use std::time::Duration;

use inlet_contract::metrics::{FILES_ARRIVED, NAMESPACE, PIPELINE_DIMENSION, ROWS_READ, ROWS_REJECTED};
use serde_json::{Value, json};

use crate::resources::notify::Topic;
use crate::stack::{ResourceRef, Stack};

pub struct Alarms<'a> {
    stack: &'a Stack,
    topic: &'a Topic,
}

/// CloudWatch's longest alarm period; longer intervals are counted in hours.
const LONGEST_PERIOD: Duration = Duration::from_secs(24 * 3600);
const HOUR: u64 = 3600;

impl<'a> Alarms<'a> {
    pub fn new(stack: &'a Stack, topic: &'a Topic) -> Self {
        Self { stack, topic }
    }

    /// Alarms on every queue and function the stack holds so far.
    pub fn watch_queues_and_functions(&self) {
        let queues = self.stack.resources_of_type("AWS::SQS::Queue");
        let dead_letter_ids: Vec<String> = queues.iter().filter_map(dead_letter_target).collect();
        for queue in &queues {
            if dead_letter_ids.iter().any(|id| id == queue.id()) {
                self.dead_letters_arrive(queue);
            } else {
                self.messages_wait(queue);
            }
        }
        for function in self.stack.resources_of_type("AWS::Lambda::Function") {
            self.function_errors(&function);
        }
    }

    fn dead_letters_arrive(&self, queue: &ResourceRef) {
        let description = format!(
            "A message reached the dead-letter queue {}: its processing failed on every try. `inlet failed` says why; `inlet redrive --dlq` retries it.",
            queue.id()
        );
        let metric = queue_metric(queue, "ApproximateNumberOfMessagesVisible");
        self.alarm(queue, "DepthAlarm", &description, json!({ "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold" }), metric);
    }

    fn messages_wait(&self, queue: &ResourceRef) {
        let visibility = queue.property("VisibilityTimeout").and_then(|v| v.as_u64()).unwrap_or(30);
        let description = format!(
            "The oldest message in {} has waited over {visibility} s, its visibility timeout: its function is failing, throttled or falling behind.",
            queue.id()
        );
        let metric = queue_metric(queue, "ApproximateAgeOfOldestMessage");
        let threshold = json!({ "Threshold": visibility, "ComparisonOperator": "GreaterThanThreshold" });
        self.alarm(queue, "AgeAlarm", &description, threshold, metric);
    }

    fn function_errors(&self, function: &ResourceRef) {
        let description = format!("{} returned an error: its logs say which input and why.", function.id());
        let metric = json!({
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{ "Name": "FunctionName", "Value": function.reference() }],
            "Statistic": "Sum",
            "Period": 300,
        });
        let threshold = json!({ "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold" });
        self.alarm(function, "ErrorsAlarm", &description, threshold, metric);
    }

    /// Alarms when more than `share` of a pipeline's rows in an hour are rejected.
    pub fn reject_share(&self, pipeline: &str, share: f64) {
        let count = |id: &str, metric: &str| {
            json!({
                "Id": id,
                "ReturnData": false,
                "MetricStat": { "Metric": pipeline_metric(pipeline, metric), "Period": HOUR, "Stat": "Sum" },
            })
        };
        let rejected_share =
            json!({ "Id": "share", "Expression": "rejected / read", "Label": "Share of rows rejected", "ReturnData": true });
        let properties = json!({
            "AlarmDescription": format!("Over {share} of an hour's rows of the pipeline {pipeline} were rejected. `inlet rejects <table>` shows them and the checks that refused them."),
            "Metrics": [count("rejected", ROWS_REJECTED), count("read", ROWS_READ), rejected_share],
            "EvaluationPeriods": 1,
            "Threshold": share,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        });
        self.add(&format!("{}RejectShareAlarm", camel_case(pipeline)), None, properties);
    }

    /// Alarms when no file has arrived for a pipeline within `interval`
    /// (whole minutes, at most 7 days). Up to a day it is one period; beyond,
    /// hours, every one of them empty.
    pub fn no_arrivals(&self, pipeline: &str, interval: Duration) {
        let (period, periods) =
            if interval <= LONGEST_PERIOD { (interval.as_secs(), 1) } else { (HOUR, interval.as_secs().div_ceil(HOUR)) };
        let mut metric = pipeline_metric(pipeline, FILES_ARRIVED);
        metric["Statistic"] = json!("Sum");
        metric["Period"] = json!(period);
        let mut properties = json!({
            "AlarmDescription": format!("No file has arrived for the pipeline {pipeline} in {} minutes: check its source and the harvester.", interval.as_secs() / 60),
            "EvaluationPeriods": periods,
            "DatapointsToAlarm": periods,
            "Threshold": 1,
            "ComparisonOperator": "LessThanThreshold",
            // No data is the very thing this alarm is for.
            "TreatMissingData": "breaching",
        });
        merge(&mut properties, metric);
        self.add(&format!("{}NoArrivalsAlarm", camel_case(pipeline)), None, properties);
    }

    /// `<watched id><suffix>`, under the watched resource's condition.
    fn alarm(&self, watched: &ResourceRef, suffix: &str, description: &str, threshold: Value, metric: Value) {
        let mut properties = json!({
            "AlarmDescription": description,
            "EvaluationPeriods": 1,
            "TreatMissingData": "notBreaching",
        });
        merge(&mut properties, threshold);
        merge(&mut properties, metric);
        self.add(&format!("{}{suffix}", watched.id()), watched.condition(), properties);
    }

    fn add(&self, id: &str, condition: Option<String>, mut properties: Value) {
        let actions = json!([self.topic.arn()]);
        properties["AlarmActions"] = actions.clone();
        properties["OKActions"] = actions;
        let alarm = self.stack.resource(id, "AWS::CloudWatch::Alarm", properties);
        if let Some(condition) = condition {
            alarm.only_if(&condition);
        }
    }
}

/// The logical id of the dead-letter queue a queue's redrive policy names.
fn dead_letter_target(queue: &ResourceRef) -> Option<String> {
    let policy = queue.property("RedrivePolicy")?;
    policy.pointer("/deadLetterTargetArn/Fn::GetAtt/0").and_then(Value::as_str).map(str::to_owned)
}

fn queue_metric(queue: &ResourceRef, name: &str) -> Value {
    json!({
        "Namespace": "AWS/SQS",
        "MetricName": name,
        "Dimensions": [{ "Name": "QueueName", "Value": queue.get_att("QueueName") }],
        "Statistic": "Maximum",
        "Period": 300,
    })
}

fn pipeline_metric(pipeline: &str, name: &str) -> Value {
    json!({
        "Namespace": NAMESPACE,
        "MetricName": name,
        "Dimensions": [{ "Name": PIPELINE_DIMENSION, "Value": pipeline }],
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// `a2e_buoy_ingest` → `A2eBuoyIngest`, for logical ids.
fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}
