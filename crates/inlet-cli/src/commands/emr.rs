//! The EMR backfills from the command line: `inlet backfill`, `inlet runs`
//! and `inlet emr stop`, on the local run-state file or on the stack's
//! DynamoDB table and EMR.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use inlet_contract::outputs;
use inlet_emr::launcher::{Stopped, cancel_runs, stop};
use inlet_emr::local::{BackfillOutcome, LocalBackfill, SparkSubmit};
use inlet_emr::product::Templates;
use inlet_emr::request::DirectPayload;
use inlet_emr::run::{LocalRunState, Run, RunState, RunStatus};

use crate::state::State;

/// Where the runs are: the local file, or the stack's table.
#[derive(Debug, Clone, clap::Args)]
pub struct RunStateOptions {
    /// The run-state table, for --backend aws [default: the stack's
    /// RunStateTableName output].
    #[arg(long, env = "INLET_RUN_STATE_TABLE")]
    run_state_table: Option<String>,
}

impl RunStateOptions {
    fn open(&self, state: &State) -> anyhow::Result<Arc<dyn RunState>> {
        match &state.cloud {
            None => Ok(Arc::new(LocalRunState::new(state.options.state_dir.join("runs.json")))),
            Some(cloud) => {
                let Some(table) = self.run_state_table.clone().or_else(|| state.stack_output(outputs::RUN_STATE_TABLE)) else {
                    bail!(
                        "--backend aws keeps runs in the stack's table: name the stack with --stack, or set --run-state-table (INLET_RUN_STATE_TABLE) to its RunStateTableName output"
                    )
                };
                Ok(cloud.run_state(table))
            }
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The product: a folder of config/emr/ (e.g. cyi_exports).
    #[arg(long)]
    product: String,

    /// The first day, YYYY-MM-DD.
    #[arg(long = "from", value_name = "DATE")]
    from: NaiveDate,

    /// The last day, YYYY-MM-DD (included).
    #[arg(long = "to", value_name = "DATE")]
    to: NaiveDate,

    /// Names the run. Starting the same id again resumes it from the step it
    /// stopped in, or does nothing once it completed.
    #[arg(long)]
    correlation_id: Option<String>,

    /// The product templates (<dir>/<product>/*.yaml). Defaults to
    /// ./config/emr when it exists, else the templates built into inlet.
    #[arg(long, env = "INLET_EMR_CONFIG")]
    emr_config: Option<PathBuf>,

    /// With --backend aws: the launcher's queue, which receives the run as a
    /// direct payload [default: the stack's EmrLauncherQueueUrl output].
    #[arg(long, env = "INLET_LAUNCHER_QUEUE_URL")]
    launcher_queue_url: Option<String>,

    /// The spark-submit a local run uses (pip install pyspark provides one).
    #[arg(long, env = "INLET_SPARK_SUBMIT", default_value = "spark-submit")]
    spark_submit: PathBuf,

    /// The Spark master of a local run.
    #[arg(long, default_value = "local[2]")]
    master: String,

    /// Seconds a local run holds its run without renewing it: a killed
    /// backfill can be resumed this long after it died.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    lease: u64,
}

pub async fn backfill(state: &State, args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let correlation_id = args.correlation_id.clone().unwrap_or_else(|| format!("backfill-{}-{}-{}", args.product, args.from, args.to));
    let payload = DirectPayload {
        product: args.product.clone(),
        start_date: args.from,
        end_date: args.to,
        correlation_id,
        overrides: serde_json::Value::Null,
        extend: Default::default(),
        additional_step_args: Default::default(),
    };
    if let Some(cloud) = &state.cloud {
        let Some(url) = args.launcher_queue_url.clone().or_else(|| state.stack_output(outputs::EMR_LAUNCHER_QUEUE_URL)) else {
            bail!(
                "--backend aws sends the run to the launcher: name the stack with --stack, or set --launcher-queue-url (INLET_LAUNCHER_QUEUE_URL) to its EmrLauncherQueueUrl output"
            )
        };
        cloud.queue(url).send(serde_json::to_string(&payload)?).await?;
        println!(
            "sent {} ({} to {}) to the launcher; `inlet runs list --backend aws` follows it",
            payload.correlation_id, args.from, args.to
        );
        return Ok(ExitCode::SUCCESS);
    }
    run_locally(state, &args, payload).await
}

fn templates(dir: Option<&Path>) -> anyhow::Result<Templates> {
    let default = Path::new("config/emr");
    match dir.or(default.is_dir().then_some(default)) {
        Some(dir) => Templates::load_dir(dir).with_context(|| format!("reading the product templates in {}", dir.display())),
        None => Ok(Templates::embedded()),
    }
}

/// Where the steps' scripts are on this machine: beside the pipelines.
fn scripts_dir(state: &State) -> anyhow::Result<PathBuf> {
    let pipelines = state.options.pipelines.clone().unwrap_or_else(|| PathBuf::from("pipelines"));
    pipelines.canonicalize().with_context(|| {
        format!(
            "a local backfill runs the scripts under {}/<product>/emr/; run it from the repository or pass --pipelines",
            pipelines.display()
        )
    })
}

async fn run_locally(state: &State, args: &BackfillArgs, payload: DirectPayload) -> anyhow::Result<ExitCode> {
    let buckets = state.options.state_dir.join("buckets");
    std::fs::create_dir_all(&buckets)?;
    let storage_root = buckets.canonicalize()?.display().to_string();
    let scripts = scripts_dir(state)?.display().to_string();
    let (output_bucket, database) = (state.names.output_bucket.clone(), state.names.database.clone());
    let variables = move |name: &str| match name {
        inlet_contract::env::EMR_SCRIPTS => Some(scripts.clone()),
        inlet_contract::env::OUTPUT_BUCKET => Some(output_bucket.clone()),
        inlet_contract::env::GLUE_DATABASE => Some(database.clone()),
        other => std::env::var(other).ok(),
    };
    let backfill = LocalBackfill {
        templates: Arc::new(templates(args.emr_config.as_deref())?),
        state: Arc::new(LocalRunState::new(state.options.state_dir.join("runs.json"))),
        runner: Arc::new(SparkSubmit {
            program: args.spark_submit.clone(),
            master: args.master.clone(),
            extra_args: vec!["--storage_root".into(), storage_root, "--catalog".into(), "local".into()],
        }),
        owner: format!("local:{}:{}", hostname(), std::process::id()),
        lease: Duration::from_secs(args.lease.max(3)),
        on_step: Some(Box::new(|index, count, name| println!("step {}/{count}: {name}", index + 1))),
    };
    let request = payload.into_request(&state.names.input_bucket)?;
    let correlation_id = request.correlation_id.clone();
    println!("backfill {correlation_id}: {} from {} to {}", request.product, args.from, args.to);
    match backfill.run(request, &variables).await? {
        BackfillOutcome::Completed { run_id, from_step, steps } => {
            if from_step > 0 {
                println!("run {run_id} resumed at step {}/{} ({})", from_step + 1, steps.len(), steps[from_step]);
            }
            println!("run {run_id} completed");
        }
        BackfillOutcome::AlreadyCompleted => println!("{correlation_id} already completed; `inlet runs clear` to run it again"),
        BackfillOutcome::AlreadyRunning { owner } => {
            println!("{correlation_id} is running ({owner}); a killed run can be resumed once its lease runs out");
            return Ok(ExitCode::from(1));
        }
        BackfillOutcome::Cancelled => {
            println!("{correlation_id} was cancelled; `inlet runs clear` to start it afresh");
            return Ok(ExitCode::from(1));
        }
    }
    // Partitions are registered from the files, as `inlet repair` does.
    let report = state.registrar().repair().await?;
    println!("catalog: {} partitions added in {} tables", report.partitions_added, report.tables.len());
    Ok(ExitCode::SUCCESS)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "localhost".into())
}

#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// Every run, newest first.
    List {
        #[arg(long)]
        product: Option<String>,
        /// IN_PROGRESS, COMPLETED, FAILED or CANCELLED.
        #[arg(long, value_parser = parse_status)]
        status: Option<RunStatus>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: RunStateOptions,
    },
    /// Delete a run's row, so that its next start runs from the first step.
    Clear {
        #[arg(long)]
        correlation_id: String,
        #[arg(long)]
        product: String,
        #[command(flatten)]
        store: RunStateOptions,
    },
}

fn parse_status(text: &str) -> Result<RunStatus, String> {
    RunStatus::parse(text).ok_or_else(|| "one of IN_PROGRESS, COMPLETED, FAILED, CANCELLED".into())
}

pub async fn runs(state: &State, command: RunsCommand) -> anyhow::Result<ExitCode> {
    match command {
        RunsCommand::List { product, status, json, store } => {
            let mut runs: Vec<Run> = store
                .open(state)?
                .list()
                .await?
                .into_iter()
                .filter(|r| product.as_ref().is_none_or(|p| *p == r.product) && status.is_none_or(|s| s == r.status))
                .collect();
            runs.sort_by_key(|r| std::cmp::Reverse(r.updated_at));
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                print_runs(&runs);
            }
        }
        RunsCommand::Clear { correlation_id, product, store } => {
            if store.open(state)?.delete(&correlation_id, &product).await? {
                println!("cleared {correlation_id}/{product}; its next start runs from the first step");
            } else {
                println!("no run {correlation_id}/{product}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_runs(runs: &[Run]) {
    println!(
        "{:<36} {:<14} {:<10} {:>3} {:<11} {:<24} {:<20} REASON",
        "CORRELATION_ID", "PRODUCT", "DATE", "RUN", "STATUS", "STEP", "CLUSTER"
    );
    for run in runs {
        let step = format!("{}/{} {}", (run.current_step + 1).min(run.steps.len()), run.steps.len(), run.current_step_name());
        println!(
            "{:<36} {:<14} {:<10} {:>3} {:<11} {:<24} {:<20} {}",
            run.correlation_id,
            run.product,
            run.date,
            run.run_id,
            run.status,
            step,
            run.cluster_id.as_deref().unwrap_or("-"),
            run.reason.as_deref().unwrap_or("")
        );
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum EmrCommand {
    /// Terminate every cluster of a product (or cancel its job runs, for a
    /// product on EMR Serverless) and mark its runs in progress CANCELLED.
    /// Locally there are no clusters: a running backfill stops at its next
    /// step.
    Stop {
        #[arg(long)]
        product: String,
        /// The product templates, which say the product's engine. Defaults
        /// as for `inlet backfill`.
        #[arg(long, env = "INLET_EMR_CONFIG")]
        emr_config: Option<PathBuf>,
        #[command(flatten)]
        store: RunStateOptions,
    },
}

pub async fn emr(state: &State, command: EmrCommand) -> anyhow::Result<ExitCode> {
    let EmrCommand::Stop { product, emr_config, store } = command;
    let runs = store.open(state)?;
    let now = chrono::Utc::now().timestamp();
    let stopped = match &state.cloud {
        Some(cloud) => {
            let engines = cloud.engines();
            let templates = templates(emr_config.as_deref())?;
            stop(&engines.for_product(&templates, &product, &|name| std::env::var(name).ok())?, runs.as_ref(), &product, now).await?
        }
        None => Stopped {
            clusters: Vec::new(),
            runs_cancelled: cancel_runs(runs.as_ref(), &product, "stopped by `inlet emr stop`", now).await?,
        },
    };
    println!("{product}: {} clusters terminated, {} runs cancelled", stopped.clusters.len(), stopped.runs_cancelled.len());
    for id in &stopped.clusters {
        println!("  terminated {id}");
    }
    for id in &stopped.runs_cancelled {
        println!("  cancelled {id}");
    }
    Ok(ExitCode::SUCCESS)
}
