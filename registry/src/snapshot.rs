//! The immutable registry snapshot used for dispatch.

use crate::ids::IdTable;
use ferrite_sdk::abi::op::{KernelEntry, OpDesc};
use ferrite_sdk::DType;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A loaded plugin, as the registry records it.
#[derive(Debug, Clone)]
pub struct PluginMeta {
    /// Plugin name (`ops-ref`).
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// SDK version the plugin was built against.
    pub sdk_version: String,
    /// File it was loaded from.
    pub path: PathBuf,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// One plugin's descriptor of an op. `desc` points into a library that is never unloaded.
#[derive(Clone, Copy)]
pub struct Provider {
    /// Index of the plugin in [`Registry::plugins`].
    pub plugin: usize,
    /// The descriptor.
    pub desc: &'static OpDesc,
}

/// The kernel chosen for one (device type, dtype) of an op.
#[derive(Clone, Copy)]
pub struct KernelSlot {
    /// DLPack device type.
    pub device_type: i32,
    /// Dispatch dtype.
    pub dtype: DType,
    /// Forward/backward kernels.
    pub entry: KernelEntry,
    /// Index into [`OpEntry::providers`].
    pub provider: usize,
}

/// How a name maps to an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// The canonical `namespace::name`.
    Canonical,
    /// An exported API name.
    Api,
    /// An alias.
    Alias,
    /// A deprecated name; use `replacement` instead.
    Deprecated {
        /// The name to use instead.
        replacement: String,
    },
}

/// Everything dispatch needs about one version of one op. Ops are keyed by (canonical name,
/// version): two versions of an op loaded side by side are two entries with two ids.
pub struct OpEntry {
    /// Stable id (allocated for the key `name@vN`, see [`version_key`]).
    pub id: u32,
    /// Canonical name.
    pub name: String,
    /// Op version (`OpDesc::version`) shared by every provider of this entry.
    pub version: u32,
    /// Every plugin that provides this op, in load order.
    pub providers: Vec<Provider>,
    /// Kernels by (device, dtype); for each pair the most recently loaded provider wins.
    pub kernels: Vec<KernelSlot>,
}

impl OpEntry {
    /// The schema (from the most recently loaded provider).
    pub fn schema(&self) -> &'static OpDesc {
        self.providers.last().expect("an op has at least one provider").desc
    }

    /// The kernel for `(device_type, dtype)`, if any. A linear scan: ops have a handful.
    #[inline]
    pub fn kernel(&self, device_type: i32, dtype: DType) -> Option<&KernelSlot> {
        self.kernels.iter().find(|k| k.device_type == device_type && k.dtype == dtype)
    }
}

/// The [`IdTable`] key of version `version` of op `name`: `name@vN`.
pub fn version_key(name: &str, version: u32) -> String {
    format!("{name}@v{version}")
}

/// Splits an explicit version off a name: `test::add_flavor@1` (or `@v1`) gives
/// `("test::add_flavor", Some(1))`; a name without a numeric `@` suffix gives `(name, None)`.
pub fn split_version(name: &str) -> (&str, Option<u32>) {
    if let Some((base, v)) = name.rsplit_once('@') {
        let digits = v.strip_prefix('v').unwrap_or(v);
        if !base.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = digits.parse() {
                return (base, Some(n));
            }
        }
    }
    (name, None)
}

/// One version a name maps to.
#[derive(Clone, Debug)]
struct NameTarget {
    version: u32,
    id: u32,
    kind: NameKind,
}

/// An immutable snapshot of every exported name and kernel.
pub struct Registry {
    /// Loaded plugins, in load order (a swapped plugin keeps its position).
    pub plugins: Vec<Arc<PluginMeta>>,
    ops: Vec<Option<OpEntry>>,
    /// Every exported name → the versions of its op that export it, ascending by version.
    names: HashMap<String, Vec<NameTarget>>,
    /// Conflicts noticed while building (a name claimed by two ops, schema disagreements).
    pub warnings: Vec<String>,
}

fn schema_signature(d: &OpDesc) -> (usize, usize, Vec<(String, u32)>) {
    (
        d.inputs.len(),
        d.outputs.len(),
        d.attrs.iter().map(|a| (a.name.as_str().to_string(), a.kind)).collect(),
    )
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Registry {
        Registry { plugins: Vec::new(), ops: Vec::new(), names: HashMap::new(), warnings: Vec::new() }
    }

    /// Builds a snapshot from plugins (in load order) and their op descriptors. Ops are keyed by
    /// (canonical name, version): providers of the same name and version share an entry, and a
    /// provider whose schema disagrees with that entry's first provider (input/output counts,
    /// attribute names and kinds) is skipped with a warning, since its kernels would misread
    /// their arguments. Different versions of one op get different entries (and ids); every
    /// name resolves to the newest loaded version unless a version is asked for
    /// ([`Registry::resolve_version`], `name@N`).
    pub fn build(plugins: &[(Arc<PluginMeta>, &'static [OpDesc])], ids: &mut IdTable) -> Registry {
        let mut reg = Registry::empty();
        for (pi, (meta, descs)) in plugins.iter().enumerate() {
            reg.plugins.push(meta.clone());
            for desc in descs.iter() {
                let name = desc.name.as_str();
                let version = desc.version;
                let id = ids.get_or_insert(&version_key(name, version)) as usize;
                if reg.ops.len() <= id {
                    reg.ops.resize_with(id + 1, || None);
                }
                let entry = reg.ops[id].get_or_insert_with(|| OpEntry {
                    id: id as u32,
                    name: name.to_string(),
                    version,
                    providers: Vec::new(),
                    kernels: Vec::new(),
                });
                if let Some(first) = entry.providers.first() {
                    if schema_signature(first.desc) != schema_signature(desc) {
                        reg.warnings.push(format!(
                            "{name} (version {version}): plugin {} declares a schema that differs from plugin {}'s; its kernels are ignored",
                            meta.name, reg.plugins[first.plugin].name
                        ));
                        continue;
                    }
                }
                let provider = entry.providers.len();
                entry.providers.push(Provider { plugin: pi, desc });
                for k in desc.kernels.iter() {
                    let slot = KernelSlot { device_type: k.device_type, dtype: k.dtype, entry: *k, provider };
                    match entry.kernels.iter_mut().find(|s| s.device_type == k.device_type && s.dtype == k.dtype) {
                        Some(s) => *s = slot,
                        None => entry.kernels.push(slot),
                    }
                }
                let mut claim = |n: &str, kind: NameKind, warnings: &mut Vec<String>| {
                    let targets = reg.names.entry(n.to_string()).or_default();
                    // A name claimed by another op (another canonical name): the later one wins.
                    if let Some(other) = targets.iter().find(|t| t.id as usize != id && ids.name(t.id).map(|k| split_version(k).0) != Some(name)) {
                        let other = ids.name(other.id).map(|k| split_version(k).0).unwrap_or("?").to_string();
                        warnings.push(format!("name {n} is claimed by {other} and {name}; {name} wins"));
                        targets.clear();
                    }
                    let t = NameTarget { version, id: id as u32, kind };
                    match targets.iter_mut().find(|t| t.version == version) {
                        Some(old) => *old = t,
                        None => {
                            targets.push(t);
                            targets.sort_by_key(|t| t.version);
                        }
                    }
                };
                claim(name, NameKind::Canonical, &mut reg.warnings);
                for n in desc.api_names.iter() {
                    claim(n.as_str(), NameKind::Api, &mut reg.warnings);
                }
                for n in desc.aliases.iter() {
                    claim(n.as_str(), NameKind::Alias, &mut reg.warnings);
                }
                for d in desc.deprecated.iter() {
                    claim(d.name.as_str(), NameKind::Deprecated { replacement: d.replacement.as_str().to_string() }, &mut reg.warnings);
                }
            }
        }
        reg
    }

    /// Resolves any exported name to an op id and the kind of name it is: the newest loaded
    /// version of the op, or version N for `name@N` (see [`split_version`]).
    pub fn resolve(&self, name: &str) -> Option<(u32, &NameKind)> {
        match split_version(name) {
            (base, Some(v)) if !self.names.contains_key(name) => self.resolve_version(base, v),
            _ => self.names.get(name).and_then(|t| t.last()).map(|t| (t.id, &t.kind)),
        }
    }

    /// Resolves `name` (without a version suffix) to version `version` of its op.
    pub fn resolve_version(&self, name: &str, version: u32) -> Option<(u32, &NameKind)> {
        self.names.get(name)?.iter().find(|t| t.version == version).map(|t| (t.id, &t.kind))
    }

    /// The loaded versions of the op `name` (without a version suffix) names, ascending; empty
    /// when no loaded plugin exports it.
    pub fn versions_of(&self, name: &str) -> Vec<u32> {
        let Some(targets) = self.names.get(name) else { return Vec::new() };
        let Some(canonical) = targets.last().and_then(|t| self.op(t.id)).map(|o| o.name.as_str()) else { return Vec::new() };
        self.versions_of_canonical(canonical)
    }

    fn versions_of_canonical(&self, canonical: &str) -> Vec<u32> {
        let mut v: Vec<u32> = self.ops().filter(|o| o.name == canonical).map(|o| o.version).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Every loaded version of the op `canonical`, ascending by version.
    pub fn op_versions(&self, canonical: &str) -> Vec<&OpEntry> {
        let mut v: Vec<&OpEntry> = self.ops().filter(|o| o.name == canonical).collect();
        v.sort_by_key(|o| o.version);
        v
    }

    /// The op with id `id`, if some loaded plugin provides it.
    #[inline]
    pub fn op(&self, id: u32) -> Option<&OpEntry> {
        self.ops.get(id as usize).and_then(|o| o.as_ref())
    }

    /// Every op, in id order.
    pub fn ops(&self) -> impl Iterator<Item = &OpEntry> {
        self.ops.iter().flatten()
    }

    /// Every name that maps to `id`, with its kind, sorted.
    pub fn names_of(&self, id: u32) -> Vec<(String, NameKind)> {
        let mut v: Vec<(String, NameKind)> =
            self.names.iter().flat_map(|(n, ts)| ts.iter().filter(|t| t.id == id).map(move |t| (n.clone(), t.kind.clone()))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
