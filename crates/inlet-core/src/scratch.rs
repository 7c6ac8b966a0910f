//! Scratch folders: where a run spools archives and stages Parquet files.
//!
//! A run killed mid-file (SIGKILL, a Lambda timeout) cannot clean up after
//! itself, and a warm Lambda's `/tmp` would fill up one timeout at a time. So
//! each scratch folder holds an OS lock (`flock`) on the folder itself for as
//! long as it lives. The OS releases the lock when the process dies, however it
//! dies; a sweep removes every scratch folder whose lock it can take, and
//! leaves alone those a live run, in this process or another, still holds.
//!
//! The lock is on the folder, not on a file in it, so that there is no instant
//! in which a folder exists that a sweep cannot judge: one that is not locked
//! yet is fair game, and its creator, finding it gone once it holds the lock,
//! makes another.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use inlet_contract::prefixes::SCRATCH;

/// How many times a run makes a new folder when sweeps keep taking the one it
/// just made; each loss needs a sweep in that microsecond, so a few is plenty.
const CREATE_ATTEMPTS: usize = 8;

/// A scratch folder, removed when dropped, and marked live while it exists.
#[derive(Debug)]
pub struct Scratch {
    // Dropped in order: the folder goes first, then the lock is released.
    dir: tempfile::TempDir,
    _lock: File,
}

impl Scratch {
    /// A new folder `inlet-…` under `parent`, or under the system's temp folder.
    pub fn create(parent: Option<&Path>) -> io::Result<Self> {
        let parent = parent.map(Path::to_owned).unwrap_or_else(std::env::temp_dir);
        fs::create_dir_all(&parent)?;
        for _ in 0..CREATE_ATTEMPTS {
            let dir = tempfile::Builder::new().prefix(SCRATCH).tempdir_in(&parent)?;
            if let Some(scratch) = Self::claim(dir)? {
                return Ok(scratch);
            }
        }
        Err(io::Error::other(format!(
            "every scratch folder made under {} was swept before it could be locked, {CREATE_ATTEMPTS} times",
            parent.display()
        )))
    }

    /// Locks a folder just made; `None` when a sweep removed it first.
    fn claim(dir: tempfile::TempDir) -> io::Result<Option<Self>> {
        let lock = match File::open(dir.path()) {
            Ok(lock) => lock,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // Blocks while a sweeper holds it, which it does until the folder is gone.
        lock.lock()?;
        Ok(dir.path().exists().then_some(Self { dir, _lock: lock }))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the scratch folders of dead runs under `parent`; returns those removed.
pub fn sweep(parent: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let is_scratch = entry.file_name().to_string_lossy().starts_with(SCRATCH) && entry.file_type()?.is_dir();
        if !is_scratch {
            continue;
        }
        // Held until the folder is gone, so its creator, if alive, sees it gone.
        let Some(_abandoned) = lock_if_abandoned(&entry.path())? else { continue };
        match fs::remove_dir_all(entry.path()) {
            Ok(()) => removed.push(entry.path()),
            // Another sweeper got there first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The folder's lock, when nobody else holds it.
fn lock_if_abandoned(dir: &Path) -> io::Result<Option<File>> {
    let lock = match File::open(dir) {
        Ok(lock) => lock,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_removes_dead_scratch_and_keeps_live_scratch() {
        let parent = tempfile::tempdir().unwrap();
        let live = Scratch::create(Some(parent.path())).unwrap();
        // A dead run's folder, or one killed before it could lock: nobody holds it.
        let dead = parent.path().join(format!("{SCRATCH}dead"));
        fs::create_dir_all(dead.join("nested")).unwrap();
        fs::write(dead.join("nested/part.parquet"), b"x").unwrap();
        // Not ours at all.
        fs::create_dir(parent.path().join("other")).unwrap();

        let removed = sweep(parent.path()).unwrap();
        assert_eq!(removed, std::slice::from_ref(&dead));
        assert!(!dead.exists());
        assert!(live.path().exists());
        assert!(parent.path().join("other").exists());

        let path = live.path().to_owned();
        drop(live);
        assert!(!path.exists(), "a scratch folder is removed when dropped");
        assert!(sweep(&parent.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn a_folder_swept_before_its_creator_locked_it_is_not_handed_out() {
        let parent = tempfile::tempdir().unwrap();
        let dir = tempfile::Builder::new().prefix(SCRATCH).tempdir_in(parent.path()).unwrap();
        // The sweeper takes the lock first and holds it while it removes the folder.
        let sweeper = lock_if_abandoned(dir.path()).unwrap().expect("an unlocked folder is abandoned");
        let path = dir.path().to_owned();
        let removal = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            fs::remove_dir_all(&path).unwrap();
            drop(sweeper);
        });
        assert!(Scratch::claim(dir).unwrap().is_none(), "the creator waits for the sweep, then sees the folder gone");
        removal.join().unwrap();
    }

    #[test]
    fn sweeping_nonstop_never_takes_a_live_folder() {
        let parent = tempfile::tempdir().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sweeper = {
            let (parent, stop) = (parent.path().to_owned(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    sweep(&parent).unwrap();
                }
            })
        };
        for _ in 0..300 {
            let scratch = Scratch::create(Some(parent.path())).unwrap();
            fs::write(scratch.path().join("part.parquet"), b"x").expect("a live folder is never swept");
            assert!(scratch.path().join("part.parquet").exists());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sweeper.join().unwrap();
    }
}
