//! [`MessageQueue`] over SQS.

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use inlet_core::error::ErrorClass;
use inlet_core::queue::{FifoMessage, MessageQueue, QueueError};

use crate::errors::class_of;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send(&self, body: String) -> Result<(), QueueError> {
        match self.client.send_message().queue_url(&self.url).message_body(body).send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(QueueError::new(&self.url, class_of(&e), e)),
        }
    }

    async fn send_fifo_batch(&self, messages: &[FifoMessage]) -> Result<(), QueueError> {
        let entries = messages.iter().enumerate().map(|(index, message)| {
            SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(&message.body)
                .message_group_id(&message.group_id)
                .message_deduplication_id(&message.deduplication_id)
                .build()
                .expect("id and body are set")
        });
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .map_err(|e| QueueError::new(&self.url, class_of(&e), e))?;
        match output.failed().first() {
            None => Ok(()),
            Some(failed) => {
                // A sender fault (a bad message) will fail again; anything else is SQS's and passes.
                let class = if failed.sender_fault() { ErrorClass::Permanent } else { ErrorClass::Transient };
                let reason = format!(
                    "{} of {} messages were refused, the first with {}: {}",
                    output.failed().len(),
                    messages.len(),
                    failed.code(),
                    failed.message().unwrap_or("no reason given")
                );
                Err(QueueError::new(&self.url, class, reason))
            }
        }
    }
}
