//! The one loop that takes keys through the handler: used by the CLI's
//! `ingest` and `redrive`, and by the tests. It also lists failed inputs and
//! moves them back, so that any front end (a CLI, a function) can serve them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::task::JoinSet;

use crate::error::Classify;
use crate::ingest::{Engine, Failure, Outcome, Stage};
use crate::layout;
use crate::register::Registrar;
use crate::storage::{ObjectLocation, ObjectStore, StoreError};

/// One processed input and where it came from.
#[derive(Debug, Clone)]
pub struct Processed {
    pub key: String,
    pub outcome: Outcome,
    /// Why the outputs could not be registered in the catalog, if they could not.
    pub catalog_error: Option<String>,
    /// The index (in the results) of the archive this input was expanded from.
    pub parent: Option<usize>,
}

impl Processed {
    /// Whether this input did not end as it should: it failed, is left to
    /// retry, or its outputs are not in the catalog.
    pub fn is_failure(&self) -> bool {
        self.outcome.is_failure() || self.catalog_error.is_some()
    }
}

/// Hears about the loop's progress: a progress bar, a log.
pub trait Progress: Send + Sync {
    /// `count` more inputs joined the work (an archive's members).
    fn added(&self, _count: usize) {}
    /// One input is done.
    fn finished(&self, _processed: &Processed) {}
}

/// No progress reporting.
pub struct Silent;
impl Progress for Silent {}

/// Runs `keys` through the engine, `jobs` at a time, registering what each
/// load wrote. Archive members join the queue as they appear.
pub async fn process_keys(
    engine: &Engine,
    registrar: &Registrar,
    keys: Vec<String>,
    jobs: usize,
    progress: &dyn Progress,
) -> Vec<Processed> {
    let mut queue: VecDeque<(String, Option<usize>)> = keys.into_iter().map(|k| (k, None)).collect();
    let mut results: Vec<Processed> = Vec::new();
    let mut running = JoinSet::new();
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs.max(1) {
            let Some((key, parent)) = queue.pop_front() else { break };
            let (engine, registrar) = (engine.clone(), registrar.clone());
            running.spawn(async move { process_one(&engine, &registrar, key, parent).await });
        }
        let Some(joined) = running.join_next().await else { break };
        let processed = joined.expect("the engine does not panic");
        if let Outcome::Expanded { members, .. } = &processed.outcome {
            progress.added(members.len());
            queue.extend(members.iter().map(|m| (m.clone(), Some(results.len()))));
        }
        progress.finished(&processed);
        results.push(processed);
    }
    results
}

async fn process_one(engine: &Engine, registrar: &Registrar, key: String, parent: Option<usize>) -> Processed {
    let outcome = engine.process(&key).await;
    let catalog_error = match &outcome {
        Outcome::Loaded(report) => {
            let outputs: Vec<String> = report.outputs().cloned().collect();
            registrar.register(&outputs).await.err().map(|e| e.to_string())
        }
        _ => None,
    };
    Processed { key, outcome, catalog_error, parent }
}

/// A failed input and its error document.
#[derive(Debug, Clone)]
pub struct FailedInput {
    /// The key under `failed/`.
    pub key: String,
    /// The error document; `None` when there is none or it cannot be parsed.
    pub failure: Option<Failure>,
    /// When it was moved to `failed/`, as the store reports it.
    pub failed_at: Option<SystemTime>,
}

/// Which failed inputs a command acts on; an unset field takes all.
#[derive(Debug, Clone, Default)]
pub struct FailedFilter {
    pub stage: Option<Stage>,
    pub pipeline: Option<String>,
    pub since: Option<SystemTime>,
}

impl FailedFilter {
    /// An input without an error document matches only a filter on time.
    pub fn matches(&self, input: &FailedInput) -> bool {
        let stage = self.stage.is_none_or(|stage| input.failure.as_ref().is_some_and(|f| f.stage == stage));
        let pipeline = self.pipeline.as_ref().is_none_or(|name| input.failure.as_ref().is_some_and(|f| f.pipeline.as_ref() == Some(name)));
        let since = self.since.is_none_or(|since| input.failed_at.is_some_and(|at| at >= since));
        stage && pipeline && since
    }
}

/// Every failed input in `bucket`, with its error document.
pub async fn failed_inputs(store: &dyn ObjectStore, bucket: &str) -> Result<Vec<FailedInput>, StoreError> {
    let mut found = Vec::new();
    for meta in store.list(bucket, layout::FAILED).await? {
        let key = meta.location.key;
        // The stack's create-folders leaves a `failed/` marker: a folder, not an input.
        if key.ends_with(inlet_contract::prefixes::ERROR_DOCUMENT_SUFFIX) || key.ends_with('/') {
            continue;
        }
        let document = ObjectLocation::new(bucket, layout::error_document_key(&key));
        // A document that does not parse is shown as missing: the input itself
        // is listed either way, and redrive does not need it.
        let failure = store.get_bytes(&document).await?.and_then(|bytes| serde_json::from_slice(&bytes).ok());
        found.push(FailedInput { key, failure, failed_at: meta.last_modified });
    }
    Ok(found)
}

/// Moves failed inputs (keys relative to `failed/`, or with it) back to
/// `in/` and removes their error documents; returns their `in/` keys.
pub async fn move_back(store: &Arc<dyn ObjectStore>, bucket: &str, keys: &[String]) -> Result<Vec<String>, StoreError> {
    let mut moved = Vec::new();
    for key in keys {
        let relative = layout::relative_key(key);
        let failed = ObjectLocation::new(bucket, format!("{}{relative}", layout::FAILED));
        let original = key_before_failing(store.as_ref(), &failed).await?;
        let inbox = ObjectLocation::new(bucket, original.unwrap_or_else(|| format!("{}{relative}", layout::INBOX)));
        store.rename(&failed, &inbox, None).await?;
        if let Err(e) = store.delete(&failed.with_key(layout::error_document_key(&failed.key))).await {
            // A stale document beside no input misleads nobody for long: the
            // next failure of the same key overwrites it.
            tracing::warn!(key = %failed.key, error = %e, class = ?e.class(), "could not remove an error document");
        }
        moved.push(inbox.key);
    }
    Ok(moved)
}

/// The `in/` key a failed input came from, as its error document records it:
/// a key too long to move under `failed/` whole keeps its name only there.
async fn key_before_failing(store: &dyn ObjectStore, failed: &ObjectLocation) -> Result<Option<String>, StoreError> {
    let document = store.get_bytes(&failed.with_key(layout::error_document_key(&failed.key))).await?;
    let source = document.and_then(|bytes| serde_json::from_slice::<Failure>(&bytes).ok()).map(|failure| failure.source);
    Ok(source.and_then(|uri| Some(layout::identity_key(uri.strip_prefix("s3://")?.split_once('/')?.1))))
}

/// The inputs in `done/` that `pipeline` loaded, moved there at or after
/// `since` (any time when `None`): what `reprocess` runs again. An expanded
/// archive is not one of them; its members are.
pub async fn done_inputs_of(
    store: &dyn ObjectStore,
    pipelines: &crate::pipeline::PipelineSet,
    bucket: &str,
    pipeline: &str,
    since: Option<SystemTime>,
) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::new();
    for meta in store.list(bucket, layout::DONE).await? {
        let key = meta.location.key;
        let recent = since.is_none_or(|since| meta.last_modified.is_some_and(|at| at >= since));
        let routed_here = pipelines.route(&layout::identity_key(&key)).is_ok_and(|route| route.pipeline.name == pipeline);
        if recent && routed_here && !key.ends_with('/') {
            found.push(key);
        }
    }
    found.sort();
    Ok(found)
}

/// Moves processed inputs from `done/` back under `prefix` (`in/`, or
/// `direct/` to go around a deployment's functions); returns their new keys.
pub async fn move_done(store: &Arc<dyn ObjectStore>, bucket: &str, keys: &[String], prefix: &str) -> Result<Vec<String>, StoreError> {
    let mut moved = Vec::new();
    for key in keys {
        let done = ObjectLocation::new(bucket, layout::lifecycle_key(key, layout::DONE));
        let target = done.with_key(format!("{prefix}{}", layout::relative_key(key)));
        store.rename(&done, &target, None).await?;
        moved.push(target.key);
    }
    Ok(moved)
}
