//! SQL through Athena: start, poll with backoff, page through the results.

use std::time::Duration;

use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};

use inlet_core::error::describe;

#[derive(Debug, thiserror::Error)]
pub enum AthenaError {
    #[error("Athena {operation} failed: {message}")]
    Call { operation: &'static str, message: String },
    #[error("query {id} ended {state}: {reason}")]
    Query { id: String, state: String, reason: String },
    #[error("query {id} did not finish within {seconds} s; it is still running in Athena")]
    Timeout { id: String, seconds: u64 },
}

/// A result set: column names and rows of nullable text, as Athena returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    pub query_id: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Where and how queries run.
#[derive(Debug, Clone)]
pub struct AthenaQuery {
    client: Client,
    pub database: String,
    pub workgroup: String,
    /// `s3://bucket/prefix/` for results; `None` uses the workgroup's setting.
    pub output_location: Option<String>,
    pub timeout: Duration,
}

impl AthenaQuery {
    pub fn new(client: Client, database: impl Into<String>, workgroup: impl Into<String>, output_location: Option<String>) -> Self {
        Self { client, database: database.into(), workgroup: workgroup.into(), output_location, timeout: Duration::from_secs(300) }
    }

    pub async fn run(&self, sql: &str) -> Result<QueryResult, AthenaError> {
        let mut start = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.workgroup)
            .query_execution_context(QueryExecutionContext::builder().database(&self.database).build());
        if let Some(location) = &self.output_location {
            start = start.result_configuration(ResultConfiguration::builder().output_location(location).build());
        }
        let started = start.send().await.map_err(|e| AthenaError::Call { operation: "StartQueryExecution", message: describe(&e) })?;
        let id = started
            .query_execution_id()
            .ok_or_else(|| AthenaError::Call { operation: "StartQueryExecution", message: "no query execution id in the answer".into() })?
            .to_owned();

        // Short queries finish in about a second; long ones should not be hammered.
        let mut wait = Duration::from_millis(100);
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let execution = self
                .client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| AthenaError::Call { operation: "GetQueryExecution", message: describe(&e) })?;
            let status = execution.query_execution().and_then(|q| q.status());
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => break,
                Some(state @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                    let reason = status.and_then(|s| s.state_change_reason()).unwrap_or("no reason given").to_owned();
                    return Err(AthenaError::Query { id, state: state.as_str().to_owned(), reason });
                }
                _ => {}
            }
            if tokio::time::Instant::now() + wait > deadline {
                return Err(AthenaError::Timeout { id, seconds: self.timeout.as_secs() });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }

        let mut pages = self.client.get_query_results().query_execution_id(&id).into_paginator().send();
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        let mut first_page = true;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AthenaError::Call { operation: "GetQueryResults", message: describe(&e) })?;
            let Some(result_set) = page.result_set() else { continue };
            if columns.is_empty()
                && let Some(metadata) = result_set.result_set_metadata()
            {
                columns = metadata.column_info().iter().map(|c| c.name().to_owned()).collect();
            }
            let mut page_rows: Vec<Vec<Option<String>>> =
                result_set.rows().iter().map(|row| row.data().iter().map(|d| d.var_char_value().map(str::to_owned)).collect()).collect();
            // Athena repeats the header as the first row of the first page of a SELECT.
            if first_page && !page_rows.is_empty() && page_rows[0].iter().map(|v| v.as_deref()).eq(columns.iter().map(|c| Some(c.as_str())))
            {
                page_rows.remove(0);
            }
            first_page = false;
            rows.extend(page_rows);
        }
        Ok(QueryResult { query_id: id, columns, rows })
    }
}
