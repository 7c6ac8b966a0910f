//! Message queues: how the entry point hands an archive to the unzip function.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{BoxError, Classify, ErrorClass, describe};

#[derive(Debug, thiserror::Error)]
#[error("sending to {queue} failed ({class:?}): {message}")]
pub struct QueueError {
    pub queue: String,
    pub class: ErrorClass,
    pub message: String,
    #[source]
    pub source: BoxError,
}

impl QueueError {
    pub fn new(queue: impl Into<String>, class: ErrorClass, source: impl Into<BoxError>) -> Self {
        let source = source.into();
        Self { queue: queue.into(), class, message: describe(source.as_ref()), source }
    }
}

impl Classify for QueueError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

/// A message for a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoMessage {
    pub body: String,
    /// Messages of one group are delivered in order, one batch at a time.
    pub group_id: String,
    /// A second message with this id within five minutes is dropped.
    pub deduplication_id: String,
}

/// SQS's limit on the messages of one batch request.
pub const MAX_BATCH: usize = 10;

/// A queue messages can be sent to.
#[async_trait]
pub trait MessageQueue: Send + Sync + std::fmt::Debug {
    async fn send(&self, body: String) -> Result<(), QueueError>;

    /// Sends up to [`MAX_BATCH`] messages to a FIFO queue in one request;
    /// an error means some may not have been sent, and sending the batch
    /// again is safe, since their deduplication ids drop the repeats.
    async fn send_fifo_batch(&self, messages: &[FifoMessage]) -> Result<(), QueueError>;
}

/// A queue in memory: what was sent, in order. For tests and for running
/// the Lambda handlers in one process.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    messages: Mutex<Vec<String>>,
}

impl MemoryQueue {
    /// Takes every message sent so far.
    pub fn drain(&self) -> Vec<String> {
        std::mem::take(&mut *self.messages.lock().expect("the queue's lock is never poisoned"))
    }
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send(&self, body: String) -> Result<(), QueueError> {
        self.messages.lock().expect("the queue's lock is never poisoned").push(body);
        Ok(())
    }

    async fn send_fifo_batch(&self, messages: &[FifoMessage]) -> Result<(), QueueError> {
        assert!(messages.len() <= MAX_BATCH, "a batch holds at most {MAX_BATCH} messages");
        self.messages.lock().expect("the queue's lock is never poisoned").extend(messages.iter().map(|m| m.body.clone()));
        Ok(())
    }
}
