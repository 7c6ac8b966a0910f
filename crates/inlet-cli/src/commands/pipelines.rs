//! `inlet pipelines`: list and check pipeline definitions, or print their JSON Schema.

use std::process::ExitCode;

use inlet_core::pipeline;

use crate::state::StateOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the JSON Schema of pipeline.yaml (for editors) and exit.
    #[arg(long)]
    schema: bool,
}

pub async fn run(state: &StateOptions, args: Args) -> anyhow::Result<ExitCode> {
    if args.schema {
        println!("{}", serde_json::to_string_pretty(&pipeline::json_schema())?);
        return Ok(ExitCode::SUCCESS);
    }
    let (set, source) = match state.load_pipelines() {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("pipelines from {source}: all valid");
    for p in set.iter() {
        let keys = p.partition_keys().join(", ");
        println!("  {:<20} partitions: {keys:<24} {}", p.name, p.source_file);
    }
    Ok(ExitCode::SUCCESS)
}
