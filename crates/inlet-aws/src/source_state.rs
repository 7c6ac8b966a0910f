//! [`SourceState`] over a DynamoDB table keyed by `source` and `url`.
//!
//! Each field of a record is an attribute of its own, so the table reads
//! plainly in the console; `version` makes every write conditional.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use inlet_core::error::describe;
use inlet_sources::state::{SourceState, StateError, UrlState};
use serde_json::{Map, Value};

use crate::errors::class_of;

const SOURCE: &str = "source";
const URL: &str = "url";
const VERSION: &str = "version";

#[derive(Debug, Clone)]
pub struct DynamoSourceState {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoSourceState {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn error<E>(
        &self,
        operation: &str,
        error: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> StateError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let class = class_of(&error);
        StateError::Backend {
            location: format!("DynamoDB table {}", self.table),
            message: format!("{operation}: {}", describe(&error)),
            class,
            source: Box::new(error),
        }
    }
}

#[async_trait]
impl SourceState for DynamoSourceState {
    async fn get(&self, source: &str, url: &str) -> Result<UrlState, StateError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(SOURCE, AttributeValue::S(source.to_owned()))
            .key(URL, AttributeValue::S(url.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", e))?;
        output.item().map(|item| record_of(item, &self.table)).transpose().map(Option::unwrap_or_default)
    }

    async fn put(&self, source: &str, url: &str, state: &UrlState) -> Result<(), StateError> {
        let mut item = item_of(&UrlState { version: state.version + 1, ..state.clone() });
        item.insert(SOURCE.into(), AttributeValue::S(source.to_owned()));
        item.insert(URL.into(), AttributeValue::S(url.to_owned()));
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item)).expression_attribute_names("#v", VERSION);
        let request = match state.version {
            0 => request.condition_expression("attribute_not_exists(#v)"),
            read => request.condition_expression("#v = :read").expression_attribute_values(":read", AttributeValue::N(read.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StateError::Conflict { source_id: source.to_owned(), url: url.to_owned() })
            }
            Err(e) => Err(self.error("PutItem", e)),
        }
    }

    async fn list(&self, source: &str) -> Result<BTreeMap<String, UrlState>, StateError> {
        let mut records = BTreeMap::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#s = :s")
            .expression_attribute_names("#s", SOURCE)
            .expression_attribute_values(":s", AttributeValue::S(source.to_owned()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| self.error("Query", e))?;
            let url = item.get(URL).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            records.insert(url, record_of(&item, &self.table)?);
        }
        Ok(records)
    }
}

/// A record's fields as attributes: text as S, numbers as N, absent fields left out.
fn item_of(state: &UrlState) -> HashMap<String, AttributeValue> {
    let Value::Object(fields) = serde_json::to_value(state).expect("a record serialises") else { unreachable!("a struct is an object") };
    fields
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::String(text) => Some((name, AttributeValue::S(text))),
            Value::Number(number) => Some((name, AttributeValue::N(number.to_string()))),
            _ => None,
        })
        .collect()
}

fn record_of(item: &HashMap<String, AttributeValue>, table: &str) -> Result<UrlState, StateError> {
    let mut fields = Map::new();
    for (name, value) in item {
        let value = match value {
            AttributeValue::S(text) => Value::String(text.clone()),
            AttributeValue::N(number) => serde_json::from_str(number).unwrap_or(Value::Null),
            _ => continue,
        };
        fields.insert(name.clone(), value);
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| StateError::Backend {
        location: format!("DynamoDB table {table}"),
        message: format!("an item is not a source-state record: {e}"),
        class: inlet_core::error::ErrorClass::Permanent,
        source: Box::new(e),
    })
}
