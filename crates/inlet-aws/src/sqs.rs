//! [`MessageQueue`] over SQS.

use async_trait::async_trait;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, SendMessageBatchRequestEntry};
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

/// What [`SqsQueue::move_to_source`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedBack {
    /// The queue the dead letters came from and went back to.
    pub source_url: String,
    pub messages: usize,
}

impl SqsQueue {
    /// Moves every message of this dead-letter queue back to the one queue
    /// whose redrive policy names it, so the function retries them. Each
    /// batch is sent before it is deleted here: a failure between the two
    /// leaves a message in both queues, which the exactly-once output names
    /// make harmless, and never in neither.
    pub async fn move_to_source(&self) -> Result<MovedBack, QueueError> {
        let source_url = self.source_queue().await?;
        let source = SqsQueue::new(self.client.clone(), &source_url);
        let mut messages = 0;
        loop {
            let received = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(inlet_core::queue::MAX_BATCH as i32)
                .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
                .send()
                .await
                .map_err(|e| QueueError::new(&self.url, class_of(&e), e))?;
            let batch = received.messages();
            if batch.is_empty() {
                return Ok(MovedBack { source_url, messages });
            }
            source.send_again(batch).await?;
            self.delete(batch).await?;
            messages += batch.len();
        }
    }

    async fn source_queue(&self) -> Result<String, QueueError> {
        let listed = self
            .client
            .list_dead_letter_source_queues()
            .queue_url(&self.url)
            .send()
            .await
            .map_err(|e| QueueError::new(&self.url, class_of(&e), e))?;
        match listed.queue_urls() {
            [source] => Ok(source.clone()),
            [] => Err(QueueError::new(&self.url, ErrorClass::Permanent, "no queue names it as its dead-letter queue")),
            several => Err(QueueError::new(
                &self.url,
                ErrorClass::Permanent,
                format!("{} queues name it as their dead-letter queue, so where each message came from is unknown", several.len()),
            )),
        }
    }

    /// Sends received messages here, keeping a FIFO message's group.
    async fn send_again(&self, batch: &[Message]) -> Result<(), QueueError> {
        let fifo = self.url.ends_with(".fifo");
        let entries = batch.iter().enumerate().map(|(index, message)| {
            let mut entry = SendMessageBatchRequestEntry::builder().id(index.to_string()).set_message_body(message.body.clone());
            if fifo {
                let group = message.attributes().and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId));
                entry = entry.set_message_group_id(group.cloned()).set_message_deduplication_id(message.message_id.clone());
            }
            entry.build().expect("id and body are set")
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
            Some(failed) => Err(QueueError::new(
                &self.url,
                ErrorClass::Transient,
                format!("{} of {} messages were refused, the first with {}", output.failed().len(), batch.len(), failed.code()),
            )),
        }
    }

    async fn delete(&self, batch: &[Message]) -> Result<(), QueueError> {
        let entries = batch.iter().enumerate().map(|(index, message)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .set_receipt_handle(message.receipt_handle.clone())
                .build()
                .expect("id and receipt handle are set")
        });
        self.client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .map_err(|e| QueueError::new(&self.url, class_of(&e), e))?;
        Ok(())
    }
}
