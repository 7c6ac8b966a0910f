//! The EMR launcher function: one handler for its three triggers. SQS
//! batches (a day's marker, or a queued direct payload) start runs, with
//! partial batch failures for what may pass on a retry; EMR's and EMR
//! Serverless's state-change events from EventBridge move runs on or
//! relaunch them; a direct payload
//! starts a historical range.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use inlet_core::Classify;
use inlet_emr::EmrError;
use inlet_emr::events::{LauncherEvent, QueueMessage, QueuedTrigger};
use inlet_emr::launcher::Launcher;
use serde_json::{Value, json};

use crate::Retry;

/// The launcher and the bucket whose markers and payloads it reads.
#[derive(Clone)]
pub struct LauncherFunction {
    pub launcher: Arc<Launcher>,
    pub input_bucket: String,
}

/// Handles one invocation at `now` (epoch seconds).
pub async fn launch(function: &LauncherFunction, payload: &Value, now: i64) -> Result<Value, Retry> {
    let launcher = &function.launcher;
    let answer = match LauncherEvent::parse(payload) {
        Err(error) => Err(error),
        Ok(LauncherEvent::Queue(messages)) => return Ok(queue_batch(function, &messages, now).await),
        Ok(LauncherEvent::ClusterState(change)) => launcher.cluster_changed(&change, now).await.map(|f| json!(f)),
        Ok(LauncherEvent::StepStatus(change)) => launcher.step_changed(&change, now).await.map(|f| json!(f)),
        Ok(LauncherEvent::JobRunState(change)) => launcher.job_run_changed(&change, now).await.map(|f| json!(f)),
        Ok(LauncherEvent::Direct(payload)) => match payload.into_request(&function.input_bucket) {
            Ok(request) => launcher.start(request, now).await.map(|s| json!(s)),
            Err(error) => Err(error),
        },
    };
    match answer {
        Ok(summary) => {
            tracing::info!(%summary, "handled");
            Ok(summary)
        }
        Err(error) if error.is_transient() => Err(Retry { failed: 1, total: 1, reasons: error.to_string() }),
        // Retrying cannot help; the answer and the log say why.
        Err(error) => {
            tracing::error!(%error, "event refused");
            Ok(json!({ "error": error.to_string() }))
        }
    }
}

/// Starts the runs of each message; a transient failure returns the message
/// to the queue, a permanent one is logged and dropped (the queue's DLQ
/// would only hold it for the same answer).
async fn queue_batch(function: &LauncherFunction, messages: &[QueueMessage], now: i64) -> Value {
    let templates = Arc::clone(&function.launcher.templates);
    let marker_of = move |product: &str| templates.launcher_settings(product).ok().map(|s| s.marker);
    let mut response = SqsBatchResponse::default();
    for message in messages {
        match start_all(function, message, &marker_of, now).await {
            Ok(()) => {}
            Err(error) if error.is_transient() => {
                tracing::warn!(message_id = %message.message_id, %error, "will retry");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message.message_id.clone();
                response.batch_item_failures.push(failure);
            }
            Err(error) => tracing::error!(message_id = %message.message_id, %error, "message refused"),
        }
    }
    json!(response)
}

async fn start_all(
    function: &LauncherFunction,
    message: &QueueMessage,
    marker_of: &(dyn Fn(&str) -> Option<String> + Sync),
    now: i64,
) -> Result<(), EmrError> {
    for trigger in message.triggers(&function.input_bucket, marker_of)? {
        match trigger {
            QueuedTrigger::Start(request) => {
                let started = function.launcher.start(request, now).await?;
                tracing::info!(message_id = %message.message_id, outcome = %json!(started), "start");
            }
            QueuedTrigger::Nothing(why) => tracing::info!(message_id = %message.message_id, why, "nothing to start"),
        }
    }
    Ok(())
}
