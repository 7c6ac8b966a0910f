//! [`ObjectStore`] over S3.

use std::ops::Range;
use std::path::Path;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use inlet_core::storage::{ObjectBody, ObjectLocation, ObjectMeta, ObjectStore, StoreError};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::AsyncReadExt;

use crate::errors::{status_of, store_error, stream_error};

/// Bodies above this go up in parts of this size, so no upload holds more
/// than one part in memory. S3's minimum part size is 5 MiB; 8 MiB keeps a
/// 1 GiB download to 128 parts, far below the 10,000 allowed.
const PART_SIZE: usize = 8 << 20;

/// Characters a CopySource may carry unencoded: the key's own slashes and the
/// unreserved set.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: Client,
}

impl S3ObjectStore {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Uploads `first`, then every further part `body` yields, as one
    /// multipart upload; aborted if anything fails on the way.
    async fn put_multipart(&self, location: &ObjectLocation, first: Vec<u8>, body: &mut ObjectBody) -> Result<(), StoreError> {
        const OPERATION: &str = "multipart upload";
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| store_error(OPERATION, location, e))?;
        let upload_id = created.upload_id().ok_or_else(|| stream_error(OPERATION, location, "S3 returned no upload id"))?.to_owned();
        let result = async {
            let mut parts = Vec::new();
            let mut part = first;
            while !part.is_empty() {
                let number = parts.len() as i32 + 1;
                let uploaded = self
                    .client
                    .upload_part()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(part))
                    .send()
                    .await
                    .map_err(|e| store_error(OPERATION, location, e))?;
                parts.push(CompletedPart::builder().part_number(number).set_e_tag(uploaded.e_tag().map(str::to_owned)).build());
                part = read_part(body, location).await?;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&location.bucket)
                .key(&location.key)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| store_error(OPERATION, location, e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // Unfinished uploads cost storage until aborted. If the abort fails
            // too, the bucket's lifecycle rule aborts it after a day; the
            // upload's own error is the one worth reporting.
            if let Err(e) =
                self.client.abort_multipart_upload().bucket(&location.bucket).key(&location.key).upload_id(&upload_id).send().await
            {
                tracing::warn!(location = %location, error = %inlet_core::error::describe(&e), "could not abort an unfinished multipart upload");
            }
        }
        result
    }
}

/// Up to [`PART_SIZE`] bytes of `body`; fewer only at its end.
async fn read_part(body: &mut ObjectBody, location: &ObjectLocation) -> Result<Vec<u8>, StoreError> {
    let mut part = Vec::with_capacity(PART_SIZE);
    let read = async {
        while part.len() < PART_SIZE {
            if body.as_mut().take((PART_SIZE - part.len()) as u64).read_to_end(&mut part).await? == 0 {
                break;
            }
        }
        Ok(())
    };
    read.await.map_err(|source| StoreError::Io { operation: "put", location: location.clone(), source })?;
    Ok(part)
}

/// NotFound for a 404, the classified error otherwise.
impl S3ObjectStore {
    /// PutObject, with `If-None-Match: *` when `if_absent`.
    async fn put_bytes_guarded(&self, location: &ObjectLocation, bytes: Vec<u8>, if_absent: bool) -> Result<ObjectMeta, StoreError> {
        let size = bytes.len() as u64;
        let request = self.client.put_object().bucket(&location.bucket).key(&location.key).body(ByteStream::from(bytes));
        let request = if if_absent { request.if_none_match("*") } else { request };
        let output = request.send().await.map_err(|e| match status_of(&e) {
            Some(412) if if_absent => StoreError::AlreadyExists { location: location.clone() },
            _ => store_error("put", location, e),
        })?;
        Ok(ObjectMeta {
            location: location.clone(),
            size,
            e_tag: output.e_tag().map(|t| t.trim_matches('"').to_owned()),
            last_modified: None,
        })
    }
}

fn not_found_or<E>(location: &ObjectLocation, operation: &'static str, error: SdkError<E, HttpResponse>) -> StoreError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if status_of(&error) == Some(404) {
        StoreError::NotFound { location: location.clone() }
    } else {
        store_error(operation, location, error)
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn head(&self, location: &ObjectLocation) -> Result<ObjectMeta, StoreError> {
        let output = self
            .client
            .head_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| not_found_or(location, "head", e))?;
        Ok(ObjectMeta {
            location: location.clone(),
            size: output.content_length().unwrap_or(0).max(0) as u64,
            e_tag: output.e_tag().map(|t| t.trim_matches('"').to_owned()),
            last_modified: output.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok()),
        })
    }

    async fn get(&self, location: &ObjectLocation) -> Result<(ObjectMeta, ObjectBody), StoreError> {
        let output = self
            .client
            .get_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| not_found_or(location, "get", e))?;
        let meta = ObjectMeta {
            location: location.clone(),
            size: output.content_length().unwrap_or(0).max(0) as u64,
            e_tag: output.e_tag().map(|t| t.trim_matches('"').to_owned()),
            last_modified: output.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok()),
        };
        Ok((meta, Box::pin(output.body.into_async_read())))
    }

    async fn get_range(&self, location: &ObjectLocation, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let output = self
            .client
            .get_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| not_found_or(location, "get", e))?;
        let bytes = output.body.collect().await.map_err(|e| stream_error("get", location, e))?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn put_file(&self, location: &ObjectLocation, path: &Path) -> Result<ObjectMeta, StoreError> {
        let file =
            tokio::fs::File::open(path).await.map_err(|e| StoreError::Io { operation: "put", location: location.clone(), source: e })?;
        self.put_stream(location, Box::pin(file)).await
    }

    async fn put_stream(&self, location: &ObjectLocation, mut body: ObjectBody) -> Result<ObjectMeta, StoreError> {
        let first = read_part(&mut body, location).await?;
        if first.len() < PART_SIZE {
            return self.put_bytes_guarded(location, first, false).await;
        }
        self.put_multipart(location, first, &mut body).await?;
        self.head(location).await
    }

    async fn put_bytes(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<ObjectMeta, StoreError> {
        self.put_bytes_guarded(location, bytes, false).await
    }

    async fn put_bytes_if_absent(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<ObjectMeta, StoreError> {
        self.put_bytes_guarded(location, bytes, true).await
    }

    async fn rename(&self, from: &ObjectLocation, to: &ObjectLocation, if_match: Option<&str>) -> Result<(), StoreError> {
        // S3 has no rename: copy, then delete. A crash in between leaves both,
        // and processing the source again is idempotent. The delete is the
        // conditional step: a copy of a newer version is harmless, deleting
        // one would lose it.
        let source = format!("{}/{}", from.bucket, utf8_percent_encode(&from.key, COPY_SOURCE));
        self.client.copy_object().bucket(&to.bucket).key(&to.key).copy_source(source).send().await.map_err(|e| {
            let not_found = e.as_service_error().and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s)) == Some("NoSuchKey");
            if not_found { StoreError::NotFound { location: from.clone() } } else { store_error("copy", from, e) }
        })?;
        let Some(e_tag) = if_match else { return self.delete(from).await };
        match self.client.delete_object().bucket(&from.bucket).key(&from.key).if_match(format!("\"{e_tag}\"")).send().await {
            Ok(_) => Ok(()),
            Err(e) => match status_of(&e) {
                Some(412) => Err(StoreError::Changed { location: from.clone() }),
                // Deleted meanwhile by a duplicate delivery: the move is done.
                Some(404) => Ok(()),
                _ => Err(store_error("delete", from, e)),
            },
        }
    }

    async fn delete(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| store_error("delete", location, e))?;
        Ok(())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut pages = self.client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("list", &ObjectLocation::new(bucket, prefix), e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                found.push(ObjectMeta {
                    location: ObjectLocation::new(bucket, key),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    e_tag: object.e_tag().map(|t| t.trim_matches('"').to_owned()),
                    last_modified: object.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok()),
                });
            }
        }
        found.sort_by(|a, b| a.location.key.cmp(&b.location.key));
        Ok(found)
    }
}
