//! Atomic file replacement: write a temporary sibling, flush it, rename it over the target.
//! Readers (a dashboard, a second process) see either the old file or the new one, never half.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh temporary path next to `path` (same directory, so the final rename stays on one
/// file system): `.<file name>.tmp-<pid>-<n>.<extension>`. The extension is kept because some
/// writers (image encoders) choose the format from it.
pub fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map_or_else(|| "out".into(), |s| s.to_string_lossy().into_owned());
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}{ext}", std::process::id()))
}

/// Creates `path`'s parent directories if needed.
///
/// # Errors
/// The I/O error of `create_dir_all`.
pub fn ensure_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

/// Produces `path` atomically: `write` fills a temporary sibling (a path it receives), which is
/// then renamed over `path`. Parent directories are created. On any error the temporary file is
/// removed and `path` is left untouched.
///
/// # Errors
/// Whatever `write` returns, or the I/O error of creating the directory or renaming.
pub fn replace_with<E: From<io::Error>>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    ensure_parent(path)?;
    let tmp = temp_sibling(path);
    let result = write(&tmp).and_then(|()| fs::rename(&tmp, path).map_err(E::from));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically (temporary sibling, `fsync`, rename).
///
/// # Errors
/// Any I/O error; `path` is then unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, |tmp| {
        let mut f = fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ferrite-host-atomic-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn writes_and_replaces_leaving_no_temp_files() {
        let dir = scratch("replace");
        let p = dir.join("sub").join("m.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("m.csv")]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn failed_write_keeps_old_file() {
        let dir = scratch("fail");
        let p = dir.join("x.txt");
        write_atomic(&p, b"old").unwrap();
        let r: io::Result<()> = replace_with(&p, |tmp| {
            fs::write(tmp, b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn temp_sibling_keeps_directory_and_extension() {
        let t = temp_sibling(Path::new("runs/a/plot.png"));
        assert_eq!(t.parent(), Some(Path::new("runs/a")));
        assert_eq!(t.extension().unwrap(), "png");
        assert_ne!(temp_sibling(Path::new("a.png")), temp_sibling(Path::new("a.png")));
    }
}
