//! The handler: what happens to one object that lands in `in/`.
//!
//! [`Engine::process`] is the whole lifecycle of an input, and the same
//! function serves the CLI, the tests and (through thin wrappers) the Lambda
//! binaries:
//!
//! - an archive is expanded into `in/<archive-stem>/…`, each member to be
//!   processed as if it had been dropped itself;
//! - any other file is routed to a pipeline, converted, and written to the
//!   output bucket under deterministic names (registering them in the catalog
//!   is [`crate::register`]'s job, as it is the partitioner's in AWS);
//! - the source ends in `done/`, or in `failed/` with `<key>.error.json`
//!   beside it. Nothing is dropped, nothing panics.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio_util::io::SyncIoBridge;

use crate::archive::{self, ArchiveKind, ArchiveLimits};
use crate::convert::{self, ConvertTarget, Converted, RowCounts};
use crate::layout;
use crate::pipeline::{PipelineSet, Route};
use crate::storage::{ObjectLocation, ObjectStore};

/// Settings of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub input_bucket: String,
    pub output_bucket: String,
    /// The catalog database tables are registered in.
    pub database: String,
    pub archive_limits: ArchiveLimits,
    /// Bytes that buffered Parquet row groups may hold per conversion.
    pub memory_budget_bytes: usize,
    /// Where temporary files go; the system temp folder when `None`.
    pub scratch_dir: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            input_bucket: "input".into(),
            output_bucket: "output".into(),
            database: "inlet".into(),
            archive_limits: ArchiveLimits::default(),
            memory_budget_bytes: convert::DEFAULT_MEMORY_BUDGET,
            scratch_dir: None,
        }
    }
}

/// The processing step an input failed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// No pipeline (or no single pipeline) takes the key.
    Route,
    /// The source could not be fetched.
    Fetch,
    /// The archive was refused or unreadable.
    Archive,
    /// The file could not be read, typed or checked.
    Convert,
    /// Output could not be written.
    Write,
}

/// The error document written beside a failed input, and the failure report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The input as it arrived: `s3://input/in/x.csv`.
    pub source: String,
    /// Where the input is now.
    pub failed_key: String,
    pub stage: Stage,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// What to do once the cause is fixed.
    pub retry: String,
    /// Whether the input reached `failed/` with its error document. When it
    /// did not (the store itself failed), the caller should retry the event.
    #[serde(skip)]
    pub filed: bool,
}

impl Failure {
    /// Where it failed, for people: `convert, line 12` or `archive, member a/b.csv`.
    pub fn place(&self) -> String {
        let mut place = format!("{:?}", self.stage).to_lowercase();
        if let Some(line) = self.line {
            place.push_str(&format!(", line {line}"));
        }
        if let Some(member) = &self.member {
            place.push_str(&format!(", member {member}"));
        }
        place
    }
}

/// What loading a file produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    pub source: String,
    pub done_key: String,
    pub pipeline: String,
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(flatten)]
    pub counts: RowCounts,
    /// Partition folders written, as `location=x/year=2020/month=12`.
    pub partitions: Vec<String>,
    pub files: Vec<String>,
    pub rejects_files: Vec<String>,
    /// Output files of an earlier version of this source that were removed.
    pub replaced_files: usize,
    pub content_sha256: String,
}

impl LoadReport {
    /// Every output key written: data files, then rejects files.
    pub fn outputs(&self) -> impl Iterator<Item = &String> {
        self.files.iter().chain(&self.rejects_files)
    }
}

/// The end state of one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// An archive whose members now wait in `in/`.
    Expanded {
        source: String,
        done_key: String,
        members: Vec<String>,
        skipped: Vec<String>,
    },
    Loaded(LoadReport),
    Failed(Failure),
    /// The input is no longer in `in/`: a duplicate or late delivery of an
    /// event whose object was already processed. Nothing to do.
    Gone {
        source: String,
    },
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

/// Bookkeeping of what one source wrote, so a new version can replace it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    source: String,
    content_sha256: String,
    outputs: Vec<String>,
}

/// A failure before it is filed.
struct Problem {
    stage: Stage,
    error: String,
    line: Option<u64>,
    member: Option<String>,
}

impl Problem {
    fn new(stage: Stage, error: impl ToString) -> Self {
        Self { stage, error: error.to_string(), line: None, member: None }
    }
}

/// Runs inputs through their lifecycle against any store and catalog.
#[derive(Debug, Clone)]
pub struct Engine {
    store: Arc<dyn ObjectStore>,
    pipelines: Arc<PipelineSet>,
    config: EngineConfig,
}

impl Engine {
    pub fn new(store: Arc<dyn ObjectStore>, pipelines: Arc<PipelineSet>, config: EngineConfig) -> Self {
        Self { store, pipelines, config }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn pipelines(&self) -> &PipelineSet {
        &self.pipelines
    }

    fn scratch(&self) -> std::io::Result<tempfile::TempDir> {
        match &self.config.scratch_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                tempfile::Builder::new().prefix("inlet-").tempdir_in(dir)
            }
            None => tempfile::Builder::new().prefix("inlet-").tempdir(),
        }
    }

    /// Takes the object at `key` in the input bucket through its lifecycle.
    pub async fn process(&self, key: &str) -> Outcome {
        let started = Instant::now();
        let source = ObjectLocation::new(&self.config.input_bucket, key);
        // Events are delivered at least once, and out of order: an object that
        // has already moved on is not a failure.
        // The version seen here is the one moved on at the end; see `ObjectStore::rename`.
        let version = match self.store.head(&source).await {
            Err(e) if e.is_not_found() => {
                let outcome = Outcome::Gone { source: source.to_string() };
                log_outcome(&source, &outcome, started);
                return outcome;
            }
            Ok(meta) => meta.e_tag,
            Err(_) => None,
        };
        let version = version.as_deref();
        let file_name = source.file_name().to_owned();
        let (outcome, pipeline) = if let Some((kind, stem)) = ArchiveKind::detect(&file_name) {
            let stem = stem.to_owned();
            (self.expand(&source, version, kind, &stem).await, None)
        } else {
            match self.pipelines.route(key) {
                Ok(route) => {
                    let name = route.pipeline.name.clone();
                    (self.load(&source, version, &route).await.map(Outcome::Loaded), Some(name))
                }
                Err(e) => (Err(Problem::new(Stage::Route, e)), None),
            }
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(problem) => Outcome::Failed(self.file_failure(&source, version, pipeline, problem).await),
        };
        log_outcome(&source, &outcome, started);
        outcome
    }

    async fn expand(&self, source: &ObjectLocation, version: Option<&str>, kind: ArchiveKind, stem: &str) -> Result<Outcome, Problem> {
        let scratch = self.scratch().map_err(|e| Problem::new(Stage::Fetch, format!("cannot make a scratch folder: {e}")))?;
        let spool = scratch.path().join("archive");
        self.download(source, &spool).await?;

        let limits = self.config.archive_limits;
        let name = source.key.clone();
        let workdir = scratch.path().to_owned();
        let expansion = tokio::task::spawn_blocking(move || archive::expand(kind, &name, &spool, &workdir, limits))
            .await
            .map_err(|e| Problem::new(Stage::Archive, format!("the expansion task stopped: {e}")))?
            .map_err(|e| {
                let member = match &e {
                    archive::ArchiveError::UnsafePath { member, .. }
                    | archive::ArchiveError::Link { member }
                    | archive::ArchiveError::TooDeep { member, .. }
                    | archive::ArchiveError::TooLarge { member, .. } => Some(member.clone()),
                    archive::ArchiveError::Corrupt { member, .. } => member.clone(),
                    _ => None,
                };
                Problem { stage: Stage::Archive, error: e.to_string(), line: None, member }
            })?;

        // Members go next to the archive: in/dir/x.zip → in/dir/x/<member>.
        let folder = match source.key.rfind('/') {
            Some(i) => format!("{}{stem}/", &source.key[..=i]),
            None => format!("{}{stem}/", layout::INBOX),
        };
        let mut uploaded = Vec::new();
        for member in &expansion.members {
            let target = source.with_key(format!("{folder}{}", member.path));
            if let Err(e) = self.store.put_file(&target, &member.file).await {
                // Half an archive is worse than none: take back what was written.
                for key in &uploaded {
                    let _ = self.store.delete(&source.with_key(key)).await;
                }
                return Err(Problem { stage: Stage::Write, error: e.to_string(), line: None, member: Some(member.path.clone()) });
            }
            uploaded.push(target.key);
        }
        let done_key = layout::lifecycle_key(&source.key, layout::DONE);
        self.finish(source, version, &done_key).await?;
        Ok(Outcome::Expanded { source: source.to_string(), done_key, members: uploaded, skipped: expansion.skipped })
    }

    /// Moves a processed input to `done/`. If it is already gone, a duplicate
    /// delivery processed it at the same time and wrote the same outputs. If
    /// it was replaced meanwhile, the new version stays for its own event.
    async fn finish(&self, source: &ObjectLocation, version: Option<&str>, done_key: &str) -> Result<(), Problem> {
        match self.store.rename(source, &source.with_key(done_key), version).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) if e.is_changed() => {
                tracing::warn!(source = %source, "{e}");
                Ok(())
            }
            Err(e) => Err(Problem::new(Stage::Write, e)),
        }
    }

    async fn download(&self, source: &ObjectLocation, path: &std::path::Path) -> Result<(), Problem> {
        let (_, mut body) = self.store.get(source).await.map_err(|e| Problem::new(Stage::Fetch, e))?;
        let mut file =
            tokio::fs::File::create(path).await.map_err(|e| Problem::new(Stage::Fetch, format!("cannot spool {source}: {e}")))?;
        tokio::io::copy(&mut body, &mut file).await.map_err(|e| Problem::new(Stage::Fetch, format!("reading {source} failed: {e}")))?;
        file.flush().await.map_err(|e| Problem::new(Stage::Fetch, e))?;
        Ok(())
    }

    async fn load(&self, source: &ObjectLocation, version: Option<&str>, route: &Route) -> Result<LoadReport, Problem> {
        let scratch = self.scratch().map_err(|e| Problem::new(Stage::Convert, format!("cannot make a scratch folder: {e}")))?;
        let (_, body) = self.store.get(source).await.map_err(|e| Problem::new(Stage::Fetch, e))?;

        let source_uri = source.to_string();
        let route_for_task = route.clone();
        let workdir = scratch.path().to_owned();
        let memory_budget_bytes = self.config.memory_budget_bytes;
        let converted: Converted = tokio::task::spawn_blocking(move || {
            let target = ConvertTarget {
                pipeline: &route_for_task.pipeline,
                table: &route_for_task.table,
                location: route_for_task.location.as_deref(),
                source_uri: &source_uri,
                memory_budget_bytes,
            };
            convert::convert(&target, SyncIoBridge::new(body), &workdir)
        })
        .await
        .map_err(|e| Problem::new(Stage::Convert, format!("the conversion task stopped: {e}")))?
        .map_err(|e| Problem { stage: Stage::Convert, line: e.line(), error: e.to_string(), member: None })?;

        let pipeline = &route.pipeline;
        let sid = layout::source_id(&source.bucket, &source.key);
        let manifest_location = ObjectLocation::new(&self.config.output_bucket, layout::manifest_key(&sid));
        let previous = self.read_manifest(&manifest_location).await;

        // Write every output under its final, deterministic name.
        let mut written: Vec<String> = Vec::new();
        let upload = async {
            let mut data_keys = Vec::new();
            let mut reject_keys = Vec::new();
            for (output, keys) in [(&converted.data, &mut data_keys), (&converted.rejects, &mut reject_keys)] {
                for file in &output.files {
                    let key = layout::output_key(
                        &output.table,
                        &file.partition,
                        &sid,
                        &converted.content_sha256,
                        file.chunk,
                        pipeline.output.compression,
                    );
                    let target = ObjectLocation::new(&self.config.output_bucket, &key);
                    self.store.put_file(&target, &file.path).await.map_err(|e| Problem::new(Stage::Write, e))?;
                    written.push(key.clone());
                    keys.push(key);
                }
            }
            Ok::<_, Problem>((data_keys, reject_keys))
        };
        let (data_keys, reject_keys) = match upload.await {
            Ok(keys) => keys,
            Err(problem) => {
                self.remove_new_outputs(&written, &previous).await;
                return Err(problem);
            }
        };
        let mut outputs = written.clone();
        outputs.sort();

        let manifest = Manifest { source: source.to_string(), content_sha256: converted.content_sha256.clone(), outputs: outputs.clone() };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        if let Err(e) = self.store.put_bytes(&manifest_location, manifest_bytes).await {
            self.remove_new_outputs(&written, &previous).await;
            return Err(Problem::new(Stage::Write, e));
        }

        // Only now may the previous version's files go: until here a reader
        // sees the old rows, after here the new ones.
        let current: BTreeSet<&String> = outputs.iter().collect();
        let stale: Vec<&String> = previous.outputs.iter().filter(|k| !current.contains(k)).collect();
        for key in &stale {
            if let Err(e) = self.store.delete(&ObjectLocation::new(&self.config.output_bucket, key.as_str())).await {
                tracing::warn!(key = %key, error = %e, "could not remove an output of an earlier version of this source");
            }
        }

        let done_key = layout::lifecycle_key(&source.key, layout::DONE);
        self.finish(source, version, &done_key).await?;

        let partitions: BTreeSet<String> = converted
            .data
            .files
            .iter()
            .map(|f| f.partition.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("/"))
            .collect();
        Ok(LoadReport {
            source: source.to_string(),
            done_key,
            pipeline: pipeline.name.clone(),
            table: route.table.clone(),
            location: route.location.clone(),
            counts: converted.counts,
            partitions: partitions.into_iter().collect(),
            files: data_keys,
            rejects_files: reject_keys,
            replaced_files: stale.len(),
            content_sha256: converted.content_sha256,
        })
    }

    async fn read_manifest(&self, location: &ObjectLocation) -> Manifest {
        let Ok((_, mut body)) = self.store.get(location).await else { return Manifest::default() };
        let mut bytes = Vec::new();
        if tokio::io::AsyncReadExt::read_to_end(&mut body, &mut bytes).await.is_err() {
            return Manifest::default();
        }
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    async fn remove_new_outputs(&self, written: &[String], previous: &Manifest) {
        for key in written.iter().filter(|k| !previous.outputs.contains(k)) {
            let _ = self.store.delete(&ObjectLocation::new(&self.config.output_bucket, key.as_str())).await;
        }
    }

    /// Moves the input to `failed/` and writes the error document beside it.
    async fn file_failure(&self, source: &ObjectLocation, version: Option<&str>, pipeline: Option<String>, problem: Problem) -> Failure {
        let failed_key = layout::lifecycle_key(&source.key, layout::FAILED);
        let retry = format!(
            "fix the cause, then run `inlet redrive {}` (or move s3://{}/{failed_key} back to {})",
            layout::relative_key(&source.key),
            source.bucket,
            layout::INBOX
        );
        let failure = Failure {
            source: source.to_string(),
            failed_key: failed_key.clone(),
            stage: problem.stage,
            error: problem.error,
            pipeline,
            line: problem.line,
            member: problem.member,
            retry,
            filed: false,
        };
        let failed = source.with_key(&failed_key);
        let moved = match self.store.rename(source, &failed, version).await {
            Ok(()) => true,
            // Already gone: a duplicate delivery moved it first. The document still helps.
            Err(e) if e.is_not_found() => true,
            // Replaced by a new upload, which gets its own chance.
            Err(e) if e.is_changed() => {
                tracing::warn!(source = %source, "{e}");
                true
            }
            Err(e) => {
                tracing::error!(source = %source, error = %e, "could not move a failed input to failed/");
                false
            }
        };
        let document = serde_json::to_vec_pretty(&failure).expect("a failure serializes");
        let documented = match self.store.put_bytes(&source.with_key(layout::error_document_key(&failed_key)), document).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(source = %source, error = %e, "could not write the error document");
                false
            }
        };
        Failure { filed: moved && documented, ..failure }
    }
}

fn log_outcome(source: &ObjectLocation, outcome: &Outcome, started: Instant) {
    let duration_ms = started.elapsed().as_millis() as u64;
    let (bucket, key) = (source.bucket.as_str(), source.key.as_str());
    match outcome {
        Outcome::Loaded(r) => tracing::info!(
            bucket, key, pipeline = %r.pipeline, table = %r.table,
            rows_in = r.counts.rows_in, rows_out = r.counts.rows_out, rows_rejected = r.counts.rows_rejected,
            partitions = r.partitions.len(), duration_ms, "loaded"
        ),
        Outcome::Expanded { members, skipped, .. } => {
            tracing::info!(bucket, key, members = members.len(), skipped = skipped.len(), duration_ms, "expanded")
        }
        Outcome::Gone { .. } => tracing::info!(bucket, key, duration_ms, "already processed"),
        Outcome::Failed(f) => tracing::warn!(
            bucket, key, stage = ?f.stage, pipeline = f.pipeline.as_deref().unwrap_or(""),
            line = f.line, member = f.member.as_deref().unwrap_or(""), error = %f.error, duration_ms, "failed"
        ),
    }
}
