//! [`JobRunEngine`] over EMR Serverless: `StartJobRun` with the attempt's
//! client token, `GetJobRun` for state and tags, `ListJobRuns` + tags to find
//! a run's or a product's job runs, `CancelJobRun` to stop them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_emrserverless::types as serverless;
use inlet_emr::EmrError;
use inlet_emr::engine::ClusterInfo;
use inlet_emr::jobflow::Tag;
use inlet_emr::serverless::{JobRun, JobRunEngine};

use crate::emr::{engine_error, missing};

const ENGINE: &str = "EMR Serverless";

#[derive(Debug, Clone)]
pub struct EmrServerlessJobRuns {
    client: aws_sdk_emrserverless::Client,
}

impl EmrServerlessJobRuns {
    pub fn new(client: aws_sdk_emrserverless::Client) -> Self {
        Self { client }
    }
}

fn job_driver(job: &JobRun) -> Result<serverless::JobDriver, EmrError> {
    let submit = serverless::SparkSubmit::builder()
        .entry_point(&job.command.application)
        .set_entry_point_arguments(Some(job.command.arguments.clone()))
        .set_spark_submit_parameters(job.spark_submit_parameters())
        .build()
        .map_err(|e| EmrError::Template { file: "steps.yaml".into(), message: format!("step {:?}: {e}", job.name) })?;
    Ok(serverless::JobDriver::SparkSubmit(submit))
}

fn logs(job: &JobRun) -> Option<serverless::ConfigurationOverrides> {
    let log_uri = job.target.log_uri.as_ref()?;
    let s3 = serverless::S3MonitoringConfiguration::builder().log_uri(log_uri).build();
    let monitoring = serverless::MonitoringConfiguration::builder().s3_monitoring_configuration(s3).build();
    Some(serverless::ConfigurationOverrides::builder().monitoring_configuration(monitoring).build())
}

#[async_trait]
impl JobRunEngine for EmrServerlessJobRuns {
    async fn start(&self, job: &JobRun) -> Result<String, EmrError> {
        let output = self
            .client
            .start_job_run()
            .application_id(&job.target.application_id)
            .execution_role_arn(&job.target.execution_role)
            .client_token(&job.client_token)
            .name(&job.name)
            .job_driver(job_driver(job)?)
            .set_configuration_overrides(logs(job))
            .set_execution_timeout_minutes(job.target.timeout_minutes.map(i64::from))
            .set_tags(Some(job.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| engine_error(ENGINE, "StartJobRun", e))?;
        let id = output.job_run_id();
        if id.is_empty() {
            return Err(missing(ENGINE, "StartJobRun", "jobRunId"));
        }
        Ok(id.to_owned())
    }

    async fn describe(&self, application_id: &str, job_run_id: &str) -> Result<ClusterInfo, EmrError> {
        let output = self
            .client
            .get_job_run()
            .application_id(application_id)
            .job_run_id(job_run_id)
            .send()
            .await
            .map_err(|e| engine_error(ENGINE, "GetJobRun", e))?;
        let job_run = output.job_run().ok_or_else(|| missing(ENGINE, "GetJobRun", "jobRun"))?;
        let tags: BTreeMap<String, String> =
            job_run.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        Ok(ClusterInfo { id: job_run_id.into(), state: job_run.state().as_str().to_owned(), tags })
    }

    async fn live_job_runs(&self, application_id: &str, wanted: &Tag) -> Result<Vec<ClusterInfo>, EmrError> {
        use serverless::JobRunState as State;
        let live = [State::Submitted, State::Queued, State::Pending, State::Scheduled, State::Running];
        let mut pages =
            self.client.list_job_runs().application_id(application_id).set_states(Some(live.to_vec())).into_paginator().items().send();
        let mut found = Vec::new();
        while let Some(summary) = pages.next().await {
            let summary = summary.map_err(|e| engine_error(ENGINE, "ListJobRuns", e))?;
            // Summaries carry no tags.
            let job_run = self.describe(application_id, summary.id()).await?;
            if job_run.tags.get(&wanted.key) == Some(&wanted.value) && job_run.alive() {
                found.push(job_run);
            }
        }
        Ok(found)
    }

    async fn cancel(&self, application_id: &str, job_run_ids: &[String]) -> Result<(), EmrError> {
        for id in job_run_ids {
            self.client
                .cancel_job_run()
                .application_id(application_id)
                .job_run_id(id)
                .send()
                .await
                .map_err(|e| engine_error(ENGINE, "CancelJobRun", e))?;
        }
        Ok(())
    }
}
