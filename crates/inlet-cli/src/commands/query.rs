//! `inlet query`: SQL over the catalog's tables, locally (DataFusion) or in Athena.

use std::process::ExitCode;

use anyhow::Context;
use inlet_aws::AthenaQuery;
use inlet_contract::outputs;
use inlet_query::{LocalQueryEngine, OutputFormat, format_batches};

use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL statement. Tables are named as in `inlet tables`.
    sql: String,

    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Print the physical plan instead, to see which partitions are read (local only).
    #[arg(long, conflicts_with = "athena")]
    explain: bool,

    /// Run the query in Athena (needs --backend aws or --endpoint).
    #[arg(long)]
    athena: bool,

    /// The Athena workgroup [default: the stack's, else primary].
    #[arg(long, env = "INLET_ATHENA_WORKGROUP", requires = "athena")]
    workgroup: Option<String>,

    /// Where Athena writes results, s3://bucket/prefix/ [default: the
    /// workgroup's setting].
    #[arg(long, env = "INLET_ATHENA_OUTPUT", requires = "athena")]
    athena_output: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    if args.athena {
        return run_athena(state, &args).await;
    }
    let local = state.local.as_ref().context("local SQL reads the local buckets; with --backend aws, add --athena")?;
    let engine = LocalQueryEngine::open(state.catalog.as_ref(), &state.names.database, local).await?;
    if engine.tables().is_empty() {
        anyhow::bail!(
            "the catalog in {} has no tables yet; load some data first, e.g. `inlet ingest data/`",
            state.options.state_dir.display()
        );
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

async fn run_athena(state: &State, args: &Args) -> anyhow::Result<ExitCode> {
    let (settings, sdk) = state.aws.as_ref().context("Athena needs the AWS backend: add --backend aws (or --endpoint URL)")?;
    let workgroup = args.workgroup.clone().or_else(|| state.stack_output(outputs::WORKGROUP)).unwrap_or_else(|| "primary".into());
    let athena = AthenaQuery::new(settings.athena_client(sdk), &state.names.database, &workgroup, args.athena_output.clone());
    let result = athena.run(&args.sql).await?;
    match args.format {
        Format::Json => {
            for row in &result.rows {
                let object: serde_json::Map<String, serde_json::Value> = result
                    .columns
                    .iter()
                    .cloned()
                    .zip(row.iter().map(|v| v.clone().map_or(serde_json::Value::Null, serde_json::Value::String)))
                    .collect();
                println!("{}", serde_json::Value::Object(object));
            }
        }
        Format::Csv => {
            println!("{}", result.columns.join(","));
            for row in &result.rows {
                println!("{}", row.iter().map(|v| csv_field(v.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(","));
            }
        }
        Format::Table => print_table(&result.columns, &result.rows),
    }
    eprintln!("athena query {}: {} row{}", result.query_id, result.rows.len(), if result.rows.len() == 1 { "" } else { "s" });
    Ok(ExitCode::SUCCESS)
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value.to_owned() }
}

fn print_table(columns: &[String], rows: &[Vec<Option<String>>]) {
    let cell = |v: &Option<String>| v.clone().unwrap_or_default();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| rows.iter().map(|r| r.get(i).map(cell).unwrap_or_default().len()).max().unwrap_or(0).max(c.len()))
        .collect();
    let rule = format!("+{}+", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
    let line = |values: Vec<String>| {
        format!("| {} |", values.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect::<Vec<_>>().join(" | "))
    };
    println!("{rule}\n{}\n{rule}", line(columns.to_vec()));
    for row in rows {
        println!("{}", line(row.iter().map(cell).collect()));
    }
    println!("{rule}");
}
