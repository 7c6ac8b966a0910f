//! `inlet tables`: what the catalog holds.

use std::process::ExitCode;

use inlet_query::{LocalQueryEngine, OutputFormat, format_batches};

use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object per table.
    #[arg(long)]
    json: bool,

    /// Also list each table's columns with their types and units.
    #[arg(long, short = 'c')]
    columns: bool,
}

/// Rows of a table, from Parquet footers where DataFusion can.
async fn count_rows(engine: &LocalQueryEngine, table: &str) -> anyhow::Result<u64> {
    let batches = engine.sql(&format!("SELECT count(*) AS n FROM \"{table}\"")).await?;
    let text = format_batches(&batches, OutputFormat::Csv)?;
    Ok(text.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0))
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let database = &state.names.database;
    let tables = state.catalog.list_tables(database).await?;
    if tables.is_empty() {
        println!("no tables yet; load some data with `inlet ingest PATH`");
        return Ok(ExitCode::SUCCESS);
    }
    // Row counts come from a local scan; in AWS they would cost an Athena query each.
    let engine = match &state.local {
        Some(local) => Some(LocalQueryEngine::open(state.catalog.as_ref(), database, local).await?),
        None => None,
    };
    if !args.json {
        println!("{:<32} {:>10} {:>6} {:>12}  partition keys", "table", "partitions", "files", "rows");
    }
    for table in &tables {
        let partitions = state.catalog.list_partitions(database, &table.name).await?;
        let files = state
            .store
            .list(&state.names.output_bucket, &format!("{}/", table.name))
            .await?
            .into_iter()
            .filter(|m| m.location.key.ends_with(".parquet"))
            .count();
        let rows = match &engine {
            Some(engine) => Some(count_rows(engine, &table.name).await?),
            None => None,
        };
        let keys: Vec<&str> = table.partition_keys.iter().map(|k| k.name.as_str()).collect();
        if args.json {
            let value = serde_json::json!({
                "table": table.name, "partitions": partitions.len(), "files": files, "rows": rows,
                "partition_keys": keys, "location": table.location, "columns": table.columns
            });
            println!("{value}");
        } else {
            let rows = rows.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
            println!("{:<32} {:>10} {:>6} {:>12}  {}", table.name, partitions.len(), files, rows, keys.join(", "));
            if args.columns {
                for column in &table.columns {
                    let units = column.units().map(|u| format!("  [{u}]")).unwrap_or_default();
                    println!("    {:<30} {}{units}", column.name, column.data_type);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
