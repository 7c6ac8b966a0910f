//! `inlet harvest`: the downloads a scheduled run of the harvester would queue.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use inlet_sources::{DEFAULT_SOURCES_FILE, Download, SourceSet, harvest};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sources file.
    #[arg(long, default_value = DEFAULT_SOURCES_FILE, env = "INLET_SOURCES")]
    sources: PathBuf,

    /// The run's time (RFC 3339, e.g. 2021-01-15T00:00:00Z); now when left out.
    #[arg(long)]
    at: Option<DateTime<Utc>>,

    /// Only the sources on this schedule, e.g. "rate(1 hour)"; every schedule when left out.
    #[arg(long)]
    schedule: Option<String>,

    /// Print the URLs without fetching them.
    #[arg(long)]
    dry_run: bool,

    /// Print the downloads as JSON lines, as the harvester queues them.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.dry_run {
        bail!(
            "on one machine there is no queue for the harvester to fill: run `inlet download` to fetch the sources, or `inlet harvest --dry-run` to see the URLs a run would fetch"
        );
    }
    let sources = load(&args.sources)?;
    let at = args.at.unwrap_or_else(Utc::now);
    for download in plan(&sources, &args.sources, args.schedule.as_deref(), at)? {
        if args.json {
            println!("{}", serde_json::to_string(&download)?);
        } else {
            println!("{:<20} {}  → in/{}", download.source, download.url, download.target);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The sources file, validated; every problem in it in the error.
pub fn load(path: &Path) -> anyhow::Result<SourceSet> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the sources file {label}"))?;
    SourceSet::from_yaml(&label, &text).map_err(|errors| anyhow::anyhow!("{}", errors.to_string().trim_end()))
}

/// The downloads of a run at `at`, after checking the schedule asked for exists.
pub fn plan(sources: &SourceSet, path: &Path, schedule: Option<&str>, at: DateTime<Utc>) -> anyhow::Result<Vec<Download>> {
    if let Some(schedule) = schedule
        && !sources.schedules().iter().any(|s| s.expression() == schedule)
    {
        let known: Vec<&str> = sources.schedules().iter().map(|s| s.expression()).collect();
        bail!("no source in {} runs on {schedule:?}; the schedules are: {}", path.display(), known.join(", "));
    }
    Ok(harvest(sources, schedule, at))
}
