//! `inlet repair`: register every output file the catalog is missing.

use std::process::ExitCode;

use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let report = state.registrar().repair().await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{} files in {} tables; {} partitions added", report.files, report.tables.len(), report.partitions_added);
    }
    Ok(ExitCode::SUCCESS)
}
