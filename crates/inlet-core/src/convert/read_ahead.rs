//! Reading the source on a thread of its own.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// Bytes read ahead of the parser, per chunk.
const READ_AHEAD_CHUNK: usize = 256 << 10;
/// Chunks that may wait for the parser.
const READ_AHEAD_CHUNKS: usize = 4;

/// Reads the source on a thread of its own, hashing it on the way, so that
/// fetching the body overlaps with converting it.
pub(super) struct ReadAhead {
    chunks: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    /// Chunks read through, handed back to be filled again rather than
    /// allocated and zeroed anew.
    spent: std::sync::mpsc::SyncSender<Vec<u8>>,
    current: Vec<u8>,
    position: usize,
}

impl ReadAhead {
    /// Starts reading `input` on a thread of `scope`; the thread's result is
    /// the SHA-256 of everything it read.
    pub(super) fn spawn<'scope, R: Read + Send + 'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        mut input: R,
        bytes_read: Option<&'scope AtomicU64>,
    ) -> (Self, std::thread::ScopedJoinHandle<'scope, Sha256>) {
        let (sender, chunks) = std::sync::mpsc::sync_channel(READ_AHEAD_CHUNKS);
        let (spent, reusable) = std::sync::mpsc::sync_channel::<Vec<u8>>(READ_AHEAD_CHUNKS);
        let reader = scope.spawn(move || {
            let mut hasher = Sha256::new();
            loop {
                let mut chunk = reusable.try_recv().unwrap_or_default();
                chunk.resize(READ_AHEAD_CHUNK, 0);
                let read = match input.read(&mut chunk) {
                    Ok(0) => return hasher,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // The parser sees the error; a dropped parser ends the thread.
                        let _ = sender.send(Err(e));
                        return hasher;
                    }
                };
                chunk.truncate(read);
                if let Some(counter) = bytes_read {
                    counter.fetch_add(read as u64, Ordering::Relaxed);
                }
                hasher.update(&chunk);
                if sender.send(Ok(chunk)).is_err() {
                    return hasher;
                }
            }
        });
        (Self { chunks, spent, current: Vec::new(), position: 0 }, reader)
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.position == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    let spent = std::mem::replace(&mut self.current, chunk?);
                    // A full queue or a finished reader: the chunk is freed instead.
                    let _ = self.spent.try_send(spent);
                    self.position = 0;
                }
                // The reading thread is done: the end of the source.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}
