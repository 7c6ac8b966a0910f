//! A source's manifest: the outputs one input wrote, so that a new version
//! of it replaces them, and an archive member that is gone takes them away.

use serde::{Deserialize, Serialize};

use super::{Lifecycle, LoadReport, Problem};
use crate::layout;
use crate::storage::ObjectLocation;

/// What one source wrote, so a new version of it can replace its outputs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Manifest {
    pub source: String,
    pub content_sha256: String,
    pub outputs: Vec<String>,
    /// Outputs of earlier versions not yet removed. Listed here before they
    /// are deleted, so a run that dies mid-way leaves them findable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
    /// What the load that wrote `outputs` reported, so that a front end that
    /// left the work to the deployed functions can show it (`ingest --wait`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<LoadReport>,
}

impl Manifest {
    /// Everything this manifest's source has in the output bucket.
    pub(super) fn all_outputs(&self) -> impl Iterator<Item = &String> {
        self.outputs.iter().chain(&self.stale)
    }
}

impl Lifecycle {
    /// Removes everything a source wrote and its manifest: for an archive
    /// member that a new version of its archive no longer holds.
    pub(super) async fn remove_source_outputs(&self, input_key: &str) -> Result<usize, Problem> {
        let sid = layout::source_id(&self.config.input_bucket, input_key);
        let location = ObjectLocation::new(&self.config.output_bucket, layout::manifest_key(&sid));
        let Some(manifest) = self.read_document::<Manifest>(&location).await? else { return Ok(0) };
        let outputs: Vec<String> = manifest.all_outputs().cloned().collect();
        for key in &outputs {
            self.store.delete(&ObjectLocation::new(&self.config.output_bucket, key.as_str())).await?;
        }
        self.store.delete(&location).await?;
        // The member is gone from its archive: so is its origin.
        self.store.delete(&ObjectLocation::new(&self.config.output_bucket, layout::origin_key(&sid))).await?;
        Ok(outputs.len())
    }

    /// The content hash a source's last successful load recorded, if any.
    pub(super) async fn loaded_version(&self, input_key: &str) -> Result<Option<String>, Problem> {
        let sid = layout::source_id(&self.config.input_bucket, input_key);
        let location = ObjectLocation::new(&self.config.output_bucket, layout::manifest_key(&sid));
        Ok(self.read_document::<Manifest>(&location).await?.map(|m| m.content_sha256))
    }
}
