//! [`Alerts`] over an SNS topic.

use async_trait::async_trait;
use inlet_core::alerts::{Alert, Alerts};
use inlet_core::error::BoxError;

/// Publishes each alert to an SNS topic: a subject a mail reader can sort
/// by, and the alert as JSON.
#[derive(Debug, Clone)]
pub struct SnsAlerts {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlerts {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }
}

#[async_trait]
impl Alerts for SnsAlerts {
    async fn publish(&self, alert: &Alert) -> Result<(), BoxError> {
        // SNS subjects stop at 100 characters.
        let subject: String = alert.subject.chars().take(100).collect();
        let message = serde_json::to_string_pretty(&alert.details)?;
        self.client.publish().topic_arn(&self.topic_arn).subject(subject).message(message).send().await?;
        Ok(())
    }
}
