//! `inlet tables`: what the catalog holds.

use std::process::ExitCode;

use datafusion_count::count_rows;
use inlet_core::storage::ObjectStore;

use crate::state::StateOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object per table.
    #[arg(long)]
    json: bool,

    /// Also list each table's columns with their types and units.
    #[arg(long, short = 'c')]
    columns: bool,
}

mod datafusion_count {
    use inlet_query::LocalQueryEngine;

    /// Rows of a table, from Parquet footers where DataFusion can.
    pub async fn count_rows(engine: &LocalQueryEngine, table: &str) -> anyhow::Result<u64> {
        let batches = engine.sql(&format!("SELECT count(*) AS n FROM \"{table}\"")).await?;
        let text = inlet_query::format_batches(&batches, inlet_query::OutputFormat::Csv)?;
        Ok(text.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0))
    }
}

pub async fn run(state: &StateOptions, args: Args) -> anyhow::Result<ExitCode> {
    let catalog = state.catalog();
    let store = state.store();
    let config = inlet_core::EngineConfig::default();
    let tables = inlet_core::catalog::Catalog::list_tables(&catalog, &config.database).await?;
    if tables.is_empty() {
        println!("no tables yet; load some data with `inlet ingest PATH`");
        return Ok(ExitCode::SUCCESS);
    }
    let engine = inlet_query::LocalQueryEngine::open(&catalog, &config.database, &store).await?;
    if !args.json {
        println!("{:<32} {:>10} {:>6} {:>12}  partition keys", "table", "partitions", "files", "rows");
    }
    for table in &tables {
        let partitions = inlet_core::catalog::Catalog::list_partitions(&catalog, &config.database, &table.name).await?;
        let files = store
            .list(&config.output_bucket, &format!("{}/", table.name))
            .await?
            .into_iter()
            .filter(|m| m.location.key.ends_with(".parquet"))
            .count();
        let rows = count_rows(&engine, &table.name).await?;
        let keys: Vec<&str> = table.partition_keys.iter().map(|k| k.name.as_str()).collect();
        if args.json {
            println!(
                "{}",
                serde_json::json!({ "table": table.name, "partitions": partitions.len(), "files": files, "rows": rows, "partition_keys": keys, "location": table.location, "columns": table.columns })
            );
        } else {
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
