//! [`ClusterEngine`] over EMR: `RunJobFlow` from the product's request,
//! `DescribeCluster` for tags and state, `ListClusters` + tags to find a
//! product's clusters, `TerminateJobFlows` to stop them.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_emr::error::ProvideErrorMetadata;
use aws_sdk_emr::types as emr;
use inlet_core::error::describe;
use inlet_emr::EmrError;
use inlet_emr::engine::{ClusterEngine, ClusterInfo};
use inlet_emr::jobflow::{Configuration, JobFlow, Tag};

use crate::errors::class_of;

#[derive(Debug, Clone)]
pub struct EmrClusters {
    client: aws_sdk_emr::Client,
}

impl EmrClusters {
    pub fn new(client: aws_sdk_emr::Client) -> Self {
        Self { client }
    }
}

/// An engine's failed call, classed, with the SDK's error as its source.
pub(crate) fn engine_error<E>(
    engine: &'static str,
    operation: &'static str,
    error: aws_sdk_emr::error::SdkError<E, aws_sdk_emr::config::http::HttpResponse>,
) -> EmrError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    EmrError::Engine { engine, operation, message: describe(&error), class: class_of(&error), source: Box::new(error) }
}

/// An answer without the field the call exists for.
pub(crate) fn missing(engine: &'static str, operation: &'static str, field: &str) -> EmrError {
    EmrError::Engine {
        engine,
        operation,
        message: format!("the answer has no {field}"),
        class: inlet_core::error::ErrorClass::Transient,
        source: format!("no {field}").into(),
    }
}

fn configuration(c: &Configuration) -> emr::Configuration {
    emr::Configuration::builder()
        .classification(&c.classification)
        .set_properties(Some(c.properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()))
        .set_configurations(Some(c.configurations.iter().map(configuration).collect()))
        .build()
}

fn instances(job: &JobFlow) -> emr::JobFlowInstancesConfig {
    let groups = job.instances.instance_groups.iter().map(|g| {
        emr::InstanceGroupConfig::builder()
            .set_name(g.name.clone())
            .instance_role(emr::InstanceRoleType::from(g.instance_role.as_str()))
            .instance_type(&g.instance_type)
            .instance_count(g.instance_count)
            .set_market(g.market.as_deref().map(emr::MarketType::from))
            .build()
    });
    emr::JobFlowInstancesConfig::builder()
        .set_instance_groups(Some(groups.collect()))
        .keep_job_flow_alive_when_no_steps(job.instances.keep_job_flow_alive_when_no_steps)
        .termination_protected(job.instances.termination_protected)
        .set_ec2_subnet_id(job.instances.ec2_subnet_id.clone())
        .set_ec2_key_name(job.instances.ec2_key_name.clone())
        .build()
}

fn steps(job: &JobFlow) -> Vec<emr::StepConfig> {
    job.steps
        .iter()
        .map(|s| {
            let jar = emr::HadoopJarStepConfig::builder()
                .jar(&s.hadoop_jar_step.jar)
                .set_args(Some(s.hadoop_jar_step.args.clone()))
                .set_main_class(s.hadoop_jar_step.main_class.clone())
                .build();
            emr::StepConfig::builder()
                .name(&s.name)
                .action_on_failure(emr::ActionOnFailure::from(s.action_on_failure.as_str()))
                .hadoop_jar_step(jar)
                .build()
        })
        .collect()
}

fn tag(t: &Tag) -> emr::Tag {
    emr::Tag::builder().key(&t.key).value(&t.value).build()
}

#[async_trait]
impl ClusterEngine for EmrClusters {
    async fn launch(&self, job: &JobFlow) -> Result<String, EmrError> {
        let applications = job.applications.iter().map(|a| emr::Application::builder().name(&a.name).build());
        let output = self
            .client
            .run_job_flow()
            .name(&job.name)
            .release_label(&job.release_label)
            .set_log_uri(job.log_uri.clone())
            .set_applications(Some(applications.collect()))
            .set_configurations(Some(job.configurations.iter().map(configuration).collect()))
            .instances(instances(job))
            .set_steps(Some(steps(job)))
            .service_role(&job.service_role)
            .job_flow_role(&job.job_flow_role)
            .visible_to_all_users(job.visible_to_all_users)
            .set_tags(Some(job.tags.iter().map(tag).collect()))
            .set_step_concurrency_level(job.step_concurrency_level)
            .set_security_configuration(job.security_configuration.clone())
            .set_auto_termination_policy(
                job.auto_termination_policy.as_ref().map(|p| emr::AutoTerminationPolicy::builder().idle_timeout(p.idle_timeout).build()),
            )
            .send()
            .await
            .map_err(|e| engine_error("EMR", "RunJobFlow", e))?;
        output.job_flow_id.ok_or_else(|| missing("EMR", "RunJobFlow", "JobFlowId"))
    }

    async fn describe(&self, cluster_id: &str) -> Result<ClusterInfo, EmrError> {
        let output =
            self.client.describe_cluster().cluster_id(cluster_id).send().await.map_err(|e| engine_error("EMR", "DescribeCluster", e))?;
        let cluster = output.cluster();
        let state = cluster.and_then(|c| c.status()).and_then(|s| s.state()).map(|s| s.as_str().to_owned()).unwrap_or_default();
        let tags: BTreeMap<String, String> = cluster
            .map(|c| c.tags())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
            .collect();
        Ok(ClusterInfo { id: cluster_id.into(), state, tags })
    }

    async fn live_clusters(&self, wanted: &Tag) -> Result<Vec<ClusterInfo>, EmrError> {
        let live = [emr::ClusterState::Starting, emr::ClusterState::Bootstrapping, emr::ClusterState::Running, emr::ClusterState::Waiting];
        let mut pages = self.client.list_clusters().set_cluster_states(Some(live.to_vec())).into_paginator().items().send();
        let mut found = Vec::new();
        while let Some(summary) = pages.next().await {
            let summary = summary.map_err(|e| engine_error("EMR", "ListClusters", e))?;
            let Some(id) = summary.id() else { continue };
            let cluster = self.describe(id).await?;
            if cluster.tags.get(&wanted.key) == Some(&wanted.value) && cluster.alive() {
                found.push(cluster);
            }
        }
        Ok(found)
    }

    async fn terminate(&self, cluster_ids: &[String]) -> Result<(), EmrError> {
        // TerminateJobFlows takes at most 10 ids per call.
        for ids in cluster_ids.chunks(10) {
            self.client
                .terminate_job_flows()
                .set_job_flow_ids(Some(ids.to_vec()))
                .send()
                .await
                .map_err(|e| engine_error("EMR", "TerminateJobFlows", e))?;
        }
        Ok(())
    }
}
