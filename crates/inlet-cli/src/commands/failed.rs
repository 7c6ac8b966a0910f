//! `inlet failed`: failed inputs and why.

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use inlet_core::drive::{self, FailedFilter, FailedInput};
use inlet_core::ingest::Stage;
use inlet_core::layout;

use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the error documents as JSON lines.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    filter: FilterArgs,
}

/// Which failed inputs to act on; `inlet failed` and `inlet redrive` share them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Only inputs that failed at this step.
    #[arg(long, value_parser = parse_stage, value_name = "route|fetch|archive|convert|write")]
    pub stage: Option<Stage>,

    /// Only inputs of this pipeline.
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,

    /// Only inputs that failed at or after this time: a date (2026-12-01),
    /// an RFC 3339 time, or an age such as 90m, 6h or 7d.
    #[arg(long, value_parser = parse_since, value_name = "WHEN")]
    pub since: Option<SystemTime>,
}

impl FilterArgs {
    pub fn is_set(&self) -> bool {
        self.stage.is_some() || self.pipeline.is_some() || self.since.is_some()
    }

    pub fn filter(&self) -> FailedFilter {
        FailedFilter { stage: self.stage, pipeline: self.pipeline.clone(), since: self.since }
    }
}

fn parse_stage(text: &str) -> anyhow::Result<Stage> {
    serde_json::from_value(serde_json::Value::String(text.to_ascii_lowercase()))
        .with_context(|| format!("{text:?} is not a stage: route, fetch, archive, convert or write"))
}

/// A date, an RFC 3339 time, or an age back from now.
pub fn parse_since(text: &str) -> anyhow::Result<SystemTime> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc).into());
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().into());
    }
    let age = parse_age(text)
        .with_context(|| format!("{text:?} is not a time: give a date (2026-12-01), an RFC 3339 time or an age (90m, 6h, 7d)"))?;
    SystemTime::now().checked_sub(age).context("that age reaches before 1970")
}

fn parse_age(text: &str) -> Option<std::time::Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (count, unit) = text.split_at(unit_at);
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(count.parse::<u64>().ok()?.checked_mul(seconds)?))
}

/// The failed inputs the filter selects.
pub async fn select(state: &State, filter: &FilterArgs) -> anyhow::Result<Vec<FailedInput>> {
    let failed = drive::failed_inputs(state.store.as_ref(), &state.names.input_bucket).await?;
    let filter = filter.filter();
    Ok(failed.into_iter().filter(|input| filter.matches(input)).collect())
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let failed = select(state, &args.filter).await?;
    if failed.is_empty() && !args.json {
        println!("{}", if args.filter.is_set() { "no failed inputs match" } else { "no failed inputs" });
    }
    for FailedInput { key, failure, .. } in &failed {
        match (args.json, failure) {
            (true, Some(f)) => println!("{}", serde_json::to_string(f)?),
            (true, None) => println!("{}", serde_json::json!({ "failed_key": key, "error": "no error document" })),
            (false, Some(f)) => {
                let place = f.place();
                println!("{}\n  {place}: {}\n  {}", layout::relative_key(key), f.error, f.retry);
            }
            (false, None) => println!("{}\n  (no error document)", layout::relative_key(key)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_dates_times_and_ages() {
        let day = parse_since("2026-12-01").unwrap();
        assert_eq!(day, parse_since("2026-12-01T00:00:00Z").unwrap());
        let hour_ago = parse_since("1h").unwrap();
        let elapsed = SystemTime::now().duration_since(hour_ago).unwrap().as_secs();
        assert!((3_600..3_660).contains(&elapsed), "1h is an hour back, not {elapsed} s");
        for bad in ["yesterday", "5y", "h", "2026-13-01"] {
            assert!(parse_since(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn stages_are_named_as_in_the_error_document() {
        assert_eq!(parse_stage("convert").unwrap(), Stage::Convert);
        assert!(parse_stage("unzip").unwrap_err().to_string().contains("route, fetch"));
    }
}
