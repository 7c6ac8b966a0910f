//! A download as a reader: a pause longer than the read timeout fails it, so
//! does a body past the size cap, and every byte passes through a SHA-256 on
//! the way. The same meter serves an HTTP body and an FTP transfer.

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

/// A download's bytes, metered.
pub struct BodyReader {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    read_timeout: Duration,
    idle: Pin<Box<Sleep>>,
    max_bytes: u64,
    url: String,
    tally: Tally,
}

impl BodyReader {
    pub fn new(inner: impl AsyncRead + Send + 'static, url: String, read_timeout: Duration, max_bytes: u64) -> Self {
        Self {
            inner: Box::pin(inner),
            read_timeout,
            idle: Box::pin(tokio::time::sleep(read_timeout)),
            max_bytes,
            url,
            tally: Tally::default(),
        }
    }

    /// An HTTP response's body.
    pub(super) fn http(body: Incoming, url: String, read_timeout: Duration, max_bytes: u64) -> Self {
        let incoming = IncomingReader { body, chunk: Bytes::new(), finished: false, url: url.clone() };
        Self::new(incoming, url, read_timeout, max_bytes)
    }

    pub fn tally(&self) -> Tally {
        self.tally.clone()
    }
}

impl AsyncRead for BodyReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match self.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let total = self.tally.add(&buf.filled()[before..]);
                if total > self.max_bytes {
                    return Poll::Ready(Err(io::Error::other(FetchError::TooLarge { url: self.url.clone(), limit: self.max_bytes })));
                }
                let deadline = Instant::now() + self.read_timeout;
                self.idle.as_mut().reset(deadline);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) if e.get_ref().is_some_and(|inner| inner.is::<FetchError>()) => Poll::Ready(Err(e)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(io::Error::other(FetchError::Body { url: self.url.clone(), source: Box::new(e) }))),
            Poll::Pending => {
                ready!(self.idle.as_mut().poll(cx));
                let after = self.read_timeout;
                let error = FetchError::Timeout { url: self.url.clone(), waiting_for: "the next bytes of the body", after };
                Poll::Ready(Err(io::Error::other(error)))
            }
        }
    }
}

impl std::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyReader").field("url", &self.url).finish_non_exhaustive()
    }
}

/// hyper's body frames as a byte stream.
struct IncomingReader {
    body: Incoming,
    chunk: Bytes,
    finished: bool,
    url: String,
}

impl AsyncRead for IncomingReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        while self.chunk.is_empty() && !self.finished {
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.chunk = data;
                    }
                }
                Some(Err(source)) => {
                    let error = FetchError::Body { url: self.url.clone(), source: Box::new(source) };
                    return Poll::Ready(Err(io::Error::other(error)));
                }
                None => self.finished = true,
            }
        }
        let n = buf.remaining().min(self.chunk.len());
        let data = self.chunk.split_to(n);
        buf.put_slice(&data);
        Poll::Ready(Ok(()))
    }
}
