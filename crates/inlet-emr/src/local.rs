//! A backfill on one machine: the product's steps, in order, through a local
//! `spark-submit`, with the run kept in the local run-state file. The process
//! owns the run while it renews its lease; a killed backfill's lease runs
//! out, and the next start resumes from the step it was in.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::claim::{Claim, LeaseOnly, claim, modify};
use crate::error::EmrError;
use crate::jobflow::Step;
use crate::product::{Lookup, Templates};
use crate::request::LaunchRequest;
use crate::run::{Run, RunState, RunStatus};

/// Runs one step to its end.
#[async_trait]
pub trait StepRunner: Send + Sync {
    async fn run(&self, step: &Step, args: &[String]) -> Result<(), EmrError>;
}

const LOCAL_SETTINGS: [&str; 3] = ["spark.driver.bindAddress=127.0.0.1", "spark.driver.host=127.0.0.1", "spark.ui.enabled=false"];

/// `spark-submit` on a local master. A step is an EMR `command-runner.jar`
/// step whose arguments start with `spark-submit`; the cluster's
/// `--deploy-mode` gives way to a local master, and `extra_args` (where the
/// buckets are) are appended.
#[derive(Debug, Clone)]
pub struct SparkSubmit {
    pub program: PathBuf,
    pub master: String,
    pub extra_args: Vec<String>,
}

impl SparkSubmit {
    /// The command line for `step`.
    pub fn command_line(&self, step: &Step, args: &[String]) -> Result<Vec<String>, EmrError> {
        let command = step.spark_submit("a local Spark")?;
        let mut line = vec!["--master".to_string(), self.master.clone()];
        // One machine's run listens on loopback only, and serves no web UI.
        for setting in LOCAL_SETTINGS {
            line.extend(["--conf".to_string(), setting.to_string()]);
        }
        line.extend(command.options);
        line.push(command.application);
        line.extend(command.arguments);
        line.extend(args.iter().cloned());
        line.extend(self.extra_args.iter().cloned());
        Ok(line)
    }
}

#[async_trait]
impl StepRunner for SparkSubmit {
    async fn run(&self, step: &Step, args: &[String]) -> Result<(), EmrError> {
        let line = self.command_line(step, args)?;
        tracing::info!(step = %step.name, command = %format!("{} {}", self.program.display(), line.join(" ")), "running step");
        let status =
            tokio::process::Command::new(&self.program).args(&line).kill_on_drop(true).status().await.map_err(|e| EmrError::Engine {
                engine: "spark-submit",
                operation: "start",
                message: format!("{}: {e}; install pyspark (pip install pyspark) or set INLET_SPARK_SUBMIT", self.program.display()),
                class: inlet_core::error::ErrorClass::Permanent,
                source: Box::new(e),
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(EmrError::Step {
                correlation_id: String::new(),
                product: String::new(),
                step: step.name.clone(),
                message: format!("spark-submit exited with {status}; its output above says why"),
            })
        }
    }
}

/// Told of each step as it starts: (index, count, name).
pub type StepProgress = Box<dyn Fn(usize, usize, &str) + Send + Sync>;

pub struct LocalBackfill {
    pub templates: Arc<Templates>,
    pub state: Arc<dyn RunState>,
    pub runner: Arc<dyn StepRunner>,
    /// `local:<host>:<pid>`.
    pub owner: String,
    /// Renewed every third of itself while the backfill lives.
    pub lease: Duration,
    pub on_step: Option<StepProgress>,
}

/// What a local backfill did.
#[derive(Debug, Clone, PartialEq)]
pub enum BackfillOutcome {
    /// Ran the steps from `from_step` on; all finished.
    Completed {
        run_id: u32,
        from_step: usize,
        steps: Vec<String>,
    },
    AlreadyRunning {
        owner: String,
    },
    AlreadyCompleted,
    Cancelled,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl LocalBackfill {
    pub async fn run(&self, request: LaunchRequest, variables: Lookup<'_>) -> Result<BackfillOutcome, EmrError> {
        let steps = self.templates.steps(&request.product, variables, &request.changes)?;
        let names = steps.iter().map(|s| s.name.clone()).collect();
        let lease = self.lease.as_secs() as i64;
        let fresh = Run::new(request, names, &self.owner, now(), now() + lease);
        let run = match claim(self.state.as_ref(), fresh, now(), &LeaseOnly).await? {
            Claim::Claimed(run) => run,
            Claim::Busy(run) => return Ok(BackfillOutcome::AlreadyRunning { owner: run.owner }),
            Claim::Completed(_) => return Ok(BackfillOutcome::AlreadyCompleted),
            Claim::Cancelled(_) => return Ok(BackfillOutcome::Cancelled),
        };
        let from_step = run.current_step;
        let held = Arc::new(Mutex::new(run));
        let heartbeat = tokio::spawn(renew_lease(Arc::clone(&self.state), Arc::clone(&held), self.lease));
        let result = self.run_steps(&held, &steps).await;
        heartbeat.abort();
        let run = held.lock().await.clone();
        result?;
        Ok(BackfillOutcome::Completed { run_id: run.run_id, from_step, steps: run.steps })
    }

    async fn run_steps(&self, held: &Mutex<Run>, steps: &[Step]) -> Result<(), EmrError> {
        let (start, args, correlation_id, product) = {
            let run = held.lock().await;
            (run.current_step, run.request.step_args(), run.correlation_id.clone(), run.product.clone())
        };
        for (index, step) in steps.iter().enumerate().skip(start) {
            if let Some(on_step) = &self.on_step {
                on_step(index, steps.len(), &step.name);
            }
            if let Err(error) = self.runner.run(step, &args).await {
                let reason = error.to_string();
                update_held(self.state.as_ref(), held, move |run| run.end(RunStatus::Failed, reason.clone())).await?;
                return Err(match error {
                    EmrError::Step { step, message, .. } => EmrError::Step { correlation_id, product, step, message },
                    other => other,
                });
            }
            let total = steps.len();
            update_held(self.state.as_ref(), held, move |run| {
                run.current_step = index + 1;
                if run.current_step == total {
                    run.status = RunStatus::Completed;
                    run.lease_until = 0;
                }
            })
            .await?;
        }
        Ok(())
    }
}

/// Changes the held run in the store; the lock keeps the heartbeat's writes
/// and the steps' in one sequence of versions.
async fn update_held(state: &dyn RunState, held: &Mutex<Run>, change: impl Fn(&mut Run) + Send + Sync) -> Result<(), EmrError> {
    let mut run = held.lock().await;
    let (owner, run_id) = (run.owner.clone(), run.run_id);
    let changed = modify(state, &run.correlation_id.clone(), &run.product.clone(), &|stored| {
        // Taken over, or stopped by `inlet emr stop`: this process no longer owns it.
        if stored.owner != owner || stored.run_id != run_id || stored.status != RunStatus::InProgress {
            return false;
        }
        change(stored);
        *stored = stored.clone().touched(now());
        true
    })
    .await?;
    match changed {
        Some((stored, true)) => {
            *run = stored;
            Ok(())
        }
        _ => Err(EmrError::Conflict { correlation_id: run.correlation_id.clone(), product: run.product.clone() }),
    }
}

async fn renew_lease(state: Arc<dyn RunState>, held: Arc<Mutex<Run>>, lease: Duration) {
    let mut ticks = tokio::time::interval(lease / 3);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let until = now() + lease.as_secs() as i64;
        if let Err(error) = update_held(state.as_ref(), &held, move |run| run.lease_until = until).await {
            tracing::warn!(%error, "could not renew the run's lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use chrono::NaiveDate;

    use super::*;
    use crate::jobflow::HadoopJarStep;
    use crate::run::LocalRunState;

    fn step(name: &str, args: &[&str]) -> Step {
        Step {
            name: name.into(),
            action_on_failure: "TERMINATE_CLUSTER".into(),
            hadoop_jar_step: HadoopJarStep {
                jar: "command-runner.jar".into(),
                args: args.iter().map(|a| a.to_string()).collect(),
                main_class: None,
            },
        }
    }

    #[test]
    fn a_cluster_step_becomes_a_local_spark_submit() {
        let submit = SparkSubmit {
            program: "spark-submit".into(),
            master: "local[2]".into(),
            extra_args: vec!["--storage_root".into(), "/s".into()],
        };
        let line = submit
            .command_line(
                &step("load", &["spark-submit", "--deploy-mode", "cluster", "s3://x/load.py", "--table", "t"]),
                &["--export_date".into(), "2024-01-05".into()],
            )
            .unwrap();
        assert_eq!(&line[..2], ["--master", "local[2]"]);
        assert_eq!(&line[8..], ["s3://x/load.py", "--table", "t", "--export_date", "2024-01-05", "--storage_root", "/s"]);
        assert!(line.contains(&"spark.driver.bindAddress=127.0.0.1".to_string()));
        assert!(submit.command_line(&step("x", &["hive-script"]), &[]).is_err());
    }

    /// Fails the step named `fail_at` once, and records what ran.
    struct Recorder {
        fail_at: StdMutex<Option<String>>,
        ran: StdMutex<Vec<String>>,
    }

    #[async_trait]
    impl StepRunner for Recorder {
        async fn run(&self, step: &Step, _args: &[String]) -> Result<(), EmrError> {
            self.ran.lock().unwrap().push(step.name.clone());
            if self.fail_at.lock().unwrap().take_if(|name| *name == step.name).is_some() {
                return Err(EmrError::Step {
                    correlation_id: String::new(),
                    product: String::new(),
                    step: step.name.clone(),
                    message: "boom".into(),
                });
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failed_backfill_resumes_from_its_failed_step() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(LocalRunState::new(dir.path().join("runs.json")));
        let runner = Arc::new(Recorder { fail_at: StdMutex::new(Some("publish-days".into())), ran: StdMutex::new(Vec::new()) });
        let backfill = LocalBackfill {
            templates: Arc::new(Templates::embedded()),
            state: state.clone(),
            runner: runner.clone(),
            owner: "local:test".into(),
            lease: Duration::from_secs(30),
            on_step: None,
        };
        let request = LaunchRequest {
            product: "cyi_exports".into(),
            correlation_id: "c".into(),
            export_date: NaiveDate::from_ymd_opt(2024, 1, 5).unwrap(),
            start_date: Some(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()),
            s3_bucket: "input".into(),
            s3_prefix: "cyi_exports/".into(),
            changes: Default::default(),
        };
        let variables = |name: &str| Some(format!("<{name}>"));
        let error = backfill.run(request.clone(), &variables).await.unwrap_err();
        assert!(error.to_string().contains("step publish-days of run c/cyi_exports failed"), "{error}");
        let failed = state.get("c", "cyi_exports").await.unwrap().unwrap();
        assert_eq!((failed.status, failed.current_step), (RunStatus::Failed, 1));

        let outcome = backfill.run(request.clone(), &variables).await.unwrap();
        assert_eq!(outcome, BackfillOutcome::Completed { run_id: 2, from_step: 1, steps: vec!["load-days".into(), "publish-days".into()] });
        assert_eq!(*runner.ran.lock().unwrap(), ["load-days", "publish-days", "publish-days"], "the second run began at the failed step");
        assert_eq!(backfill.run(request, &variables).await.unwrap(), BackfillOutcome::AlreadyCompleted);
    }
}
