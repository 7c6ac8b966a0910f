//! `inlet reprocess`: run a pipeline again over the inputs it loaded, after
//! its definition changed (a check, a column, a partition). Output names are
//! a function of the source and its content, so each input's new files
//! replace its old ones: rows are replaced, never doubled.

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use inlet_core::{drive, layout};

use super::failed::parse_since;
use super::ingest::{Processor, RerunArgs, process_and_report, sweep_scratch};
use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline to run again (`inlet pipelines` lists them).
    pipeline: String,

    /// Only inputs processed at or after this time: a date (2026-12-01), an
    /// RFC 3339 time, or an age such as 6h or 7d.
    #[arg(long, value_parser = parse_since, value_name = "WHEN")]
    since: Option<SystemTime>,

    /// List the inputs that would be processed again, and change nothing.
    #[arg(long)]
    dry_run: bool,

    #[command(flatten)]
    run: RerunArgs,

    /// With --stack: process here, through direct/, instead of moving the
    /// inputs back to in/ for the stack's functions.
    #[arg(long, conflicts_with = "wait")]
    here: bool,
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let engine = state.engine(|_| {})?;
    if engine.pipelines().get(&args.pipeline).is_none() {
        let names: Vec<&str> = engine.pipelines().iter().map(|p| p.name.as_str()).collect();
        anyhow::bail!("there is no pipeline {:?}; the pipelines are: {}", args.pipeline, names.join(", "));
    }
    let processor = Processor::of(state, &args.run.follow, args.here)?;
    let bucket = &engine.config().input_bucket;
    let done = drive::done_inputs_of(engine.store().as_ref(), engine.pipelines(), bucket, &args.pipeline, args.since)
        .await
        .with_context(|| format!("listing {}", state.describe(bucket, layout::DONE)))?;
    if done.is_empty() {
        println!(
            "nothing to reprocess: no input of {} in {}{}",
            args.pipeline,
            layout::DONE,
            if args.since.is_some() { " since then" } else { "" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        done.iter().for_each(|key| println!("{}", layout::relative_key(key)));
        println!("{} input{} would be processed again", done.len(), if done.len() == 1 { "" } else { "s" });
        return Ok(ExitCode::SUCCESS);
    }
    sweep_scratch(state, &engine);
    let keys = drive::move_done(engine.store(), bucket, &done, processor.upload_prefix(state))
        .await
        .context("moving the inputs out of done/; those already moved are processed by running the same command again")?;
    process_and_report(state, &engine, processor, keys, args.run.jobs, args.run.json).await
}
