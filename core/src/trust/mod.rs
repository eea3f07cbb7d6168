//! Plugin trust: plugins are native code, so before a file is mapped the loader asks the
//! runtime's [`TrustPolicy`] whether it may be: the file and its directory must be writable only
//! by their owner (the current user or root, see [`perms`]), and with a lock file in force
//! ([`lock`]) the file's SHA-256 must be the locked one. `allow_unlocked` (`--allow-unlocked`,
//! `FERRITE_ALLOW_UNLOCKED=1`) turns refusals into warnings, for development.

pub mod lock;
pub mod perms;

pub use lock::{LockEntry, Lockfile, LOCK_FILE_NAME};
use std::path::{Path, PathBuf};

/// Environment variable naming the lock file (instead of `./ferrite-plugins.lock`).
pub const LOCK_ENV: &str = "FERRITE_PLUGIN_LOCK";
/// Environment variable that, set to `1`/`true`/`yes`, allows unlocked and unsafe plugins.
pub const ALLOW_UNLOCKED_ENV: &str = "FERRITE_ALLOW_UNLOCKED";

/// What a plugin file must satisfy to be loaded.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// The lock in force, if any.
    pub lock: Option<Lockfile>,
    /// Load anyway (with a warning) what the permission rule or the lock would refuse.
    pub allow_unlocked: bool,
}

/// Whether `FERRITE_ALLOW_UNLOCKED` is set to a true value.
pub fn allow_unlocked_from_env() -> bool {
    std::env::var(ALLOW_UNLOCKED_ENV).is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// The lock file to honour: `explicit`, else `$FERRITE_PLUGIN_LOCK`, else
/// `./ferrite-plugins.lock` if it exists. An explicit or environment path must exist.
pub fn lock_path(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(LOCK_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
        .or_else(|| Some(PathBuf::from(LOCK_FILE_NAME)).filter(|p| p.is_file()))
}

impl TrustPolicy {
    /// The policy from the environment alone (what a host gets unless it installs another).
    ///
    /// # Errors
    /// A one-line message when the lock file named or found cannot be read or parsed.
    pub fn from_env() -> Result<Self, String> {
        Self::with(None, false)
    }

    /// The policy for a host: the lock at `lock` (else as in [`lock_path`]); unlocked loads
    /// allowed if `allow_unlocked` or the environment says so.
    ///
    /// # Errors
    /// A one-line message when the lock file cannot be read or parsed.
    pub fn with(lock: Option<&Path>, allow_unlocked: bool) -> Result<Self, String> {
        let lock = lock_path(lock).map(|p| Lockfile::read(&p)).transpose()?;
        Ok(TrustPolicy { lock, allow_unlocked: allow_unlocked || allow_unlocked_from_env() })
    }

    /// Vets the plugin file at `path` whose bytes hash to `sha256`. `Ok` carries warnings for
    /// refusals overridden by `allow_unlocked`; `Err` is the one-line refusal (reason, fix, and
    /// the `--allow-unlocked` escape hatch).
    pub fn check(&self, path: &Path, sha256: &str) -> Result<Vec<String>, String> {
        let mut problems = Vec::new();
        if let Err(e) = perms::check_permissions(path) {
            problems.push(e);
        }
        if let Some(lock) = &self.lock {
            if let Err(e) = lock.check(path, sha256) {
                problems.push(e);
            }
        }
        match problems.into_iter().next() {
            None => Ok(Vec::new()),
            Some(e) if self.allow_unlocked => Ok(vec![format!("--allow-unlocked: loading {} although {e}", path.display())]),
            Some(e) => Err(format!("{e} or pass --allow-unlocked")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn allow_unlocked_turns_refusals_into_warnings() {
        let d = std::env::temp_dir().join(format!("ferrite-trust-policy-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = d.join("libp.so");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let sha = "a".repeat(64);
        let locked = Lockfile::new(vec![LockEntry { name: "p".into(), version: "1".into(), file: "libp.so".into(), sha256: sha.clone() }]);
        let strict = TrustPolicy { lock: Some(locked), allow_unlocked: false };
        assert_eq!(strict.check(&f, &sha), Ok(vec![]));
        assert!(strict.check(&f, &"b".repeat(64)).unwrap_err().contains("changed since it was locked"));
        let dev = TrustPolicy { allow_unlocked: true, ..strict.clone() };
        let w = dev.check(&f, &"b".repeat(64)).unwrap();
        assert!(w.len() == 1 && w[0].contains("--allow-unlocked"), "{w:?}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(TrustPolicy::default().check(&f, &sha).unwrap_err().contains("chmod go-w"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
