//! The CLI's connection to an AWS account (or an S3-API endpoint such as
//! moto), through inlet-aws.

use std::collections::BTreeMap;
use std::sync::Arc;

use inlet_aws::{
    AthenaQuery, AwsSettings, DynamoRunState, EmrClusters, EmrServerlessJobRuns, GlueCatalog, S3ObjectStore, SdkConfig, SqsQueue,
};
use inlet_core::queue::MessageQueue;
use inlet_emr::engine::Engines;
use inlet_emr::run::RunState;

use super::{AthenaRows, AthenaTarget, Connection, DeadLettersMoved};
use crate::state::StateOptions;

/// The SDK configuration every client of a command is built from.
pub struct Cloud {
    settings: AwsSettings,
    sdk: SdkConfig,
}

pub async fn connect(options: &StateOptions) -> anyhow::Result<Connection> {
    let settings = AwsSettings {
        endpoint_url: options.endpoint.clone(),
        force_path_style: options.endpoint.is_some(),
        profile: options.profile.clone(),
    };
    let sdk = settings.sdk_config().await;
    let stack_outputs = match &options.stack {
        Some(stack) => inlet_aws::stack_outputs(&settings.cloudformation_client(&sdk), stack).await?,
        None => BTreeMap::new(),
    };
    Ok(Connection {
        store: Arc::new(S3ObjectStore::new(settings.s3_client(&sdk))),
        catalog: Arc::new(GlueCatalog::new(settings.glue_client(&sdk))),
        stack_outputs,
        cloud: Cloud { settings, sdk },
    })
}

impl Cloud {
    pub fn run_state(&self, table: String) -> Arc<dyn RunState> {
        Arc::new(DynamoRunState::new(self.settings.dynamodb_client(&self.sdk), table))
    }

    pub fn queue(&self, url: String) -> Arc<dyn MessageQueue> {
        Arc::new(SqsQueue::new(self.settings.sqs_client(&self.sdk), url))
    }

    pub fn engines(&self) -> Engines {
        Engines {
            clusters: Arc::new(EmrClusters::new(self.settings.emr_client(&self.sdk))),
            job_runs: Arc::new(EmrServerlessJobRuns::new(self.settings.emr_serverless_client(&self.sdk))),
        }
    }

    pub async fn athena(&self, target: AthenaTarget<'_>, sql: &str) -> anyhow::Result<AthenaRows> {
        let athena = AthenaQuery::new(self.settings.athena_client(&self.sdk), target.database, target.workgroup, target.output_location);
        let result = athena.run(sql).await?;
        Ok(AthenaRows { query_id: result.query_id, columns: result.columns, rows: result.rows })
    }

    pub async fn move_dead_letters_back(&self, url: &str) -> anyhow::Result<DeadLettersMoved> {
        let moved = SqsQueue::new(self.settings.sqs_client(&self.sdk), url).move_to_source().await?;
        Ok(DeadLettersMoved { source_url: moved.source_url, messages: moved.messages })
    }
}
