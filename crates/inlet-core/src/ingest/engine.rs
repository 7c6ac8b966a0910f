//! The engine: an input's lifecycle with routing, loading and expansion.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use inlet_contract::InputKind;

use super::{EngineConfig, Input, Lifecycle, Outcome, Problem, Stage, Taken, Work};
use crate::layout;
use crate::pipeline::PipelineSet;
use crate::storage::ObjectStore;

/// Runs inputs through their lifecycle against any store: archives are
/// expanded, other files routed to their pipeline and loaded.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(super) lifecycle: Lifecycle,
    pub(super) pipelines: Arc<PipelineSet>,
    /// Source bytes converted so far, by every load of this engine.
    pub(super) bytes_read: Arc<AtomicU64>,
}

impl Engine {
    pub fn new(store: Arc<dyn ObjectStore>, pipelines: Arc<PipelineSet>, config: EngineConfig) -> Self {
        Self { lifecycle: Lifecycle { store, config }, pipelines, bytes_read: Arc::default() }
    }

    /// Source bytes this engine's conversions have read so far: a progress
    /// report's measure of a large file's progress.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.lifecycle.config
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.lifecycle.store
    }

    pub fn pipelines(&self) -> &PipelineSet {
        &self.pipelines
    }

    /// Removes the scratch folders of runs that died (killed, timed out),
    /// leaving those of live runs alone. Call it when a process or an
    /// invocation starts.
    pub fn sweep_scratch(&self) -> std::io::Result<Vec<PathBuf>> {
        self.lifecycle.sweep_scratch()
    }

    /// Takes the object at `key` in the input bucket through its lifecycle.
    /// Every log line on the way carries the input's correlation id.
    pub async fn process(&self, key: &str) -> Outcome {
        self.lifecycle.process(key, self).await
    }
}

impl Work for Engine {
    /// An archive no pipeline reads whole is expanded; anything else goes to
    /// the one pipeline whose trigger matches its identity key.
    async fn take(&self, input: &Input<'_>) -> Taken {
        let identity = layout::identity_key(&input.source.key);
        match InputKind::of(&input.source.key) {
            InputKind::Archive if !self.pipelines.claims(&identity) => Taken::unrouted(self.lifecycle.expand(input).await),
            InputKind::Unsupported => {
                Taken::unrouted(Err(Problem::new(Stage::Route, inlet_contract::suffixes::unsupported_reason(&input.source.key))))
            }
            _ => match self.pipelines.route(&identity) {
                Ok(route) => {
                    let pipeline = Some(route.pipeline.name.clone());
                    Taken { result: self.load(input, &route).await.map(Outcome::Loaded), pipeline }
                }
                Err(e) => Taken::unrouted(Err(Problem::new(Stage::Route, e))),
            },
        }
    }
}
