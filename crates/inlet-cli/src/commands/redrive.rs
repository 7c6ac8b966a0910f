//! `inlet redrive`: move failed inputs back to `in/` and process them again.

use std::process::ExitCode;

use inlet_core::drive;

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
    super::ingest::sweep_scratch(state, &engine);
    let bucket = engine.config().input_bucket.clone();
    let failed: Vec<String> = if args.all {
        drive::failed_inputs(engine.store().as_ref(), &bucket).await?.into_iter().map(|f| f.key).collect()
    } else {
        args.keys.clone()
    };
    if failed.is_empty() {
        println!("nothing to redrive: failed/ is empty");
        return Ok(ExitCode::SUCCESS);
    }
    let keys = drive::move_back(engine.store(), &bucket, &failed)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; `inlet failed` lists what can be redriven"))?;
    let processed = super::ingest::process_keys(&engine, &state.registrar(), keys, args.jobs.max(1)).await;
    let mut failures = 0;
    for p in &processed {
        println!("{}", serde_json::to_string(&p.outcome)?);
        failures += usize::from(p.is_failure());
    }
    Ok(if failures > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
