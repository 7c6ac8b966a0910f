//! `inlet failed`: failed inputs and why.

use std::process::ExitCode;

use inlet_core::drive::{self, FailedInput};
use inlet_core::layout;

use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the error documents as JSON lines.
    #[arg(long)]
    json: bool,
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let failed = drive::failed_inputs(state.store.as_ref(), &state.names.input_bucket).await?;
    if failed.is_empty() && !args.json {
        println!("no failed inputs");
    }
    for FailedInput { key, failure } in &failed {
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
