//! Opening the state directory: the local store, catalog and pipelines.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use inlet_core::catalog::LocalCatalog;
use inlet_core::pipeline::PipelineSet;
use inlet_core::storage::LocalObjectStore;
use inlet_core::{Engine, EngineConfig, Registrar};

pub struct StateOptions {
    pub state_dir: PathBuf,
    pub pipelines: Option<PathBuf>,
}

/// Where the pipelines in use came from.
pub enum PipelineSource {
    Folder(PathBuf),
    Embedded,
}

impl std::fmt::Display for PipelineSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipelineSource::Folder(dir) => write!(f, "{}", dir.display()),
            PipelineSource::Embedded => write!(f, "the pipelines built into inlet"),
        }
    }
}

impl StateOptions {
    pub fn store(&self) -> LocalObjectStore {
        LocalObjectStore::new(self.state_dir.join("buckets"))
    }

    pub fn catalog(&self) -> LocalCatalog {
        LocalCatalog::new(self.state_dir.join("catalog.json"))
    }

    pub fn load_pipelines(&self) -> anyhow::Result<(PipelineSet, PipelineSource)> {
        let folder = match &self.pipelines {
            Some(dir) => Some(dir.clone()),
            None => Some(PathBuf::from("pipelines")).filter(|d| has_pipelines(d)),
        };
        match folder {
            Some(dir) => {
                let set = PipelineSet::load_dir(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok((set, PipelineSource::Folder(dir)))
            }
            None => {
                let set = PipelineSet::embedded().map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok((set, PipelineSource::Embedded))
            }
        }
    }

    pub fn engine(&self, config: EngineConfig) -> anyhow::Result<Engine> {
        std::fs::create_dir_all(&self.state_dir)
            .with_context(|| format!("cannot create the state directory {}", self.state_dir.display()))?;
        let (pipelines, source) = self.load_pipelines()?;
        tracing::info!(pipelines = %source, "loaded pipelines");
        let config = EngineConfig { scratch_dir: Some(self.state_dir.join("scratch")), ..config };
        Ok(Engine::new(Arc::new(self.store()), Arc::new(pipelines), config))
    }

    /// Registers output files in the local catalog, as the partitioner does in AWS.
    pub fn registrar(&self) -> Registrar {
        let defaults = EngineConfig::default();
        Registrar::new(Arc::new(self.store()), Arc::new(self.catalog()), defaults.output_bucket, defaults.database)
    }
}

fn has_pipelines(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|entries| entries.flatten().any(|e| e.path().join("pipeline.yaml").is_file())).unwrap_or(false)
}
