//! `inlet download`: fetch the sources into the input bucket with the
//! downloader's own handler, then ingest what arrived.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use chrono::{DateTime, Utc};
use indicatif::HumanBytes;
use inlet_sources::download::{DownloadReport, DownloadSettings, Downloader, FileOutcome, LocalAlerts};
use inlet_sources::fetch::{FetchSettings, Fetcher, Network};
use inlet_sources::state::LocalSourceState;
use inlet_sources::{DEFAULT_SOURCES_FILE, Download};

use super::{harvest, ingest};
use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these sources (their ids); every active source when left out.
    #[arg(value_name = "SOURCE")]
    sources_to_fetch: Vec<String>,

    /// The sources file.
    #[arg(long, default_value = DEFAULT_SOURCES_FILE, env = "INLET_SOURCES")]
    sources: PathBuf,

    /// The run's time, for the URL placeholders (RFC 3339); now when left out.
    #[arg(long)]
    at: Option<DateTime<Utc>>,

    /// Fetch into in/ but do not ingest.
    #[arg(long)]
    no_ingest: bool,

    /// Give up on a connection after this many seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    connect_timeout: u64,

    /// Give up when the server sends nothing for this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    read_timeout: u64,

    /// Refuse a file larger than this many MiB.
    #[arg(long, default_value_t = FetchSettings::default().max_bytes >> 20, value_name = "MIB")]
    max_file_mib: u64,

    /// Tries per URL for a 5xx, 408, 429, timeout or dropped connection.
    #[arg(long, default_value_t = DownloadSettings::default().attempts)]
    attempts: u32,

    /// Inputs ingested at once.
    #[arg(long, short = 'j', default_value_t = 2)]
    jobs: usize,
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let downloads = chosen(&args)?;
    let downloader = downloader(state, &args);
    let mut landed = Vec::new();
    let mut failures = 0;
    for download in &downloads {
        match downloader.run(download).await {
            Ok(report) => {
                print_report(download, &report);
                failures += report.failed.len();
                landed.extend(report.landed().map(str::to_owned));
            }
            Err(error) => {
                println!("{:<16} {}  failed: {error}", download.source, download.url);
                failures += 1;
            }
        }
    }
    if !landed.is_empty() && !args.no_ingest {
        let engine = state.engine(|_| {})?;
        let processed = ingest::process_keys(&engine, &state.registrar(), landed, args.jobs.max(1)).await;
        ingest::print_summary(state, &processed);
        failures += processed.iter().filter(|p| p.is_failure()).count();
    }
    Ok(if failures > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The downloads of the sources asked for, at the run's time.
fn chosen(args: &Args) -> anyhow::Result<Vec<Download>> {
    let sources = harvest::load(&args.sources)?;
    for id in &args.sources_to_fetch {
        if !sources.sources.iter().any(|s| &s.id == id) {
            let known: Vec<&str> = sources.sources.iter().map(|s| s.id.as_str()).collect();
            bail!("no source {id:?} in {}; the sources are: {}", args.sources.display(), known.join(", "));
        }
    }
    let all = harvest::plan(&sources, &args.sources, None, args.at.unwrap_or_else(Utc::now))?;
    Ok(all.into_iter().filter(|d| args.sources_to_fetch.is_empty() || args.sources_to_fetch.contains(&d.source)).collect())
}

/// The downloader over this state's buckets, with its records and alerts
/// beside them in the state directory.
fn downloader(state: &State, args: &Args) -> Downloader {
    let fetch = FetchSettings {
        connect_timeout: Duration::from_secs(args.connect_timeout),
        read_timeout: Duration::from_secs(args.read_timeout),
        max_bytes: args.max_file_mib << 20,
        ..FetchSettings::default()
    };
    let folder = state.options.state_dir.join("sources");
    Downloader {
        fetcher: Fetcher::new(Network::system(fetch.connect_timeout), fetch),
        store: Arc::clone(&state.store),
        state: Arc::new(LocalSourceState::new(folder.join("state.json"))),
        alerts: Arc::new(LocalAlerts { path: folder.join("alerts.jsonl") }),
        input_bucket: state.names.input_bucket.clone(),
        settings: DownloadSettings { attempts: args.attempts.max(1), ..DownloadSettings::default() },
    }
}

fn print_report(download: &Download, report: &DownloadReport) {
    for (url, outcome) in &report.fetched {
        let what = match outcome {
            FileOutcome::Landed { key, bytes, .. } => format!("→ {key} ({})", HumanBytes(*bytes)),
            FileOutcome::NotModified => "not modified".to_owned(),
            FileOutcome::SameContent { .. } => "unchanged (same SHA-256 as last time)".to_owned(),
        };
        println!("{:<16} {url}  {what}", download.source);
    }
    for (url, error) in &report.failed {
        println!("{:<16} {url}  failed: {error}", download.source);
    }
    if report.fetched.is_empty() && report.failed.is_empty() {
        println!("{:<16} {}  no links matched", download.source, download.url);
    }
}
