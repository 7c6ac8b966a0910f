//! `inlet query`: SQL over the local catalog.

use std::process::ExitCode;

use inlet_query::{LocalQueryEngine, OutputFormat, format_batches};

use crate::state::StateOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL statement. Tables are named as in `inlet tables`.
    sql: String,

    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Print the physical plan instead, to see which partitions are read.
    #[arg(long)]
    explain: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

pub async fn run(state: &StateOptions, args: Args) -> anyhow::Result<ExitCode> {
    let catalog = state.catalog();
    let store = state.store();
    let engine = LocalQueryEngine::open(&catalog, &inlet_core::EngineConfig::default().database, &store).await?;
    if engine.tables().is_empty() {
        anyhow::bail!("the catalog in {} has no tables yet; load some data first, e.g. `inlet ingest data/`", state.state_dir.display());
    }
    if args.explain {
        println!("{}", engine.explain(&args.sql).await?);
        return Ok(ExitCode::SUCCESS);
    }
    let batches = engine.sql(&args.sql).await?;
    let format = match args.format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
    };
    print!("{}", format_batches(&batches, format)?);
    if format == OutputFormat::Table {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
