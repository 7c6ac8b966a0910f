//! What inlet remembers about each URL it fetches, so that it fetches
//! incrementally and notices a source that keeps failing.
//!
//! One record per (source, URL). Writes are conditional on the version read,
//! so two downloaders racing on one URL cannot both think they were first.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use inlet_core::error::{BoxError, Classify, ErrorClass};
use inlet_core::json_file::{JsonFile, JsonFileError};
use serde::{Deserialize, Serialize};

/// The record of one URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Of the last content that reached `in/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The last HTTP status, or none when no server answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt failed; cleared by a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
    /// Bumped by every write; a write is refused unless it read the current one.
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state of {url} ({source_id}) changed while it was being fetched; the other run's result stands")]
    Conflict { source_id: String, url: String },

    #[error("source state at {location}: {message}")]
    Backend {
        location: String,
        message: String,
        class: ErrorClass,
        #[source]
        source: BoxError,
    },
}

impl Classify for StateError {
    fn class(&self) -> ErrorClass {
        match self {
            StateError::Conflict { .. } => ErrorClass::Permanent,
            StateError::Backend { class, .. } => *class,
        }
    }
}

/// Where URL records live.
#[async_trait]
pub trait SourceState: Send + Sync + fmt::Debug {
    /// The record, or a fresh one (version 0) for a URL never fetched.
    async fn get(&self, source: &str, url: &str) -> Result<UrlState, StateError>;

    /// Stores `state` if the stored record's version is still `state.version`,
    /// as version + 1.
    async fn put(&self, source: &str, url: &str, state: &UrlState) -> Result<(), StateError>;

    /// Every record of `source`, by URL.
    async fn list(&self, source: &str) -> Result<BTreeMap<String, UrlState>, StateError>;
}

/// One JSON file, for running on one machine: a file lock serialises writers.
#[derive(Debug, Clone)]
pub struct LocalSourceState {
    file: JsonFile,
}

/// `source` → URL → record.
type Records = BTreeMap<String, BTreeMap<String, UrlState>>;

impl LocalSourceState {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { file: JsonFile::new(path) }
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

impl From<JsonFileError> for StateError {
    fn from(error: JsonFileError) -> Self {
        StateError::Backend { location: error.path.clone(), message: error.to_string(), class: error.class, source: Box::new(error) }
    }
}

#[async_trait]
impl SourceState for LocalSourceState {
    async fn get(&self, source: &str, url: &str) -> Result<UrlState, StateError> {
        let records: Records = self.file.read().await?;
        Ok(records.get(source).and_then(|urls| urls.get(url)).cloned().unwrap_or_default())
    }

    async fn put(&self, source: &str, url: &str, state: &UrlState) -> Result<(), StateError> {
        let (source, url, state) = (source.to_owned(), url.to_owned(), state.clone());
        self.file
            .update(move |records: &mut Records| {
                let stored = records.entry(source.clone()).or_default().entry(url.clone()).or_default();
                if stored.version != state.version {
                    return Err(StateError::Conflict { source_id: source, url });
                }
                *stored = UrlState { version: state.version + 1, ..state };
                Ok(())
            })
            .await
    }

    async fn list(&self, source: &str) -> Result<BTreeMap<String, UrlState>, StateError> {
        let mut records: Records = self.file.read().await?;
        Ok(records.remove(source).unwrap_or_default())
    }
}

/// The checks every [`SourceState`] backend passes, against an empty store.
pub async fn conformance(state: &dyn SourceState) {
    let url = "https://data.example.com/eod/a.csv?day=1&x=y";
    let fresh = state.get("asx", url).await.unwrap();
    assert_eq!(fresh, UrlState::default(), "a URL never fetched has a fresh record");

    let fetched = UrlState {
        etag: Some("\"v1\"".into()),
        last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        sha256: Some("ab".repeat(32)),
        last_status: Some(200),
        checked_at: Some("2021-01-15T00:00:00+00:00".into()),
        ..fresh.clone()
    };
    state.put("asx", url, &fetched).await.unwrap();
    let stored = state.get("asx", url).await.unwrap();
    assert_eq!(stored, UrlState { version: 1, ..fetched.clone() }, "every field comes back as written");

    let stale = state.put("asx", url, &fetched).await.unwrap_err();
    assert!(matches!(stale, StateError::Conflict { .. }), "a write with a stale version is refused: {stale}");
    let failed = UrlState { last_error: Some("404".into()), last_status: Some(404), consecutive_failures: 1, ..stored };
    state.put("asx", url, &failed).await.expect("a write with the current version succeeds");
    assert_eq!(state.get("asx", url).await.unwrap().consecutive_failures, 1);

    state.put("asx", "https://data.example.com/eod/b.csv", &UrlState::default()).await.unwrap();
    state.put("other", url, &UrlState::default()).await.unwrap();
    let listed: Vec<String> = state.list("asx").await.unwrap().into_keys().collect();
    assert_eq!(
        listed,
        ["https://data.example.com/eod/a.csv?day=1&x=y", "https://data.example.com/eod/b.csv"],
        "one source's records, by URL"
    );
    assert!(state.list("none").await.unwrap().is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_file_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        conformance(&LocalSourceState::new(dir.path().join("state/sources.json"))).await;
    }

    #[tokio::test]
    async fn a_damaged_file_is_a_permanent_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sources.json");
        std::fs::write(&path, "not json").unwrap();
        let error = LocalSourceState::new(&path).get("a", "b").await.unwrap_err();
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(error.to_string().contains("sources.json"), "{error}");
    }
}
