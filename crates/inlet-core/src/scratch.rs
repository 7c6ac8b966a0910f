//! Scratch folders: where a run spools archives and stages Parquet files.
//!
//! A run killed mid-file (SIGKILL, a Lambda timeout) cannot clean up after
//! itself, and a warm Lambda's `/tmp` would fill up one timeout at a time. So
//! each scratch folder holds an OS lock on a file inside it for as long as it
//! lives. The OS releases the lock when the process dies, however it dies; a
//! sweep removes every scratch folder whose lock it can take, and leaves alone
//! those a live run, in this process or another, still holds.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use inlet_contract::prefixes::SCRATCH;

/// The file inside a scratch folder whose lock marks it as in use.
const LOCK_FILE: &str = ".lock";
/// A folder without a lock file is either being created this instant or was
/// left by a version without locks; after this long it is the latter.
const UNLOCKED_GRACE: Duration = Duration::from_secs(600);

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
        let builder = {
            let mut builder = tempfile::Builder::new();
            builder.prefix(SCRATCH);
            builder
        };
        let dir = match parent {
            Some(parent) => {
                fs::create_dir_all(parent)?;
                builder.tempdir_in(parent)?
            }
            None => builder.tempdir()?,
        };
        // Locked before it takes its name: a sweeper that finds `.lock`
        // finds it held, never in the instant between creation and locking.
        let unnamed = dir.path().join(format!("{LOCK_FILE}.new"));
        let lock = File::create(&unnamed)?;
        lock.lock()?;
        fs::rename(&unnamed, dir.path().join(LOCK_FILE))?;
        Ok(Self { dir, _lock: lock })
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
        if is_scratch && is_abandoned(&entry.path())? {
            match fs::remove_dir_all(entry.path()) {
                Ok(()) => removed.push(entry.path()),
                // Another sweeper got there first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

fn is_abandoned(dir: &Path) -> io::Result<bool> {
    let lock = match File::options().write(true).open(dir.join(LOCK_FILE)) {
        Ok(lock) => lock,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let modified = fs::metadata(dir)?.modified()?;
            let age = SystemTime::now().duration_since(modified).unwrap_or_default();
            return Ok(age > UNLOCKED_GRACE);
        }
        Err(e) => return Err(e),
    };
    match lock.try_lock() {
        // Taken: nobody holds it, so its run is over. Our lock goes with the folder.
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
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
        // A dead run's folder: its lock file exists, but nobody holds the lock.
        let dead = parent.path().join(format!("{SCRATCH}dead"));
        fs::create_dir_all(dead.join("nested")).unwrap();
        File::create(dead.join(LOCK_FILE)).unwrap();
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
}
