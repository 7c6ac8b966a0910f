//! `inlet ingest`: copy files into the input bucket and run each through the engine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use inlet_core::archive::ArchiveLimits;
use inlet_core::drive::{self, Processed, Progress};
use inlet_core::storage::ObjectLocation;
use inlet_core::{Engine, Outcome, Registrar, layout};

use super::follow;
use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or folders to load. Folders are walked; hidden files are skipped.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Inputs processed at once.
    #[arg(long, short = 'j', default_value_t = default_jobs())]
    jobs: usize,

    /// Print one JSON object per input instead of the summary.
    #[arg(long)]
    json: bool,

    /// Refuse archives that expand to more than this many times their size.
    #[arg(long, default_value_t = ArchiveLimits::default().max_ratio, value_name = "RATIO")]
    max_expansion_ratio: u64,

    /// Refuse archives that expand to more than this many MiB in all.
    #[arg(long, default_value_t = ArchiveLimits::default().max_total_bytes >> 20, value_name = "MIB")]
    max_expanded_mib: u64,

    #[command(flatten)]
    follow: follow::FollowArgs,

    /// With --stack: process the files in this process instead of the
    /// stack's functions. They go to direct/, which triggers nothing, and
    /// count as in/<name>, so a later upload through in/ adds no rows.
    #[arg(long, conflicts_with = "wait")]
    here: bool,
}

/// Who processes what `ingest` uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processor {
    /// This process: always without a stack, and with --here.
    Here,
    /// The deployed stack's functions, triggered by the upload to in/;
    /// followed until done when `wait` is set.
    Stack { wait: Option<Duration> },
}

impl Processor {
    /// Without a stack, inlet is the only processor; with one, the stack's
    /// functions are, unless --here says otherwise.
    pub fn of(state: &State, follow: &follow::FollowArgs, here: bool) -> anyhow::Result<Self> {
        let wait = follow.wait(state)?;
        Ok(if state.options.stack.is_none() || here { Processor::Here } else { Processor::Stack { wait } })
    }

    /// Where uploads go: a stack's in/ triggers its functions, so a file this
    /// process handles itself goes around it.
    pub fn upload_prefix(self, state: &State) -> &'static str {
        match self {
            Processor::Here if state.options.stack.is_some() => layout::DIRECT,
            _ => layout::INBOX,
        }
    }
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let limits =
        ArchiveLimits { max_ratio: args.max_expansion_ratio, max_total_bytes: args.max_expanded_mib << 20, ..ArchiveLimits::default() };
    let engine = state.engine(|config| config.archive_limits = limits)?;
    let processor = Processor::of(state, &args.follow, args.here)?;
    sweep_scratch(state, &engine);

    let (keys, missing) = upload(&engine, &args.paths, processor.upload_prefix(state)).await?;
    let code = process_and_report(state, &engine, processor, keys, args.jobs, args.json).await?;
    Ok(if missing > 0 { ExitCode::FAILURE } else { code })
}

/// The options of the commands that put inputs back for processing
/// (`redrive`, `reprocess`).
#[derive(Debug, Clone, clap::Args)]
pub struct RerunArgs {
    /// Inputs processed at once.
    #[arg(long, short = 'j', default_value_t = 2)]
    pub jobs: usize,

    /// Print one JSON object per input instead of the summary.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub follow: follow::FollowArgs,
}

/// Has `keys` processed by `processor` and reports what became of them;
/// fails when any input did. A stack's functions left to work unwatched
/// report nothing, and succeed.
pub async fn process_and_report(
    state: &State,
    engine: &Engine,
    processor: Processor,
    keys: Vec<String>,
    jobs: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let processed = match processor {
        Processor::Here => process_keys(engine, &state.registrar(), keys, jobs.max(1)).await,
        Processor::Stack { wait } => match hand_over(state, engine, keys, wait).await {
            Some(processed) => processed,
            None => return Ok(ExitCode::SUCCESS),
        },
    };
    report(state, &processed, json)
}

/// Copies every file under `paths` into the input bucket below `prefix`.
/// Returns the keys written and how many paths could not be read.
async fn upload(engine: &Engine, paths: &[PathBuf], prefix: &str) -> anyhow::Result<(Vec<String>, usize)> {
    let mut keys = Vec::new();
    let mut missing = 0;
    for path in paths {
        match collect_files(path) {
            Ok(files) => {
                for (file, relative) in files {
                    let key = format!("{prefix}{relative}");
                    let location = ObjectLocation::new(&engine.config().input_bucket, &key);
                    engine
                        .store()
                        .put_file(&location, &file)
                        .await
                        .with_context(|| format!("copying {} into the input bucket", file.display()))?;
                    keys.push(key);
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                missing += 1;
            }
        }
    }
    Ok((keys, missing))
}

/// Leaves keys just placed in in/ to the stack's functions. With `wait`,
/// follows them to the end and returns what became of each; without, says
/// how to follow them and returns `None`.
pub async fn hand_over(state: &State, engine: &Engine, keys: Vec<String>, wait: Option<Duration>) -> Option<Vec<Processed>> {
    let Some(timeout) = wait else {
        println!(
            "{} input{} in {}: the stack's functions process {}. Add --wait to follow them to the end; `inlet failed` lists failures.",
            keys.len(),
            plural(keys.len()),
            state.describe(&engine.config().input_bucket, layout::INBOX),
            if keys.len() == 1 { "it" } else { "them" }
        );
        return None;
    };
    let mut uploads = Vec::with_capacity(keys.len());
    for key in keys {
        uploads.push(follow::Upload::stamped(engine, key).await);
    }
    Some(follow::follow(state, engine, uploads, timeout).await)
}

/// Prints what became of each input, as a summary or as JSON lines; fails
/// when any input did.
pub fn report(state: &State, processed: &[Processed], json: bool) -> anyhow::Result<ExitCode> {
    if json {
        for p in processed {
            println!("{}", serde_json::to_string(&p.outcome)?);
        }
    } else {
        print_summary(state, processed);
    }
    Ok(if processed.iter().any(Processed::is_failure) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The files under `path`, each with the key it gets below `in/`.
fn collect_files(path: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let metadata = std::fs::metadata(path)?;
    if metadata.is_file() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        return Ok(vec![(path.to_owned(), name)]);
    }
    let mut found = Vec::new();
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let child = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(child);
            } else {
                let relative = child.strip_prefix(path).unwrap_or(&child).to_string_lossy().replace('\\', "/");
                found.push((child, relative));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Runs keys through the core's driver loop with a progress bar that
/// appears once work takes over a second. It counts inputs, and the source
/// bytes read with their rate, so one large file shows its progress too.
pub async fn process_keys(engine: &Engine, registrar: &Registrar, keys: Vec<String>, jobs: usize) -> Vec<Processed> {
    let progress = ProgressBar::with_draw_target(Some(keys.len() as u64), ProgressDrawTarget::hidden());
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} inputs  {prefix}  {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let bar = Bar(progress.clone());
    let work = drive::process_keys(engine, registrar, keys, jobs, &bar);
    tokio::pin!(work);
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    let mut shown = false;
    let results = loop {
        tokio::select! {
            results = &mut work => break results,
            _ = ticks.tick() => {
                if !shown && started.elapsed() >= Duration::from_secs(1) {
                    progress.set_draw_target(ProgressDrawTarget::stderr());
                    progress.enable_steady_tick(Duration::from_millis(120));
                    shown = true;
                }
                show_bytes(&progress, engine.bytes_read(), started);
            }
        }
    };
    progress.finish_and_clear();
    results
}

fn show_bytes(progress: &ProgressBar, bytes: u64, started: Instant) {
    let rate = bytes as f64 / started.elapsed().as_secs_f64().max(0.001);
    progress.set_prefix(format!("{} read, {}/s", HumanBytes(bytes), HumanBytes(rate as u64)));
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn added(&self, count: usize) {
        self.0.inc_length(count as u64);
    }

    fn finished(&self, processed: &Processed) {
        self.0.set_message(processed.key.rsplit('/').next().unwrap_or(&processed.key).to_owned());
        self.0.inc(1);
    }
}

/// Removes what earlier runs that were killed left behind: their scratch
/// folders, and staged copies in the local buckets.
pub fn sweep_scratch(state: &State, engine: &Engine) {
    match engine.sweep_scratch() {
        Ok(removed) if !removed.is_empty() => tracing::info!(removed = removed.len(), "removed the scratch of killed runs"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not sweep the scratch folder"),
    }
    let Some(local) = &state.local else { return };
    for bucket in [&engine.config().input_bucket, &engine.config().output_bucket] {
        if let Err(e) = local.sweep_staging(bucket) {
            tracing::warn!(bucket = %bucket, error = %e, "could not sweep staged copies");
        }
    }
}

pub fn print_summary(state: &State, processed: &[Processed]) {
    let (mut loaded, mut failed, mut rows, mut rejected) = (0, 0, 0u64, 0u64);
    let mut print = |index: usize, depth: usize| {
        let p = &processed[index];
        let indent = "  ".repeat(depth);
        let name = if depth == 0 { layout::relative_key(&p.key) } else { p.key.rsplit('/').next().unwrap_or(&p.key) };
        match &p.outcome {
            Outcome::Expanded { members, unchanged, removed, skipped, .. } => {
                let mut notes = String::new();
                if !unchanged.is_empty() {
                    notes.push_str(&format!(", {} unchanged since loaded", unchanged.len()));
                }
                if !removed.is_empty() {
                    notes.push_str(&format!(", {} gone (their rows removed)", removed.len()));
                }
                if !skipped.is_empty() {
                    notes.push_str(&format!(", {} skipped (macOS debris)", skipped.len()));
                }
                println!("{indent}{name}: archive, {} member{}{notes}", members.len(), plural(members.len()));
            }
            Outcome::Loaded(r) => {
                loaded += 1;
                rows += r.counts.rows_out;
                rejected += r.counts.rows_rejected;
                let rejects = if r.counts.rows_rejected > 0 { format!(" (`inlet rejects {}`)", r.table) } else { String::new() };
                println!(
                    "{indent}{name}: {} → {}: {} rows written, {} rejected{rejects}, {} partition{}: {}",
                    r.pipeline,
                    r.table,
                    r.counts.rows_out,
                    r.counts.rows_rejected,
                    r.partitions.len(),
                    plural(r.partitions.len()),
                    r.partitions.join(", ")
                );
                if let Some(error) = &p.catalog_error {
                    failed += 1;
                    println!("{indent}  CATALOG NOT UPDATED: {error}; the files are written, run `inlet repair` once the cause is fixed");
                }
            }
            Outcome::Gone { .. } => println!("{indent}{name}: already processed"),
            Outcome::Ignored { .. } => println!("{indent}{name}: a folder marker, ignored"),
            Outcome::Retry(d) => {
                failed += 1;
                println!("{indent}{name}: NOT DONE ({:?}, {:?}): {}", d.stage, d.class, d.error);
                println!("{indent}  the input is still in in/; run the same command again to retry it");
            }
            Outcome::Failed(f) => {
                failed += 1;
                let place = f.place();
                println!("{indent}{name}: FAILED ({place}): {}", f.error);
                let document = state.describe(state_bucket(&f.source), &layout::error_document_key(&f.failed_key));
                println!("{indent}  error document: {document}");
            }
        }
    };
    // Depth-first and by key, so members follow their archive and the
    // listing does not depend on which job finished first.
    fn children_of(processed: &[Processed], parent: Option<usize>) -> Vec<usize> {
        let mut children: Vec<usize> = (0..processed.len()).filter(|i| processed[*i].parent == parent).collect();
        children.sort_by(|a, b| processed[*a].key.cmp(&processed[*b].key));
        children
    }
    fn walk(processed: &[Processed], index: usize, depth: usize, print: &mut dyn FnMut(usize, usize)) {
        print(index, depth);
        for child in children_of(processed, Some(index)) {
            walk(processed, child, depth + 1, print);
        }
    }
    for index in children_of(processed, None) {
        walk(processed, index, 0, &mut print);
    }
    println!();
    println!(
        "{} input{}: {loaded} loaded, {failed} failed; {rows} rows written, {rejected} rejected. Output: {}",
        processed.len(),
        plural(processed.len()),
        state.describe(&state.names.output_bucket, "")
    );
}

fn state_bucket(source_uri: &str) -> &str {
    source_uri.trim_start_matches("s3://").split('/').next().unwrap_or("input")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
