//! The process-wide runtime: loaded plugins, the current registry snapshot (swapped
//! atomically), the random generator and settings.

use crate::error::{CoreError, Result};
use crate::loader::{self, LoadedPlugin};
use crate::trust::TrustPolicy;
use arc_swap::{ArcSwap, Guard};
use ferrite_registry::{IdTable, PluginMeta, Registry};
use crate::comm::ProcessGroup;
use ferrite_sdk::abi::comm::CommBox;
use ferrite_sdk::abi::parallel::StrategyBox;
use ferrite_sdk::abi::plugin::{DatasetBox, ModelBox};
use ferrite_sdk::rng::Rng;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

thread_local! {
    /// A thread's own generator, when it has one (see [`Runtime::set_thread_rng`]).
    static THREAD_RNG: RefCell<Option<Rng>> = const { RefCell::new(None) };
}

struct State {
    plugins: Vec<LoadedPlugin>,
    /// Every plugin file loaded, in load order (hot-swapped versions included).
    history: Vec<Arc<PluginMeta>>,
    ids: IdTable,
    /// The trust policy; `None` until installed or first needed (then from the environment).
    policy: Option<TrustPolicy>,
    /// Loaded but not installed builds, under a label: visible to [`crate::provider`] (so the
    /// conformance suite can call their kernels) but never to dispatch.
    staged: Vec<(String, LoadedPlugin)>,
}

/// The runtime. Get it with [`Runtime::global`].
pub struct Runtime {
    state: Mutex<State>,
    current: ArcSwap<Registry>,
    rng: Mutex<Rng>,
    threads: AtomicUsize,
    warned: Mutex<HashSet<String>>,
    /// Version pins: canonical op name → the version its names resolve to.
    pins: Mutex<HashMap<String, u32>>,
}

/// What [`Runtime::load_plugin`] did.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The plugin now in use.
    pub plugin: Arc<PluginMeta>,
    /// The version it replaced, if this was a hot swap.
    pub replaced: Option<Arc<PluginMeta>>,
    /// Registry warnings raised by the new snapshot.
    pub warnings: Vec<String>,
}

impl Runtime {
    /// The process-wide runtime.
    pub fn global() -> &'static Runtime {
        static RT: OnceLock<Runtime> = OnceLock::new();
        RT.get_or_init(|| Runtime {
            state: Mutex::new(State { plugins: Vec::new(), history: Vec::new(), ids: IdTable::new(), policy: None, staged: Vec::new() }),
            current: ArcSwap::from_pointee(Registry::empty()),
            rng: Mutex::new(Rng::new(0x5EED)),
            threads: AtomicUsize::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
            warned: Mutex::new(HashSet::new()),
            pins: Mutex::new(HashMap::new()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current registry snapshot (lock-free read).
    #[inline]
    pub fn registry(&self) -> Guard<Arc<Registry>> {
        self.current.load()
    }

    /// Loads a plugin file. If a plugin with the same name is loaded, this is a hot swap: the
    /// new snapshot replaces the old one atomically, calls already running finish on the old
    /// code (which stays mapped), and later calls use the new kernels. Op ids do not change.
    ///
    /// The file is vetted first by the trust policy ([`Runtime::set_trust_policy`]; by default
    /// [`TrustPolicy::from_env`]): refused if it or its directory is writable by other users,
    /// or, with a lock file in force, if its SHA-256 is not the locked one.
    pub fn load_plugin(&self, path: &Path) -> Result<LoadReport> {
        let policy = self.trust_policy()?;
        let (loaded, trust_warnings) = loader::load_with(path, &policy)?;
        for w in &trust_warnings {
            self.warn_once(w);
        }
        Ok(self.install_loaded(loaded))
    }

    /// Installs an already loaded plugin (from [`loader::load_with`], vetted by the caller):
    /// the one code path behind [`Runtime::load_plugin`]. If a plugin with the same name is
    /// installed this is a hot swap: a new registry snapshot replaces the old one atomically,
    /// calls already running finish on the old code (which stays mapped), later calls use the
    /// new kernels. Op ids do not change. A staged copy of the same build is dropped.
    pub fn install_loaded(&self, loaded: LoadedPlugin) -> LoadReport {
        let mut st = self.state();
        st.staged.retain(|(_, p)| !Arc::ptr_eq(&p.meta, &loaded.meta));
        st.history.push(loaded.meta.clone());
        let replaced = match st.plugins.iter().position(|p| p.meta.name == loaded.meta.name) {
            Some(i) => Some(std::mem::replace(&mut st.plugins[i], loaded.clone()).meta),
            None => {
                st.plugins.push(loaded.clone());
                None
            }
        };
        let list: Vec<_> = st.plugins.iter().map(|p| (p.meta.clone(), p.ops)).collect();
        let reg = Registry::build(&list, &mut st.ids);
        let warnings = reg.warnings.clone();
        self.current.store(Arc::new(reg));
        LoadReport { plugin: loaded.meta, replaced, warnings }
    }

    /// Makes a loaded but not installed build callable through [`crate::provider`] under
    /// `label` (which must not be an installed plugin's name), without touching dispatch: how
    /// a candidate build is checked before [`Runtime::install_loaded`]. Replaces an earlier
    /// build staged under the same label.
    ///
    /// # Errors
    /// `label` is the name of an installed plugin.
    pub fn stage(&self, label: &str, loaded: LoadedPlugin) -> Result<()> {
        let mut st = self.state();
        if st.plugins.iter().any(|p| p.meta.name == label) {
            return Err(CoreError::Invalid(format!("cannot stage a build as `{label}`: a loaded plugin has that name")));
        }
        st.staged.retain(|(l, _)| l != label);
        st.staged.push((label.to_string(), loaded));
        Ok(())
    }

    /// Withdraws the build staged under `label` (if any).
    pub fn unstage(&self, label: &str) {
        self.state().staged.retain(|(l, _)| l != label);
    }

    /// The installed plugin named `name`, else the build staged under the label `name`.
    pub fn plugin_named(&self, name: &str) -> Option<LoadedPlugin> {
        let st = self.state();
        st.plugins
            .iter()
            .find(|p| p.meta.name == name)
            .or_else(|| st.staged.iter().find(|(l, _)| l == name).map(|(_, p)| p))
            .cloned()
    }

    /// Loads every `*.so` in `dir` whose file name starts with `prefix` (e.g. `libferrite_`).
    pub fn load_dir(&self, dir: &Path, prefix: &str) -> Result<Vec<LoadReport>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| CoreError::Plugin { path: dir.display().to_string(), msg: format!("cannot list: {e}") })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "so")
                    && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        files.sort();
        files.iter().map(|f| self.load_plugin(f)).collect()
    }

    /// Installs the trust policy every later [`Runtime::load_plugin`] enforces (hosts call this
    /// once at start-up with their `--lock` / `--allow-unlocked` flags).
    pub fn set_trust_policy(&self, policy: TrustPolicy) {
        self.state().policy = Some(policy);
    }

    /// The trust policy in force: the installed one, else the environment's (computed once).
    ///
    /// # Errors
    /// The lock file from the environment cannot be read or parsed (every load then fails).
    pub fn trust_policy(&self) -> Result<TrustPolicy> {
        let mut st = self.state();
        if st.policy.is_none() {
            let policy = TrustPolicy::from_env().map_err(CoreError::Invalid)?;
            st.policy = Some(policy);
        }
        Ok(st.policy.clone().expect("set above"))
    }

    /// Every plugin file loaded so far, in load order, including versions since replaced by a
    /// hot swap (what `ferrite plugins lock` records).
    pub fn load_history(&self) -> Vec<Arc<PluginMeta>> {
        self.state().history.clone()
    }

    /// Loaded plugins in load order.
    pub fn plugins(&self) -> Vec<LoadedPlugin> {
        self.state().plugins.clone()
    }

    /// Builds a model by exported name from the most recently loaded plugin exporting it.
    pub fn create_model(&self, name: &str, config_toml: &str) -> Result<ModelBox> {
        let desc = find_export(&self.plugins(), |p| p.models, |d| d.name.as_str(), name, "model", "loaded models")?;
        (desc.create)(crate::host_api::host_api(), config_toml.into())
            .into_result()
            .map_err(|e| CoreError::Invalid(format!("{name}: {e}")))
    }

    /// Builds a dataset by exported name.
    pub fn create_dataset(&self, name: &str, config_toml: &str) -> Result<DatasetBox> {
        let desc = find_export(&self.plugins(), |p| p.datasets, |d| d.name.as_str(), name, "dataset", "loaded datasets")?;
        (desc.create)(crate::host_api::host_api(), config_toml.into())
            .into_result()
            .map_err(|e| CoreError::Invalid(format!("{name}: {e}")))
    }

    /// Builds the communicators of the ranks in this process with the backend exported as
    /// `name` (`comm.local`: all `world_size` ranks; `comm.mpi`: this process's rank).
    ///
    /// # Errors
    /// No loaded plugin exports `name`; the backend refused the config.
    pub fn create_comm(&self, name: &str, config_toml: &str) -> Result<Vec<CommBox>> {
        let desc = find_export(&self.plugins(), |p| p.comms, |d| d.name.as_str(), name, "comm backend", "loaded")?;
        (desc.create)(crate::host_api::host_api(), config_toml.into())
            .into_result()
            .map(|v| v.into_iter().collect())
            .map_err(|e| CoreError::Invalid(format!("{name}: {e}")))
    }

    /// Builds a parallel strategy exported as `name` for the rank of `group`. The caller keeps
    /// `group` alive as long as the strategy.
    ///
    /// # Errors
    /// No loaded plugin exports `name`; the strategy refused the config.
    pub fn create_strategy(&self, name: &str, group: &Arc<ProcessGroup>, config_toml: &str) -> Result<StrategyBox> {
        let desc = find_export(&self.plugins(), |p| p.parallels, |d| d.name.as_str(), name, "parallel strategy", "loaded")?;
        (desc.create)(crate::host_api::host_api(), crate::comm::group_ref(group), config_toml.into())
            .into_result()
            .map_err(|e| CoreError::Invalid(format!("{name}: {e}")))
    }

    /// Resolves an exported name to an op id; deprecated names warn once and name their
    /// replacement. Ops are keyed by (canonical name, version): a bare name (canonical, API
    /// name or alias) resolves to the version pinned with [`Runtime::pin_op_version`], else to
    /// the newest loaded version; `name@N` resolves to version N. An unknown version is a
    /// one-line error listing the loaded ones.
    ///
    /// Pins apply here, at resolution: ids resolved before a pin (e.g. cached by the sdk's
    /// call sites) keep their meaning, since an id names one version for the life of the
    /// process.
    pub fn resolve_op(&self, name: &str) -> Result<u32> {
        let reg = self.registry();
        let (base, explicit) = ferrite_registry::split_version(name);
        let found = match explicit {
            Some(v) if reg.resolve(name).is_some() => reg.resolve(name).map(|(id, k)| (id, k, v)),
            Some(v) => match reg.resolve_version(base, v) {
                Some((id, k)) => Some((id, k, v)),
                None => {
                    let versions = reg.versions_of(base);
                    if versions.is_empty() {
                        return Err(CoreError::UnknownOp(name.to_string()));
                    }
                    return Err(CoreError::Invalid(format!(
                        "`{base}` has no loaded version {v} (loaded versions: {})",
                        join_versions(&versions)
                    )));
                }
            },
            None => reg.resolve(name).map(|(id, k)| (id, k, 0)),
        };
        let Some((mut id, kind, _)) = found else {
            return Err(CoreError::UnknownOp(name.to_string()));
        };
        if let ferrite_registry::NameKind::Deprecated { replacement } = kind {
            self.warn_once(&format!("`{name}` is deprecated; use `{replacement}` instead"));
        }
        if explicit.is_none() {
            let canonical = reg.op(id).map(|o| o.name.clone()).unwrap_or_default();
            let pin = self.pins.lock().unwrap_or_else(|e| e.into_inner()).get(&canonical).copied();
            if let Some(pin) = pin {
                id = match reg.resolve_version(name, pin).or_else(|| reg.resolve_version(&canonical, pin)) {
                    Some((pid, _)) => pid,
                    None => {
                        return Err(CoreError::Invalid(format!(
                            "`{name}` is pinned to version {pin} of `{canonical}`, which is not loaded (loaded versions: {})",
                            join_versions(&reg.versions_of(&canonical))
                        )))
                    }
                };
            }
        }
        Ok(id)
    }

    /// Pins the op that `name` names (its canonical name or any API name or alias; no `@N`
    /// suffix) to `version`: later [`Runtime::resolve_op`] calls with any of its bare names
    /// give that version instead of the newest. Ids resolved before the pin keep their
    /// meaning (an id always names one version), so pin before the first call that uses
    /// the op (e.g. right after loading plugins).
    ///
    /// # Errors
    /// No loaded plugin exports `name`, or `version` of it is not loaded (one line, listing
    /// the loaded versions).
    pub fn pin_op_version(&self, name: &str, version: u32) -> Result<()> {
        let reg = self.registry();
        let Some((id, _)) = reg.resolve(name) else {
            return Err(CoreError::UnknownOp(name.to_string()));
        };
        let canonical = reg.op(id).map(|o| o.name.clone()).unwrap_or_else(|| name.to_string());
        let versions = reg.versions_of(&canonical);
        if !versions.contains(&version) {
            return Err(CoreError::Invalid(format!(
                "cannot pin `{name}` to version {version}: loaded versions of `{canonical}` are {}",
                join_versions(&versions)
            )));
        }
        self.pins.lock().unwrap_or_else(|e| e.into_inner()).insert(canonical, version);
        Ok(())
    }

    /// Removes the version pin of the op `name` names (if any): its bare names resolve to the
    /// newest loaded version again.
    pub fn unpin_op_version(&self, name: &str) {
        let reg = self.registry();
        let canonical = reg.resolve(name).and_then(|(id, _)| reg.op(id)).map_or_else(|| name.to_string(), |o| o.name.clone());
        self.pins.lock().unwrap_or_else(|e| e.into_inner()).remove(&canonical);
    }

    /// The version pins in force: (canonical op name, version), sorted by name.
    pub fn op_version_pins(&self) -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = self.pins.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (k.clone(), *v)).collect();
        v.sort();
        v
    }

    /// Prints a warning to stderr once per distinct message.
    pub fn warn_once(&self, msg: &str) {
        let mut w = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if w.insert(msg.to_string()) {
            eprintln!("ferrite warning: {msg}");
        }
    }

    /// Seeds the generator: this thread's own one if it has one
    /// ([`Runtime::set_thread_rng`]), else the shared one.
    pub fn manual_seed(&self, seed: u64) {
        if THREAD_RNG.with(|r| r.borrow_mut().as_mut().map(|g| *g = Rng::new(seed)).is_some()) {
            return;
        }
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = Rng::new(seed);
    }

    /// The state of the generator this thread draws from (saved in checkpoints;
    /// [`Runtime::manual_seed`] with it resumes the same stream).
    pub fn rng_state(&self) -> u64 {
        if let Some(s) = THREAD_RNG.with(|r| r.borrow().as_ref().map(Rng::state)) {
            return s;
        }
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).state()
    }

    /// Gives the calling thread a generator of its own starting at `state` (`None`: back to
    /// the shared one). Ranks that run as threads of one process need this to draw the same
    /// stream a process of their own would, whatever the interleaving of the threads.
    pub fn set_thread_rng(&self, state: Option<u64>) {
        THREAD_RNG.with(|r| *r.borrow_mut() = state.map(Rng::new));
    }

    /// Next 64-bit seed (from this thread's generator if it has one).
    pub fn next_seed(&self) -> u64 {
        if let Some(v) = THREAD_RNG.with(|r| r.borrow_mut().as_mut().map(Rng::next_u64)) {
            return v;
        }
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).next_u64()
    }

    /// Threads kernels may use.
    pub fn num_threads(&self) -> usize {
        self.threads.load(Ordering::Relaxed)
    }

    /// Sets the thread count kernels may use (at least 1).
    pub fn set_num_threads(&self, n: usize) {
        self.threads.store(n.max(1), Ordering::Relaxed);
    }
}

fn join_versions(v: &[u32]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// The factory exported as `name` by the most recently loaded plugin that has one, or an
/// error naming what is loaded (`what`: "model", "dataset", ...).
fn find_export<D: Copy + 'static>(
    plugins: &[LoadedPlugin],
    list: impl Fn(&LoadedPlugin) -> &'static [D],
    name_of: impl Fn(&D) -> &str,
    name: &str,
    what: &str,
    loaded: &str,
) -> Result<D> {
    if let Some(d) = plugins.iter().rev().flat_map(|p| list(p).iter()).find(|d| name_of(d) == name) {
        return Ok(*d);
    }
    let known: Vec<String> = plugins.iter().flat_map(|p| list(p).iter().map(|d| name_of(d).to_string())).collect();
    Err(CoreError::Invalid(format!("no loaded plugin exports {what} `{name}` ({loaded}: {})", list_or_none(&known))))
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
