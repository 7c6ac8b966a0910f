//! Handler configuration from the Lambda environment.

use std::path::PathBuf;
use std::sync::Arc;

use inlet_aws::{AwsSettings, BucketHousekeeping, GlueCatalog, S3ObjectStore};
use inlet_core::archive::ArchiveLimits;
use inlet_core::pipeline::PipelineSet;
use inlet_core::{Engine, EngineConfig, Registrar};

/// Why a function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is not set; {hint}")]
    Missing { name: &'static str, hint: &'static str },
    #[error("environment variable {name}={value:?} is not {expected}")]
    Invalid { name: &'static str, value: String, expected: &'static str },
    #[error("the pipelines built into this function are invalid: {0}")]
    Pipelines(String),
}

fn required(name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or(ConfigError::Missing { name, hint })
}

fn number(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value.parse().map_err(|_| ConfigError::Invalid { name, value, expected: "a whole number" }),
        _ => Ok(default),
    }
}

/// `INPUT_BUCKET`, `OUTPUT_BUCKET`, `GLUE_DATABASE` (default `inlet`),
/// `MAX_EXPANSION_RATIO`, `MAX_EXPANDED_MIB`, `SCRATCH_DIR` (default `/tmp`).
pub fn engine_config() -> Result<EngineConfig, ConfigError> {
    let defaults = ArchiveLimits::default();
    Ok(EngineConfig {
        input_bucket: required("INPUT_BUCKET", "set it to the bucket files are dropped into")?,
        output_bucket: required("OUTPUT_BUCKET", "set it to the bucket Parquet is written to")?,
        database: std::env::var("GLUE_DATABASE").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "inlet".into()),
        archive_limits: ArchiveLimits {
            max_ratio: number("MAX_EXPANSION_RATIO", defaults.max_ratio)?,
            max_total_bytes: number("MAX_EXPANDED_MIB", defaults.max_total_bytes >> 20)? << 20,
            ..defaults
        },
        scratch_dir: Some(std::env::var("SCRATCH_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir())),
        ..EngineConfig::default()
    })
}

/// The engine over S3, for unzip and pipeline-runner. Builds the S3 client only.
pub async fn s3_engine() -> Result<Engine, ConfigError> {
    let config = engine_config()?;
    let settings = AwsSettings::from_env();
    let sdk = settings.sdk_config().await;
    let store = Arc::new(S3ObjectStore::new(settings.s3_client(&sdk)));
    let pipelines = PipelineSet::embedded().map_err(|e| ConfigError::Pipelines(e.to_string()))?;
    Ok(Engine::new(store, Arc::new(pipelines), config))
}

/// The registrar over S3 and Glue, for the partitioner.
pub async fn glue_registrar() -> Result<Registrar, ConfigError> {
    let config = engine_config()?;
    let settings = AwsSettings::from_env();
    let sdk = settings.sdk_config().await;
    let store = Arc::new(S3ObjectStore::new(settings.s3_client(&sdk)));
    let catalog = Arc::new(GlueCatalog::new(settings.glue_client(&sdk)));
    Ok(Registrar::new(store, catalog, config.output_bucket, config.database))
}

/// S3 housekeeping for the custom resources, which name their buckets in
/// their properties and need no other configuration.
pub async fn bucket_housekeeping() -> BucketHousekeeping {
    let settings = AwsSettings::from_env();
    let sdk = settings.sdk_config().await;
    BucketHousekeeping::new(settings.s3_client(&sdk))
}
