//! The embedded backend: a bucket is a folder `<root>/<bucket>/`, a key is a
//! relative path inside it.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use tokio::fs;

use super::{ObjectBody, ObjectLocation, ObjectMeta, ObjectStore, StoreError, validate_key};

/// Staging folder inside each bucket for atomic writes. Its name starts with a
/// dot so that no Hive-style reader (Athena, DuckDB, Spark) lists it.
const STAGING_DIR: &str = ".inlet-staging";

#[derive(Debug)]
pub struct LocalObjectStore {
    root: PathBuf,
    staging_counter: AtomicU64,
}

impl LocalObjectStore {
    /// A store whose buckets are the folders under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), staging_counter: AtomicU64::new(0) }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder that holds `bucket`.
    pub fn bucket_path(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// The file that holds an object. Fails for keys that would leave the bucket.
    pub fn object_path(&self, location: &ObjectLocation) -> Result<PathBuf, StoreError> {
        validate_key(&location.bucket)
            .map_err(|_| StoreError::InvalidKey { key: location.bucket.clone(), reason: "bucket names are single path segments" })?;
        if location.bucket.contains('/') {
            return Err(StoreError::InvalidKey { key: location.bucket.clone(), reason: "bucket names are single path segments" });
        }
        validate_key(&location.key)?;
        if location.key.starts_with(STAGING_DIR) {
            return Err(StoreError::InvalidKey { key: location.key.clone(), reason: "the prefix is reserved" });
        }
        Ok(self.bucket_path(&location.bucket).join(&location.key))
    }

    fn staging_path(&self, bucket: &str) -> PathBuf {
        let n = self.staging_counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        self.bucket_path(bucket).join(STAGING_DIR).join(format!("{}-{nanos}-{n}.tmp", std::process::id()))
    }

    /// Removes the folders left empty above a removed object: they are an
    /// artefact of the file-system mapping, and S3 has none.
    async fn prune_empty_folders(&self, bucket: &str, removed: &Path) {
        let bucket_root = self.bucket_path(bucket);
        let mut dir = removed.parent();
        while let Some(d) = dir {
            if d == bucket_root || fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    async fn meta_of(&self, location: &ObjectLocation, path: &Path) -> Result<ObjectMeta, StoreError> {
        let metadata = fs::metadata(path).await.map_err(|e| io_error("head", location, e))?;
        if !metadata.is_file() {
            return Err(StoreError::NotFound { location: location.clone() });
        }
        Ok(meta_from(location.clone(), &metadata))
    }

    /// Writes via a staging file and a rename, so readers never see a partial object.
    async fn commit_staged(&self, location: &ObjectLocation, staged: &Path) -> Result<ObjectMeta, StoreError> {
        let target = self.object_path(location)?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).await.map_err(|e| io_error("put", location, e))?;
        }
        if let Err(e) = fs::rename(staged, &target).await {
            let _ = fs::remove_file(staged).await;
            return Err(io_error("put", location, e));
        }
        self.meta_of(location, &target).await
    }

    async fn new_staging_file(&self, location: &ObjectLocation) -> Result<PathBuf, StoreError> {
        let staged = self.staging_path(&location.bucket);
        fs::create_dir_all(staged.parent().expect("staging path has a parent")).await.map_err(|e| io_error("put", location, e))?;
        Ok(staged)
    }
}

fn io_error(operation: &'static str, location: &ObjectLocation, source: std::io::Error) -> StoreError {
    if source.kind() == std::io::ErrorKind::NotFound {
        StoreError::NotFound { location: location.clone() }
    } else {
        StoreError::Io { operation, location: location.clone(), source }
    }
}

fn meta_from(location: ObjectLocation, metadata: &std::fs::Metadata) -> ObjectMeta {
    let modified = metadata.modified().ok();
    let nanos = modified.and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
    ObjectMeta { location, size: metadata.len(), e_tag: Some(format!("{:x}-{nanos:x}", metadata.len())), last_modified: modified }
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn head(&self, location: &ObjectLocation) -> Result<ObjectMeta, StoreError> {
        let path = self.object_path(location)?;
        self.meta_of(location, &path).await
    }

    async fn get(&self, location: &ObjectLocation) -> Result<(ObjectMeta, ObjectBody), StoreError> {
        let path = self.object_path(location)?;
        let file = fs::File::open(&path).await.map_err(|e| io_error("get", location, e))?;
        let metadata = file.metadata().await.map_err(|e| io_error("get", location, e))?;
        if !metadata.is_file() {
            return Err(StoreError::NotFound { location: location.clone() });
        }
        Ok((meta_from(location.clone(), &metadata), Box::pin(file)))
    }

    async fn get_range(&self, location: &ObjectLocation, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let path = self.object_path(location)?;
        let mut file = fs::File::open(&path).await.map_err(|e| io_error("get", location, e))?;
        file.seek(std::io::SeekFrom::Start(range.start)).await.map_err(|e| io_error("get", location, e))?;
        let mut bytes = Vec::with_capacity((range.end - range.start) as usize);
        file.take(range.end - range.start).read_to_end(&mut bytes).await.map_err(|e| io_error("get", location, e))?;
        Ok(bytes)
    }

    async fn put_file(&self, location: &ObjectLocation, path: &Path) -> Result<ObjectMeta, StoreError> {
        self.object_path(location)?;
        let staged = self.new_staging_file(location).await?;
        if let Err(e) = fs::copy(path, &staged).await {
            let _ = fs::remove_file(&staged).await;
            return Err(StoreError::Io { operation: "put", location: location.clone(), source: e });
        }
        self.commit_staged(location, &staged).await
    }

    async fn put_bytes(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<ObjectMeta, StoreError> {
        self.object_path(location)?;
        let staged = self.new_staging_file(location).await?;
        if let Err(e) = fs::write(&staged, bytes).await {
            let _ = fs::remove_file(&staged).await;
            return Err(StoreError::Io { operation: "put", location: location.clone(), source: e });
        }
        self.commit_staged(location, &staged).await
    }

    async fn rename(&self, from: &ObjectLocation, to: &ObjectLocation, if_match: Option<&str>) -> Result<(), StoreError> {
        // One process owns a local state directory, so check-then-move is enough.
        if let Some(expected) = if_match
            && self.head(from).await?.e_tag.as_deref() != Some(expected)
        {
            return Err(StoreError::Changed { location: from.clone() });
        }
        let source = self.object_path(from)?;
        let target = self.object_path(to)?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).await.map_err(|e| io_error("rename", to, e))?;
        }
        if from.bucket == to.bucket {
            fs::rename(&source, &target).await.map_err(|e| io_error("rename", from, e))?;
        } else {
            self.put_file(to, &source).await?;
            fs::remove_file(&source).await.map_err(|e| io_error("rename", from, e))?;
        }
        self.prune_empty_folders(&from.bucket, &source).await;
        Ok(())
    }

    async fn delete(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        let path = self.object_path(location)?;
        match fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("delete", location, e)),
        }
        self.prune_empty_folders(&location.bucket, &path).await;
        Ok(())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let bucket_root = self.bucket_path(bucket);
        // Walk only the folder the prefix names, not the whole bucket.
        let start = match prefix.rfind('/') {
            Some(i) => bucket_root.join(&prefix[..i]),
            None => bucket_root.clone(),
        };
        let mut found = Vec::new();
        let mut pending = vec![start];
        while let Some(dir) = pending.pop() {
            let mut entries = match fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("list", &ObjectLocation::new(bucket, prefix), e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(|e| io_error("list", &ObjectLocation::new(bucket, prefix), e))? {
                let path = entry.path();
                let file_type = entry.file_type().await.map_err(|e| io_error("list", &ObjectLocation::new(bucket, prefix), e))?;
                let Ok(relative) = path.strip_prefix(&bucket_root) else { continue };
                let key = relative.to_string_lossy().replace('\\', "/");
                if key.starts_with(STAGING_DIR) {
                    continue;
                }
                if file_type.is_dir() {
                    pending.push(path);
                } else if key.starts_with(prefix) {
                    let metadata = entry.metadata().await.map_err(|e| io_error("list", &ObjectLocation::new(bucket, &key), e))?;
                    found.push(meta_from(ObjectLocation::new(bucket, key), &metadata));
                }
            }
        }
        found.sort_by(|a, b| a.location.key.cmp(&b.location.key));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn put_get_list_rename_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path());
        let a = ObjectLocation::new("input", "in/x/a b+c.csv");
        store.put_bytes(&a, b"hello".to_vec()).await.unwrap();
        let (meta, mut body) = store.get(&a).await.unwrap();
        assert_eq!(meta.size, 5);
        let mut text = String::new();
        body.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "hello");

        store.put_bytes(&ObjectLocation::new("input", "in/y.csv"), b"y".to_vec()).await.unwrap();
        store.put_bytes(&ObjectLocation::new("input", "done/z.csv"), b"z".to_vec()).await.unwrap();
        let keys: Vec<_> = store.list("input", "in/").await.unwrap().into_iter().map(|m| m.location.key).collect();
        assert_eq!(keys, ["in/x/a b+c.csv", "in/y.csv"]);

        let done = ObjectLocation::new("input", "done/x/a b+c.csv");
        store.rename(&a, &done, None).await.unwrap();
        assert!(store.head(&a).await.unwrap_err().is_not_found());
        assert_eq!(store.head(&done).await.unwrap().size, 5);
        // The emptied folder is gone, as it would be in S3.
        assert!(!dir.path().join("input/in/x").exists());

        store.delete(&done).await.unwrap();
        store.delete(&done).await.unwrap();
        assert!(store.list("input", "done/x").await.unwrap().is_empty());
        // Staging files never show in listings.
        assert!(store.list("input", "").await.unwrap().iter().all(|m| !m.location.key.contains(STAGING_DIR)));
    }

    #[tokio::test]
    async fn a_conditional_move_leaves_a_replaced_object_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path());
        let source = ObjectLocation::new("input", "in/a.csv");
        let done = ObjectLocation::new("input", "done/a.csv");
        let seen = store.put_bytes(&source, b"old".to_vec()).await.unwrap();
        let seen = store.head(&seen.location).await.unwrap().e_tag.unwrap();
        store.put_bytes(&source, b"newer".to_vec()).await.unwrap();

        let err = store.rename(&source, &done, Some(&seen)).await.unwrap_err();
        assert!(err.is_changed(), "{err}");
        assert_eq!(store.head(&source).await.unwrap().size, 5);

        let current = store.head(&source).await.unwrap().e_tag.unwrap();
        store.rename(&source, &done, Some(&current)).await.unwrap();
        assert_eq!(store.head(&done).await.unwrap().size, 5);
    }

    #[tokio::test]
    async fn keys_cannot_leave_the_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path().join("buckets"));
        let err = store.put_bytes(&ObjectLocation::new("input", "../../escape"), b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }));
        let err = store.put_bytes(&ObjectLocation::new("../input", "x"), b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }));
        assert!(!dir.path().join("escape").exists());
    }
}
