//! Hot swap gated by conformance: [`PluginWatcher`] remembers the plugin files in use (path →
//! size, mtime, SHA-256); [`PluginWatcher::poll`] notices a new build at a watched path, loads
//! it beside the running one without touching dispatch ([`loader::load_with`] +
//! [`Runtime::stage`]), runs the conformance suite on its kernels against the reference, and
//! only if they pass installs it ([`Runtime::install_loaded`], the same code path as
//! [`Runtime::load_plugin`]'s hot swap). Otherwise the old code stays in use. Every decision is
//! returned as a [`WatchEvent`].
//!
//! Call [`PluginWatcher::poll`] where a swap is harmless — `ferrite train --watch-plugins`
//! polls between optimizer steps, so every step runs entirely on one build.

use ferrite_conformance::runner::{self, RunConfig, Status};
use ferrite_core::loader::{self, LoadedPlugin};
use ferrite_core::Runtime;
use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Proptest cases per kernel when a candidate build is checked (fewer than the suite's default
/// to keep a swap between two training steps short).
pub const WATCH_CASES: u32 = 16;

/// What the watcher decided about one new build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// The new build passed and is now in use.
    Swapped {
        /// The watched file.
        path: PathBuf,
        /// Plugin name.
        plugin: String,
        /// Version and SHA-256 (first 16 hex digits) of the build replaced.
        from: String,
        /// Version and SHA-256 (first 16 hex digits) of the build now in use.
        to: String,
        /// Kernels that passed conformance against the reference.
        checked: usize,
        /// Kernels not checked (no reference kernel or generator).
        untested: usize,
    },
    /// The new build was not swapped in; the old one stays in use.
    Refused {
        /// The watched file.
        path: PathBuf,
        /// Plugin name (of the running build).
        plugin: String,
        /// Version and SHA-256 (first 16 hex digits) of the refused build, when it loaded.
        build: Option<String>,
        /// Why; names the failing ops for conformance failures.
        reason: String,
        /// Canonical names of the ops whose kernels failed conformance (empty for other reasons).
        failed_ops: Vec<String>,
    },
}

impl WatchEvent {
    /// Whether the new build is now in use.
    pub fn swapped(&self) -> bool {
        matches!(self, WatchEvent::Swapped { .. })
    }
}

impl fmt::Display for WatchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchEvent::Swapped { path, plugin, from, to, checked, untested } => write!(
                f,
                "swapped {plugin} {from} -> {to} ({}): {checked} kernels passed conformance, {untested} untested",
                path.display()
            ),
            WatchEvent::Refused { path, plugin, build, reason, .. } => write!(
                f,
                "refused {plugin} {} ({}): {reason}; still using the running build",
                build.as_deref().unwrap_or("new build"),
                path.display()
            ),
        }
    }
}

/// One watched file.
#[derive(Clone, Debug)]
struct Watched {
    path: PathBuf,
    /// Name of the plugin loaded from it.
    plugin: String,
    /// Size and modification time last seen (a cheap change test before hashing).
    stamp: Option<(u64, SystemTime)>,
    /// SHA-256 of the last build decided on (swapped in, refused, or the initial one).
    sha256: String,
}

/// Watches loaded plugin files and hot-swaps new builds that pass conformance.
#[derive(Debug)]
pub struct PluginWatcher {
    files: Vec<Watched>,
    /// Name of the (loaded) reference plugin.
    pub reference: String,
    /// Proptest cases per kernel.
    pub cases: u32,
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(16)]
}

fn describe(p: &LoadedPlugin) -> String {
    format!("{} (sha256 {})", p.meta.version, short(&p.meta.sha256))
}

impl Default for PluginWatcher {
    fn default() -> Self {
        PluginWatcher::new()
    }
}

impl PluginWatcher {
    /// A watcher with nothing watched, checking against `ops-ref` with [`WATCH_CASES`] cases.
    pub fn new() -> PluginWatcher {
        PluginWatcher { files: Vec::new(), reference: "ops-ref".into(), cases: WATCH_CASES }
    }

    /// A watcher of every plugin loaded in the runtime now (except the reference itself, which
    /// is the oracle: a new reference has nothing to be checked against).
    pub fn of_loaded(reference: &str) -> PluginWatcher {
        let mut w = PluginWatcher { reference: reference.to_string(), ..PluginWatcher::new() };
        for p in Runtime::global().plugins() {
            if p.meta.name != reference {
                w.watch(&p);
            }
        }
        w
    }

    /// Watches the file `plugin` (installed in the runtime) was loaded from.
    pub fn watch(&mut self, plugin: &LoadedPlugin) {
        let path = plugin.meta.path.clone();
        self.files.retain(|w| w.path != path);
        self.files.push(Watched { stamp: stamp(&path), path, plugin: plugin.meta.name.clone(), sha256: plugin.meta.sha256.clone() });
    }

    /// The watched files.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|w| w.path.clone()).collect()
    }

    /// Checks every watched file; for each new build, decides (swap or refuse) and returns the
    /// decisions. A build is decided once: a refused build is not retried until the file
    /// changes again.
    pub fn poll(&mut self) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        for i in 0..self.files.len() {
            let now = stamp(&self.files[i].path);
            if now.is_none() || now == self.files[i].stamp {
                continue; // missing (mid-rebuild) or unchanged
            }
            self.files[i].stamp = now;
            if let Some(e) = self.check(i) {
                events.push(e);
            }
        }
        events
    }

    /// Loads, checks and maybe installs the build now at watched file `i`.
    fn check(&mut self, i: usize) -> Option<WatchEvent> {
        let rt = Runtime::global();
        let w = self.files[i].clone();
        let refuse = |build: Option<String>, reason: String, failed_ops: Vec<String>| WatchEvent::Refused {
            path: w.path.clone(),
            plugin: w.plugin.clone(),
            build,
            reason,
            failed_ops,
        };
        let loaded = match rt.trust_policy().and_then(|policy| loader::load_with(&w.path, &policy)) {
            Ok((loaded, warnings)) => {
                for m in &warnings {
                    rt.warn_once(m);
                }
                loaded
            }
            Err(e) => return Some(refuse(None, format!("cannot load it: {e}"), Vec::new())),
        };
        if loaded.meta.sha256 == w.sha256 {
            return None; // touched, same bytes
        }
        self.files[i].sha256 = loaded.meta.sha256.clone();
        let build = Some(describe(&loaded));
        if loaded.meta.name != w.plugin {
            let reason = format!("it is plugin `{}`, not `{}`: a hot swap replaces a plugin by one of the same name", loaded.meta.name, w.plugin);
            return Some(refuse(build, reason, Vec::new()));
        }
        let Some(running) = rt.plugin_named(&w.plugin) else {
            return Some(refuse(build, format!("plugin `{}` is no longer loaded", w.plugin), Vec::new()));
        };
        if rt.plugin_named(&self.reference).is_none() {
            return Some(refuse(build, format!("the reference `{}` is not loaded, so nothing can vouch for the new kernels", self.reference), Vec::new()));
        }
        // Kernels the running build provides that the new one drops would vanish mid-run.
        let kernels = |p: &LoadedPlugin| -> BTreeSet<(String, i32, String)> {
            p.ops
                .iter()
                .flat_map(|d| d.kernels.iter().map(move |k| (d.name.as_str().to_string(), k.device_type, k.dtype.short().to_string())))
                .collect()
        };
        let dropped: Vec<String> =
            kernels(&running).difference(&kernels(&loaded)).map(|(op, _, dt)| format!("{op} {dt}")).collect();
        if !dropped.is_empty() {
            return Some(refuse(build, format!("it drops kernels the running build provides: {}", dropped.join(", ")), Vec::new()));
        }
        // Check the candidate's kernels while dispatch still uses the running build.
        let label = format!("{}@candidate-{}", w.plugin, short(&loaded.meta.sha256));
        if let Err(e) = rt.stage(&label, loaded.clone()) {
            return Some(refuse(build, e.to_string(), Vec::new()));
        }
        let cfg = RunConfig { reference: self.reference.clone(), cases: self.cases, ..RunConfig::new(&label) };
        let report = runner::run(&cfg);
        rt.unstage(&label);
        let report = match report {
            Ok(r) => r,
            Err(e) => return Some(refuse(build, format!("conformance could not run: {e}"), Vec::new())),
        };
        let failed: Vec<&runner::Row> = report.rows.iter().filter(|r| r.status == Status::Fail).collect();
        if !failed.is_empty() {
            let mut ops: Vec<String> = failed.iter().map(|r| r.op.clone()).collect();
            ops.dedup();
            let detail: Vec<String> = failed
                .iter()
                .map(|r| {
                    let why = r.failure.as_ref().map_or(String::new(), |f| format!(" ({})", f.mismatch.part));
                    format!("{} {}/{}{why}", r.op, r.device, r.dtype.short())
                })
                .collect();
            let reason = format!("conformance failed for {}: {}", ops.join(", "), detail.join("; "));
            return Some(refuse(build, reason, ops));
        }
        let checked = report.rows.iter().filter(|r| r.status == Status::Pass).count();
        let untested = report.rows.len() - checked;
        let from = describe(&running);
        let to = describe(&loaded);
        rt.install_loaded(loaded);
        Some(WatchEvent::Swapped { path: w.path, plugin: w.plugin, from, to, checked, untested })
    }
}

/// Prints `event` and appends it as one line to `log` (created if missing).
///
/// # Errors
/// The log cannot be opened or written.
pub fn record(event: &WatchEvent, log: &Path) -> std::io::Result<()> {
    println!("plugins: {event}");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    writeln!(f, "{} {event}", unix_seconds())
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
