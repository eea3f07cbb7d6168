//! The plugin lock file (`ferrite-plugins.lock`, TOML): for each trusted plugin file its name,
//! version, file name and SHA-256. With a lock in force, a plugin file is loaded only if an entry
//! with its file name has its exact hash.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The lock file's default name (looked up in the current directory).
pub const LOCK_FILE_NAME: &str = "ferrite-plugins.lock";

/// The format version this code reads and writes.
pub const LOCK_FORMAT: u32 = 1;

/// One locked plugin file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockEntry {
    /// Plugin name (`ops-ref`).
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// File name, without its directory (`libferrite_ops_ref.so`).
    pub file: String,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
}

/// A parsed lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    /// Format version ([`LOCK_FORMAT`]).
    pub format: u32,
    /// The locked files.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<LockEntry>,
    /// Where it was read from (for messages); not serialized.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// The first 12 hex digits of a hash, for messages.
fn short(sha: &str) -> String {
    format!("{}…", &sha[..sha.len().min(12)])
}

impl Lockfile {
    /// A lock of `entries`, sorted by file name then hash, duplicates removed.
    pub fn new(mut entries: Vec<LockEntry>) -> Self {
        entries.sort_by(|a, b| (&a.file, &a.sha256).cmp(&(&b.file, &b.sha256)));
        entries.dedup_by(|a, b| a.file == b.file && a.sha256 == b.sha256);
        Lockfile { format: LOCK_FORMAT, plugins: entries, source: None }
    }

    /// Parses lock file text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lock: Lockfile = toml::from_str(text).map_err(|e| e.message().replace('\n', " "))?;
        if lock.format != LOCK_FORMAT {
            return Err(format!("lock format {} is not supported (this host reads format {LOCK_FORMAT})", lock.format));
        }
        if let Some(bad) = lock.plugins.iter().find(|e| e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(format!("entry {} has a malformed sha256 {:?}", bad.file, bad.sha256));
        }
        Ok(lock)
    }

    /// Reads and parses `path`; the error is one line naming the file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read plugin lock {}: {e}", path.display()))?;
        let mut lock = Self::parse(&text).map_err(|e| format!("plugin lock {}: {e}", path.display()))?;
        lock.source = Some(path.to_path_buf());
        Ok(lock)
    }

    /// The TOML text of this lock.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a lock file always serializes");
        format!("# Plugin lock written by `ferrite plugins lock`: only these exact files are loaded.\n{body}")
    }

    /// Writes the lock to `path` atomically (temporary sibling, fsync, rename).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let name = path.file_name().map_or_else(|| LOCK_FILE_NAME.into(), |n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let result = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(self.to_toml().as_bytes()).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Whether the file at `path` with hash `sha256` is allowed; otherwise a one-line reason
    /// (changed since locked, or not in the lock at all) saying what to do. The reason does not
    /// repeat the path (the loader's error names it).
    pub fn check(&self, path: &Path, sha256: &str) -> Result<(), String> {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let same_name: Vec<&LockEntry> = self.plugins.iter().filter(|e| e.file == file).collect();
        if same_name.iter().any(|e| e.sha256.eq_ignore_ascii_case(sha256)) {
            return Ok(());
        }
        let lock = self.source.as_ref().map_or_else(|| LOCK_FILE_NAME.to_string(), |p| p.display().to_string());
        let fix = "run `ferrite plugins lock` again";
        match same_name.first() {
            Some(e) => Err(format!(
                "changed since it was locked as {} {} in {lock} (sha256 {} != {}); {fix}",
                e.name,
                e.version,
                short(sha256),
                short(&e.sha256)
            )),
            None => Err(format!("not in the plugin lock {lock} (sha256 {}); {fix}", short(sha256))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str, sha: char) -> LockEntry {
        LockEntry { name: "ops-ref".into(), version: "0.1.0".into(), file: file.into(), sha256: sha.to_string().repeat(64) }
    }

    #[test]
    fn round_trips_through_toml() {
        let lock = Lockfile::new(vec![entry("b.so", 'b'), entry("a.so", 'a'), entry("a.so", 'a')]);
        assert_eq!(lock.plugins.len(), 2, "duplicates removed");
        let text = lock.to_toml();
        assert!(text.contains("[[plugin]]") && text.contains("format = 1"), "{text}");
        assert_eq!(Lockfile::parse(&text).unwrap(), lock);
    }

    #[test]
    fn matching_by_file_name_and_hash() {
        let lock = Lockfile::new(vec![entry("libferrite_ops_ref.so", 'a')]);
        let p = Path::new("/x/libferrite_ops_ref.so");
        assert_eq!(lock.check(p, &"a".repeat(64)), Ok(()));
        assert_eq!(lock.check(p, &"A".repeat(64)), Ok(()), "hex case does not matter");
        let e = lock.check(p, &"b".repeat(64)).unwrap_err();
        assert!(e.contains("changed since it was locked as ops-ref 0.1.0"), "{e}");
        assert!(e.contains("sha256 bbbbbbbbbbbb… != aaaaaaaaaaaa…") && e.contains("ferrite plugins lock"), "{e}");
        let e = lock.check(Path::new("/x/libother.so"), &"a".repeat(64)).unwrap_err();
        assert!(e.contains("not in the plugin lock"), "{e}");
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn malformed_locks_are_refused() {
        assert!(Lockfile::parse("format = 2\n").unwrap_err().contains("format 2"));
        assert!(Lockfile::parse("format = 1\n[[plugin]]\nname = \"x\"\n").is_err(), "missing fields");
        let bad = "format = 1\n[[plugin]]\nname = \"x\"\nversion = \"1\"\nfile = \"x.so\"\nsha256 = \"zz\"\n";
        assert!(Lockfile::parse(bad).unwrap_err().contains("malformed sha256"));
        assert!(Lockfile::parse("format = 1\n").unwrap().plugins.is_empty());
    }

    #[test]
    fn written_atomically_and_read_back() {
        let d = std::env::temp_dir().join(format!("ferrite-trust-lock-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(LOCK_FILE_NAME);
        let lock = Lockfile::new(vec![entry("a.so", 'c')]);
        lock.write(&p).unwrap();
        let back = Lockfile::read(&p).unwrap();
        assert_eq!(back.plugins, lock.plugins);
        assert_eq!(back.source.as_deref(), Some(p.as_path()));
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
