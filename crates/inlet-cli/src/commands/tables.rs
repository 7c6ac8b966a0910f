//! `inlet tables`: what the catalog holds.

use std::process::ExitCode;

use inlet_core::catalog::{PartitionDefinition, TableDefinition};
use inlet_core::partition::Partition;
use inlet_query::LocalQueryEngine;

use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object per table.
    #[arg(long)]
    json: bool,

    /// Also list each table's columns with their types and units.
    #[arg(long, short = 'c')]
    columns: bool,

    /// Also list each table's partitions (key=value/…), in order.
    #[arg(long, short = 'p')]
    partitions: bool,
}

/// A partition as its folder names it: `year=2020/month=12`.
fn partition_path(table: &TableDefinition, partition: &PartitionDefinition) -> String {
    let keys: Vec<&str> = table.partition_keys.iter().map(|k| k.name.as_str()).collect();
    Partition::from_keys_and_values(&keys, &partition.values).path()
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
            Some(engine) => Some(engine.count_rows(&table.name).await?),
            None => None,
        };
        let keys: Vec<&str> = table.partition_keys.iter().map(|k| k.name.as_str()).collect();
        let mut paths: Vec<String> = partitions.iter().map(|p| partition_path(table, p)).collect();
        paths.sort();
        if args.json {
            let mut value = serde_json::json!({
                "table": table.name, "partitions": partitions.len(), "files": files, "rows": rows,
                "partition_keys": keys, "location": table.location, "columns": table.columns
            });
            if args.partitions {
                value["partition_values"] = serde_json::json!(partitions.iter().map(|p| &p.values).collect::<Vec<_>>());
            }
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
            if args.partitions {
                for path in &paths {
                    println!("    {path}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
