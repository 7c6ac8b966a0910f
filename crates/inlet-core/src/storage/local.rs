//! The embedded backend: a bucket is a folder `<root>/<bucket>/`, a key is a
//! relative path inside it.
//!
//! Several processes may share one state directory (two `inlet ingest` runs
//! at once). Every change to a bucket's keys happens under that bucket's lock
//! file, so a conditional move sees the version it checked and no other.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;
use std::{fs as std_fs, io};

use async_trait::async_trait;
use tokio::fs;

use super::{ObjectBody, ObjectLocation, ObjectMeta, ObjectStore, StoreError, validate_key};
use crate::error::ErrorClass;

/// Staging folder inside each bucket for atomic writes. Its name starts with a
/// dot so that no Hive-style reader (Athena, DuckDB, Spark) lists it.
const STAGING_DIR: &str = ".inlet-staging";
/// The lock file that serialises key changes in one bucket.
const LOCK_FILE: &str = "lock";

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

    /// Removes staged copies left in `bucket` by processes that died mid-write
    /// (a staged file's name starts with its writer's process id). Returns how
    /// many were removed.
    pub fn sweep_staging(&self, bucket: &str) -> std::io::Result<usize> {
        let dir = self.bucket_path(bucket).join(STAGING_DIR);
        let entries = match std_fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_suffix(".tmp").and_then(|n| n.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if !process_is_alive(pid) {
                match std_fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }

    /// The file that holds an object. Fails for keys that would leave the bucket.
    pub fn object_path(&self, location: &ObjectLocation) -> Result<PathBuf, StoreError> {
        validate_key(&location.bucket)
            .map_err(|_| StoreError::InvalidKey { key: location.bucket.clone(), reason: "bucket names are single path segments" })?;
        if location.bucket.contains('/') {
            return Err(StoreError::InvalidKey { key: location.bucket.clone(), reason: "bucket names are single path segments" });
        }
        validate_key(&location.key)?;
        if location.key.split('/').any(|name| name.len() > crate::layout::MAX_NAME_BYTES) {
            return Err(StoreError::InvalidKey {
                key: location.key.clone(),
                reason: "a folder or file name in it is longer than the 255 bytes a local file system allows",
            });
        }
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

    async fn stage_bytes(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<PathBuf, StoreError> {
        self.object_path(location)?;
        let staged = self.new_staging_file(location).await?;
        if let Err(e) = fs::write(&staged, bytes).await {
            // Best effort: a partial staged copy is ours alone.
            let _ = fs::remove_file(&staged).await;
            return Err(StoreError::Io { operation: "put", location: location.clone(), source: e });
        }
        Ok(staged)
    }

    async fn delete_if_match(&self, location: &ObjectLocation, if_match: Option<&str>) -> Result<(), StoreError> {
        let path = self.object_path(location)?;
        let (location, expected) = (location.clone(), if_match.map(str::to_owned));
        let bucket_root = self.bucket_path(&location.bucket);
        self.locked(&location.bucket.clone(), move || {
            match check_version(&location, &path, expected.as_deref()) {
                Err(e) if e.is_not_found() => return Ok(()),
                other => other?,
            }
            match std_fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_error("delete", &location, e)),
            }
            prune_empty_folders(&bucket_root, &path);
            Ok(())
        })
        .await
    }

    async fn meta_of(&self, location: &ObjectLocation, path: &Path) -> Result<ObjectMeta, StoreError> {
        let metadata = fs::metadata(path).await.map_err(|e| io_error("head", location, e))?;
        if !metadata.is_file() {
            return Err(StoreError::NotFound { location: location.clone() });
        }
        Ok(meta_from(location.clone(), &metadata))
    }

    /// Runs `change` while holding the bucket's lock. The lock is an OS file
    /// lock, so a killed process releases it.
    async fn locked<T: Send + 'static>(
        &self,
        bucket: &str,
        change: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let lock_path = self.bucket_path(bucket).join(STAGING_DIR).join(LOCK_FILE);
        let location = ObjectLocation::new(bucket, STAGING_DIR);
        tokio::task::spawn_blocking(move || {
            let lock_error = |e| io_error("lock", &location, e);
            std_fs::create_dir_all(lock_path.parent().expect("the lock has a folder")).map_err(lock_error)?;
            let file = std_fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(lock_error)?;
            file.lock().map_err(lock_error)?;
            change()
        })
        .await
        .map_err(|e| StoreError::backend("lock", &ObjectLocation::new(bucket, STAGING_DIR), ErrorClass::Transient, e))?
    }

    /// Writes via a staging file and a rename, so readers never see a partial object.
    async fn commit_staged(&self, location: &ObjectLocation, staged: PathBuf, exclusive: bool) -> Result<ObjectMeta, StoreError> {
        let target = self.object_path(location)?;
        let owned = location.clone();
        self.locked(&location.bucket, move || {
            let put_error = |e| io_error("put", &owned, e);
            let result = (|| {
                if let Some(parent) = target.parent() {
                    std_fs::create_dir_all(parent).map_err(put_error)?;
                }
                if exclusive {
                    // A hard link fails when the target exists: put-if-absent, atomically.
                    std_fs::hard_link(&staged, &target).map_err(|e| match e.kind() {
                        io::ErrorKind::AlreadyExists => StoreError::AlreadyExists { location: owned.clone() },
                        _ => put_error(e),
                    })?;
                    std_fs::remove_file(&staged).map_err(put_error)
                } else {
                    std_fs::rename(&staged, &target).map_err(put_error)
                }
            })();
            if result.is_err() {
                // Best effort: the staged copy is ours alone, and a sweep of
                // the staging folder would find it otherwise.
                let _ = std_fs::remove_file(&staged);
            }
            result?;
            let metadata = std_fs::metadata(&target).map_err(put_error)?;
            Ok(meta_from(owned.clone(), &metadata))
        })
        .await
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

/// Whether a process with this id runs. Where that cannot be told (no
/// `/proc`), every process counts as alive, so nothing live is removed.
fn process_is_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || pid == std::process::id() || proc.join(pid.to_string()).exists()
}

/// Fails with [`StoreError::Changed`] unless the object is still the version `expected`.
fn check_version(location: &ObjectLocation, path: &Path, expected: Option<&str>) -> Result<(), StoreError> {
    let Some(expected) = expected else { return Ok(()) };
    let metadata = std_fs::metadata(path).map_err(|e| io_error("head", location, e))?;
    if meta_from(location.clone(), &metadata).e_tag.as_deref() == Some(expected) {
        Ok(())
    } else {
        Err(StoreError::Changed { location: location.clone() })
    }
}

/// Removes the folders left empty above a removed object: they are an
/// artefact of the file-system mapping, and S3 has none.
fn prune_empty_folders(bucket_root: &Path, removed: &Path) {
    let mut dir = removed.parent();
    while let Some(d) = dir {
        // A folder that is not empty (or is gone already) ends the walk.
        if d == bucket_root || std_fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
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
            // Best effort: a partial staged copy is ours alone.
            let _ = fs::remove_file(&staged).await;
            return Err(StoreError::Io { operation: "put", location: location.clone(), source: e });
        }
        self.commit_staged(location, staged, false).await
    }

    /// Moves the file in when it is on the bucket's file system: a
    /// gigabyte of Parquet or an expanded archive member costs a rename, not
    /// a copy. Across file systems, a copy.
    async fn put_scratch_file(&self, location: &ObjectLocation, path: &Path) -> Result<ObjectMeta, StoreError> {
        self.object_path(location)?;
        let staged = self.new_staging_file(location).await?;
        match fs::rename(path, &staged).await {
            Ok(()) => self.commit_staged(location, staged, false).await,
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => self.put_file(location, path).await,
            Err(e) => Err(StoreError::Io { operation: "put", location: location.clone(), source: e }),
        }
    }

    async fn put_bytes(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<ObjectMeta, StoreError> {
        let staged = self.stage_bytes(location, bytes).await?;
        self.commit_staged(location, staged, false).await
    }

    async fn put_stream(&self, location: &ObjectLocation, mut body: ObjectBody) -> Result<ObjectMeta, StoreError> {
        self.object_path(location)?;
        let staged = self.new_staging_file(location).await?;
        let copied = async {
            let mut file = fs::File::create(&staged).await?;
            tokio::io::copy(&mut body, &mut file).await?;
            file.sync_all().await
        }
        .await;
        if let Err(e) = copied {
            // Best effort: a partial staged copy is ours alone.
            let _ = fs::remove_file(&staged).await;
            return Err(StoreError::Io { operation: "put", location: location.clone(), source: e });
        }
        self.commit_staged(location, staged, false).await
    }

    async fn put_bytes_if_absent(&self, location: &ObjectLocation, bytes: Vec<u8>) -> Result<ObjectMeta, StoreError> {
        let staged = self.stage_bytes(location, bytes).await?;
        self.commit_staged(location, staged, true).await
    }

    async fn rename(&self, from: &ObjectLocation, to: &ObjectLocation, if_match: Option<&str>) -> Result<(), StoreError> {
        let source = self.object_path(from)?;
        let target = self.object_path(to)?;
        if from.bucket != to.bucket {
            // Across buckets: copy, then a guarded delete, as on S3.
            if let Some(expected) = if_match
                && self.head(from).await?.e_tag.as_deref() != Some(expected)
            {
                return Err(StoreError::Changed { location: from.clone() });
            }
            self.put_file(to, &source).await?;
            return self.delete_if_match(from, if_match).await;
        }
        let (from, to, expected) = (from.clone(), to.clone(), if_match.map(str::to_owned));
        let bucket_root = self.bucket_path(&from.bucket);
        self.locked(&from.bucket.clone(), move || {
            check_version(&from, &source, expected.as_deref())?;
            if let Some(parent) = target.parent() {
                std_fs::create_dir_all(parent).map_err(|e| io_error("rename", &to, e))?;
            }
            std_fs::rename(&source, &target).map_err(|e| io_error("rename", &from, e))?;
            prune_empty_folders(&bucket_root, &source);
            Ok(())
        })
        .await
    }

    async fn delete(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        self.delete_if_match(location, None).await
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
