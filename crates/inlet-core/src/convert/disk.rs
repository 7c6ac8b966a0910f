//! Writing encoded Parquet to disk on a thread of its own.
//!
//! The encoding thread is the longest of a conversion, and copying its output
//! into the page cache was a sixth of its time in profiles (more on machines
//! where the kernel's fresh pages are dear). Here it hands full buffers to a
//! writer thread instead, through a short bounded channel, so the copy runs
//! beside the encoding and memory stays bounded.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes gathered before a buffer goes to the writer thread. Every open
/// file may hold one, and hundreds may be open, so it stays small; a write
/// this large (a Parquet page) goes on its own.
const BUFFER_BYTES: usize = 64 << 10;
/// Buffers that may wait for the writer thread.
const BUFFERS_IN_FLIGHT: usize = 8;

enum Operation {
    Create(u64, PathBuf),
    Append(u64, Vec<u8>),
    Close(u64),
}

/// A file the writer thread could not write.
#[derive(Debug, thiserror::Error)]
#[error("writing {}: {source}; the work directory must exist, be writable and have room", path.display())]
pub struct DiskError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The writer thread, and the way to it.
pub(super) struct Disk {
    operations: Option<SyncSender<Operation>>,
    thread: Option<JoinHandle<Result<(), DiskError>>>,
}

impl Disk {
    pub(super) fn start() -> Self {
        let (operations, received) = sync_channel(BUFFERS_IN_FLIGHT);
        let thread =
            std::thread::Builder::new().name("inlet-disk".into()).spawn(move || write_files(received)).expect("a thread can be started");
        Self { operations: Some(operations), thread: Some(thread) }
    }

    /// Creates `path`; what is written to the returned file reaches it in order.
    pub(super) fn create(&self, id: u64, path: PathBuf) -> DiskFile {
        let operations = self.operations.clone().expect("open until finished");
        // A stopped thread is reported by `finish`, and by the file's writes.
        let _ = operations.send(Operation::Create(id, path));
        DiskFile { id, buffer: Vec::new(), operations, bytes: 0 }
    }

    /// Waits for every write; the first one that failed is the error.
    pub(super) fn finish(&mut self) -> Result<(), DiskError> {
        self.operations = None;
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => Ok(()),
        }
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        // On an error path the files are scratch; what matters is the thread ending.
        let _ = self.finish();
    }
}

/// A file being written by the writer thread.
pub(super) struct DiskFile {
    id: u64,
    buffer: Vec<u8>,
    operations: SyncSender<Operation>,
    bytes: u64,
}

impl DiskFile {
    /// Hands over the last bytes and closes the file; returns its size.
    pub(super) fn close(mut self) -> std::io::Result<u64> {
        self.send_buffer()?;
        self.send(Operation::Close(self.id))?;
        Ok(self.bytes)
    }

    fn send_buffer(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let full = std::mem::take(&mut self.buffer);
        self.send(Operation::Append(self.id, full))
    }

    fn send(&self, operation: Operation) -> std::io::Result<()> {
        self.operations
            .send(operation)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the disk writer stopped on an earlier error"))
    }
}

impl Write for DiskFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if bytes.len() >= BUFFER_BYTES {
            self.send_buffer()?;
            self.send(Operation::Append(self.id, bytes.to_vec()))?;
        } else {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve_exact(BUFFER_BYTES);
            }
            self.buffer.extend_from_slice(bytes);
            if self.buffer.len() >= BUFFER_BYTES {
                self.send_buffer()?;
            }
        }
        self.bytes += bytes.len() as u64;
        Ok(bytes.len())
    }

    /// The bytes go when a buffer fills or the file closes: flushing a
    /// half-full buffer would only mean more, smaller writes.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writer thread: runs the operations in order, stopping at the first failure.
fn write_files(operations: Receiver<Operation>) -> Result<(), DiskError> {
    let mut files: HashMap<u64, (File, PathBuf)> = HashMap::new();
    for operation in operations {
        match operation {
            Operation::Create(id, path) => {
                let file = File::create(&path).map_err(|source| DiskError { path: path.clone(), source })?;
                files.insert(id, (file, path));
            }
            Operation::Append(id, bytes) => {
                let (file, path) = files.get_mut(&id).expect("created before written");
                file.write_all(&bytes).map_err(|source| DiskError { path: path.clone(), source })?;
            }
            Operation::Close(id) => drop(files.remove(&id)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_get_their_bytes_in_order_whatever_the_interleaving() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = Disk::start();
        let (mut a, mut b) = (disk.create(1, dir.path().join("a")), disk.create(2, dir.path().join("b")));
        let mut expected = (Vec::new(), Vec::new());
        for i in 0..20_000u32 {
            // Now and then a write as large as a page, which skips the buffer.
            let width = if i % 997 == 0 { BUFFER_BYTES + i as usize } else { (i % 97) as usize };
            let line = format!("{i} {}\n", "x".repeat(width));
            let (file, seen) = if i % 3 == 0 { (&mut a, &mut expected.0) } else { (&mut b, &mut expected.1) };
            file.write_all(line.as_bytes()).unwrap();
            seen.extend_from_slice(line.as_bytes());
        }
        assert_eq!(a.close().unwrap(), expected.0.len() as u64);
        assert_eq!(b.close().unwrap(), expected.1.len() as u64);
        disk.finish().unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), expected.0);
        assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), expected.1);
    }

    #[test]
    fn a_file_that_cannot_be_written_fails_its_writes_and_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = Disk::start();
        let missing = dir.path().join("no-such-folder").join("a");
        let mut file = disk.create(1, missing.clone());
        let chunk = vec![7u8; BUFFER_BYTES];
        let failed = (0..BUFFERS_IN_FLIGHT + 4).map(|_| file.write_all(&chunk)).find_map(Result::err);
        assert_eq!(failed.expect("the writes stop once the thread has").kind(), std::io::ErrorKind::BrokenPipe);
        let error = disk.finish().unwrap_err();
        assert_eq!(error.path, missing);
        assert_eq!(error.source.kind(), std::io::ErrorKind::NotFound);
    }
}
