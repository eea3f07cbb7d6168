//! Loading plugin `.so` files: content-addressed copy, dlopen through abi_stable's low-level
//! calls, ABI/layout/version checks summarised to one line, never unloaded. Every file is vetted
//! by a [`TrustPolicy`] before it is mapped.

use crate::error::{CoreError, Result};
use crate::trust::TrustPolicy;
use abi_stable::library::{lib_header_from_raw_library, LibraryError, RawLibrary, RootModule};
use ferrite_registry::PluginMeta;
use ferrite_sdk::abi::comm::CommDesc;
use ferrite_sdk::abi::op::OpDesc;
use ferrite_sdk::abi::parallel::ParallelDesc;
use ferrite_sdk::abi::plugin::{DatasetDesc, ModelDesc, PluginModRef};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A plugin that is loaded (and will stay mapped for the life of the process).
#[derive(Clone)]
pub struct LoadedPlugin {
    /// Name, version, file, hash.
    pub meta: Arc<PluginMeta>,
    /// Exported ops (point into the mapped library).
    pub ops: &'static [OpDesc],
    /// Exported model factories.
    pub models: &'static [ModelDesc],
    /// Exported dataset factories.
    pub datasets: &'static [DatasetDesc],
    /// Exported communication backends (empty for plugins built before ABI 1.1).
    pub comms: &'static [CommDesc],
    /// Exported parallel strategies (empty for plugins built before ABI 1.1).
    pub parallels: &'static [ParallelDesc],
}

fn plugin_err(path: &Path, msg: impl Into<String>) -> CoreError {
    CoreError::Plugin { path: path.display().to_string(), msg: msg.into() }
}

/// Turns abi_stable's multi-hundred-line report into one line.
fn summarize(err: &LibraryError) -> String {
    match err {
        LibraryError::OpenError { err, .. } => format!("cannot be opened as a shared library: {err}"),
        LibraryError::GetSymbolError { .. } => {
            "not a Ferrite plugin: it has no Ferrite root module (build it with ferrite_sdk::export_plugin!)".to_string()
        }
        LibraryError::IncompatibleVersionNumber { library_name, expected_version, actual_version } => format!(
            "{library_name} was built against ferrite-sdk {actual_version}, this host uses {expected_version}: \
             rebuild the plugin against a compatible ferrite-sdk"
        ),
        LibraryError::AbiInstability(_) => {
            let text = err.to_string();
            let mut reasons: Vec<&str> = text
                .lines()
                .map(|l| l.trim())
                .filter(|l| l.starts_with("Error:"))
                .map(|l| l.trim_start_matches("Error:").trim())
                .collect();
            reasons.dedup();
            reasons.truncate(2);
            format!(
                "incompatible plugin ABI ({}): it was built against a different ferrite-sdk ABI; rebuild it against this host's sdk",
                if reasons.is_empty() { "layout mismatch".to_string() } else { reasons.join("; ") }
            )
        }
        other => {
            let s = other.to_string();
            s.lines().next().unwrap_or("unknown loader error").to_string()
        }
    }
}

/// Where content-addressed copies are kept.
fn cache_dir() -> PathBuf {
    std::env::var_os("FERRITE_PLUGIN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ferrite-plugins-{}", std::process::id())))
}

/// Loads a plugin file under the environment's trust policy ([`TrustPolicy::from_env`]); see
/// [`load_with`]. Hosts go through [`crate::Runtime::load_plugin`], which uses the policy the
/// host installed.
pub fn load(path: &Path) -> Result<LoadedPlugin> {
    let policy = TrustPolicy::from_env().map_err(|e| plugin_err(path, e))?;
    let (loaded, warnings) = load_with(path, &policy)?;
    for w in warnings {
        eprintln!("ferrite warning: {w}");
    }
    Ok(loaded)
}

/// Loads a plugin file. Its bytes are read once, hashed and vetted by `policy` (permissions,
/// lock) before anything is mapped; those same bytes are then copied to a name derived from
/// their SHA-256 in a private cache, so a rebuilt file at the same path is a new library (dlopen
/// caches by path) and the loaded code is never overwritten underneath the process. Returns the
/// plugin and the warnings of refusals `policy.allow_unlocked` overrode.
pub fn load_with(path: &Path, policy: &TrustPolicy) -> Result<(LoadedPlugin, Vec<String>)> {
    let bytes = std::fs::read(path).map_err(|e| plugin_err(path, format!("cannot read: {e}")))?;
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(plugin_err(path, "not a shared library (no ELF header); is this really a plugin .so?"));
    }
    let sha = format!("{:x}", Sha256::digest(&bytes));
    let warnings = policy.check(path, &sha).map_err(|e| plugin_err(path, e))?;
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).map_err(|e| plugin_err(path, format!("cannot create {}: {e}", dir.display())))?;
    crate::trust::perms::check_private_dir(&dir).map_err(|e| plugin_err(path, e))?;
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin.so".into());
    let copy = dir.join(format!("{}-{file_name}", &sha[..16]));
    // An existing copy is reused only if it still holds exactly these bytes.
    let intact = std::fs::read(&copy).is_ok_and(|b| b == bytes);
    if !intact {
        static COPIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{}-{file_name}.tmp-{}-{n}", &sha[..16], std::process::id()));
        std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, &copy)).map_err(|e| plugin_err(path, format!("cannot copy: {e}")))?;
    }

    let raw = RawLibrary::load_at(&copy).map_err(|e| plugin_err(path, summarize(&e)))?;
    // SAFETY: the library stays loaded forever (forgotten below), so the header is 'static.
    let header = unsafe { lib_header_from_raw_library(&raw) }.map_err(|e| plugin_err(path, summarize(&e)))?;
    let module = header.init_root_module::<PluginModRef>().map_err(|e| plugin_err(path, summarize(&e)))?;
    // Never unload: descriptors and kernels point into this mapping.
    std::mem::forget(raw);

    let sdk_version = module.sdk_version()().as_str().to_string();
    check_sdk_version(path, &sdk_version)?;
    let meta = PluginMeta {
        name: module.plugin_name()().as_str().to_string(),
        version: module.plugin_version()().as_str().to_string(),
        sdk_version,
        path: path.to_path_buf(),
        sha256: sha,
    };
    let loaded = LoadedPlugin {
        meta: Arc::new(meta),
        ops: module.ops()().as_slice(),
        models: module.models()().as_slice(),
        datasets: module.datasets()().as_slice(),
        // Optional trailing fields of the prefix type: older plugins simply have none.
        comms: module.comms().map_or(&[][..], |f| f().as_slice()),
        parallels: module.parallels().map_or(&[][..], |f| f().as_slice()),
    };
    Ok((loaded, warnings))
}

/// Semver check of the sdk a plugin was built with against the host's (same major; for 0.x the
/// same minor, since 0.x minors may break).
fn check_sdk_version(path: &Path, plugin_sdk: &str) -> Result<()> {
    let parse = |s: &str| -> Option<(u64, u64)> {
        let mut it = s.split('.');
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    let host = ferrite_sdk::SDK_VERSION;
    let (Some(p), Some(h)) = (parse(plugin_sdk), parse(host)) else {
        return Err(plugin_err(path, format!("unreadable ferrite-sdk version {plugin_sdk:?}")));
    };
    let compatible = if h.0 == 0 { p.0 == 0 && p.1 == h.1 } else { p.0 == h.0 };
    if !compatible {
        return Err(plugin_err(
            path,
            format!("built against ferrite-sdk {plugin_sdk}, this host uses {host}: rebuild the plugin against ferrite-sdk {}.{}", h.0, h.1),
        ));
    }
    Ok(())
}

/// The root-module type name, for messages.
pub fn root_module_name() -> &'static str {
    <PluginModRef as RootModule>::NAME
}
