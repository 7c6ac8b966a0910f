//! The record of a run, and where it is kept.
//!
//! One row per (Correlation_Id, DataProduct). Creating it is conditional on
//! its absence, so the same message twice creates one run; every later change
//! is conditional on the version read, so two launchers cannot both move a
//! run on.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use chrono::NaiveDate;
use inlet_core::json_file::{JsonFile, JsonFileError};
use serde::{Deserialize, Serialize};

use crate::error::EmrError;
use crate::request::LaunchRequest;

/// How long a run's row is kept after its last change.
pub const ROW_TTL_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [RunStatus::InProgress, RunStatus::Completed, RunStatus::Failed, RunStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::InProgress => "IN_PROGRESS",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            RunStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub correlation_id: String,
    pub product: String,
    /// The export date (the last day of a range).
    pub date: NaiveDate,
    /// 1 for the first attempt; each relaunch or resume adds one.
    pub run_id: u32,
    pub status: RunStatus,
    /// The index in `steps` of the first step not completed; `steps.len()`
    /// once every step has.
    pub current_step: usize,
    /// The step names, in order, as the run started with them.
    pub steps: Vec<String>,
    /// The cluster (or job) running it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Who holds the lease: `launcher`, a cluster id, or `local:<host>:<pid>`.
    pub owner: String,
    /// Epoch seconds the owner's lease runs to. A run whose lease has run out
    /// may be taken over, and resumes from `current_step`.
    pub lease_until: i64,
    /// Why it failed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What it was started with, so a relaunch needs nothing else.
    pub request: LaunchRequest,
    /// Epoch seconds.
    pub updated_at: i64,
    /// Epoch seconds when the row expires (the table's TTL attribute).
    pub expires_at: i64,
    /// Bumped by every write; a write is refused unless it read the current one.
    pub version: u64,
}

impl Run {
    /// A first attempt, owned by `owner` until `lease_until`.
    pub fn new(request: LaunchRequest, steps: Vec<String>, owner: &str, now: i64, lease_until: i64) -> Self {
        Self {
            correlation_id: request.correlation_id.clone(),
            product: request.product.clone(),
            date: request.export_date,
            run_id: 1,
            status: RunStatus::InProgress,
            current_step: 0,
            steps,
            cluster_id: None,
            owner: owner.into(),
            lease_until,
            reason: None,
            request,
            updated_at: now,
            expires_at: now + ROW_TTL_SECONDS,
            version: 0,
        }
    }

    pub fn lease_live(&self, now: i64) -> bool {
        self.lease_until > now
    }

    /// The step `current_step` names, for people.
    pub fn current_step_name(&self) -> &str {
        self.steps.get(self.current_step).map(String::as_str).unwrap_or("(all done)")
    }

    /// Ends the run as `status` (failed or cancelled) for `reason`, releasing
    /// its lease so a later start need not wait for it.
    pub fn end(&mut self, status: RunStatus, reason: String) {
        self.status = status;
        self.reason = Some(reason);
        self.lease_until = 0;
    }

    /// Marks the change made at `now`.
    pub fn touched(mut self, now: i64) -> Self {
        self.updated_at = now;
        self.expires_at = now + ROW_TTL_SECONDS;
        self
    }
}

/// Where runs are kept: a DynamoDB table in AWS, a file on one machine.
#[async_trait]
pub trait RunState: Send + Sync + fmt::Debug {
    /// Stores `run` unless a run with its key exists; returns that run then.
    async fn create(&self, run: &Run) -> Result<Option<Run>, EmrError>;

    async fn get(&self, correlation_id: &str, product: &str) -> Result<Option<Run>, EmrError>;

    /// Stores `run` as version + 1 if the stored version is still
    /// `run.version`; otherwise [`EmrError::Conflict`].
    async fn update(&self, run: &Run) -> Result<(), EmrError>;

    /// Whether there was a run to delete.
    async fn delete(&self, correlation_id: &str, product: &str) -> Result<bool, EmrError>;

    async fn list(&self) -> Result<Vec<Run>, EmrError>;
}

/// One JSON file under the local state directory.
#[derive(Debug, Clone)]
pub struct LocalRunState {
    file: JsonFile,
}

/// `<product>/<correlation id>` → run.
type Runs = BTreeMap<String, Run>;

fn row_key(correlation_id: &str, product: &str) -> String {
    format!("{product}/{correlation_id}")
}

impl LocalRunState {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { file: JsonFile::new(path) }
    }
}

impl From<JsonFileError> for EmrError {
    fn from(error: JsonFileError) -> Self {
        EmrError::State { location: error.path.clone(), message: error.to_string(), class: error.class, source: Box::new(error) }
    }
}

#[async_trait]
impl RunState for LocalRunState {
    async fn create(&self, run: &Run) -> Result<Option<Run>, EmrError> {
        let run = run.clone();
        self.file
            .update(move |runs: &mut Runs| {
                let key = row_key(&run.correlation_id, &run.product);
                Ok::<_, EmrError>(match runs.get(&key) {
                    Some(existing) => Some(existing.clone()),
                    None => {
                        runs.insert(key, run);
                        None
                    }
                })
            })
            .await
    }

    async fn get(&self, correlation_id: &str, product: &str) -> Result<Option<Run>, EmrError> {
        let mut runs: Runs = self.file.read().await?;
        Ok(runs.remove(&row_key(correlation_id, product)))
    }

    async fn update(&self, run: &Run) -> Result<(), EmrError> {
        let run = run.clone();
        self.file
            .update(move |runs: &mut Runs| {
                let conflict = || EmrError::Conflict { correlation_id: run.correlation_id.clone(), product: run.product.clone() };
                let stored = runs.get_mut(&row_key(&run.correlation_id, &run.product)).ok_or_else(conflict)?;
                if stored.version != run.version {
                    return Err(conflict());
                }
                *stored = Run { version: run.version + 1, ..run.clone() };
                Ok(())
            })
            .await
    }

    async fn delete(&self, correlation_id: &str, product: &str) -> Result<bool, EmrError> {
        let key = row_key(correlation_id, product);
        self.file.update(move |runs: &mut Runs| Ok::<_, EmrError>(runs.remove(&key).is_some())).await
    }

    async fn list(&self) -> Result<Vec<Run>, EmrError> {
        let runs: Runs = self.file.read().await?;
        Ok(runs.into_values().collect())
    }
}

/// The checks every [`RunState`] backend passes, against an empty store.
pub async fn conformance(state: &dyn RunState) {
    let request = LaunchRequest {
        product: "cyi_exports".into(),
        correlation_id: "msg-1".into(),
        export_date: NaiveDate::from_ymd_opt(2024, 1, 15).unwrap(),
        start_date: Some(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()),
        s3_bucket: "input".into(),
        s3_prefix: "cyi_exports/".into(),
        changes: crate::product::Changes {
            additional_step_args: [("load-days".to_string(), vec!["--x".to_string()])].into(),
            ..Default::default()
        },
    };
    let run = Run::new(request, vec!["load-days".into(), "publish-days".into()], "launcher", 1_700_000_000, 1_700_000_900);
    assert_eq!(state.get("msg-1", "cyi_exports").await.unwrap(), None, "no run before one is created");
    assert_eq!(state.create(&run).await.unwrap(), None, "the first create stores the run");
    assert_eq!(state.get("msg-1", "cyi_exports").await.unwrap().as_ref(), Some(&run), "every field comes back as written");

    let second = Run { owner: "someone-else".into(), ..run.clone() };
    assert_eq!(state.create(&second).await.unwrap().as_ref(), Some(&run), "a second create returns the first run, unchanged");

    let moved = Run { current_step: 1, cluster_id: Some("j-1".into()), ..run.clone() };
    state.update(&moved).await.expect("an update at the current version succeeds");
    let stored = state.get("msg-1", "cyi_exports").await.unwrap().unwrap();
    assert_eq!((stored.current_step, stored.version), (1, 1));
    let stale = state.update(&moved).await.unwrap_err();
    assert!(matches!(stale, EmrError::Conflict { .. }), "an update from a stale read is refused: {stale}");

    let other = Run { product: "other".into(), request: LaunchRequest { product: "other".into(), ..run.request.clone() }, ..run.clone() };
    state.create(&other).await.unwrap();
    let mut listed: Vec<(String, String)> = state.list().await.unwrap().into_iter().map(|r| (r.product, r.correlation_id)).collect();
    listed.sort();
    assert_eq!(listed, [("cyi_exports".to_string(), "msg-1".to_string()), ("other".to_string(), "msg-1".to_string())]);

    assert!(state.delete("msg-1", "cyi_exports").await.unwrap());
    assert!(!state.delete("msg-1", "cyi_exports").await.unwrap(), "deleting twice finds nothing the second time");
    assert_eq!(state.get("msg-1", "cyi_exports").await.unwrap(), None);
    assert!(matches!(state.update(&stored).await.unwrap_err(), EmrError::Conflict { .. }), "a deleted run cannot be updated");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_file_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        conformance(&LocalRunState::new(dir.path().join("runs.json"))).await;
    }
}
