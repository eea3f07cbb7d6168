//! One training process per run folder: `ferrite train` holds an exclusive lock on
//! `RUN_DIR/.lock` (an OS file lock, `flock`, released when the process ends, also by a crash)
//! from the start of a run or `--resume` to its end, so a second `--resume` of the same folder
//! is refused instead of both writing the same shards.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::path::Path;

/// Name of the lock file inside a run folder.
pub const LOCK_FILE: &str = ".lock";

/// Creates `run_dir` if needed and takes its lock; the lock lasts as long as the returned file.
///
/// # Errors
/// The folder or lock file cannot be created, or another process holds the lock.
pub fn lock_run_dir(run_dir: &Path) -> Result<File> {
    std::fs::create_dir_all(run_dir).with_context(|| format!("creating run folder {}", run_dir.display()))?;
    let path = run_dir.join(LOCK_FILE);
    let f = OpenOptions::new().create(true).truncate(false).write(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!("run folder {} is in use by another ferrite train (it holds {})", run_dir.display(), path.display())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("ferrite-lock-test-{}", std::process::id()));
        let first = lock_run_dir(&dir).unwrap();
        let e = lock_run_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("in use by another ferrite train"), "{e}");
        drop(first);
        assert!(lock_run_dir(&dir).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
