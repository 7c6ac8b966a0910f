//! Where runs run: EMR clusters, or job runs on an EMR Serverless
//! application. A product's `launcher.yaml` picks one; the launcher sees only
//! the traits.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::EmrError;
use crate::jobflow::{JobFlow, Tag};
use crate::product::{EngineKind, Lookup, Templates};
use crate::run::Run;
use crate::serverless::{JobRunEngine, ServerlessTarget};

/// The tags that tie a cluster or a job run to its run.
pub const CORRELATION_TAG: &str = "Correlation_Id";
pub const PRODUCT_TAG: &str = "DataProduct";
pub const RUN_TAG: &str = "Run_Id";

/// The tags of everything started for `run`.
pub fn run_tags(run: &Run) -> [Tag; 3] {
    [
        Tag { key: CORRELATION_TAG.into(), value: run.correlation_id.clone() },
        Tag { key: PRODUCT_TAG.into(), value: run.product.clone() },
        Tag { key: RUN_TAG.into(), value: run.run_id.to_string() },
    ]
}

/// A cluster or a job run, as its engine describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub id: String,
    /// The engine's state name: a cluster's STARTING, RUNNING, WAITING,
    /// TERMINATED_WITH_ERRORS…, a job run's PENDING, RUNNING, SUCCESS…
    pub state: String,
    pub tags: BTreeMap<String, String>,
}

/// The states in which a cluster or a job run does no more work.
const ENDED_JOB_RUN_STATES: [&str; 4] = ["SUCCESS", "FAILED", "CANCELLING", "CANCELLED"];

impl ClusterInfo {
    pub fn alive(&self) -> bool {
        !self.state.starts_with("TERMINAT") && !ENDED_JOB_RUN_STATES.contains(&self.state.as_str())
    }

    /// The run it belongs to: (correlation id, product).
    pub fn run_key(&self) -> Option<(&str, &str)> {
        Some((self.tags.get(CORRELATION_TAG)?.as_str(), self.tags.get(PRODUCT_TAG)?.as_str()))
    }
}

#[async_trait]
pub trait ClusterEngine: Send + Sync + fmt::Debug {
    /// Starts a cluster for `job`; its id.
    async fn launch(&self, job: &JobFlow) -> Result<String, EmrError>;

    async fn describe(&self, cluster_id: &str) -> Result<ClusterInfo, EmrError>;

    /// The clusters not yet terminated that carry `tag`.
    async fn live_clusters(&self, tag: &Tag) -> Result<Vec<ClusterInfo>, EmrError>;

    async fn terminate(&self, cluster_ids: &[String]) -> Result<(), EmrError>;
}

/// Both engines' clients; a product uses one of them.
#[derive(Debug, Clone)]
pub struct Engines {
    pub clusters: Arc<dyn ClusterEngine>,
    pub job_runs: Arc<dyn JobRunEngine>,
}

impl Engines {
    /// The engine `product`'s `launcher.yaml` picks.
    pub fn for_product(&self, templates: &Templates, product: &str, lookup: Lookup) -> Result<Engine<'_>, EmrError> {
        Ok(match templates.launcher_settings(product)?.engine {
            EngineKind::Emr => Engine::Clusters(self.clusters.as_ref()),
            EngineKind::EmrServerless => Engine::JobRuns(self.job_runs.as_ref(), templates.serverless_target(product, lookup)?),
        })
    }
}

/// One product's engine.
#[derive(Debug, Clone)]
pub enum Engine<'a> {
    Clusters(&'a dyn ClusterEngine),
    JobRuns(&'a dyn JobRunEngine, ServerlessTarget),
}

impl Engine<'_> {
    pub async fn describe(&self, id: &str) -> Result<ClusterInfo, EmrError> {
        match self {
            Engine::Clusters(clusters) => clusters.describe(id).await,
            Engine::JobRuns(job_runs, target) => job_runs.describe(&target.application_id, id).await,
        }
    }

    /// The clusters or job runs still working that carry `tag`.
    pub async fn live(&self, tag: &Tag) -> Result<Vec<ClusterInfo>, EmrError> {
        match self {
            Engine::Clusters(clusters) => clusters.live_clusters(tag).await,
            Engine::JobRuns(job_runs, target) => job_runs.live_job_runs(&target.application_id, tag).await,
        }
    }

    /// Terminates clusters, or cancels job runs.
    pub async fn stop(&self, ids: &[String]) -> Result<(), EmrError> {
        match self {
            Engine::Clusters(clusters) => clusters.terminate(ids).await,
            Engine::JobRuns(job_runs, target) => job_runs.cancel(&target.application_id, ids).await,
        }
    }
}
