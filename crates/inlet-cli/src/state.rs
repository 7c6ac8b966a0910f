//! Opening the backends a command works on.
//!
//! `local` (the default): buckets are folders under the state directory and
//! the catalog is `catalog.json` there. `aws`: S3 buckets and the Glue
//! catalog, through the standard AWS environment, optionally at another
//! S3-API endpoint (moto, MinIO), with the names of a deployment's parts
//! read from its stack. The commands see only the traits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use inlet_contract::outputs;
use inlet_core::catalog::{Catalog, LocalCatalog};
use inlet_core::pipeline::PipelineSet;
use inlet_core::storage::{LocalObjectStore, ObjectStore};
use inlet_core::{Engine, EngineConfig, Registrar};

use crate::cloud::{self, Cloud};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// Folders and a JSON catalog under --state-dir.
    Local,
    /// S3 and Glue, from the standard AWS environment (and --endpoint).
    Aws,
}

/// The options that choose and configure the backends.
#[derive(Debug, Clone, clap::Args)]
pub struct StateOptions {
    /// Where local buckets, the local catalog and scratch files live.
    #[arg(long, global = true, env = "INLET_STATE_DIR", default_value = ".inlet")]
    pub state_dir: PathBuf,

    /// Folder of pipeline definitions (<name>/pipeline.yaml). Defaults to
    /// ./pipelines when it exists, else the pipelines built into inlet.
    #[arg(long, global = true, env = "INLET_PIPELINES")]
    pub pipelines: Option<PathBuf>,

    /// Where buckets and the catalog are. An --endpoint implies aws.
    #[arg(long, global = true, value_enum, env = "INLET_BACKEND", default_value_t = BackendKind::Local)]
    pub backend: BackendKind,

    /// An S3-API endpoint for every AWS service, e.g. http://127.0.0.1:5000.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,

    /// The AWS profile to sign in with, from ~/.aws/config: keys,
    /// credential_process, SSO (after `aws sso login --profile NAME`) or an
    /// assumed role. Without it, the standard chain (environment, default
    /// profile, instance role).
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,

    /// The deployment's CloudFormation stack (implies --backend aws). The
    /// buckets, database, workgroup, run-state table and launcher queue are
    /// read from its outputs; a flag given explicitly still wins.
    #[arg(long, global = true, env = "INLET_STACK")]
    pub stack: Option<String>,

    /// The bucket files are dropped into [default: the stack's, else input].
    #[arg(long, global = true, env = "INLET_INPUT_BUCKET")]
    pub input_bucket: Option<String>,

    /// The bucket Parquet is written to [default: the stack's, else output].
    #[arg(long, global = true, env = "INLET_OUTPUT_BUCKET")]
    pub output_bucket: Option<String>,

    /// The catalog database tables are registered in [default: the stack's,
    /// else inlet].
    #[arg(long, global = true, env = "INLET_DATABASE")]
    pub database: Option<String>,
}

/// What a deployment's parts are called: each from its flag, else from the
/// stack's output, else the local default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub input_bucket: String,
    pub output_bucket: String,
    pub database: String,
}

impl Names {
    fn resolve(options: &StateOptions, outputs: &BTreeMap<String, String>) -> Self {
        let pick = |flag: &Option<String>, output: &str, default: &str| {
            flag.clone().or_else(|| outputs.get(output).cloned()).unwrap_or_else(|| default.to_owned())
        };
        Self {
            input_bucket: pick(&options.input_bucket, outputs::INPUT_BUCKET, "input"),
            output_bucket: pick(&options.output_bucket, outputs::OUTPUT_BUCKET, "output"),
            database: pick(&options.database, outputs::GLUE_DATABASE, "inlet"),
        }
    }
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

/// The opened backends.
pub struct State {
    pub options: StateOptions,
    pub names: Names,
    /// The --stack's outputs, by key; empty without --stack.
    pub stack_outputs: BTreeMap<String, String>,
    pub store: Arc<dyn ObjectStore>,
    pub catalog: Arc<dyn Catalog>,
    /// Set for the local backend: DataFusion reads its folders.
    pub local: Option<LocalObjectStore>,
    /// Set for the AWS backend: Athena, DynamoDB, SQS and EMR need it.
    pub cloud: Option<Cloud>,
}

impl StateOptions {
    pub fn kind(&self) -> BackendKind {
        if self.endpoint.is_some() || self.stack.is_some() { BackendKind::Aws } else { self.backend }
    }

    pub async fn open(self) -> anyhow::Result<State> {
        match self.kind() {
            BackendKind::Local => {
                let store = LocalObjectStore::new(self.state_dir.join("buckets"));
                let local = LocalObjectStore::new(self.state_dir.join("buckets"));
                let catalog = LocalCatalog::new(self.state_dir.join("catalog.json"));
                Ok(State {
                    names: Names::resolve(&self, &BTreeMap::new()),
                    stack_outputs: BTreeMap::new(),
                    options: self,
                    store: Arc::new(store),
                    catalog: Arc::new(catalog),
                    local: Some(local),
                    cloud: None,
                })
            }
            BackendKind::Aws => {
                let connection = cloud::connect(&self).await?;
                Ok(State {
                    names: Names::resolve(&self, &connection.stack_outputs),
                    stack_outputs: connection.stack_outputs,
                    options: self,
                    store: connection.store,
                    catalog: connection.catalog,
                    local: None,
                    cloud: Some(connection.cloud),
                })
            }
        }
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
}

impl State {
    /// The --stack's output `key`, for an option whose flag was not given.
    pub fn stack_output(&self, key: &str) -> Option<String> {
        self.stack_outputs.get(key).cloned()
    }

    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            input_bucket: self.names.input_bucket.clone(),
            output_bucket: self.names.output_bucket.clone(),
            scratch_dir: Some(self.options.state_dir.join("scratch")),
            ..EngineConfig::default()
        }
    }

    /// The engine, with `tune` applied to its configuration.
    pub fn engine(&self, tune: impl FnOnce(&mut EngineConfig)) -> anyhow::Result<Engine> {
        std::fs::create_dir_all(&self.options.state_dir)
            .with_context(|| format!("cannot create the state directory {}", self.options.state_dir.display()))?;
        let (pipelines, source) = self.options.load_pipelines()?;
        tracing::info!(pipelines = %source, "loaded pipelines");
        let mut config = self.engine_config();
        tune(&mut config);
        Ok(Engine::new(Arc::clone(&self.store), Arc::new(pipelines), config))
    }

    /// Registers output files in the catalog, as the partitioner does.
    pub fn registrar(&self) -> Registrar {
        Registrar::new(Arc::clone(&self.store), Arc::clone(&self.catalog), &self.names.output_bucket, &self.names.database)
    }

    /// Where to tell the user an object is.
    pub fn describe(&self, bucket: &str, key: &str) -> String {
        match &self.local {
            Some(local) => local.bucket_path(bucket).join(key).display().to_string(),
            None => format!("s3://{bucket}/{key}"),
        }
    }
}

fn has_pipelines(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|entries| entries.flatten().any(|e| e.path().join("pipeline.yaml").is_file())).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        state: StateOptions,
    }

    #[test]
    fn a_flag_beats_the_stack_which_beats_the_default() {
        let options = Cli::parse_from(["inlet", "--stack", "inlet-prod", "--output-bucket", "mine"]).state;
        let outputs: BTreeMap<String, String> =
            [(outputs::INPUT_BUCKET, "inlet-prod-input"), (outputs::OUTPUT_BUCKET, "inlet-prod-output")]
                .map(|(k, v)| (k.into(), v.into()))
                .into();
        let names = Names::resolve(&options, &outputs);
        assert_eq!(
            (names.input_bucket.as_str(), names.output_bucket.as_str(), names.database.as_str()),
            ("inlet-prod-input", "mine", "inlet")
        );
        assert_eq!(options.kind(), BackendKind::Aws, "a stack is in AWS");
    }
}
