//! Alerts: what an operator must hear about, whichever part raised it (a
//! source that keeps failing, a backfill out of retries).

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::BoxError;

/// One alert: a subject a mail reader can sort by, and its details as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub subject: String,
    pub details: serde_json::Value,
}

impl Alert {
    pub fn new(subject: impl Into<String>, details: &impl Serialize) -> Self {
        let details = serde_json::to_value(details).unwrap_or_else(|e| serde_json::Value::String(e.to_string()));
        Self { subject: subject.into(), details }
    }
}

/// Where alerts go: an SNS topic in AWS, a file on one machine.
#[async_trait]
pub trait Alerts: Send + Sync + fmt::Debug {
    async fn publish(&self, alert: &Alert) -> Result<(), BoxError>;
}

/// Appends each alert as a JSON line to a file.
#[derive(Debug, Clone)]
pub struct LocalAlerts {
    pub path: PathBuf,
}

#[async_trait]
impl Alerts for LocalAlerts {
    async fn publish(&self, alert: &Alert) -> Result<(), BoxError> {
        use tokio::io::AsyncWriteExt;
        if let Some(parent) = self.path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(&self.path).await?;
        file.write_all(format!("{}\n", serde_json::to_string(alert)?).as_bytes()).await?;
        Ok(())
    }
}
