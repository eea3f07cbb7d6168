//! Plugin trust in the host: installing the core's [`TrustPolicy`] from `--lock` /
//! `--allow-unlocked`, and `ferrite plugins lock`.

use anyhow::{Context, Result};
use ferrite_core::trust::{self, LockEntry, Lockfile, TrustPolicy};
use ferrite_core::Runtime;
use std::path::{Path, PathBuf};

/// Installs the policy every later plugin load enforces: the lock at `lock` (else
/// `$FERRITE_PLUGIN_LOCK`, else `./ferrite-plugins.lock` if present) and the permission rule,
/// overridden with warnings when `allow_unlocked` (or `FERRITE_ALLOW_UNLOCKED=1`).
///
/// # Errors
/// The lock file cannot be read or parsed.
pub fn install_policy(lock: Option<&Path>, allow_unlocked: bool) -> Result<()> {
    let policy = TrustPolicy::with(lock, allow_unlocked).map_err(anyhow::Error::msg)?;
    Runtime::global().set_trust_policy(policy);
    Ok(())
}

/// Where `plugins lock` writes: `lock`, else `$FERRITE_PLUGIN_LOCK`, else
/// `./ferrite-plugins.lock`.
pub fn lock_target(lock: Option<&Path>) -> PathBuf {
    lock.map(Path::to_path_buf)
        .or_else(|| std::env::var_os(trust::LOCK_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(trust::LOCK_FILE_NAME))
}

/// `ferrite plugins lock`: loads the default plugins and those on the plugin path (`extra`
/// and `FERRITE_PLUGIN_PATH`) ignoring any existing lock (the permission rule still applies
/// unless `allow_unlocked`), then writes a lock of every file loaded to [`lock_target`]
/// atomically. Returns where it was written and what it holds.
///
/// # Errors
/// A plugin cannot be loaded, or the lock cannot be written.
pub fn lock_plugins(lock: Option<&Path>, allow_unlocked: bool, extra: &[PathBuf]) -> Result<(PathBuf, Lockfile)> {
    let rt = Runtime::global();
    rt.set_trust_policy(TrustPolicy { lock: None, allow_unlocked: allow_unlocked || trust::allow_unlocked_from_env() });
    crate::plugins::load_default_plugins(extra)?;
    let entries = rt
        .load_history()
        .iter()
        .map(|m| LockEntry {
            name: m.name.clone(),
            version: m.version.clone(),
            file: m.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            sha256: m.sha256.clone(),
        })
        .collect();
    let lockfile = Lockfile::new(entries);
    let target = lock_target(lock);
    lockfile.write(&target).with_context(|| format!("writing the plugin lock {}", target.display()))?;
    Ok((target, lockfile))
}
