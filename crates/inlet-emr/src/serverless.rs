//! EMR Serverless as a product's engine. A product whose `launcher.yaml` says
//! `engine: emr-serverless` runs each step as one job run on the application
//! its `serverless.yaml` names. EMR Serverless has no steps, so the launcher
//! starts the next step's job run when one succeeds, and the run-state row
//! gives the resume-from-step it does not have by itself.
//!
//! A job run's client token is made from the correlation id, the step and
//! the Run_Id, so starting the same attempt twice gives one job run.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::engine::{ClusterInfo, run_tags};
use crate::error::EmrError;
use crate::jobflow::{SparkSubmitCommand, Step, Tag};
use crate::run::Run;

pub const JOB_RUN_STATE_CHANGE: &str = "EMR Serverless Job Run State Change";
/// The tag naming the step a job run runs.
pub const STEP_TAG: &str = "Step";
/// StartJobRun's limit on a client token's length.
const CLIENT_TOKEN_MAX: usize = 64;

/// `config/emr/<product>/serverless.yaml`: where the product's job runs run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerlessTarget {
    pub application_id: String,
    /// The ARN of the role job runs act as.
    pub execution_role: String,
    /// Where the driver's and executors' logs go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_uri: Option<String>,
    /// How long one job run (one step) may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<i32>,
}

/// One step as a `StartJobRun` request.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    pub target: ServerlessTarget,
    pub client_token: String,
    pub name: String,
    pub command: SparkSubmitCommand,
    pub tags: BTreeMap<String, String>,
}

impl JobRun {
    /// `run`'s current step, with the run's arguments and tags.
    pub fn for_current_step(target: &ServerlessTarget, steps: &[Step], run: &Run) -> Result<Self, EmrError> {
        let step = steps.get(run.current_step).ok_or_else(|| EmrError::Template {
            file: format!("config/emr/{}/steps.yaml", run.product),
            message: format!("run {} is at step {} of {}: no step left to start", run.correlation_id, run.current_step + 1, steps.len()),
        })?;
        let mut command = step.spark_submit("EMR Serverless")?;
        command.arguments.extend(run.request.step_args());
        let mut tags: BTreeMap<String, String> = run_tags(run).into_iter().map(|Tag { key, value }| (key, value)).collect();
        tags.insert(STEP_TAG.into(), step.name.clone());
        Ok(Self {
            target: target.clone(),
            client_token: client_token(&run.correlation_id, &step.name, run.run_id),
            name: format!("{} {} run {} {}", run.product, run.correlation_id, run.run_id, step.name),
            command,
            tags,
        })
    }

    /// StartJobRun's `sparkSubmitParameters`: the step's options.
    pub fn spark_submit_parameters(&self) -> Option<String> {
        (!self.command.options.is_empty()).then(|| self.command.options.join(" "))
    }
}

/// `<correlation id>-<step>-<run id>`, or its SHA-256 when that is longer
/// than StartJobRun allows: still one token per attempt of a step.
pub fn client_token(correlation_id: &str, step: &str, run_id: u32) -> String {
    use sha2::{Digest, Sha256};
    let token = format!("{correlation_id}-{step}-{run_id}");
    if token.len() <= CLIENT_TOKEN_MAX {
        return token;
    }
    Sha256::digest(token.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Job runs on EMR Serverless applications. The launcher sees only this trait.
#[async_trait]
pub trait JobRunEngine: Send + Sync + fmt::Debug {
    /// Starts `job`; its job run id.
    async fn start(&self, job: &JobRun) -> Result<String, EmrError>;

    /// A job run's state and tags.
    async fn describe(&self, application_id: &str, job_run_id: &str) -> Result<ClusterInfo, EmrError>;

    /// The application's job runs not yet ended that carry `tag`.
    async fn live_job_runs(&self, application_id: &str, tag: &Tag) -> Result<Vec<ClusterInfo>, EmrError>;

    async fn cancel(&self, application_id: &str, job_run_ids: &[String]) -> Result<(), EmrError>;
}

/// EventBridge's "EMR Serverless Job Run State Change" detail.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRunStateChange {
    pub application_id: String,
    pub job_run_id: String,
    /// SUBMITTED, PENDING, SCHEDULED, RUNNING, SUCCESS, FAILED, CANCELLING,
    /// CANCELLED.
    pub state: String,
    #[serde(default)]
    pub state_details: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobflow::HadoopJarStep;

    #[test]
    fn a_client_token_names_the_attempt_and_fits_the_limit() {
        assert_eq!(client_token("c-1", "load-days", 2), "c-1-load-days-2");
        let long = client_token(&"x".repeat(60), "publish-days", 1);
        assert_eq!(long.len(), CLIENT_TOKEN_MAX);
        assert_ne!(long, client_token(&"x".repeat(60), "publish-days", 2), "each attempt has its own token");
        assert_eq!(long, client_token(&"x".repeat(60), "publish-days", 1), "the same attempt has the same token");
    }

    #[test]
    fn a_cluster_step_becomes_a_job_run_without_its_placement() {
        let step = Step {
            name: "load-days".into(),
            action_on_failure: "TERMINATE_CLUSTER".into(),
            hadoop_jar_step: HadoopJarStep {
                jar: "command-runner.jar".into(),
                args: [
                    "spark-submit",
                    "--deploy-mode",
                    "cluster",
                    "--verbose",
                    "--py-files",
                    "s3://b/common.py",
                    "s3://b/load.py",
                    "--table",
                    "t",
                ]
                .map(String::from)
                .to_vec(),
                main_class: None,
            },
        };
        let command = step.spark_submit("EMR Serverless").unwrap();
        assert_eq!(command.options, ["--verbose", "--py-files", "s3://b/common.py"]);
        assert_eq!(command.application, "s3://b/load.py");
        assert_eq!(command.arguments, ["--table", "t"]);
    }

    #[test]
    fn a_step_that_is_not_spark_submit_is_refused_with_its_name() {
        let step = Step {
            name: "copy".into(),
            action_on_failure: "CONTINUE".into(),
            hadoop_jar_step: HadoopJarStep { jar: "s3://b/tool.jar".into(), args: vec![], main_class: None },
        };
        let error = step.spark_submit("EMR Serverless").unwrap_err().to_string();
        assert!(error.contains("\"copy\"") && error.contains("EMR Serverless"), "{error}");
    }
}
