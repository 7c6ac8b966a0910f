//! A JSON document in a file, read and rewritten under an exclusive lock:
//! the local backends' stand-in for a table with conditional writes.
//!
//! A write goes through a temporary file and a rename, so a reader never sees
//! half a document and a killed writer leaves the previous one.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{BoxError, ErrorClass};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}: {source}")]
pub struct JsonFileError {
    pub path: String,
    pub message: &'static str,
    pub class: ErrorClass,
    #[source]
    pub source: BoxError,
}

#[derive(Debug, Clone)]
pub struct JsonFile {
    path: PathBuf,
}

impl JsonFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, message: &'static str, class: ErrorClass, source: impl Into<BoxError>) -> JsonFileError {
        JsonFileError { path: self.path.display().to_string(), message, class, source: source.into() }
    }

    fn load<T: DeserializeOwned + Default>(&self) -> Result<T, JsonFileError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| self.error("the file is not the expected document; move it aside to start afresh", ErrorClass::Permanent, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(self.error("cannot read", ErrorClass::of_io(&e), e)),
        }
    }

    fn store<T: Serialize>(&self, document: &T) -> Result<(), JsonFileError> {
        let temporary = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(document).map_err(|e| self.error("cannot serialise", ErrorClass::Permanent, e))?;
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|e| self.error("cannot write", ErrorClass::of_io(&e), e))
    }

    /// Runs `change` on the document (the default one when the file does not
    /// exist) under the lock, and writes it back when `change` succeeds.
    /// Readers take the same lock, so `change` sees every earlier write.
    pub async fn update<T, R, E>(&self, change: impl FnOnce(&mut T) -> Result<R, E> + Send + 'static) -> Result<R, E>
    where
        T: Serialize + DeserializeOwned + Default + Send + 'static,
        R: Send + 'static,
        E: From<JsonFileError> + Send + 'static,
    {
        let this = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _lock = this.lock()?;
            let mut document: T = this.load()?;
            let result = change(&mut document)?;
            this.store(&document)?;
            Ok(result)
        });
        task.await.map_err(|e| E::from(self.error("the state task failed", ErrorClass::Transient, e)))?
    }

    /// The document as it is now.
    pub async fn read<T>(&self) -> Result<T, JsonFileError>
    where
        T: DeserializeOwned + Default + Send + 'static,
    {
        let this = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _lock = this.lock()?;
            this.load()
        });
        task.await.map_err(|e| self.error("the state task failed", ErrorClass::Transient, e))?
    }

    /// The lock is a file beside the document; it is released when dropped.
    fn lock(&self) -> Result<std::fs::File, JsonFileError> {
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| self.error("cannot create its folder", ErrorClass::of_io(&e), e))?;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .map_err(|e| self.error("cannot open the lock", ErrorClass::of_io(&e), e))?;
        lock.lock().map_err(|e| self.error("cannot lock", ErrorClass::Transient, e))?;
        Ok(lock)
    }
}
