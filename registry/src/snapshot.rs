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

/// Everything dispatch needs about one op.
pub struct OpEntry {
    /// Stable id.
    pub id: u32,
    /// Canonical name.
    pub name: String,
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

/// An immutable snapshot of every exported name and kernel.
pub struct Registry {
    /// Loaded plugins, in load order (a swapped plugin keeps its position).
    pub plugins: Vec<Arc<PluginMeta>>,
    ops: Vec<Option<OpEntry>>,
    names: HashMap<String, (u32, NameKind)>,
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

    /// Builds a snapshot from plugins (in load order) and their op descriptors. A provider whose
    /// schema disagrees with the op's first provider (input/output counts, attribute names and
    /// kinds) is skipped with a warning, since its kernels would misread their arguments.
    pub fn build(plugins: &[(Arc<PluginMeta>, &'static [OpDesc])], ids: &mut IdTable) -> Registry {
        let mut reg = Registry::empty();
        for (pi, (meta, descs)) in plugins.iter().enumerate() {
            reg.plugins.push(meta.clone());
            for desc in descs.iter() {
                let name = desc.name.as_str();
                let id = ids.get_or_insert(name) as usize;
                if reg.ops.len() <= id {
                    reg.ops.resize_with(id + 1, || None);
                }
                let entry = reg.ops[id].get_or_insert_with(|| OpEntry {
                    id: id as u32,
                    name: name.to_string(),
                    providers: Vec::new(),
                    kernels: Vec::new(),
                });
                if let Some(first) = entry.providers.first() {
                    if schema_signature(first.desc) != schema_signature(desc) {
                        reg.warnings.push(format!(
                            "{name}: plugin {} declares a schema that differs from plugin {}'s; its kernels are ignored",
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
                    if let Some((other, _)) = reg.names.get(n) {
                        if *other as usize != id {
                            warnings.push(format!("name {n} is claimed by {} and {name}; {name} wins", ids.name(*other).unwrap_or("?")));
                        }
                    }
                    reg.names.insert(n.to_string(), (id as u32, kind));
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

    /// Resolves any exported name to an op id and the kind of name it is.
    pub fn resolve(&self, name: &str) -> Option<(u32, &NameKind)> {
        self.names.get(name).map(|(id, k)| (*id, k))
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
            self.names.iter().filter(|(_, (i, _))| *i == id).map(|(n, (_, k))| (n.clone(), k.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
