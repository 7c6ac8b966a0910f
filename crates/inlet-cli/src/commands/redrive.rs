//! `inlet redrive`: move failed inputs back to `in/` and process them again.

use std::process::ExitCode;

use inlet_core::layout;
use inlet_core::storage::ObjectLocation;

use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Failed inputs, as listed by `inlet failed` (keys relative to failed/).
    #[arg(value_name = "KEY", required_unless_present = "all")]
    keys: Vec<String>,

    /// Every failed input.
    #[arg(long, conflicts_with = "keys")]
    all: bool,

    /// Inputs processed at once.
    #[arg(long, short = 'j', default_value_t = 2)]
    jobs: usize,
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let engine = state.engine(|_| {})?;
    let bucket = engine.config().input_bucket.clone();
    let relative: Vec<String> = if args.all {
        super::failed::failed_inputs(engine.store().as_ref(), &bucket)
            .await?
            .into_iter()
            .map(|(key, _)| layout::relative_key(&key).to_owned())
            .collect()
    } else {
        args.keys.iter().map(|k| layout::relative_key(k).to_owned()).collect()
    };
    if relative.is_empty() {
        println!("nothing to redrive: failed/ is empty");
        return Ok(ExitCode::SUCCESS);
    }
    let mut keys = Vec::new();
    for key in relative {
        let failed = ObjectLocation::new(&bucket, format!("{}{key}", layout::FAILED));
        let inbox = ObjectLocation::new(&bucket, format!("{}{key}", layout::INBOX));
        engine
            .store()
            .rename(&failed, &inbox, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}; `inlet failed` lists what can be redriven"))?;
        engine.store().delete(&failed.with_key(layout::error_document_key(&failed.key))).await?;
        keys.push(inbox.key);
    }
    let processed = super::ingest::process_keys(&engine, &state.registrar(), keys, args.jobs.max(1)).await;
    let mut failures = 0;
    for p in &processed {
        println!("{}", serde_json::to_string(&p.outcome)?);
        failures += usize::from(p.outcome.is_failure() || p.catalog_error.is_some());
    }
    Ok(if failures > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
