//! `create-folders`: the prefix markers a new stack starts with.

use std::collections::HashMap;

use inlet_aws::BucketHousekeeping;
use serde_json::Value;

use super::{Created, Resource, string_list};

/// Properties: `Bucket` (a name) and `Folders` (prefixes such as `in/`).
#[derive(Debug, Clone)]
pub struct CreateFolders {
    buckets: BucketHousekeeping,
}

impl CreateFolders {
    pub fn new(buckets: BucketHousekeeping) -> Self {
        Self { buckets }
    }
}

impl Resource for CreateFolders {
    async fn apply(&self, properties: Value) -> Result<Created, String> {
        let bucket = properties.get("Bucket").and_then(Value::as_str).ok_or("the property Bucket (a bucket name) is missing")?;
        let folders = string_list(&properties, "Folders")?;
        self.buckets.create_markers(bucket, &folders).await.map_err(|e| e.to_string())?;
        tracing::info!(bucket, folders = ?folders, "created folder markers");
        Ok(Created {
            physical_resource_id: format!("folders:{bucket}:{}", folders.join(",")),
            data: HashMap::from([("Folders".to_owned(), folders.join(","))]),
        })
    }

    /// The markers stay: they are harmless, and a retained bucket keeps its layout.
    async fn remove(&self, physical_resource_id: &str, _properties: Value) -> Result<(), String> {
        tracing::info!(physical_resource_id, "leaving folder markers in place");
        Ok(())
    }
}
