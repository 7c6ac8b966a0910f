//! Following inputs that a deployment's functions process: `inlet ingest
//! --wait` (and `redrive`) under `--stack` upload to `in/`, leave the work
//! to the functions, and learn what became of each file from what they
//! leave behind. Each file is processed once, by the stack.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use inlet_core::drive::Processed;
use inlet_core::ingest::Deferral;
use inlet_core::storage::ObjectLocation;
use inlet_core::{Engine, ErrorClass, Outcome, Partition, Stage};

use crate::state::State;

/// The options of commands that can leave their inputs to a stack.
#[derive(Debug, Clone, clap::Args)]
pub struct FollowArgs {
    /// With --stack: after placing the inputs in in/, wait until the stack's
    /// functions have taken each one (and each member of an archive) to
    /// done/ or failed/ and the catalog holds its partitions, then print the
    /// summary.
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 900, value_name = "SECONDS", requires = "wait")]
    pub timeout: u64,
}

impl FollowArgs {
    /// How long to follow the stack's work; `None` to leave it.
    pub fn wait(&self, state: &State) -> anyhow::Result<Option<Duration>> {
        if self.wait && state.options.stack.is_none() {
            anyhow::bail!(
                "--wait follows a deployed stack's functions: give --stack NAME (or INLET_STACK); without one, inlet processes the inputs itself"
            );
        }
        Ok(self.wait.then(|| Duration::from_secs(self.timeout)))
    }
}

/// How often the buckets and the catalog are asked again.
const POLL: Duration = Duration::from_secs(1);

/// A file placed in `in/` for the functions, and when the store says it
/// arrived: its `done/` or `failed/` copy must be at least as new, so an
/// earlier run's result is not taken for this one's.
#[derive(Debug, Clone)]
pub struct Upload {
    pub key: String,
    pub since: Option<SystemTime>,
}

impl Upload {
    /// `key`, just written to the input bucket. `since` is unknown when the
    /// functions moved it on before it could be looked at: then any result counts.
    pub async fn stamped(engine: &Engine, key: String) -> Self {
        let location = ObjectLocation::new(&engine.config().input_bucket, &key);
        let since = engine.store().head(&location).await.ok().and_then(|meta| meta.last_modified);
        Self { key, since }
    }
}

/// Waits until each upload, and each member of an uploaded archive, has
/// reached `done/` or `failed/`, and each load's partitions are in the
/// catalog, or `timeout` has passed. What did not finish in time is
/// reported as not done, with where to look.
pub async fn follow(state: &State, engine: &Engine, uploads: Vec<Upload>, timeout: Duration) -> Vec<Processed> {
    let deadline = Instant::now() + timeout;
    let bar = progress_bar(uploads.len());
    let mut results = settle(engine, uploads, deadline, &bar).await;
    bar.set_message("waiting for the catalog");
    await_registration(state, &mut results, deadline).await;
    bar.finish_and_clear();
    results
}

async fn settle(engine: &Engine, uploads: Vec<Upload>, deadline: Instant, bar: &ProgressBar) -> Vec<Processed> {
    let mut pending: Vec<(Upload, Option<usize>)> = uploads.into_iter().map(|u| (u, None)).collect();
    let mut results: Vec<Processed> = Vec::new();
    loop {
        let mut waiting = Vec::new();
        for (upload, parent) in pending {
            let outcome = match engine.recorded_outcome(&upload.key, upload.since).await {
                Ok(Some(outcome)) => outcome,
                Ok(None) => {
                    waiting.push((upload, parent));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(key = %upload.key, error = %e, "could not look at the input; asking again");
                    waiting.push((upload, parent));
                    continue;
                }
            };
            if let Outcome::Expanded { members, .. } = &outcome {
                bar.inc_length(members.len() as u64);
                let since = upload.since;
                waiting.extend(members.iter().map(|m| (Upload { key: m.clone(), since }, Some(results.len()))));
            }
            bar.inc(1);
            results.push(Processed { key: upload.key, outcome, catalog_error: None, parent });
        }
        pending = waiting;
        if pending.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    results.extend(pending.into_iter().map(|(upload, parent)| not_done_in_time(engine, upload, parent)));
    results
}

fn not_done_in_time(engine: &Engine, upload: Upload, parent: Option<usize>) -> Processed {
    let source = ObjectLocation::new(&engine.config().input_bucket, &upload.key).to_string();
    let error = format!(
        "the stack's functions did not finish it within the wait; it is still in {}: look at the runner's queue and DLQ \
         (`inlet redrive --dlq`) and the functions' logs, or wait longer with --timeout",
        inlet_core::layout::INBOX
    );
    let outcome = Outcome::Retry(Deferral { source, stage: Stage::Fetch, error, class: ErrorClass::Transient });
    Processed { key: upload.key, outcome, catalog_error: None, parent }
}

/// Waits for the partitioner to register each load's partitions; a load
/// whose partitions are still missing at the deadline gets a catalog error.
async fn await_registration(state: &State, results: &mut [Processed], deadline: Instant) {
    loop {
        let missing = unregistered(state, results).await;
        if missing.is_empty() || Instant::now() >= deadline {
            for (index, partitions) in missing {
                results[index].catalog_error = Some(format!(
                    "partition{} {} not in the catalog {} within the wait: the partitioner may be behind or failing; \
                     look at its queue and DLQ, or run `inlet repair`",
                    if partitions.len() == 1 { "" } else { "s" },
                    partitions.join(", "),
                    state.names.database
                ));
            }
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Each load's partitions that the catalog does not hold yet, by result index.
async fn unregistered(state: &State, results: &[Processed]) -> BTreeMap<usize, Vec<String>> {
    let mut registered: BTreeMap<&str, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut missing = BTreeMap::new();
    for (index, processed) in results.iter().enumerate() {
        let Outcome::Loaded(report) = &processed.outcome else { continue };
        if !registered.contains_key(report.table.as_str()) {
            let partitions = state.catalog.list_partitions(&state.names.database, &report.table).await.unwrap_or_default();
            registered.insert(&report.table, partitions.into_iter().map(|p| p.values).collect());
        }
        let held = &registered[report.table.as_str()];
        let absent: Vec<String> = report
            .partitions
            .iter()
            .filter(|path| !path.is_empty())
            .filter(|path| Partition::parse(path).is_ok_and(|p| !held.contains(&p.values())))
            .cloned()
            .collect();
        if !absent.is_empty() {
            missing.insert(index, absent);
        }
    }
    missing
}

fn progress_bar(inputs: usize) -> ProgressBar {
    let bar = ProgressBar::new(inputs as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} inputs done  {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message("waiting for the stack's functions");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
