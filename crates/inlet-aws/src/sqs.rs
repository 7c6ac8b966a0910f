//! [`MessageQueue`] over SQS.

use async_trait::async_trait;
use inlet_core::queue::{MessageQueue, QueueError};

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
}
