//! `inlet query`: SQL over the catalog's tables, locally (DataFusion) or in
//! Athena. Both print through arrow's table printer, so a result looks the
//! same wherever it ran.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use inlet_contract::outputs;
use inlet_query::{LocalQueryEngine, OutputFormat, RecordBatch, format_batches, text_batch};

use crate::cloud::AthenaTarget;
use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL statement, or - to read it from standard input. Tables are
    /// named as in `inlet tables`.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    sql: Option<String>,

    /// Read the SQL statement from this file.
    #[arg(long, short = 'f', value_name = "PATH")]
    file: Option<PathBuf>,

    /// Print the physical plan instead, to see which partitions are read (local only).
    #[arg(long, conflicts_with = "athena")]
    explain: bool,

    #[command(flatten)]
    output: Output,
}

/// Where a statement runs and how its result prints; `inlet rejects` shares them.
#[derive(Debug, clap::Args)]
pub struct Output {
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

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

impl Args {
    /// The statement, from the argument, the file or standard input.
    fn statement(&self) -> anyhow::Result<String> {
        let text = match (&self.sql, &self.file) {
            (_, Some(path)) => std::fs::read_to_string(path).with_context(|| format!("reading SQL from {}", path.display()))?,
            (Some(sql), None) if sql == "-" => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).context("reading SQL from standard input")?;
                text
            }
            (Some(sql), None) => sql.clone(),
            (None, None) => unreachable!("clap requires the SQL or --file"),
        };
        let statement = text.trim().trim_end_matches(';').trim();
        anyhow::ensure!(!statement.is_empty(), "the SQL statement is empty");
        Ok(statement.to_owned())
    }
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let sql = args.statement()?;
    if args.explain {
        println!("{}", local_engine(state).await?.explain(&sql).await?);
        return Ok(ExitCode::SUCCESS);
    }
    print_result(state, &sql, &args.output).await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `sql` where `output` says and prints its result.
pub async fn print_result(state: &State, sql: &str, output: &Output) -> anyhow::Result<()> {
    let batches = if output.athena { vec![run_athena(state, output, sql).await?] } else { local_engine(state).await?.sql(sql).await? };
    let format = match output.format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
    };
    print!("{}", format_batches(&batches, format)?);
    if format == OutputFormat::Table {
        println!();
    }
    Ok(())
}

async fn local_engine(state: &State) -> anyhow::Result<LocalQueryEngine> {
    let local = state.local.as_ref().context("local SQL reads the local buckets; with --backend aws, add --athena")?;
    let engine = LocalQueryEngine::open(state.catalog.as_ref(), &state.names.database, local).await?;
    if engine.tables().is_empty() {
        anyhow::bail!(
            "the catalog in {} has no tables yet; load some data first, e.g. `inlet ingest data/`",
            state.options.state_dir.display()
        );
    }
    Ok(engine)
}

/// Runs the statement in Athena; its text result becomes one batch.
async fn run_athena(state: &State, output: &Output, sql: &str) -> anyhow::Result<RecordBatch> {
    let cloud = state.cloud.as_ref().context("Athena needs the AWS backend: add --backend aws (or --endpoint URL)")?;
    let workgroup = output.workgroup.clone().or_else(|| state.stack_output(outputs::WORKGROUP)).unwrap_or_else(|| "primary".into());
    let target = AthenaTarget { database: &state.names.database, workgroup: &workgroup, output_location: output.athena_output.clone() };
    let result = cloud.athena(target, sql).await?;
    let rows = result.rows.len();
    eprintln!("athena query {}: {rows} row{}", result.query_id, if rows == 1 { "" } else { "s" });
    Ok(text_batch(&result.columns, &result.rows)?)
}
