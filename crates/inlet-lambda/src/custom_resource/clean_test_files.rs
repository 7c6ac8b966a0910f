//! `clean-test-files`: empties the test stack's buckets when its cleaner
//! resource is deleted, so that the buckets themselves can be deleted.

use inlet_aws::BucketHousekeeping;
use serde_json::Value;

use super::{Created, Resource, string_list};

/// Properties: `Buckets`, the names of the buckets to empty on Delete.
#[derive(Debug, Clone)]
pub struct CleanTestFiles {
    buckets: BucketHousekeeping,
}

impl CleanTestFiles {
    pub fn new(buckets: BucketHousekeeping) -> Self {
        Self { buckets }
    }
}

impl Resource for CleanTestFiles {
    /// Nothing to do until Delete; the id names the buckets it will empty.
    async fn apply(&self, properties: Value) -> Result<Created, String> {
        let buckets = string_list(&properties, "Buckets")?;
        Ok(Created { physical_resource_id: format!("clean-test-files:{}", buckets.join(",")), data: Default::default() })
    }

    async fn remove(&self, _physical_resource_id: &str, properties: Value) -> Result<(), String> {
        for bucket in string_list(&properties, "Buckets")? {
            let emptied = self.buckets.empty(&bucket).await.map_err(|e| e.to_string())?;
            tracing::info!(bucket, versions = emptied.versions, uploads = emptied.uploads, "emptied test bucket");
        }
        Ok(())
    }
}
