//! Whole-bucket housekeeping for the stack's custom resources: the folder
//! markers a new stack starts with, and emptying a test bucket so that
//! CloudFormation can delete it.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use inlet_core::error::describe;

/// What went wrong with a bucket, and on which one.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on bucket {bucket:?} failed: {message}")]
pub struct BucketError {
    pub operation: &'static str,
    pub bucket: String,
    pub message: String,
}

/// What emptying a bucket removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Emptied {
    /// Object versions and delete markers (in an unversioned bucket, objects).
    pub versions: u64,
    /// Multipart uploads that were started and never completed.
    pub uploads: u64,
}

/// S3 operations on whole buckets.
#[derive(Debug, Clone)]
pub struct BucketHousekeeping {
    client: Client,
}

impl BucketHousekeeping {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Puts an empty `<prefix>` object for each prefix (S3 consoles show it
    /// as a folder). Existing markers are rewritten, so the call is idempotent.
    pub async fn create_markers(&self, bucket: &str, prefixes: &[String]) -> Result<(), BucketError> {
        for prefix in prefixes {
            let key = if prefix.ends_with('/') { prefix.clone() } else { format!("{prefix}/") };
            self.client.put_object().bucket(bucket).key(&key).body(ByteStream::from_static(b"")).send().await.map_err(|e| BucketError {
                operation: "PutObject",
                bucket: bucket.into(),
                message: format!("{key}: {}", describe(&e)),
            })?;
        }
        Ok(())
    }

    /// Deletes every object version, delete marker and unfinished multipart
    /// upload. A bucket that does not exist is already empty.
    pub async fn empty(&self, bucket: &str) -> Result<Emptied, BucketError> {
        let error = |operation: &'static str, message: String| BucketError { operation, bucket: bucket.into(), message };
        let mut emptied = Emptied::default();

        // Each round removes what it listed, so listing from the start again
        // walks the whole bucket without markers.
        loop {
            let page = match self.client.list_multipart_uploads().bucket(bucket).send().await {
                Ok(page) => page,
                Err(e) if is_no_such_bucket(&e) => return Ok(emptied),
                Err(e) => return Err(error("ListMultipartUploads", describe(&e))),
            };
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else { continue };
                self.client
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(|e| error("AbortMultipartUpload", format!("{key}: {}", describe(&e))))?;
                emptied.uploads += 1;
            }
            if page.uploads().is_empty() {
                break;
            }
        }

        // ListObjectVersions also lists the objects of an unversioned bucket
        // (version id "null"), so one loop serves both kinds.
        loop {
            let page = match self.client.list_object_versions().bucket(bucket).send().await {
                Ok(page) => page,
                Err(e) if is_no_such_bucket(&e) => return Ok(emptied),
                Err(e) => return Err(error("ListObjectVersions", describe(&e))),
            };
            let listed = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            let batch: Vec<ObjectIdentifier> = listed
                .chain(markers)
                .filter_map(|(key, version)| ObjectIdentifier::builder().key(key?).set_version_id(version.map(str::to_owned)).build().ok())
                .collect();
            // A listing holds at most 1,000 entries, DeleteObjects' limit.
            if batch.is_empty() {
                break;
            }
            let count = batch.len() as u64;
            let delete =
                Delete::builder().set_objects(Some(batch)).quiet(true).build().map_err(|e| error("DeleteObjects", e.to_string()))?;
            let output = self
                .client
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| error("DeleteObjects", describe(&e)))?;
            if let Some(first) = output.errors().first() {
                return Err(error(
                    "DeleteObjects",
                    format!(
                        "{} of {count} entries were not deleted, e.g. {}: {}",
                        output.errors().len(),
                        first.key().unwrap_or("?"),
                        first.message().unwrap_or("no reason given")
                    ),
                ));
            }
            emptied.versions += count;
        }
        Ok(emptied)
    }
}

fn is_no_such_bucket<E: aws_sdk_s3::error::ProvideErrorMetadata, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> bool {
    error.as_service_error().and_then(|e| e.code()) == Some("NoSuchBucket")
}
