//! Object storage: the one trait every handler reads and writes through.
//!
//! A bucket/key pair is the unit of addressing, as in S3. The local backend maps
//! a bucket to a folder; the S3 backend maps it to a real bucket. Handlers never
//! know which one they hold.

mod local;

pub use local::LocalObjectStore;

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;

use crate::error::{BoxError, Classify, ErrorClass, describe};

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectLocation {
    pub bucket: String,
    pub key: String,
}

impl ObjectLocation {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self { bucket: bucket.into(), key: key.into() }
    }

    /// The final path segment of the key.
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    /// The same key in another bucket or with another key.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Self { bucket: self.bucket.clone(), key: key.into() }
    }
}

impl fmt::Display for ObjectLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// What a store knows about an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub location: ObjectLocation,
    pub size: u64,
    /// S3's ETag; the local store derives one from size and modification time.
    pub e_tag: Option<String>,
    pub last_modified: Option<SystemTime>,
}

/// A streaming object body.
pub type ObjectBody = Pin<Box<dyn AsyncRead + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{location} does not exist")]
    NotFound { location: ObjectLocation },

    #[error("key {key:?} is not allowed: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    #[error("{operation} {location} failed: {source}")]
    Io {
        operation: &'static str,
        location: ObjectLocation,
        #[source]
        source: std::io::Error,
    },

    /// The backend's own error, kept as the source, with its class.
    #[error("{operation} {location} failed ({class:?}): {message}")]
    Backend {
        operation: &'static str,
        location: ObjectLocation,
        class: ErrorClass,
        /// The source and its chain, flattened: SDK errors say only "service
        /// error" at the top.
        message: String,
        #[source]
        source: BoxError,
    },

    /// A conditional operation found a newer version of the object.
    #[error("{location} was replaced while it was being processed; the new version is processed on its own event")]
    Changed { location: ObjectLocation },

    /// A put-if-absent found an object already there.
    #[error("{location} exists already")]
    AlreadyExists { location: ObjectLocation },
}

impl StoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    pub fn is_changed(&self) -> bool {
        matches!(self, StoreError::Changed { .. })
    }

    /// A backend error that keeps `source` and says which class it is.
    pub fn backend(operation: &'static str, location: &ObjectLocation, class: ErrorClass, source: impl Into<BoxError>) -> Self {
        let source = source.into();
        StoreError::Backend { operation, location: location.clone(), class, message: describe(source.as_ref()), source }
    }
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Io { source, .. } => ErrorClass::of_io(source),
            StoreError::Backend { class, .. } => *class,
            StoreError::NotFound { .. } | StoreError::InvalidKey { .. } | StoreError::Changed { .. } | StoreError::AlreadyExists { .. } => {
                ErrorClass::Permanent
            }
        }
    }
}

/// An object store: S3 semantics, any backend.
///
/// Writes are atomic: a reader sees the old object or the new one, never a
/// partial one.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    async fn head(&self, location: &ObjectLocation) -> Result<ObjectMeta, StoreError>;

    async fn get(&self, location: &ObjectLocation) -> Result<(ObjectMeta, ObjectBody), StoreError>;

    /// The bytes in `range` of an object, for reading a Parquet footer without the file.
    async fn get_range(&self, location: &ObjectLocation, range: Range<u64>) -> Result<Vec<u8>, StoreError>;

    /// Uploads a local file as the object at `location`, replacing any object there.
    async fn put_file(&self, location: &ObjectLocation, path: &Path) -> Result<ObjectMeta, StoreError>;

    /// [`ObjectStore::put_file`] for a file the caller is done with (scratch
    /// output): a backend may move it into place instead of copying it, so it
    /// may be gone afterwards. A failed put may have consumed it too.
    async fn put_scratch_file(&self, location: &ObjectLocation, path: &Path) -> Result<ObjectMeta, StoreError> {
        self.put_file(location, path).await
    }

    async fn put_bytes(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<ObjectMeta, StoreError>;

    /// Uploads everything `body` yields, holding at most one part of it in
    /// memory. A read error from `body` abandons the upload and comes back as
    /// [`StoreError::Io`] with that error as its source, so a caller whose
    /// reader failed for its own reason can find that reason again.
    async fn put_stream(&self, location: &ObjectLocation, body: ObjectBody) -> Result<ObjectMeta, StoreError>;

    /// Writes the object only if no object is at `location` (S3's
    /// `If-None-Match: *`); [`StoreError::AlreadyExists`] otherwise.
    async fn put_bytes_if_absent(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<ObjectMeta, StoreError>;

    /// Moves an object, replacing whatever is at `to`.
    ///
    /// With `if_match`, the source is removed only while its e-tag is still
    /// that one. A user who uploads a new version under the same key while the
    /// old one is processed then keeps it: the move answers
    /// [`StoreError::Changed`], and the new version waits in place for its own
    /// event instead of being swept into `done/` unprocessed.
    async fn rename(&self, from: &ObjectLocation, to: &ObjectLocation, if_match: Option<&str>) -> Result<(), StoreError>;

    /// Deletes an object; deleting a missing object succeeds.
    async fn delete(&self, location: &ObjectLocation) -> Result<(), StoreError>;

    /// Every object in `bucket` whose key starts with `prefix`, sorted by key.
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;

    /// The whole object, for small documents (manifests, error documents).
    /// `Ok(None)` when there is none; an object cut off mid-read is an error,
    /// never a shorter document.
    async fn get_bytes(&self, location: &ObjectLocation) -> Result<Option<Vec<u8>>, StoreError> {
        let mut body = match self.get(location).await {
            Ok((_, body)) => body,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut body, &mut bytes)
            .await
            .map_err(|e| StoreError::backend("read", location, ErrorClass::Transient, e))?;
        Ok(Some(bytes))
    }
}

/// Rejects keys that could address something outside their bucket on a
/// file-system backend, or that S3 would treat differently from a folder tree.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let invalid = |reason| Err(StoreError::InvalidKey { key: key.to_owned(), reason });
    if key.is_empty() {
        return invalid("it is empty");
    }
    if key.starts_with('/') || key.starts_with('\\') {
        return invalid("it is absolute");
    }
    if key.contains('\0') {
        return invalid("it contains a NUL byte");
    }
    if key.split(['/', '\\']).any(|segment| segment == ".." || segment == ".") {
        return invalid("it has a '.' or '..' segment");
    }
    if key.ends_with('/') {
        return invalid("it names a folder, not an object");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_are_refused() {
        for key in ["", "/etc/passwd", "a/../b", "../x", "a/./b", "\\x", "in/"] {
            assert!(validate_key(key).is_err(), "{key:?} should be refused");
        }
        for key in ["in/a.csv", "in/a b+c.csv", "a/b/c..d.csv"] {
            assert!(validate_key(key).is_ok(), "{key:?} should be accepted");
        }
    }

    proptest::proptest! {
        /// Whatever the key, one that is accepted names a path below its
        /// bucket's folder: no component climbs out or starts again at the root.
        #[test]
        fn an_accepted_key_never_leaves_its_bucket(parts in proptest::collection::vec(
            proptest::sample::select(vec!["a", "é", ".", "..", "/", "\\", "\0", "~", ":", "c:", "%2e%2e", " "]), 0..12)) {
            let key = parts.concat();
            if validate_key(&key).is_ok() {
                let path = std::path::Path::new("/bucket").join(&key);
                let inside = path.components().skip(2).all(|c| matches!(c, std::path::Component::Normal(_)));
                proptest::prop_assert!(path.starts_with("/bucket") && inside, "{key:?} → {path:?}");
            }
        }
    }
}
