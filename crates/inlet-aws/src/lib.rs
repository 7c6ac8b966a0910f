//! # inlet-aws
//!
//! The AWS side of inlet's traits:
//!
//! - [`S3ObjectStore`]: [`inlet_core::storage::ObjectStore`] over S3;
//! - [`GlueCatalog`]: [`inlet_core::catalog::Catalog`] over the Glue Data Catalog;
//! - [`SqsQueue`]: [`inlet_core::queue::MessageQueue`] over SQS;
//! - [`AthenaQuery`]: SQL through Athena, for `inlet query --athena`;
//! - [`DynamoSourceState`] and [`SnsAlerts`]: the downloader's per-URL
//!   records in DynamoDB, and its alerts on SNS;
//! - [`EmrClusters`] and [`DynamoRunState`]: the EMR launcher's clusters,
//!   and its runs in the run-state table;
//! - [`BucketHousekeeping`]: folder markers and emptying whole buckets, for
//!   the stack's custom resources.
//!
//! [`AwsSettings`] builds the SDK configuration from the standard AWS
//! environment, with an optional endpoint URL so everything also runs against
//! any S3-API service (moto, MinIO, LocalStack). Clients are built on demand,
//! so a Lambda that needs one service pays for one client at start-up.
//!
//! Each service is a cargo feature (`s3`, `glue`, `sqs`, `sns`, `athena`,
//! `cloudformation`, and `source-state` and `emr` for the backends over
//! DynamoDB), so a function links the clients it calls and no others.

pub mod errors;

// Each service's module beside what it exports, under the same feature.

#[cfg(feature = "sns")]
mod alerts;
#[cfg(feature = "sns")]
pub use alerts::SnsAlerts;

#[cfg(feature = "athena")]
mod athena;
#[cfg(feature = "athena")]
pub use athena::{AthenaError, AthenaQuery, QueryResult};

#[cfg(feature = "s3")]
mod buckets;
#[cfg(feature = "s3")]
pub use buckets::{BucketError, BucketHousekeeping, Emptied};

#[cfg(feature = "emr")]
mod emr;
#[cfg(feature = "emr")]
pub use emr::EmrClusters;

#[cfg(feature = "emr")]
mod emr_serverless;
#[cfg(feature = "emr")]
pub use emr_serverless::EmrServerlessJobRuns;

#[cfg(feature = "glue")]
mod glue;
#[cfg(feature = "glue")]
pub use glue::GlueCatalog;

#[cfg(feature = "emr")]
mod run_state;
#[cfg(feature = "emr")]
pub use run_state::DynamoRunState;

#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "s3")]
pub use s3::S3ObjectStore;

#[cfg(feature = "source-state")]
mod source_state;
#[cfg(feature = "source-state")]
pub use source_state::DynamoSourceState;

#[cfg(feature = "sqs")]
mod sqs;
#[cfg(feature = "sqs")]
pub use sqs::{MovedBack, SqsQueue};

#[cfg(feature = "cloudformation")]
mod stack;
#[cfg(feature = "cloudformation")]
pub use stack::{StackLookupError, stack_outputs};

pub use aws_config::SdkConfig;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use inlet_contract::env;

/// Attempts per SDK call, the first included. The SDK's standard mode retries
/// throttles, 5xx and connection errors with jittered exponential backoff; an
/// error still transient after these attempts fails the delivery, and SQS
/// delivers it again later.
const SDK_ATTEMPTS: u32 = 4;

/// Where the AWS APIs are and how to reach them.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// An endpoint for every service, e.g. `http://127.0.0.1:5000` for moto.
    /// `AWS_ENDPOINT_URL` in the environment does the same.
    pub endpoint_url: Option<String>,
    /// Path-style S3 addressing (`endpoint/bucket/key`). Implied by an endpoint URL.
    pub force_path_style: bool,
    /// A profile of the shared config files (`~/.aws/config`): static keys,
    /// `credential_process`, SSO (`aws sso login`) or an assumed role.
    /// `AWS_PROFILE` does the same.
    pub profile: Option<String>,
}

impl AwsSettings {
    /// Settings from the environment: [`env::AWS_ENDPOINT_URL`] and
    /// [`env::S3_FORCE_PATH_STYLE`] (true/1).
    pub fn from_env() -> Self {
        let endpoint_url = std::env::var(env::AWS_ENDPOINT_URL).ok().filter(|v| !v.is_empty());
        let force_path_style = std::env::var(env::S3_FORCE_PATH_STYLE).map(|v| v == "1" || v.eq_ignore_ascii_case("true")).unwrap_or(false);
        Self { endpoint_url, force_path_style, profile: None }
    }

    /// The SDK configuration: region, credentials and retries from the
    /// standard chain, the endpoint from these settings.
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::standard().with_max_attempts(SDK_ATTEMPTS));
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        loader.load().await
    }

    #[cfg(feature = "s3")]
    pub fn s3_client(&self, config: &SdkConfig) -> aws_sdk_s3::Client {
        let path_style = self.force_path_style || self.endpoint_url.is_some();
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(path_style).build())
    }

    #[cfg(feature = "glue")]
    pub fn glue_client(&self, config: &SdkConfig) -> aws_sdk_glue::Client {
        aws_sdk_glue::Client::new(config)
    }

    #[cfg(feature = "sqs")]
    pub fn sqs_client(&self, config: &SdkConfig) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(config)
    }

    #[cfg(feature = "athena")]
    pub fn athena_client(&self, config: &SdkConfig) -> aws_sdk_athena::Client {
        aws_sdk_athena::Client::new(config)
    }

    #[cfg(any(feature = "source-state", feature = "emr"))]
    pub fn dynamodb_client(&self, config: &SdkConfig) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(config)
    }

    #[cfg(feature = "sns")]
    pub fn sns_client(&self, config: &SdkConfig) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(config)
    }

    #[cfg(feature = "emr")]
    pub fn emr_client(&self, config: &SdkConfig) -> aws_sdk_emr::Client {
        aws_sdk_emr::Client::new(config)
    }

    #[cfg(feature = "emr")]
    pub fn emr_serverless_client(&self, config: &SdkConfig) -> aws_sdk_emrserverless::Client {
        aws_sdk_emrserverless::Client::new(config)
    }

    #[cfg(feature = "cloudformation")]
    pub fn cloudformation_client(&self, config: &SdkConfig) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(config)
    }
}
