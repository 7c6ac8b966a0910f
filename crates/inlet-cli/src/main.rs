//! `inlet`: drop files in, query tables out, on one machine.
//!
//! This binary only parses arguments, sets up logging and opens the state
//! directory; every command's work is in `commands/`, over inlet-core.

mod cloud;
mod commands;
mod state;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Turn files into partitioned Parquet tables you can query with SQL.

inlet routes each file to a pipeline by its name, checks its rows, writes \
Snappy Parquet under Hive partitions and registers the tables in a catalog. \
By default everything lives in a state directory: buckets are folders, the \
catalog is a JSON file, and `inlet query` runs SQL locally. With --backend aws \
(or --endpoint URL) the same commands work on S3 and Glue, and \
`inlet query --athena` runs SQL in Athena.";

const AFTER_HELP: &str = "Examples:
  inlet ingest data/                         # every file under data/
  inlet query \"SELECT location, count(*) FROM a2e_buoy_gps GROUP BY 1\"
  inlet explain buoy.z05.00.20201201.000000.zip asx_eod_20201201.csv  # where files would go
  inlet query -f report.sql --format csv      # SQL from a file (or - for stdin)
  inlet tables --partitions                  # what is there
  inlet rejects a2e_buoy_wind --check fail_max  # rows a check rejected, with their lines
  inlet failed --stage convert --since 1d    # what failed and why
  inlet redrive --all                        # try failed inputs again
  inlet --stack inlet-prod ingest --wait day/  # upload to a deployment, follow its functions
  inlet repair                               # rebuild the catalog from the output files
  inlet reprocess asx_eod --since 30d        # run a changed pipeline again over its inputs
  inlet harvest --dry-run --at 2021-01-15T00:00:00Z  # the URLs a scheduled run would fetch
  inlet download asx_eod                     # fetch a source's new files and ingest them
  inlet backfill --product cyi_exports --from 2024-01-01 --to 2024-01-31  # days on Spark
  inlet runs list                            # backfill runs and the step each is at";

#[derive(Debug, Parser)]
#[command(name = "inlet", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    state: state::StateOptions,

    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "INLET_LOG_FORMAT")]
    log_format: LogFormat,

    /// More log detail (-v: per-file events, -vv: debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load files or folders: archives are expanded, each file is routed,
    /// converted and registered. With --stack the files go to the stack's
    /// in/ for its functions to process (--wait follows them to the end,
    /// --here processes them in this process instead). Exits non-zero when
    /// any input failed.
    Ingest(commands::ingest::Args),
    /// Run SQL over the catalog's tables (DataFusion). Partition columns work
    /// in WHERE and prune whole folders.
    Query(commands::query::Args),
    /// List tables with their partitions, files and rows.
    Tables(commands::tables::Args),
    /// Show the rows a table's checks rejected: the check, column, value and
    /// source line of each.
    Rejects(commands::rejects::Args),
    /// List failed inputs with the reason each failed.
    Failed(commands::failed::Args),
    /// Move failed inputs back to in/ and process them again.
    Redrive(commands::redrive::Args),
    /// Run a pipeline again over the inputs it loaded (in done/), after its
    /// definition changed: each input's new rows replace its old ones.
    Reprocess(commands::reprocess::Args),
    /// Register every output file the catalog is missing, reading tables,
    /// types and units from the files themselves.
    Repair(commands::repair::Args),
    /// List the pipelines and check their definitions.
    Pipelines(commands::pipelines::Args),
    /// Say where files would go, from their names: the pipeline, table,
    /// location and partition, or why they would end in failed/.
    Explain(commands::explain::Args),
    /// Print the URLs a scheduled run of the harvester would fetch, with
    /// their placeholders filled in for the run's time (config/sources.yaml).
    Harvest(commands::harvest::Args),
    /// Fetch the sources of config/sources.yaml into in/ (only what changed
    /// since the last fetch), then ingest what arrived. Records per URL and
    /// alerts are kept under <state-dir>/sources/.
    Download(commands::download::Args),
    /// Load a range of days of a product on Spark, with the steps of
    /// config/emr/<product>/: locally through spark-submit (resumable from
    /// the step a killed or failed run stopped in), or with --backend aws
    /// through the EMR launcher.
    Backfill(commands::emr::BackfillArgs),
    /// List backfill runs, or clear one so it starts from its first step.
    #[command(subcommand)]
    Runs(commands::emr::RunsCommand),
    /// Operate a product's EMR clusters.
    #[command(subcommand)]
    Emr(commands::emr::EmrCommand),
    /// Print a completion script for a shell, e.g.
    /// `inlet completions bash > ~/.local/share/bash-completion/completions/inlet`
    /// or `inlet completions zsh > "${fpath[1]}/_inlet"`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn init_logging(format: LogFormat, verbose: u8) {
    // The text summary already reports every failure; logs add detail on request.
    let default = match (format, verbose) {
        (LogFormat::Json, 0) => "info",
        (_, 0) => "error",
        (_, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("INLET_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_target(false).init(),
        // The input's span carries its correlation id into each line.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    inlet_core::allocator::keep_freed_memory();
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.verbose);
    match run(cli.state, cli.command).await {
        Ok(code) => code,
        Err(error) => {
            let again = if is_transient(&error) { "\nit may pass now: run the same command again" } else { "" };
            eprintln!("error: {error:#}{again}");
            ExitCode::from(2)
        }
    }
}

/// Whether a storage or catalog error in the chain says the failure was
/// passing (throttling, a 5xx, a dropped connection).
fn is_transient(error: &anyhow::Error) -> bool {
    use inlet_core::error::Classify;
    error.chain().any(|cause| {
        cause.downcast_ref::<inlet_core::storage::StoreError>().is_some_and(Classify::is_transient)
            || cause.downcast_ref::<inlet_core::catalog::CatalogError>().is_some_and(Classify::is_transient)
            || cause.downcast_ref::<inlet_core::register::RegisterError>().is_some_and(Classify::is_transient)
    })
}

async fn run(options: state::StateOptions, command: Command) -> anyhow::Result<ExitCode> {
    // These need no backend.
    match command {
        Command::Pipelines(args) => return commands::pipelines::run(&options, args).await,
        Command::Explain(args) => return commands::explain::run(&options, args).await,
        Command::Harvest(args) => return commands::harvest::run(args).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "inlet", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let state = options.open().await?;
    match command {
        Command::Ingest(args) => commands::ingest::run(&state, args).await,
        Command::Query(args) => commands::query::run(&state, args).await,
        Command::Tables(args) => commands::tables::run(&state, args).await,
        Command::Rejects(args) => commands::rejects::run(&state, args).await,
        Command::Failed(args) => commands::failed::run(&state, args).await,
        Command::Redrive(args) => commands::redrive::run(&state, args).await,
        Command::Repair(args) => commands::repair::run(&state, args).await,
        Command::Reprocess(args) => commands::reprocess::run(&state, args).await,
        Command::Download(args) => commands::download::run(&state, args).await,
        Command::Backfill(args) => commands::emr::backfill(&state, args).await,
        Command::Runs(command) => commands::emr::runs(&state, command).await,
        Command::Emr(command) => commands::emr::emr(&state, command).await,
        Command::Pipelines(_) | Command::Explain(_) | Command::Harvest(_) | Command::Completions { .. } => unreachable!("handled above"),
    }
}
