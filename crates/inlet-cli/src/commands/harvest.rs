//! `inlet harvest`: the downloads a scheduled run of the harvester would queue.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use inlet_sources::{DEFAULT_SOURCES_FILE, SourceSet, harvest};

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
            "fetching is the downloader's, which inlet does not have yet; run `inlet harvest --dry-run` to see the URLs a run would fetch"
        );
    }
    let label = args.sources.display().to_string();
    let text = std::fs::read_to_string(&args.sources).with_context(|| format!("cannot read the sources file {label}"))?;
    let sources = match SourceSet::from_yaml(&label, &text) {
        Ok(sources) => sources,
        Err(errors) => {
            eprint!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(schedule) = &args.schedule
        && !sources.schedules().iter().any(|s| s.expression() == schedule)
    {
        let known: Vec<&str> = sources.schedules().iter().map(|s| s.expression()).collect();
        bail!("no source in {label} runs on {schedule:?}; the schedules are: {}", known.join(", "));
    }
    let at = args.at.unwrap_or_else(Utc::now);
    for download in harvest(&sources, args.schedule.as_deref(), at) {
        if args.json {
            println!("{}", serde_json::to_string(&download)?);
        } else {
            println!("{:<20} {}  → in/{}", download.source, download.url, download.target);
        }
    }
    Ok(ExitCode::SUCCESS)
}
