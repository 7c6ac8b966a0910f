//! The CloudFormation custom-resource protocol, for `create-folders` and
//! `clean-test-files`.
//!
//! CloudFormation waits for an answer PUT to the request's pre-signed
//! `ResponseURL`, for up to an hour. So every path answers: success, an error,
//! a panic in the resource's code, a deadline about to pass, even a request
//! that cannot be read, as long as it names a `ResponseURL`.
//!
//! A [`Resource`] only says what Create, Update and Delete do. Its physical id
//! must be derived from its properties, so the same properties always give the
//! same id and CloudFormation sees no replacement.

mod clean_test_files;
mod create_folders;
mod response;

pub use clean_test_files::CleanTestFiles;
pub use create_folders::CreateFolders;
pub use response::{HttpResponder, Responder};

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest as Request, CloudFormationCustomResourceResponse, CloudFormationCustomResourceResponseStatus,
};
use serde_json::Value;

/// Time kept back from the Lambda deadline to send the answer.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// The physical id answered for a Create that failed. CloudFormation follows
/// a failed Create with a Delete of this id, which must succeed at once.
const NEVER_CREATED: &str = "inlet-never-created";

/// What the resource's code returns on success.
#[derive(Debug, Clone, Default)]
pub struct Created {
    pub physical_resource_id: String,
    /// Attributes for `Fn::GetAtt`.
    pub data: HashMap<String, String>,
}

/// One custom resource type.
pub trait Resource: Send + Sync + 'static {
    /// Create or Update (CloudFormation sends the new properties). Must be
    /// idempotent: CloudFormation may repeat a request.
    fn apply(&self, properties: Value) -> impl Future<Output = Result<Created, String>> + Send;

    /// Delete. `properties` are the ones the resource was last applied with.
    fn remove(&self, physical_resource_id: &str, properties: Value) -> impl Future<Output = Result<(), String>> + Send;
}

/// The request fields the answer echoes, readable from any request.
#[derive(Debug, Clone, Default)]
struct Envelope {
    response_url: String,
    stack_id: String,
    request_id: String,
    logical_resource_id: String,
    physical_resource_id: Option<String>,
}

impl Envelope {
    /// Read from the raw payload, so that even a request that does not
    /// parse is answered, as long as it names a `ResponseURL`.
    fn of(payload: &Value) -> Option<Self> {
        let text = |name: &str| payload.get(name).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            response_url: text("ResponseURL")?,
            stack_id: text("StackId").unwrap_or_default(),
            request_id: text("RequestId").unwrap_or_default(),
            logical_resource_id: text("LogicalResourceId").unwrap_or_default(),
            physical_resource_id: text("PhysicalResourceId"),
        })
    }
}

/// Handles one custom-resource request end to end: runs the resource's code
/// until `deadline` less [`ANSWER_MARGIN`], then answers CloudFormation.
/// Returns the answer sent, or an error when none could be.
pub async fn handle<R: Resource>(
    resource: Arc<R>,
    responder: &dyn Responder,
    payload: Value,
    deadline: SystemTime,
) -> Result<Value, AnswerError> {
    let parsed = serde_json::from_value::<Request>(payload.clone());
    let Some(envelope) = Envelope::of(&payload) else {
        let problem = parsed.err().map(|e| e.to_string()).unwrap_or_else(|| "ResponseURL is not a string".into());
        return Err(AnswerError::NoResponseUrl(problem));
    };
    let outcome = match parsed {
        Ok(request) => {
            let budget = deadline.duration_since(SystemTime::now()).unwrap_or_default().saturating_sub(ANSWER_MARGIN);
            tracing::info!(logical_resource_id = %envelope.logical_resource_id, budget_ms = budget.as_millis() as u64, "custom resource request");
            run(resource, request, budget).await
        }
        Err(e) => Err(format!("the request is not a CloudFormation custom-resource request: {e}")),
    };

    let (status, reason, physical_resource_id, data) = match outcome {
        Ok(created) => (CloudFormationCustomResourceResponseStatus::Success, None, created.physical_resource_id, created.data),
        Err(reason) => {
            tracing::error!(logical_resource_id = %envelope.logical_resource_id, error = %reason, "custom resource failed");
            // Keep the id CloudFormation knows; after a failed Create there is none yet.
            let id = envelope.physical_resource_id.clone().unwrap_or_else(|| NEVER_CREATED.to_owned());
            (CloudFormationCustomResourceResponseStatus::Failed, Some(reason), id, HashMap::new())
        }
    };
    let mut response = CloudFormationCustomResourceResponse::default();
    response.status = status;
    response.reason = reason;
    response.physical_resource_id = physical_resource_id;
    response.stack_id = envelope.stack_id;
    response.request_id = envelope.request_id;
    response.logical_resource_id = envelope.logical_resource_id;
    response.data = data;
    let body = serde_json::to_value(&response).expect("a response serializes");
    responder.put(&envelope.response_url, serde_json::to_vec(&body).expect("JSON serializes")).await.map_err(AnswerError::Put)?;
    tracing::info!(status = %body["Status"], physical_resource_id = %body["PhysicalResourceId"], "answered CloudFormation");
    Ok(body)
}

/// Runs the resource's code on its own task, so a panic becomes a failure
/// instead of a function that never answers.
async fn run<R: Resource>(resource: Arc<R>, request: Request, budget: Duration) -> Result<Created, String> {
    let work = tokio::spawn(async move {
        match request {
            Request::Create(r) => resource.apply(r.resource_properties).await,
            Request::Update(r) => resource.apply(r.resource_properties).await,
            Request::Delete(r) if r.physical_resource_id == NEVER_CREATED => {
                Ok(Created { physical_resource_id: r.physical_resource_id, data: HashMap::new() })
            }
            Request::Delete(r) => resource
                .remove(&r.physical_resource_id, r.resource_properties)
                .await
                .map(|()| Created { physical_resource_id: r.physical_resource_id, data: HashMap::new() }),
            _ => Err("unknown RequestType".to_owned()),
        }
    });
    let abort = work.abort_handle();
    match tokio::time::timeout(budget, work).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) if join.is_panic() => Err(format!("the resource's code panicked: {}", panic_message(join.into_panic()))),
        Ok(Err(join)) => Err(format!("the resource's code stopped: {join}")),
        Err(_) => {
            abort.abort();
            Err(format!(
                "the function ran out of time after {:.0?}; raise its timeout or check the logs for what was slow",
                budget + ANSWER_MARGIN
            ))
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Why CloudFormation could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("the event names no ResponseURL, so CloudFormation cannot be answered: {0}")]
    NoResponseUrl(String),
    #[error("answering CloudFormation failed: {0}")]
    Put(String),
}

impl From<AnswerError> for lambda_runtime::Diagnostic {
    fn from(error: AnswerError) -> Self {
        lambda_runtime::Diagnostic { error_type: "inlet::AnswerError".into(), error_message: error.to_string() }
    }
}

/// Serves `resource` as a Lambda function, answering over HTTPS.
pub async fn serve<R: Resource>(resource: R) -> Result<(), lambda_runtime::Error> {
    let resource = Arc::new(resource);
    let responder = Arc::new(HttpResponder::new());
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| {
        let (resource, responder) = (resource.clone(), responder.clone());
        async move { handle(resource, responder.as_ref(), event.payload, deadline_of(&event.context)).await }
    }))
    .await
}

/// The invocation's deadline. Lambda sends epoch milliseconds; a value that
/// cannot be one (some local emulators send the timeout instead) falls back to
/// Lambda's longest run from now.
fn deadline_of(context: &lambda_runtime::Context) -> SystemTime {
    const YEAR_2000_MS: u64 = 946_684_800_000;
    if context.deadline >= YEAR_2000_MS {
        SystemTime::UNIX_EPOCH + Duration::from_millis(context.deadline)
    } else {
        tracing::warn!(deadline = context.deadline, "the runtime sent no usable deadline; assuming Lambda's 15-minute maximum");
        SystemTime::now() + LONGEST_RUN
    }
}

/// Lambda's maximum timeout.
const LONGEST_RUN: Duration = Duration::from_secs(15 * 60);

/// Reads a list of strings from the properties, as CloudFormation passes them.
pub(crate) fn string_list(properties: &Value, name: &str) -> Result<Vec<String>, String> {
    match properties.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(|| format!("{name} must be a list of strings, found {item}")))
            .collect(),
        Some(Value::String(one)) => Ok(vec![one.clone()]),
        Some(other) => Err(format!("{name} must be a list of strings, found {other}")),
        None => Err(format!("the property {name} is missing; the template must set it")),
    }
}
