//! The launcher: starts one cluster (or one job run per step, on EMR
//! Serverless) per run, follows its steps, relaunches a cluster that ended
//! with errors (or a failed job run) from the step that failed, at most
//! `max_retries` times, and stops a product's clusters on request.

use std::sync::Arc;

use async_trait::async_trait;
use inlet_core::alerts::{Alert, Alerts};
use serde::Serialize;

use crate::claim::{Claim, Liveness, claim, modify};
use crate::engine::{CORRELATION_TAG, ClusterInfo, Engine, Engines, PRODUCT_TAG, run_tags};
use crate::error::EmrError;
use crate::events::{ClusterStateChange, StepStatusChange};
use crate::jobflow::{JobFlow, Step, Tag};
use crate::product::{EngineKind, Templates};
use crate::request::LaunchRequest;
use crate::run::{Run, RunState, RunStatus};
use crate::serverless::{JobRun, JobRunStateChange, ServerlessTarget};

/// Looks template variables up; the function's environment in AWS.
pub type VariableLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How long owners hold a run without renewing it.
#[derive(Debug, Clone, Copy)]
pub struct Leases {
    /// The launcher, between taking a run and recording its cluster: longer
    /// than one invocation can last.
    pub launch_seconds: i64,
    /// A cluster, renewed by each of its step events. When it runs out the
    /// cluster is asked whether it is still up before the run is taken over.
    pub cluster_seconds: i64,
}

impl Default for Leases {
    fn default() -> Self {
        Self { launch_seconds: 15 * 60, cluster_seconds: 6 * 3600 }
    }
}

pub struct Launcher {
    pub templates: Arc<Templates>,
    pub variables: VariableLookup,
    pub state: Arc<dyn RunState>,
    pub engines: Engines,
    pub alerts: Arc<dyn Alerts>,
    pub leases: Leases,
}

/// What a run of a product is started with.
enum Plan {
    /// One cluster runs the steps from the current one on.
    Cluster(Box<JobFlow>),
    /// One job run per step, the current one first.
    JobRuns(ServerlessTarget, Vec<Step>),
}

impl Plan {
    fn step_names(&self) -> Vec<String> {
        let steps = match self {
            Plan::Cluster(job) => &job.steps,
            Plan::JobRuns(_, steps) => steps,
        };
        steps.iter().map(|s| s.name.clone()).collect()
    }
}

/// What a start did. On EMR Serverless, `cluster_id` is the job run's id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Started {
    Launched { cluster_id: String, run_id: u32, from_step: String },
    AlreadyRunning { owner: String },
    AlreadyCompleted,
    Cancelled,
}

/// What an EMR event did. On EMR Serverless, `cluster_id` is a job run's id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Followed {
    /// Not about a run's current cluster, or behind what the run knows.
    Ignored {
        why: String,
    },
    StepRecorded {
        current_step: usize,
        status: RunStatus,
    },
    /// A job run succeeded and the next step's started.
    NextStep {
        job_run_id: String,
        step: String,
    },
    Relaunched {
        cluster_id: String,
        run_id: u32,
        from_step: String,
    },
    GaveUp {
        run_id: u32,
        reason: String,
    },
    /// Its job run was cancelled outside inlet; the run is CANCELLED.
    Cancelled {
        reason: String,
    },
}

/// What `stop` did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stopped {
    pub clusters: Vec<String>,
    pub runs_cancelled: Vec<String>,
}

impl Launcher {
    /// Starts `request`'s run, unless it already runs or ran.
    pub async fn start(&self, request: LaunchRequest, now: i64) -> Result<Started, EmrError> {
        let plan = self.plan(&request)?;
        let fresh = Run::new(request, plan.step_names(), "launcher", now, now + self.leases.launch_seconds);
        match claim(self.state.as_ref(), fresh, now, self).await? {
            Claim::Claimed(run) => self.launch(run, plan, now).await,
            Claim::Busy(run) => Ok(Started::AlreadyRunning { owner: run.owner }),
            Claim::Completed(_) => Ok(Started::AlreadyCompleted),
            Claim::Cancelled(_) => Ok(Started::Cancelled),
        }
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| (self.variables)(name)
    }

    /// The product's request for `request`, with its changes.
    fn plan(&self, request: &LaunchRequest) -> Result<Plan, EmrError> {
        let (product, lookup) = (&request.product, &self.lookup());
        Ok(match self.templates.launcher_settings(product)?.engine {
            EngineKind::Emr => Plan::Cluster(Box::new(self.templates.job_flow(product, lookup, &request.changes)?)),
            EngineKind::EmrServerless => {
                Plan::JobRuns(self.templates.serverless_target(product, lookup)?, self.templates.steps(product, lookup, &request.changes)?)
            }
        })
    }

    fn engine(&self, product: &str) -> Result<Engine<'_>, EmrError> {
        self.engines.for_product(&self.templates, product, &self.lookup())
    }

    /// Starts `run`'s steps from its current one on, and records what runs them.
    async fn launch(&self, run: Run, plan: Plan, now: i64) -> Result<Started, EmrError> {
        let started = match plan {
            Plan::Cluster(job) => self.engines.clusters.launch(&cluster_request(&run, *job)).await,
            Plan::JobRuns(target, steps) => match JobRun::for_current_step(&target, &steps, &run) {
                Ok(job_run) => self.engines.job_runs.start(&job_run).await,
                Err(error) => Err(error),
            },
        };
        let cluster_id = match started {
            Ok(id) => id,
            Err(error) => {
                // Give the run up at once, so the redelivered message resumes
                // it without waiting out the launch lease.
                let reason = format!("step {} could not be started: {error}", run.current_step_name());
                self.record(&run, now, move |r| r.end(RunStatus::Failed, reason.clone())).await?;
                return Err(error);
            }
        };
        tracing::info!(correlation_id = %run.correlation_id, product = %run.product, run_id = run.run_id, cluster_id, from_step = run.current_step_name(), "started");
        let (owner, lease) = (cluster_id.clone(), now + self.leases.cluster_seconds);
        self.record(&run, now, move |r| {
            r.cluster_id = Some(owner.clone());
            r.owner = owner.clone();
            r.lease_until = lease;
        })
        .await?;
        Ok(Started::Launched { cluster_id, run_id: run.run_id, from_step: run.current_step_name().into() })
    }

    /// Applies `change` to the run this launcher holds.
    async fn record(&self, run: &Run, now: i64, change: impl Fn(&mut Run) + Send + Sync) -> Result<Run, EmrError> {
        let (owner, run_id) = (run.owner.clone(), run.run_id);
        let changed = modify(self.state.as_ref(), &run.correlation_id, &run.product, &|stored| {
            // Another launcher took the run over meanwhile: its record stands.
            if stored.run_id != run_id || stored.owner != owner {
                return false;
            }
            change(stored);
            *stored = stored.clone().touched(now);
            true
        })
        .await?;
        changed
            .map(|(run, _)| run)
            .ok_or_else(|| EmrError::Conflict { correlation_id: run.correlation_id.clone(), product: run.product.clone() })
    }

    /// The run a cluster or job run was started for, from its tags.
    async fn run_of(&self, described: &ClusterInfo) -> Result<Option<Run>, EmrError> {
        let Some((correlation_id, product)) = described.run_key() else { return Ok(None) };
        self.state.get(correlation_id, product).await
    }

    /// A step started, finished or failed. An event counts only if it is
    /// about the run's current cluster and not behind its current step, so a
    /// late event never moves a run back.
    pub async fn step_changed(&self, event: &StepStatusChange, now: i64) -> Result<Followed, EmrError> {
        let ignored = |why: &str| Ok(Followed::Ignored { why: why.into() });
        let cluster = self.engines.clusters.describe(&event.cluster_id).await?;
        let Some(run) = self.run_of(&cluster).await? else { return ignored("the cluster belongs to no run") };
        let cluster_seconds = self.leases.cluster_seconds;
        let outcome =
            modify(self.state.as_ref(), &run.correlation_id, &run.product, &|stored| apply_step_event(stored, event, now, cluster_seconds))
                .await?;
        match outcome {
            Some((run, true)) => {
                tracing::info!(correlation_id = %run.correlation_id, step = %event.name, state = %event.state, current_step = run.current_step, "step recorded");
                Ok(Followed::StepRecorded { current_step: run.current_step, status: run.status })
            }
            _ => ignored("an event about another cluster of the run, a step behind its current one, or a state that changes nothing"),
        }
    }

    /// A cluster ended. With errors, its run is relaunched from its current
    /// step, or marked FAILED once Run_Id reached `max_retries + 1`.
    pub async fn cluster_changed(&self, event: &ClusterStateChange, now: i64) -> Result<Followed, EmrError> {
        let ignored = |why: String| Ok(Followed::Ignored { why });
        if event.state != "TERMINATED_WITH_ERRORS" {
            return ignored(format!("{} needs no action", event.state));
        }
        let cluster = self.engines.clusters.describe(&event.cluster_id).await?;
        let Some(run) = self.run_of(&cluster).await? else { return ignored("the cluster belongs to no run".into()) };
        if run.cluster_id.as_deref() != Some(event.cluster_id.as_str()) || run.status != RunStatus::InProgress {
            return ignored(format!("run {} is {} on {:?}, not on this cluster", run.correlation_id, run.status, run.cluster_id));
        }
        let reason = format!("cluster {} ended with errors at step {}: {}", event.cluster_id, run.current_step_name(), event.reason());
        self.relaunch(run, reason, now).await
    }

    /// A job run ended. Success starts the next step's job run, or completes
    /// the run; failure relaunches the step as a cluster's errors would.
    pub async fn job_run_changed(&self, event: &JobRunStateChange, now: i64) -> Result<Followed, EmrError> {
        let ignored = |why: String| Ok(Followed::Ignored { why });
        if !matches!(event.state.as_str(), "SUCCESS" | "FAILED" | "CANCELLED") {
            return ignored(format!("{} needs no action", event.state));
        }
        let job_run = self.engines.job_runs.describe(&event.application_id, &event.job_run_id).await?;
        let Some(run) = self.run_of(&job_run).await? else { return ignored("the job run belongs to no run".into()) };
        if run.cluster_id.as_deref() != Some(event.job_run_id.as_str()) || run.status != RunStatus::InProgress {
            return ignored(format!("run {} is {} on {:?}, not on this job run", run.correlation_id, run.status, run.cluster_id));
        }
        let why = event.state_details.clone().unwrap_or_default();
        match event.state.as_str() {
            "SUCCESS" => self.next_step(run, now).await,
            "FAILED" => {
                let reason = format!("job run {} of step {} failed: {why}", event.job_run_id, run.current_step_name());
                self.relaunch(run, reason, now).await
            }
            _ => {
                let reason = format!("job run {} of step {} was cancelled: {why}", event.job_run_id, run.current_step_name());
                Ok(match self.end_on(&run, RunStatus::Cancelled, reason.clone(), now).await? {
                    Some(_) => Followed::Cancelled { reason },
                    None => Followed::Ignored { why: "another launcher recorded it first".into() },
                })
            }
        }
    }

    /// The current step's job run succeeded: the run completes, or the next
    /// step starts under the launcher's lease.
    async fn next_step(&self, run: Run, now: i64) -> Result<Followed, EmrError> {
        let (job_run, launch_lease) = (run.cluster_id.clone(), now + self.leases.launch_seconds);
        let advanced = modify(self.state.as_ref(), &run.correlation_id, &run.product, &|stored| {
            if stored.cluster_id != job_run || stored.status != RunStatus::InProgress {
                return false;
            }
            stored.current_step += 1;
            if stored.current_step >= stored.steps.len() {
                stored.status = RunStatus::Completed;
                stored.reason = None;
                stored.lease_until = 0;
            } else {
                stored.cluster_id = None;
                stored.owner = "launcher".into();
                stored.lease_until = launch_lease;
            }
            *stored = stored.clone().touched(now);
            true
        })
        .await?;
        let Some((run, true)) = advanced else { return Ok(Followed::Ignored { why: "another launcher moved the run on first".into() }) };
        if run.status == RunStatus::Completed {
            return Ok(Followed::StepRecorded { current_step: run.current_step, status: run.status });
        }
        let plan = self.plan(&run.request)?;
        match self.launch(run, plan, now).await? {
            Started::Launched { cluster_id, from_step, .. } => Ok(Followed::NextStep { job_run_id: cluster_id, step: from_step }),
            other => Ok(Followed::Ignored { why: format!("{other:?}") }),
        }
    }

    /// Relaunches `run` from its current step with the next Run_Id, or marks
    /// it FAILED once Run_Id reached `max_retries + 1`.
    async fn relaunch(&self, run: Run, reason: String, now: i64) -> Result<Followed, EmrError> {
        let ignored = |why: String| Ok(Followed::Ignored { why });
        let settings = self.templates.launcher_settings(&run.product)?;
        if run.run_id > settings.max_retries {
            return self.give_up(run, reason, settings.max_retries, now).await;
        }
        let ended = run.cluster_id.clone();
        let launch_lease = now + self.leases.launch_seconds;
        let taken = modify(self.state.as_ref(), &run.correlation_id, &run.product, &|stored| {
            if stored.cluster_id != ended || stored.status != RunStatus::InProgress {
                return false;
            }
            stored.run_id += 1;
            stored.cluster_id = None;
            stored.owner = "launcher".into();
            stored.lease_until = launch_lease;
            stored.reason = Some(reason.clone());
            *stored = stored.clone().touched(now);
            true
        })
        .await?;
        let Some((run, true)) = taken else { return ignored("another launcher relaunched it first".into()) };
        let plan = self.plan(&run.request)?;
        match self.launch(run, plan, now).await? {
            Started::Launched { cluster_id, run_id, from_step } => Ok(Followed::Relaunched { cluster_id, run_id, from_step }),
            other => ignored(format!("{other:?}")),
        }
    }

    /// Ends `run`, still on the cluster or job run it was read on, as `status`.
    async fn end_on(&self, run: &Run, status: RunStatus, reason: String, now: i64) -> Result<Option<Run>, EmrError> {
        let on = run.cluster_id.clone();
        let recorded = modify(self.state.as_ref(), &run.correlation_id, &run.product, &|stored| {
            if stored.cluster_id != on || stored.status != RunStatus::InProgress {
                return false;
            }
            stored.end(status, reason.clone());
            *stored = stored.clone().touched(now);
            true
        })
        .await?;
        Ok(recorded.and_then(|(run, changed)| changed.then_some(run)))
    }

    async fn give_up(&self, run: Run, reason: String, max_retries: u32, now: i64) -> Result<Followed, EmrError> {
        let reason = format!("{reason}; gave up after {} runs (max_retries {max_retries})", run.run_id);
        let Some(run) = self.end_on(&run, RunStatus::Failed, reason.clone(), now).await? else {
            return Ok(Followed::Ignored { why: "another launcher recorded it first".into() });
        };
        tracing::error!(correlation_id = %run.correlation_id, product = %run.product, run_id = run.run_id, %reason, "run failed for good");
        let subject = format!("inlet: backfill {} of {} failed after {} runs", run.correlation_id, run.product, run.run_id);
        if let Err(e) = self.alerts.publish(&Alert::new(subject, &run)).await {
            tracing::error!(error = %inlet_core::error::describe(e.as_ref()), "could not send the alert");
        }
        Ok(Followed::GaveUp { run_id: run.run_id, reason })
    }
}

/// Terminates every live cluster (or cancels every live job run) of
/// `product`, on the engine its `launcher.yaml` picks, and cancels its runs
/// in progress.
pub async fn stop(engine: &Engine<'_>, state: &dyn RunState, product: &str, now: i64) -> Result<Stopped, EmrError> {
    let live = engine.live(&Tag { key: PRODUCT_TAG.into(), value: product.into() }).await?;
    let ids: Vec<String> = live.iter().map(|c| c.id.clone()).collect();
    if !ids.is_empty() {
        engine.stop(&ids).await?;
    }
    let runs_cancelled = cancel_runs(state, product, "stopped by `inlet emr stop`", now).await?;
    Ok(Stopped { clusters: ids, runs_cancelled })
}

/// Marks every run of `product` in progress CANCELLED; their correlation ids.
pub async fn cancel_runs(state: &dyn RunState, product: &str, reason: &str, now: i64) -> Result<Vec<String>, EmrError> {
    let mut cancelled = Vec::new();
    for run in state.list().await?.into_iter().filter(|r| r.product == product && r.status == RunStatus::InProgress) {
        let changed = modify(state, &run.correlation_id, product, &|stored| {
            if stored.status != RunStatus::InProgress {
                return false;
            }
            stored.end(RunStatus::Cancelled, reason.into());
            *stored = stored.clone().touched(now);
            true
        })
        .await?;
        if matches!(changed, Some((_, true))) {
            cancelled.push(run.correlation_id);
        }
    }
    Ok(cancelled)
}

/// Moves `run` on by one step event; false when the event changes nothing.
fn apply_step_event(run: &mut Run, event: &StepStatusChange, now: i64, cluster_seconds: i64) -> bool {
    if run.cluster_id.as_deref() != Some(event.cluster_id.as_str()) || run.status != RunStatus::InProgress {
        return false;
    }
    let Some(index) = run.steps.iter().position(|name| *name == event.name) else { return false };
    if index < run.current_step {
        return false;
    }
    match event.state.as_str() {
        "COMPLETED" => run.current_step = index + 1,
        // A step that started means those before it finished.
        "RUNNING" => run.current_step = index,
        "FAILED" => {
            run.current_step = index;
            run.reason = Some(format!("step {} failed: {}", event.name, event.message.clone().unwrap_or_default()));
        }
        _ => return false,
    }
    if run.current_step >= run.steps.len() {
        run.status = RunStatus::Completed;
        run.reason = None;
    }
    run.lease_until = now + cluster_seconds;
    *run = run.clone().touched(now);
    true
}

/// A run whose lease ran out still belongs to its cluster while the cluster
/// is up; and a launcher that died between starting a cluster and recording
/// it left a cluster tagged with the run, which is adopted, not doubled. The
/// same holds for a job run on EMR Serverless.
#[async_trait]
impl Liveness for Launcher {
    async fn live_owner(&self, run: &Run) -> Result<Option<String>, EmrError> {
        let engine = self.engine(&run.product)?;
        if let Some(id) = &run.cluster_id
            && engine.describe(id).await?.alive()
        {
            return Ok(Some(id.clone()));
        }
        let tagged = engine.live(&Tag { key: CORRELATION_TAG.into(), value: run.correlation_id.clone() }).await?;
        Ok(tagged.into_iter().find(|c| c.run_key() == Some((run.correlation_id.as_str(), run.product.as_str()))).map(|c| c.id))
    }
}

/// `job` for `run`: its steps from the current one on, each with the run's
/// arguments, named and tagged with the run.
fn cluster_request(run: &Run, mut job: JobFlow) -> JobFlow {
    job.steps.drain(..run.current_step.min(job.steps.len()));
    let args = run.request.step_args();
    for step in &mut job.steps {
        step.hadoop_jar_step.args.extend(args.iter().cloned());
    }
    job.name = format!("{} {} run {}", job.name, run.correlation_id, run.run_id);
    job.tags.extend(run_tags(run));
    job
}
