//! `inlet redrive`: move failed inputs back to `in/` and process them again.

use std::process::ExitCode;

use anyhow::Context;
use inlet_contract::outputs;
use inlet_core::drive;

use super::failed::FilterArgs;
use super::ingest::{Processor, RerunArgs, process_and_report};
use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Failed inputs, as listed by `inlet failed` (keys relative to failed/).
    #[arg(value_name = "KEY", required_unless_present_any = ["all", "stage", "pipeline", "since", "dlq"])]
    keys: Vec<String>,

    /// Every failed input (or every one the filters select).
    #[arg(long, conflicts_with = "keys")]
    all: bool,

    #[command(flatten)]
    filter: FilterArgs,

    #[command(flatten)]
    run: RerunArgs,

    /// Instead, move the messages of a dead-letter queue back to the queue
    /// they came from, so the functions try them again. Without a URL, every
    /// dead-letter queue of the --stack.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "",
          conflicts_with_all = ["keys", "all", "stage", "pipeline", "since"])]
    dlq: Option<String>,
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.dlq {
        return move_dead_letters_back(state, url).await;
    }
    let engine = state.engine(|_| {})?;
    // A stack's functions take what reaches its in/; only they should process it.
    let processor = Processor::of(state, &args.run.follow, false)?;
    super::ingest::sweep_scratch(state, &engine);
    let failed: Vec<String> = if args.keys.is_empty() {
        super::failed::select(state, &args.filter).await?.into_iter().map(|f| f.key).collect()
    } else {
        args.keys.clone()
    };
    if failed.is_empty() {
        let what = if args.filter.is_set() { "no failed input matches" } else { "failed/ is empty" };
        println!("nothing to redrive: {what}");
        return Ok(ExitCode::SUCCESS);
    }
    let keys = drive::move_back(engine.store(), &engine.config().input_bucket, &failed)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; `inlet failed` lists what can be redriven"))?;
    process_and_report(state, &engine, processor, keys, args.run.jobs, args.run.json).await
}

async fn move_dead_letters_back(state: &State, url: &str) -> anyhow::Result<ExitCode> {
    let cloud = state.cloud.as_ref().context("dead-letter queues are in SQS: add --stack NAME (or --backend aws)")?;
    let urls: Vec<String> = if url.is_empty() {
        let urls: Vec<String> = outputs::DEAD_LETTER_QUEUE_URLS.iter().filter_map(|key| state.stack_output(key)).collect();
        anyhow::ensure!(!urls.is_empty(), "name the dead-letter queue (--dlq URL), or the stack whose queues to redrive (--stack NAME)");
        urls
    } else {
        vec![url.to_owned()]
    };
    for url in &urls {
        let moved = cloud.move_dead_letters_back(url).await.with_context(|| format!("redriving {url}"))?;
        println!("{url}: {} message{} moved back to {}", moved.messages, if moved.messages == 1 { "" } else { "s" }, moved.source_url);
    }
    Ok(ExitCode::SUCCESS)
}
