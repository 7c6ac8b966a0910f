//! The launcher's inputs, told apart by shape: an SQS batch (of S3 events for
//! markers, or direct payloads), EMR's and EMR Serverless's state-change
//! events from EventBridge, or a direct payload invoked as is.

use serde::Deserialize;
use serde_json::Value;

use crate::error::EmrError;
use crate::request::{DirectPayload, LaunchRequest};
use crate::serverless::{JOB_RUN_STATE_CHANGE, JobRunStateChange};

pub const CLUSTER_STATE_CHANGE: &str = "EMR Cluster State Change";
pub const STEP_STATUS_CHANGE: &str = "EMR Step Status Change";

#[derive(Debug, Clone, PartialEq)]
pub enum LauncherEvent {
    Queue(Vec<QueueMessage>),
    ClusterState(ClusterStateChange),
    StepStatus(StepStatusChange),
    JobRunState(JobRunStateChange),
    Direct(DirectPayload),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct QueueMessage {
    #[serde(rename = "messageId")]
    pub message_id: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStateChange {
    pub cluster_id: String,
    pub state: String,
    /// EMR sends a JSON document as a string: `{"code":…,"message":…}`.
    #[serde(default)]
    pub state_change_reason: Option<String>,
}

impl ClusterStateChange {
    /// The reason's message, else the whole reason.
    pub fn reason(&self) -> String {
        let raw = self.state_change_reason.clone().unwrap_or_default();
        serde_json::from_str::<Value>(&raw).ok().and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned)).unwrap_or(raw)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepStatusChange {
    pub cluster_id: String,
    #[serde(default)]
    pub step_id: Option<String>,
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// What one queued message asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum QueuedTrigger {
    Start(LaunchRequest),
    /// A key that is not a marker, or S3's test event.
    Nothing(String),
}

impl LauncherEvent {
    pub fn parse(event: &Value) -> Result<Self, EmrError> {
        let shape_error = |message: String| EmrError::Payload { field: "(event)".into(), message };
        if let Some(records) = event.get("Records") {
            let messages: Vec<QueueMessage> =
                serde_json::from_value(records.clone()).map_err(|e| shape_error(format!("an SQS batch the launcher cannot read: {e}")))?;
            return Ok(LauncherEvent::Queue(messages));
        }
        if let Some(kind) = event.get("detail-type").and_then(Value::as_str) {
            let detail = event.get("detail").cloned().unwrap_or(Value::Null);
            let unreadable = |e: serde_json::Error| shape_error(format!("a {kind} event the launcher cannot read: {e}"));
            return match kind {
                CLUSTER_STATE_CHANGE => Ok(LauncherEvent::ClusterState(serde_json::from_value(detail).map_err(unreadable)?)),
                STEP_STATUS_CHANGE => Ok(LauncherEvent::StepStatus(serde_json::from_value(detail).map_err(unreadable)?)),
                JOB_RUN_STATE_CHANGE => Ok(LauncherEvent::JobRunState(serde_json::from_value(detail).map_err(unreadable)?)),
                other => Err(shape_error(format!(
                    "{other:?} events are not the launcher's; its rules send EMR and EMR Serverless state changes only"
                ))),
            };
        }
        let payload: DirectPayload = serde_json::from_value(event.clone()).map_err(|e| EmrError::Payload {
            field: "(payload)".into(),
            message: format!(
                "{e}; a direct payload is {{product, start_date, end_date, correlation_id, overrides?, extend?, additional_step_args?}}"
            ),
        })?;
        Ok(LauncherEvent::Direct(payload))
    }
}

impl QueueMessage {
    /// A message carries an S3 event (markers start runs) or a direct payload.
    pub fn triggers(&self, bucket: &str, marker_of: &dyn Fn(&str) -> Option<String>) -> Result<Vec<QueuedTrigger>, EmrError> {
        let body: Value = serde_json::from_str(&self.body)
            .map_err(|e| EmrError::Payload { field: format!("message {}", self.message_id), message: format!("not JSON: {e}") })?;
        if body.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
            return Ok(vec![QueuedTrigger::Nothing("S3's test event".into())]);
        }
        let Some(records) = body.get("Records").and_then(Value::as_array) else {
            let payload: DirectPayload = serde_json::from_value(body).map_err(|e| EmrError::Payload {
                field: format!("message {}", self.message_id),
                message: format!("neither an S3 event nor a direct payload: {e}"),
            })?;
            let mut request = payload.into_request(bucket)?;
            if request.correlation_id.is_empty() {
                request.correlation_id = self.message_id.clone();
            }
            return Ok(vec![QueuedTrigger::Start(request)]);
        };
        Ok(records
            .iter()
            .map(|record| {
                let bucket = record.pointer("/s3/bucket/name").and_then(Value::as_str).unwrap_or(bucket);
                let key = record.pointer("/s3/object/key").and_then(Value::as_str).unwrap_or_default();
                // The correlation id is the message id: a redelivered message
                // finds the run its first delivery created.
                match LaunchRequest::from_marker(bucket, key, &self.message_id, marker_of) {
                    Some(request) => QueuedTrigger::Start(request),
                    None => QueuedTrigger::Nothing(format!("{key} is not a day's marker")),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn marker(product: &str) -> Option<String> {
        (product == "cyi_exports").then(|| "_SUCCESS".into())
    }

    #[test]
    fn an_sqs_batch_of_s3_events_starts_one_run_per_marker() {
        let s3_event = json!({ "Records": [
            { "eventTime": "2024-01-16T01:02:03Z", "s3": { "bucket": { "name": "in-b" }, "object": { "key": "cyi_exports/2024-01-15/_SUCCESS" } } },
            { "s3": { "bucket": { "name": "in-b" }, "object": { "key": "cyi_exports/2024-01-15/part+1.json" } } }
        ]});
        let event = json!({ "Records": [{ "messageId": "m-1", "body": s3_event.to_string(), "eventSource": "aws:sqs" }] });
        let LauncherEvent::Queue(messages) = LauncherEvent::parse(&event).unwrap() else { panic!("a queue batch") };
        let triggers = messages[0].triggers("default", &marker).unwrap();
        let QueuedTrigger::Start(request) = &triggers[0] else { panic!("{triggers:?}") };
        assert_eq!((request.correlation_id.as_str(), request.s3_bucket.as_str()), ("m-1", "in-b"));
        assert!(matches!(&triggers[1], QueuedTrigger::Nothing(why) if why.contains("part+1.json")));
    }

    #[test]
    fn eventbridge_state_changes_are_told_apart() {
        let cluster = json!({ "detail-type": CLUSTER_STATE_CHANGE, "source": "aws.emr", "detail": {
            "clusterId": "j-1", "state": "TERMINATED_WITH_ERRORS", "stateChangeReason": "{\"code\":\"STEP_FAILURE\",\"message\":\"Step 2 failed\"}" } });
        let LauncherEvent::ClusterState(change) = LauncherEvent::parse(&cluster).unwrap() else { panic!() };
        assert_eq!((change.cluster_id.as_str(), change.reason().as_str()), ("j-1", "Step 2 failed"));
        let step = json!({ "detail-type": STEP_STATUS_CHANGE, "detail": { "clusterId": "j-1", "stepId": "s-1", "name": "load-days", "state": "COMPLETED" } });
        assert!(matches!(LauncherEvent::parse(&step).unwrap(), LauncherEvent::StepStatus(s) if s.name == "load-days"));
        // As EMR Serverless sends it.
        let job_run = json!({ "detail-type": JOB_RUN_STATE_CHANGE, "source": "aws.emr-serverless", "detail": {
            "jobRunId": "00f1", "jobRunName": "n", "applicationId": "00a1", "arn": "arn:x", "releaseLabel": "emr-7.5.0",
            "state": "FAILED", "previousState": "RUNNING", "stateDetails": "Job failed", "createdBy": "arn:y",
            "updatedAt": "2022-05-31T21:07:42.299487Z", "createdAt": "2022-05-31T21:07:25.325900Z" } });
        let LauncherEvent::JobRunState(change) = LauncherEvent::parse(&job_run).unwrap() else { panic!() };
        assert_eq!((change.application_id.as_str(), change.job_run_id.as_str(), change.state.as_str()), ("00a1", "00f1", "FAILED"));
        assert_eq!(change.state_details.as_deref(), Some("Job failed"));
    }

    #[test]
    fn a_direct_payload_and_a_test_event() {
        let direct = json!({ "product": "cyi_exports", "start_date": "2024-01-01", "end_date": "2024-01-05", "correlation_id": "c" });
        assert!(matches!(LauncherEvent::parse(&direct).unwrap(), LauncherEvent::Direct(_)));
        let test = QueueMessage { message_id: "m".into(), body: json!({ "Event": "s3:TestEvent" }).to_string() };
        assert!(matches!(&test.triggers("b", &marker).unwrap()[0], QueuedTrigger::Nothing(_)));
        let error = LauncherEvent::parse(&json!({ "product": "x" })).unwrap_err().to_string();
        assert!(error.contains("direct payload is"), "{error}");
    }
}
