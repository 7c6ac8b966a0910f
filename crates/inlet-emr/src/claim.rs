//! Taking a run: the one place that decides whether a start creates a run,
//! resumes one, or leaves one alone. The launcher and a local backfill both
//! start runs through it.

use async_trait::async_trait;

use crate::error::EmrError;
use crate::run::{Run, RunState, RunStatus};

/// What a start found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller owns the run now, from `current_step` on.
    Claimed(Run),
    /// Another owner's lease is live.
    Busy(Run),
    Completed(Run),
    /// Stopped on purpose; `inlet runs clear` lets it start afresh.
    Cancelled(Run),
}

/// Whether the owner of a run whose lease ran out is in fact still at work
/// (a cluster that is still up, though no event renewed its lease).
#[async_trait]
pub trait Liveness: Send + Sync {
    /// The live owner, if any.
    async fn live_owner(&self, run: &Run) -> Result<Option<String>, EmrError>;
}

/// For owners that cannot outlive their lease: a local process renews it
/// while it lives.
pub struct LeaseOnly;

#[async_trait]
impl Liveness for LeaseOnly {
    async fn live_owner(&self, _run: &Run) -> Result<Option<String>, EmrError> {
        Ok(None)
    }
}

/// How often a claim re-reads after losing a race before giving up.
const CLAIM_ATTEMPTS: usize = 5;

/// Creates `fresh`'s run, or takes over an existing one that failed or whose
/// lease ran out; `fresh` gives the new owner and lease. A taken-over run
/// keeps its steps and `current_step`, and its Run_Id goes up by one.
pub async fn claim(state: &dyn RunState, fresh: Run, now: i64, liveness: &dyn Liveness) -> Result<Claim, EmrError> {
    for _ in 0..CLAIM_ATTEMPTS {
        let Some(existing) = state.create(&fresh).await? else { return Ok(Claim::Claimed(fresh)) };
        let resumable = match existing.status {
            RunStatus::Completed => return Ok(Claim::Completed(existing)),
            RunStatus::Cancelled => return Ok(Claim::Cancelled(existing)),
            RunStatus::InProgress if existing.lease_live(now) => return Ok(Claim::Busy(existing)),
            RunStatus::InProgress => match liveness.live_owner(&existing).await? {
                Some(owner) => {
                    let kept = Run { cluster_id: Some(owner.clone()), owner, lease_until: fresh.lease_until, ..existing.clone() };
                    match state.update(&kept.clone().touched(now)).await {
                        Ok(()) => return Ok(Claim::Busy(kept)),
                        Err(EmrError::Conflict { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                None => existing,
            },
            RunStatus::Failed => existing,
        };
        let taken = Run {
            run_id: resumable.run_id + 1,
            status: RunStatus::InProgress,
            cluster_id: None,
            owner: fresh.owner.clone(),
            lease_until: fresh.lease_until,
            reason: None,
            ..resumable
        }
        .touched(now);
        match state.update(&taken).await {
            Ok(()) => return Ok(Claim::Claimed(Run { version: taken.version + 1, ..taken })),
            Err(EmrError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(EmrError::Conflict { correlation_id: fresh.correlation_id, product: fresh.product })
}

/// Applies `change` to the stored run and writes it back, reading again when
/// another writer got there first. `change` returns false to leave the run
/// as it is. The run as stored afterwards, if it exists.
pub async fn modify(
    state: &dyn RunState,
    correlation_id: &str,
    product: &str,
    change: &(dyn Fn(&mut Run) -> bool + Send + Sync),
) -> Result<Option<(Run, bool)>, EmrError> {
    for _ in 0..CLAIM_ATTEMPTS {
        let Some(mut run) = state.get(correlation_id, product).await? else { return Ok(None) };
        if !change(&mut run) {
            return Ok(Some((run, false)));
        }
        match state.update(&run).await {
            Ok(()) => return Ok(Some((Run { version: run.version + 1, ..run }, true))),
            Err(EmrError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(EmrError::Conflict { correlation_id: correlation_id.into(), product: product.into() })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::request::LaunchRequest;
    use crate::run::LocalRunState;

    fn fresh(owner: &str, now: i64) -> Run {
        let request = LaunchRequest {
            product: "p".into(),
            correlation_id: "c".into(),
            export_date: NaiveDate::from_ymd_opt(2024, 1, 5).unwrap(),
            start_date: None,
            s3_bucket: "b".into(),
            s3_prefix: "p/2024-01-05/".into(),
            changes: Default::default(),
        };
        Run::new(request, vec!["one".into(), "two".into(), "three".into()], owner, now, now + 30)
    }

    #[tokio::test]
    async fn a_live_lease_is_left_alone_and_an_expired_one_taken_over_at_its_step() {
        let dir = tempfile::tempdir().unwrap();
        let state = LocalRunState::new(dir.path().join("runs.json"));
        let Claim::Claimed(first) = claim(&state, fresh("a", 100), 100, &LeaseOnly).await.unwrap() else { panic!("first start claims") };
        modify(&state, "c", "p", &|run| {
            run.current_step = 1;
            true
        })
        .await
        .unwrap();
        assert!(matches!(claim(&state, fresh("b", 110), 110, &LeaseOnly).await.unwrap(), Claim::Busy(_)), "a's lease runs to 130");

        let Claim::Claimed(taken) = claim(&state, fresh("b", 131), 131, &LeaseOnly).await.unwrap() else { panic!("the lease ran out") };
        assert_eq!((taken.owner.as_str(), taken.run_id, taken.current_step), ("b", 2, 1));
        assert_eq!(state.get("c", "p").await.unwrap().unwrap(), taken, "the claim is what is stored");
        assert_eq!(first.run_id, 1);
    }

    #[tokio::test]
    async fn finished_and_cancelled_runs_are_not_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let state = LocalRunState::new(dir.path().join("runs.json"));
        claim(&state, fresh("a", 0), 0, &LeaseOnly).await.unwrap();
        for (status, expect_completed) in [(RunStatus::Completed, true), (RunStatus::Cancelled, false)] {
            modify(&state, "c", "p", &|run| {
                run.status = status;
                true
            })
            .await
            .unwrap();
            let found = claim(&state, fresh("b", 1000), 1000, &LeaseOnly).await.unwrap();
            assert_eq!(matches!(found, Claim::Completed(_)), expect_completed, "{found:?}");
            assert_eq!(matches!(found, Claim::Cancelled(_)), !expect_completed, "{found:?}");
        }
    }

    struct ClusterUp;

    #[async_trait]
    impl Liveness for ClusterUp {
        async fn live_owner(&self, _run: &Run) -> Result<Option<String>, EmrError> {
            Ok(Some("j-LIVE".into()))
        }
    }

    #[tokio::test]
    async fn a_live_cluster_keeps_its_run_past_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let state = LocalRunState::new(dir.path().join("runs.json"));
        claim(&state, fresh("launcher", 0), 0, &LeaseOnly).await.unwrap();
        let found = claim(&state, fresh("launcher", 1000), 1000, &ClusterUp).await.unwrap();
        let Claim::Busy(kept) = found else { panic!("the cluster is up: {found:?}") };
        assert_eq!((kept.cluster_id.as_deref(), kept.run_id, kept.lease_until), (Some("j-LIVE"), 1, 1030));
    }
}
