//! The handler: what happens to one object that lands in `in/`.
//!
//! [`Engine::process`] is the whole lifecycle of an input, and the same
//! function serves the CLI, the tests and (through thin wrappers) the Lambda
//! binaries. [`Expander::process`] is the same lifecycle for archives alone:
//! the unzip function runs it, and links no pipeline, reader or writer.
//!
//! - an archive is expanded into `in/<archive-stem>/…`, each member to be
//!   processed as if it had been dropped itself, unless a pipeline's trigger
//!   matches the archive's own key: that pipeline reads it whole (a package
//!   of XML notices);
//! - any other file is routed to a pipeline, converted, and written to the
//!   output bucket under deterministic names (registering them in the catalog
//!   is [`crate::register`]'s job, as it is the partitioner's in AWS);
//! - the source ends in `done/`, or in `failed/` with `<key>.error.json`
//!   beside it. Nothing is dropped, nothing panics;
//! - unless the failure is transient (a throttle, a 5xx, a timeout): then the
//!   input stays where it is, nothing is filed, and the outcome says to retry.
//!
//! Every read of bookkeeping is strict: a manifest that cannot be read is a
//! reason to stop, never an empty manifest, since an empty one would keep an
//! old version's rows beside the new ones.

#[cfg(feature = "engine")]
mod engine;
mod expand;
#[cfg(feature = "engine")]
mod load;
mod manifest;
#[cfg(feature = "engine")]
mod recorded;

#[cfg(feature = "engine")]
pub use engine::Engine;
pub use expand::Expander;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use inlet_contract::InputKind;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::archive::ArchiveLimits;
use crate::error::{Classify, ErrorClass};
use crate::layout;
use crate::scratch::Scratch;
use crate::storage::{ObjectLocation, ObjectStore, StoreError};

/// Default for [`EngineConfig::memory_budget_bytes`]: well under the
/// smallest Lambda's 128 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 32 << 20;

/// Settings of an [`Engine`] or an [`Expander`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub input_bucket: String,
    pub output_bucket: String,
    pub archive_limits: ArchiveLimits,
    /// Bytes that buffered Parquet row groups may hold per conversion
    /// (unused by an [`Expander`]).
    pub memory_budget_bytes: usize,
    /// Where temporary files go; the system temp folder when `None`.
    pub scratch_dir: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            input_bucket: "input".into(),
            output_bucket: "output".into(),
            archive_limits: ArchiveLimits::default(),
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET,
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
    /// The id in every log line about this input, and in its archive's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
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

/// The rows one load read, wrote and set aside.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    /// Values that got at least one QC bit.
    pub values_flagged: u64,
}

/// What loading a file produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The id in every log line about this input, and in its archive's.
    #[serde(default)]
    pub correlation_id: String,
    pub content_sha256: String,
}

impl LoadReport {
    /// Every output key written: data files, then rejects files.
    pub fn outputs(&self) -> impl Iterator<Item = &String> {
        self.files.iter().chain(&self.rejects_files)
    }
}

/// The end state of one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// An archive whose members now wait in `in/`.
    Expanded {
        source: String,
        done_key: String,
        /// Members written to `in/`, to be processed on their own.
        members: Vec<String>,
        /// Members that are as the archive's previous version had them, and
        /// were loaded then: not written again.
        unchanged: Vec<String>,
        /// Members of the previous version that this one no longer holds:
        /// their outputs were removed.
        removed: Vec<String>,
        /// Entries skipped as macOS debris or folders.
        skipped: Vec<String>,
    },
    Loaded(LoadReport),
    Failed(Failure),
    /// A transient failure: the input stays where it is and nothing was
    /// filed. Processing it again later (the queue's redelivery, the next
    /// run) may succeed.
    Retry(Deferral),
    /// The input is no longer in `in/`: a duplicate or late delivery of an
    /// event whose object was already processed. Nothing to do.
    Gone {
        source: String,
    },
    /// Not a file: a folder marker (`in/dir/`).
    Ignored {
        source: String,
    },
}

/// Why an input was left in place to be tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deferral {
    pub source: String,
    pub stage: Stage,
    pub error: String,
    /// Transient, or a permanent error met before the input could be read,
    /// when moving it would be unguarded.
    pub class: ErrorClass,
}

impl Outcome {
    /// Whether the input did not load: failed, or left in place to retry.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::Retry(_))
    }

    /// Whether the delivery should be retried: the input is still to do.
    pub fn needs_retry(&self) -> bool {
        match self {
            Outcome::Retry(_) => true,
            Outcome::Failed(failure) => !failure.filed,
            _ => false,
        }
    }
}

/// An object seen at the start of its processing.
struct Seen {
    version: Option<String>,
    correlation_id: String,
    /// The origin document the id came from, for a member of an archive.
    origin: Option<ObjectLocation>,
}

impl Seen {
    fn input<'a>(&'a self, source: &'a ObjectLocation) -> Input<'a> {
        Input { source, version: self.version.as_deref(), correlation_id: &self.correlation_id, origin: self.origin.as_ref() }
    }
}

/// One object being processed, at the version seen when it started.
struct Input<'a> {
    source: &'a ObjectLocation,
    version: Option<&'a str>,
    correlation_id: &'a str,
    origin: Option<&'a ObjectLocation>,
}

/// What an archive records for each member it expands, before writing it:
/// the archive's correlation id, for the member's processing to carry on.
/// The latest expansion of an archive holding the member wins.
#[derive(Debug, Serialize, Deserialize)]
struct Origin {
    correlation_id: String,
    archive: String,
}

/// A failure before it is filed.
struct Problem {
    stage: Stage,
    error: String,
    class: ErrorClass,
    line: Option<u64>,
    member: Option<String>,
}

impl Problem {
    /// A problem with the input itself: retrying will not help.
    fn new(stage: Stage, error: impl ToString) -> Self {
        Self { stage, error: error.to_string(), class: ErrorClass::Permanent, line: None, member: None }
    }

    /// A problem whose error knows its class: a backend's, a file system's.
    fn classified(stage: Stage, error: impl ToString + Classify) -> Self {
        Self { class: error.class(), ..Self::new(stage, error) }
    }

    fn transient(stage: Stage, error: impl ToString) -> Self {
        Self { class: ErrorClass::Transient, ..Self::new(stage, error) }
    }

    fn at_member(self, member: &str) -> Self {
        Self { member: Some(member.to_owned()), ..self }
    }
}

impl Classify for std::io::Error {
    fn class(&self) -> ErrorClass {
        ErrorClass::of_io(self)
    }
}

/// What a processor made of an input: its outcome, or the problem to file,
/// and the pipeline it was routed to, if any.
struct Taken {
    result: Result<Outcome, Problem>,
    pipeline: Option<String>,
}

impl Taken {
    fn unrouted(result: Result<Outcome, Problem>) -> Self {
        Self { result, pipeline: None }
    }
}

/// What a processor does with an input in the middle of its lifecycle.
trait Work {
    async fn take(&self, input: &Input<'_>) -> Taken;
}

/// The lifecycle every input goes through, whatever is done with it: seen at
/// a version, given a correlation id, then moved to `done/`, or to `failed/`
/// with its error document, or left in place to retry. It also keeps the
/// bookkeeping documents (manifests, origins) in the output bucket.
#[derive(Debug, Clone)]
struct Lifecycle {
    store: Arc<dyn ObjectStore>,
    config: EngineConfig,
}

impl Lifecycle {
    fn scratch(&self, stage: Stage) -> Result<Scratch, Problem> {
        Scratch::create(self.config.scratch_dir.as_deref())
            .map_err(|e| Problem { class: e.class(), ..Problem::new(stage, format!("cannot make a scratch folder: {e}")) })
    }

    /// Removes the scratch folders of runs that died (killed, timed out),
    /// leaving those of live runs alone.
    fn sweep_scratch(&self) -> std::io::Result<Vec<PathBuf>> {
        let parent = self.config.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
        crate::scratch::sweep(&parent)
    }

    /// Takes the object at `key` in the input bucket through its lifecycle,
    /// with `work` done in the middle. Every log line on the way carries the
    /// input's correlation id.
    async fn process(&self, key: &str, work: &impl Work) -> Outcome {
        let started = Instant::now();
        let source = ObjectLocation::new(&self.config.input_bucket, key);
        let span = tracing::info_span!("input", correlation_id = tracing::field::Empty);
        let outcome = self.run(&source, work).instrument(span.clone()).await;
        span.in_scope(|| log_outcome(&source, &outcome, started));
        outcome
    }

    async fn run(&self, source: &ObjectLocation, work: &impl Work) -> Outcome {
        let seen = match self.begin(source).await {
            Ok(seen) => seen,
            Err(nothing_to_do) => return nothing_to_do,
        };
        let input = seen.input(source);
        let taken = work.take(&input).await;
        self.conclude(&input, taken).await
    }

    /// Sees the object at the version it will be moved on at, and names it
    /// with its correlation id; or says why there is nothing to do.
    async fn begin(&self, source: &ObjectLocation) -> Result<Seen, Outcome> {
        if InputKind::of(&source.key) == InputKind::FolderMarker {
            return Err(Outcome::Ignored { source: source.to_string() });
        }
        // The version seen here is the one moved on at the end; see `ObjectStore::rename`.
        let version = match self.store.head(source).await {
            Ok(meta) => meta.e_tag,
            // Events are delivered at least once, and out of order: an object
            // that has already moved on is not a failure.
            Err(e) if e.is_not_found() => return Err(Outcome::Gone { source: source.to_string() }),
            // Without the version, a move out of in/ would be unguarded and
            // could sweep away a newer upload: leave the input for a retry.
            Err(e) => {
                return Err(Outcome::Retry(Deferral {
                    source: source.to_string(),
                    stage: Stage::Fetch,
                    class: e.class(),
                    error: e.to_string(),
                }));
            }
        };
        let (correlation_id, origin) = self.correlation_of(source, version.as_deref()).await;
        tracing::Span::current().record("correlation_id", correlation_id.as_str());
        Ok(Seen { version, correlation_id, origin })
    }

    /// The outcome of what was done with the input: a problem is filed in
    /// `failed/`, unless it is transient and the input stays to retry.
    async fn conclude(&self, input: &Input<'_>, taken: Taken) -> Outcome {
        let outcome = match taken.result {
            Ok(outcome) => outcome,
            Err(problem) if problem.class.is_transient() => Outcome::Retry(Deferral {
                source: input.source.to_string(),
                stage: problem.stage,
                class: problem.class,
                error: problem.error,
            }),
            Err(problem) => match self.file_failure(input, taken.pipeline, problem).await {
                Some(failure) => Outcome::Failed(failure),
                None => Outcome::Gone { source: input.source.to_string() },
            },
        };
        if let Some(origin) = input.origin.filter(|_| !outcome.needs_retry()) {
            self.consume_origin(origin).await;
        }
        outcome
    }

    /// Removes a member's origin once the member is processed, so a file
    /// uploaded later under the same key has an id of its own. Only a log
    /// detail is at stake if it stays.
    async fn consume_origin(&self, origin: &ObjectLocation) {
        if let Err(e) = self.store.delete(origin).await {
            tracing::debug!(origin = %origin, error = %e, "could not remove an origin");
        }
    }

    /// The id of the archive the object was expanded from, with the origin
    /// document that says so, if it was; else the object's own id.
    async fn correlation_of(&self, source: &ObjectLocation, version: Option<&str>) -> (String, Option<ObjectLocation>) {
        let origin = ObjectLocation::new(&self.config.output_bucket, layout::origin_key(&layout::source_id(&source.bucket, &source.key)));
        let inherited = match self.store.get_bytes(&origin).await {
            Ok(bytes) => bytes.and_then(|b| serde_json::from_slice::<Origin>(&b).ok()),
            // Only a log detail is at stake: go on with the object's own id.
            Err(e) => {
                tracing::debug!(origin = %origin, error = %e, "could not read an origin");
                None
            }
        };
        match inherited {
            Some(inherited) => (inherited.correlation_id, Some(origin)),
            None => (layout::correlation_id(&source.bucket, &source.key, version), None),
        }
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
            Err(e) => Err(Problem::classified(Stage::Write, e)),
        }
    }

    /// Reads a small bookkeeping document; `None` when there is none yet.
    /// Anything else that goes wrong is transient: the document exists, or
    /// may, and acting as if it did not could double rows.
    async fn read_document<T: serde::de::DeserializeOwned>(&self, location: &ObjectLocation) -> Result<Option<T>, Problem> {
        let bytes = match self.store.get_bytes(location).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Problem::transient(Stage::Fetch, format!("cannot read {location}: {e}"))),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Problem::transient(Stage::Fetch, format!("{location} is not a readable document ({e}); it is retried, and if it stays unreadable, delete it and process its source again")))
    }

    async fn write_document(&self, location: &ObjectLocation, document: &impl Serialize) -> Result<(), Problem> {
        let bytes = serde_json::to_vec_pretty(document).expect("bookkeeping documents serialize");
        self.store.put_bytes(location, bytes).await.map(|_| ()).map_err(|e| Problem::classified(Stage::Write, e))
    }

    /// Moves the input to `failed/` and writes the error document beside it;
    /// `None` when the input was already gone. Then a duplicate delivery
    /// moved it on while this one worked: to `done/`, where an error document
    /// would contradict its outputs, or to `failed/` with a document of its
    /// own. Either way this delivery has nothing to file, and the failure it
    /// met (often the object vanishing under its read) is no fault of the input.
    async fn file_failure(&self, input: &Input<'_>, pipeline: Option<String>, problem: Problem) -> Option<Failure> {
        let (source, version) = (input.source, input.version);
        let failed_key = layout::lifecycle_key(&source.key, layout::FAILED);
        let retry = format!(
            "fix the cause, then run `inlet redrive {}` (or move s3://{}/{failed_key} back to {})",
            layout::relative_key(&source.key),
            source.bucket,
            layout::INBOX
        );
        let failure = Failure {
            source: identity_of(source).to_string(),
            failed_key: failed_key.clone(),
            stage: problem.stage,
            error: problem.error,
            pipeline,
            line: problem.line,
            member: problem.member,
            retry,
            correlation_id: Some(input.correlation_id.to_owned()),
            filed: false,
        };
        let failed = source.with_key(&failed_key);
        let moved = match self.store.rename(source, &failed, version).await {
            Ok(()) => true,
            Err(e) if e.is_not_found() => {
                tracing::info!(source = %source, error = %failure.error, "gone while this delivery worked on it; a duplicate moved it on");
                return None;
            }
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
        Some(Failure { filed: moved && documented, ..failure })
    }
}

/// Store errors met while handling an input keep their class.
impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        Problem::classified(Stage::Write, error)
    }
}

/// Where an input counts as having arrived: `in/<name>`, also for a file
/// that `inlet ingest --here` processed from `direct/`.
fn identity_of(source: &ObjectLocation) -> ObjectLocation {
    source.with_key(layout::identity_key(&source.key))
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
        Outcome::Ignored { .. } => tracing::info!(bucket, key, duration_ms, "a folder marker; ignored"),
        Outcome::Retry(d) => tracing::warn!(
            bucket, key, stage = ?d.stage, class = ?d.class, error = %d.error, duration_ms, "left in place to retry"
        ),
        Outcome::Failed(f) => tracing::warn!(
            bucket, key, stage = ?f.stage, pipeline = f.pipeline.as_deref().unwrap_or(""),
            line = f.line, member = f.member.as_deref().unwrap_or(""), error = %f.error, duration_ms, "failed"
        ),
    }
}
