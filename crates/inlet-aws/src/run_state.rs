//! [`RunState`] over the app stack's run-state table: one item per
//! (Correlation_Id, DataProduct), with the attribute names operators know
//! from the launcher this replaces. Creates are conditional on absence,
//! updates on `Version`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use inlet_core::error::{ErrorClass, describe};
use inlet_emr::EmrError;
use inlet_emr::run::{Run, RunState, RunStatus};

use crate::errors::class_of;

pub const CORRELATION_ID: &str = "Correlation_Id";
pub const DATA_PRODUCT: &str = "DataProduct";
/// The table's TTL attribute.
pub const TIME_TO_EXIST: &str = "TimeToExist";
const VERSION: &str = "Version";

#[derive(Debug, Clone)]
pub struct DynamoRunState {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoRunState {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn error<E>(
        &self,
        operation: &str,
        error: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> EmrError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        EmrError::State {
            location: format!("DynamoDB table {}", self.table),
            message: format!("{operation}: {}", describe(&error)),
            class: class_of(&error),
            source: Box::new(error),
        }
    }

    fn unreadable(&self, message: String) -> EmrError {
        EmrError::State {
            location: format!("DynamoDB table {}", self.table),
            message: message.clone(),
            class: ErrorClass::Permanent,
            source: message.into(),
        }
    }

    fn run_of(&self, item: &HashMap<String, AttributeValue>) -> Result<Run, EmrError> {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
        let missing = |name: &str| self.unreadable(format!("an item has no readable {name}; it is not a run inlet wrote"));
        let request = serde_json::from_str(&text("Request").ok_or_else(|| missing("Request"))?)
            .map_err(|e| self.unreadable(format!("an item's Request is not a launch request: {e}")))?;
        let steps = item
            .get("Steps")
            .and_then(|v| v.as_l().ok())
            .map(|list| list.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .ok_or_else(|| missing("Steps"))?;
        Ok(Run {
            correlation_id: text(CORRELATION_ID).ok_or_else(|| missing(CORRELATION_ID))?,
            product: text(DATA_PRODUCT).ok_or_else(|| missing(DATA_PRODUCT))?,
            date: text("Date").and_then(|d| d.parse().ok()).ok_or_else(|| missing("Date"))?,
            run_id: number("Run_Id").ok_or_else(|| missing("Run_Id"))? as u32,
            status: text("Status").as_deref().and_then(RunStatus::parse).ok_or_else(|| missing("Status"))?,
            current_step: number("CurrentStep").ok_or_else(|| missing("CurrentStep"))? as usize,
            steps,
            cluster_id: text("Cluster_Id"),
            owner: text("Owner").unwrap_or_default(),
            lease_until: number("Lease_Until").unwrap_or(0),
            reason: text("Reason"),
            request,
            updated_at: number("Updated_At").unwrap_or(0),
            expires_at: number(TIME_TO_EXIST).unwrap_or(0),
            version: number(VERSION).unwrap_or(0) as u64,
        })
    }

    fn key(correlation_id: &str, product: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (CORRELATION_ID.to_string(), AttributeValue::S(correlation_id.into())),
            (DATA_PRODUCT.to_string(), AttributeValue::S(product.into())),
        ])
    }
}

fn item_of(run: &Run) -> HashMap<String, AttributeValue> {
    let number = |n: i64| AttributeValue::N(n.to_string());
    let mut item = DynamoRunState::key(&run.correlation_id, &run.product);
    item.extend([
        ("Date".to_string(), AttributeValue::S(run.date.to_string())),
        ("Run_Id".to_string(), number(run.run_id.into())),
        ("Status".to_string(), AttributeValue::S(run.status.as_str().into())),
        ("CurrentStep".to_string(), number(run.current_step as i64)),
        ("Steps".to_string(), AttributeValue::L(run.steps.iter().cloned().map(AttributeValue::S).collect())),
        ("Owner".to_string(), AttributeValue::S(run.owner.clone())),
        ("Lease_Until".to_string(), number(run.lease_until)),
        ("Request".to_string(), AttributeValue::S(serde_json::to_string(&run.request).expect("a request serialises"))),
        ("Updated_At".to_string(), number(run.updated_at)),
        (TIME_TO_EXIST.to_string(), number(run.expires_at)),
        (VERSION.to_string(), number(run.version as i64)),
    ]);
    if let Some(cluster) = &run.cluster_id {
        item.insert("Cluster_Id".into(), AttributeValue::S(cluster.clone()));
    }
    if let Some(reason) = &run.reason {
        item.insert("Reason".into(), AttributeValue::S(reason.clone()));
    }
    item
}

#[async_trait]
impl RunState for DynamoRunState {
    async fn create(&self, run: &Run) -> Result<Option<Run>, EmrError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(run)))
            .condition_expression("attribute_not_exists(#c)")
            .expression_attribute_names("#c", CORRELATION_ID);
        match request.send().await {
            Ok(_) => Ok(None),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => self
                .get(&run.correlation_id, &run.product)
                .await?
                .map(Some)
                .ok_or_else(|| EmrError::Conflict { correlation_id: run.correlation_id.clone(), product: run.product.clone() }),
            Err(e) => Err(self.error("PutItem", e)),
        }
    }

    async fn get(&self, correlation_id: &str, product: &str) -> Result<Option<Run>, EmrError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(correlation_id, product)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", e))?;
        output.item().map(|item| self.run_of(item)).transpose()
    }

    async fn update(&self, run: &Run) -> Result<(), EmrError> {
        let stored = Run { version: run.version + 1, ..run.clone() };
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(&stored)))
            .condition_expression("#v = :read")
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":read", AttributeValue::N(run.version.to_string()));
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(EmrError::Conflict { correlation_id: run.correlation_id.clone(), product: run.product.clone() })
            }
            Err(e) => Err(self.error("PutItem", e)),
        }
    }

    async fn delete(&self, correlation_id: &str, product: &str) -> Result<bool, EmrError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(correlation_id, product)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.error("DeleteItem", e))?;
        Ok(output.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn list(&self) -> Result<Vec<Run>, EmrError> {
        // The table holds a week of runs; a scan is what an operator's list needs.
        let mut pages = self.client.scan().table_name(&self.table).consistent_read(true).into_paginator().items().send();
        let mut runs = Vec::new();
        while let Some(item) = pages.next().await {
            runs.push(self.run_of(&item.map_err(|e| self.error("Scan", e))?)?);
        }
        Ok(runs)
    }
}
