//! Handler configuration from the Lambda environment.
//!
//! Each loader reads through a lookup function rather than the process
//! environment, so a test can start it with exactly the variables the
//! synthesized stack gives the function. The names come from
//! [`inlet_contract::env`], which the stacks import too.
//!
//! Each function's loader is compiled with that function's feature; the
//! settings parsers are plain functions, compiled always.

use std::path::PathBuf;
#[cfg(any(
    feature = "unzip",
    feature = "pipeline-runner",
    feature = "partitioner",
    feature = "harvester",
    feature = "downloader",
    feature = "emr-launcher"
))]
use std::sync::Arc;

use inlet_aws::AwsSettings;
use inlet_contract::env;
use inlet_core::EngineConfig;
use inlet_core::archive::ArchiveLimits;

/// Why a function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is not set; {hint}")]
    Missing { name: &'static str, hint: &'static str },
    #[error("environment variable {name}={value:?} is not {expected}")]
    Invalid { name: &'static str, value: String, expected: &'static str },
    #[error("the pipelines built into this function are invalid: {0}")]
    Pipelines(String),
    #[error("{0}")]
    Sources(String),
}

/// Reads one variable; the process environment in a function.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as a [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The AWS settings from the environment, and the SDK configuration they give.
async fn aws() -> (AwsSettings, inlet_aws::SdkConfig) {
    let settings = AwsSettings::from_env();
    let sdk = settings.sdk_config().await;
    (settings, sdk)
}

fn required(vars: Lookup, name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
    vars(name).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing { name, hint })
}

fn number(vars: Lookup, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match vars(name) {
        Some(value) if !value.is_empty() => value.parse().map_err(|_| ConfigError::Invalid { name, value, expected: "a whole number" }),
        _ => Ok(default),
    }
}

/// The engine's settings, for unzip and pipeline-runner.
pub fn engine_config(vars: Lookup) -> Result<EngineConfig, ConfigError> {
    let defaults = ArchiveLimits::default();
    Ok(EngineConfig {
        input_bucket: required(vars, env::INPUT_BUCKET, "set it to the bucket files are dropped into")?,
        output_bucket: required(vars, env::OUTPUT_BUCKET, "set it to the bucket Parquet is written to")?,
        archive_limits: ArchiveLimits {
            max_ratio: number(vars, env::MAX_EXPANSION_RATIO, defaults.max_ratio)?,
            max_total_bytes: number(vars, env::MAX_EXPANDED_MIB, defaults.max_total_bytes >> 20)? << 20,
            ..defaults
        },
        scratch_dir: Some(vars(env::SCRATCH_DIR).map(PathBuf::from).unwrap_or_else(std::env::temp_dir)),
        ..EngineConfig::default()
    })
}

/// The pipeline runner's settings: the engine's, and the unzip queue's URL.
pub fn runner_config(vars: Lookup) -> Result<(EngineConfig, String), ConfigError> {
    let engine = engine_config(vars)?;
    let unzip_queue = required(vars, env::UNZIP_QUEUE_URL, "set it to the URL of the queue the unzip function reads")?;
    Ok((engine, unzip_queue))
}

/// The partitioner's settings: the output bucket and the Glue database.
pub fn registrar_config(vars: Lookup) -> Result<(String, String), ConfigError> {
    Ok((
        required(vars, env::OUTPUT_BUCKET, "set it to the bucket Parquet is written to")?,
        required(vars, env::GLUE_DATABASE, "set it to the Glue database tables are registered in")?,
    ))
}

#[cfg(feature = "pipeline-runner")]
fn pipelines() -> Result<Arc<inlet_core::pipeline::PipelineSet>, ConfigError> {
    use inlet_core::pipeline::PipelineSet;
    PipelineSet::embedded().map(Arc::new).map_err(|e| ConfigError::Pipelines(e.to_string()))
}

/// The archive expander over S3, for unzip. Builds the S3 client only.
#[cfg(feature = "unzip")]
pub async fn expander() -> Result<inlet_core::Expander, ConfigError> {
    let config = engine_config(&process_env)?;
    let (settings, sdk) = aws().await;
    let store = Arc::new(inlet_aws::S3ObjectStore::new(settings.s3_client(&sdk)));
    Ok(inlet_core::Expander::new(store, config))
}

/// The entry point over S3 and SQS, for pipeline-runner.
#[cfg(feature = "pipeline-runner")]
pub async fn runner() -> Result<crate::Runner, ConfigError> {
    use inlet_aws::{S3ObjectStore, SqsQueue};
    use inlet_core::Engine;

    let (config, unzip_queue) = runner_config(&process_env)?;
    let (settings, sdk) = aws().await;
    let store = Arc::new(S3ObjectStore::new(settings.s3_client(&sdk)));
    let engine = Engine::new(store, pipelines()?, config);
    Ok(crate::Runner { engine, unzip_queue: Arc::new(SqsQueue::new(settings.sqs_client(&sdk), unzip_queue)) })
}

/// The registrar over S3 and Glue, for the partitioner.
#[cfg(feature = "partitioner")]
pub async fn glue_registrar() -> Result<inlet_core::Registrar, ConfigError> {
    use inlet_aws::{GlueCatalog, S3ObjectStore};

    let (output_bucket, database) = registrar_config(&process_env)?;
    let (settings, sdk) = aws().await;
    let store = Arc::new(S3ObjectStore::new(settings.s3_client(&sdk)));
    let catalog = Arc::new(GlueCatalog::new(settings.glue_client(&sdk)));
    Ok(inlet_core::Registrar::new(store, catalog, output_bucket, database))
}

/// S3 housekeeping for the custom resources, which name their buckets in
/// their properties and need no other configuration.
#[cfg(feature = "custom-resources")]
pub async fn bucket_housekeeping() -> inlet_aws::BucketHousekeeping {
    let (settings, sdk) = aws().await;
    inlet_aws::BucketHousekeeping::new(settings.s3_client(&sdk))
}

/// The harvester's settings: the download queue's URL, and the sources file
/// when [`env::SOURCES_FILE`] names one instead of the built-in one.
pub fn harvester_config(vars: Lookup) -> Result<(String, Option<PathBuf>), ConfigError> {
    let queue = required(vars, env::DOWNLOAD_QUEUE_URL, "set it to the URL of the FIFO queue the downloader reads")?;
    Ok((queue, vars(env::SOURCES_FILE).filter(|v| !v.is_empty()).map(PathBuf::from)))
}

/// The downloader's settings: the input bucket, the source-state table and the alerts topic.
pub fn downloader_config(vars: Lookup) -> Result<(String, String, String), ConfigError> {
    Ok((
        required(vars, env::INPUT_BUCKET, "set it to the bucket files are dropped into")?,
        required(vars, env::SOURCE_STATE_TABLE, "set it to the DynamoDB table of source state")?,
        required(vars, env::ALERTS_TOPIC_ARN, "set it to the SNS topic alerts go to")?,
    ))
}

#[cfg(feature = "harvester")]
fn sources(file: Option<&std::path::Path>) -> Result<inlet_sources::SourceSet, ConfigError> {
    use inlet_sources::SourceSet;

    let loaded = match file {
        None => SourceSet::embedded(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Sources(format!("cannot read {}: {e}", path.display())))?;
            SourceSet::from_yaml(&path.display().to_string(), &text)
        }
    };
    loaded.map_err(|e| ConfigError::Sources(e.to_string()))
}

/// The harvester over SQS.
#[cfg(feature = "harvester")]
pub async fn harvester() -> Result<crate::sources::Harvester, ConfigError> {
    use inlet_aws::SqsQueue;

    let (queue, file) = harvester_config(&process_env)?;
    let (settings, sdk) = aws().await;
    Ok(crate::sources::Harvester {
        sources: Arc::new(sources(file.as_deref())?),
        queue: Arc::new(SqsQueue::new(settings.sqs_client(&sdk), queue)),
    })
}

/// The downloader over S3, DynamoDB and SNS, fetching through the system's resolver.
#[cfg(feature = "downloader")]
pub async fn downloader() -> Result<inlet_sources::download::Downloader, ConfigError> {
    use inlet_aws::{DynamoSourceState, S3ObjectStore, SnsAlerts};
    use inlet_sources::download::{DownloadSettings, Downloader};
    use inlet_sources::fetch::{FetchSettings, Fetcher, Network};

    let (input_bucket, table, topic) = downloader_config(&process_env)?;
    let (settings, sdk) = aws().await;
    let fetch = FetchSettings::default();
    Ok(Downloader {
        fetcher: Fetcher::new(Network::system(fetch.connect_timeout), fetch),
        store: Arc::new(S3ObjectStore::new(settings.s3_client(&sdk))),
        state: Arc::new(DynamoSourceState::new(settings.dynamodb_client(&sdk), table)),
        alerts: Arc::new(SnsAlerts::new(settings.sns_client(&sdk), topic)),
        input_bucket,
        settings: DownloadSettings::default(),
    })
}

/// The EMR launcher's settings: the input bucket (markers and payloads) and
/// the run-state table and alerts topic; the rest of the variables it
/// requires fill the cluster templates, which read the environment.
pub fn launcher_config(vars: Lookup) -> Result<(String, String, String), ConfigError> {
    for (name, fix) in [
        (env::OUTPUT_BUCKET, "set it to the bucket Parquet is written to"),
        (env::GLUE_DATABASE, "set it to the Glue database tables are registered in"),
        (env::EMR_SCRIPTS, "set it to s3://<bucket>/<prefix>pipelines, where the steps' scripts are"),
        (env::EMR_SERVICE_ROLE, "set it to the EMR service role's name"),
        (env::EMR_INSTANCE_PROFILE, "set it to the EMR instance profile's name"),
        (env::EMR_LOG_URI, "set it to the s3:// location clusters log to"),
    ] {
        required(vars, name, fix)?;
    }
    Ok((
        required(vars, env::INPUT_BUCKET, "set it to the bucket days' exports and markers land in")?,
        required(vars, env::RUN_STATE_TABLE, "set it to the DynamoDB table of EMR runs")?,
        required(vars, env::ALERTS_TOPIC_ARN, "set it to the SNS topic alerts go to")?,
    ))
}

/// The launcher over EMR, DynamoDB and SNS, with the built-in templates.
#[cfg(feature = "emr-launcher")]
pub async fn emr_launcher() -> Result<crate::emr::LauncherFunction, ConfigError> {
    use inlet_aws::{DynamoRunState, EmrClusters, EmrServerlessJobRuns, SnsAlerts};
    use inlet_emr::engine::Engines;
    use inlet_emr::launcher::{Launcher, Leases};
    use inlet_emr::product::Templates;

    let (input_bucket, table, topic) = launcher_config(&process_env)?;
    let (settings, sdk) = aws().await;
    let launcher = Launcher {
        templates: Arc::new(Templates::embedded()),
        variables: Arc::new(|name: &str| std::env::var(name).ok()),
        state: Arc::new(DynamoRunState::new(settings.dynamodb_client(&sdk), table)),
        engines: Engines {
            clusters: Arc::new(EmrClusters::new(settings.emr_client(&sdk))),
            job_runs: Arc::new(EmrServerlessJobRuns::new(settings.emr_serverless_client(&sdk))),
        },
        alerts: Arc::new(SnsAlerts::new(settings.sns_client(&sdk), topic)),
        leases: Leases::default(),
    };
    Ok(crate::emr::LauncherFunction { launcher: Arc::new(launcher), input_bucket })
}
