//! Where runs run: EMR clusters in AWS. The launcher sees only this trait.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;

use crate::error::EmrError;
use crate::jobflow::{JobFlow, Tag};

/// The tags that tie a cluster to its run.
pub const CORRELATION_TAG: &str = "Correlation_Id";
pub const PRODUCT_TAG: &str = "DataProduct";
pub const RUN_TAG: &str = "Run_Id";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub id: String,
    /// EMR's state name: STARTING, RUNNING, WAITING, TERMINATED_WITH_ERRORS…
    pub state: String,
    pub tags: BTreeMap<String, String>,
}

impl ClusterInfo {
    pub fn alive(&self) -> bool {
        !self.state.starts_with("TERMINAT")
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
