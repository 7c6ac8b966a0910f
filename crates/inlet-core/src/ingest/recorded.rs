//! What became of an input that someone else processed: the deployed
//! functions, when `inlet ingest --wait` uploaded the file and left the work
//! to them. The answer is read back from the bookkeeping every processor
//! leaves: the input's place in `done/` or `failed/`, its manifest (which
//! keeps the load's report) and its error document.

use std::time::SystemTime;

use inlet_contract::InputKind;

use super::manifest::Manifest;
use super::{Engine, Failure, Outcome, expand};
use crate::layout;
use crate::storage::{ObjectLocation, StoreError};

impl Engine {
    /// The outcome of the input uploaded to `key` (under `in/`), once it has
    /// reached `done/` or `failed/` at or after `since` (the upload's time,
    /// as the store reports it; `None` takes any). `None` while the input is
    /// still to do.
    pub async fn recorded_outcome(&self, key: &str, since: Option<SystemTime>) -> Result<Option<Outcome>, StoreError> {
        let source = ObjectLocation::new(&self.lifecycle.config.input_bucket, key);
        if self.moved_since(&source.with_key(layout::lifecycle_key(key, layout::DONE)), since).await? {
            return Ok(Some(self.recorded_success(&source).await?));
        }
        let failed_key = layout::lifecycle_key(key, layout::FAILED);
        if self.moved_since(&source.with_key(&failed_key), since).await? {
            let document = self.lifecycle.store.get_bytes(&source.with_key(layout::error_document_key(&failed_key))).await?;
            return Ok(document.and_then(|bytes| serde_json::from_slice::<Failure>(&bytes).ok()).map(|failure| {
                // It is in failed/ with its document: filed.
                Outcome::Failed(Failure { filed: true, ..failure })
            }));
        }
        Ok(None)
    }

    async fn moved_since(&self, location: &ObjectLocation, since: Option<SystemTime>) -> Result<bool, StoreError> {
        match self.lifecycle.store.head(location).await {
            Ok(meta) => Ok(match since {
                Some(since) => meta.last_modified.is_some_and(|at| at >= since),
                None => true,
            }),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The report of a load, or the expansion of an archive, from the
    /// manifest written just before the input moved to `done/`. A manifest
    /// from a version that kept no report reads as "already processed".
    async fn recorded_success(&self, source: &ObjectLocation) -> Result<Outcome, StoreError> {
        let sid = layout::source_id(&source.bucket, &source.key);
        let identity = layout::identity_key(&source.key);
        let expanded = InputKind::of(&source.key) == InputKind::Archive && !self.pipelines.claims(&identity);
        let manifest_key = if expanded { layout::archive_manifest_key(&sid) } else { layout::manifest_key(&sid) };
        let bytes = self.lifecycle.store.get_bytes(&ObjectLocation::new(&self.lifecycle.config.output_bucket, manifest_key)).await?;
        let recorded = bytes.and_then(|bytes| match expanded {
            true => expand::recorded_expansion(&bytes),
            false => serde_json::from_slice::<Manifest>(&bytes).ok()?.report.map(Outcome::Loaded),
        });
        Ok(recorded.unwrap_or_else(|| Outcome::Gone { source: source.to_string() }))
    }
}
