//! A response body as a reader: a pause between chunks longer than the read
//! timeout fails it, so does a body past the size cap, and every byte passes
//! through a SHA-256 on the way.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::body::{Body, Bytes, Incoming};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::FetchError;

/// What has been read so far. Shared, because the reader itself is handed
/// to the object store and gone by the time the caller wants the hash.
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Mutex<TallyState>>);

#[derive(Debug, Default)]
struct TallyState {
    hasher: Sha256,
    bytes: u64,
}

impl Tally {
    fn add(&self, data: &[u8]) -> u64 {
        let mut state = self.0.lock().expect("the tally lock is never poisoned");
        state.hasher.update(data);
        state.bytes += data.len() as u64;
        state.bytes
    }

    /// The bytes read and their SHA-256, in hex.
    pub fn finish(&self) -> (u64, String) {
        let state = self.0.lock().expect("the tally lock is never poisoned");
        (state.bytes, hex::encode(state.hasher.clone().finalize()))
    }
}

/// The body of a `200`, read chunk by chunk as the server sends it.
pub struct BodyReader {
    body: Incoming,
    chunk: Bytes,
    finished: bool,
    read_timeout: Duration,
    idle: Pin<Box<Sleep>>,
    max_bytes: u64,
    url: String,
    tally: Tally,
}

impl BodyReader {
    pub(super) fn new(body: Incoming, url: String, read_timeout: Duration, max_bytes: u64) -> Self {
        Self {
            body,
            chunk: Bytes::new(),
            finished: false,
            read_timeout,
            idle: Box::pin(tokio::time::sleep(read_timeout)),
            max_bytes,
            url,
            tally: Tally::default(),
        }
    }

    pub fn tally(&self) -> Tally {
        self.tally.clone()
    }

    /// Waits for the next chunk of data; `Ok(false)` at the end of the body.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else { continue };
                    self.idle.as_mut().reset(Instant::now() + self.read_timeout);
                    if self.tally.add(&data) > self.max_bytes {
                        let error = FetchError::TooLarge { url: self.url.clone(), limit: self.max_bytes };
                        return Poll::Ready(Err(io::Error::other(error)));
                    }
                    self.chunk = data;
                    return Poll::Ready(Ok(true));
                }
                Poll::Ready(Some(Err(source))) => {
                    let error = FetchError::Body { url: self.url.clone(), source: Box::new(source) };
                    return Poll::Ready(Err(io::Error::other(error)));
                }
                Poll::Ready(None) => return Poll::Ready(Ok(false)),
                Poll::Pending => {
                    ready!(self.idle.as_mut().poll(cx));
                    let error = FetchError::Timeout { url: self.url.clone(), waiting_for: "the next bytes of the body", after: self.read_timeout };
                    return Poll::Ready(Err(io::Error::other(error)));
                }
            }
        }
    }
}

impl AsyncRead for BodyReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        while self.chunk.is_empty() && !self.finished {
            match ready!(self.poll_chunk(cx)) {
                Ok(more) => self.finished = !more,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let n = buf.remaining().min(self.chunk.len());
        let data = self.chunk.split_to(n);
        buf.put_slice(&data);
        Poll::Ready(Ok(()))
    }
}

impl std::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyReader").field("url", &self.url).field("finished", &self.finished).finish_non_exhaustive()
    }
}
