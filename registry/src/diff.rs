//! Comparing two builds of a plugin: a plain, serialisable [`PluginSnapshot`] of what a plugin
//! exports (taken from its descriptors, or built by hand in tests) and [`diff`], which reports
//! exactly what changed between two snapshots ([`PluginDiff`]).

use ferrite_sdk::abi::dtype::device_type_name;
use ferrite_sdk::abi::kernel::attr_kind;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc, OpDesc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything a plugin exports, as plain data.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct PluginSnapshot {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// ferrite-sdk version it was built with.
    pub sdk_version: String,
    /// Exported ops.
    pub ops: Vec<OpSnapshot>,
    /// Exported model factories.
    pub models: Vec<Export>,
    /// Exported dataset factories.
    pub datasets: Vec<Export>,
}

/// A named, versioned model or dataset factory.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Export {
    /// Exported name.
    pub name: String,
    /// Its version.
    pub version: u32,
}

/// One op's names, schema and kernels.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct OpSnapshot {
    /// Canonical name.
    pub name: String,
    /// Op version.
    pub version: u32,
    /// API names.
    pub api_names: Vec<String>,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Deprecated names as `old -> replacement`.
    pub deprecated: Vec<String>,
    /// Inputs in order.
    pub inputs: Vec<ArgSnapshot>,
    /// Outputs in order.
    pub outputs: Vec<ArgSnapshot>,
    /// Attributes in order.
    pub attrs: Vec<AttrSnapshot>,
    /// Kernels.
    pub kernels: Vec<KernelSnapshot>,
}

/// One input or output.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ArgSnapshot {
    /// Name.
    pub name: String,
    /// May be absent.
    pub optional: bool,
    /// Takes any number of tensors.
    pub variadic: bool,
    /// Gradients flow through it.
    pub differentiable: bool,
}

/// One attribute.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AttrSnapshot {
    /// Name.
    pub name: String,
    /// `int`, `float`, `bool`, `ints`, `str`.
    pub kind: String,
    /// The default, rendered; `None` when required.
    pub default: Option<String>,
}

/// One kernel: device × dtype, with or without backward.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct KernelSnapshot {
    /// `cpu`, `cuda`.
    pub device: String,
    /// `f32`, ...
    pub dtype: String,
    /// Whether a backward kernel exists.
    pub backward: bool,
}

impl ArgSnapshot {
    /// A plain differentiable, required, non-variadic argument.
    pub fn new(name: &str) -> ArgSnapshot {
        ArgSnapshot { name: name.into(), optional: false, variadic: false, differentiable: true }
    }
    fn of(a: &ArgDesc) -> ArgSnapshot {
        ArgSnapshot { name: a.name.as_str().into(), optional: a.optional, variadic: a.variadic, differentiable: a.differentiable }
    }
}

impl AttrSnapshot {
    fn of(a: &AttrDesc) -> AttrSnapshot {
        let (kind, default) = match a.kind {
            attr_kind::INT => ("int", a.default_int.to_string()),
            attr_kind::FLOAT => ("float", format!("{}", a.default_float)),
            attr_kind::BOOL => ("bool", (a.default_int != 0).to_string()),
            attr_kind::INTS => ("ints", format!("{:?}", a.default_ints.as_slice())),
            attr_kind::STR => ("str", format!("{:?}", a.default_str.as_str())),
            _ => ("?", String::new()),
        };
        AttrSnapshot { name: a.name.as_str().into(), kind: kind.into(), default: a.has_default.then_some(default) }
    }
}

impl OpSnapshot {
    /// Snapshot of one op descriptor.
    pub fn of(d: &OpDesc) -> OpSnapshot {
        OpSnapshot {
            name: d.name.as_str().into(),
            version: d.version,
            api_names: d.api_names.iter().map(|s| s.as_str().to_string()).collect(),
            aliases: d.aliases.iter().map(|s| s.as_str().to_string()).collect(),
            deprecated: d.deprecated.iter().map(|x| format!("{} -> {}", x.name.as_str(), x.replacement.as_str())).collect(),
            inputs: d.inputs.iter().map(ArgSnapshot::of).collect(),
            outputs: d.outputs.iter().map(ArgSnapshot::of).collect(),
            attrs: d.attrs.iter().map(AttrSnapshot::of).collect(),
            kernels: d
                .kernels
                .iter()
                .map(|k| KernelSnapshot { device: device_type_name(k.device_type).into(), dtype: k.dtype.short().into(), backward: k.has_backward })
                .collect(),
        }
    }

    /// Snapshots of a slice of descriptors.
    pub fn all(ops: &[OpDesc]) -> Vec<OpSnapshot> {
        ops.iter().map(OpSnapshot::of).collect()
    }
}

/// `old -> new` of one value.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Change<T> {
    /// Before.
    pub old: T,
    /// After.
    pub new: T,
}

/// An exported name that appeared or disappeared.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NameChange {
    /// Canonical name of the op it belongs to.
    pub op: String,
    /// The name (`old -> replacement` for deprecated names).
    pub name: String,
    /// `canonical`, `api`, `alias`, `deprecated`.
    pub kind: String,
}

/// One change to one part of an op's schema.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// Canonical op name.
    pub op: String,
    /// `input`, `output` or `attr`.
    pub part: String,
    /// The argument or attribute name.
    pub name: String,
    /// `added`, `removed`, or `FIELD: OLD -> NEW` (fields: `position`, `kind`, `default`,
    /// `optional`, `variadic`, `differentiable`).
    pub change: String,
}

/// A kernel (or backward) that appeared or disappeared.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct KernelChange {
    /// Canonical op name.
    pub op: String,
    /// Device.
    pub device: String,
    /// Dtype.
    pub dtype: String,
}

/// Exactly what changed between two snapshots; empty vectors and `None`s mean "unchanged".
/// Schema and kernel changes are reported for ops present in both; an added or removed op shows
/// up as its names being added or removed.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
pub struct PluginDiff {
    /// Plugin name change.
    pub plugin_name: Option<Change<String>>,
    /// Plugin version change.
    pub plugin_version: Option<Change<String>>,
    /// ferrite-sdk version change.
    pub sdk_version: Option<Change<String>>,
    /// Exported names added.
    pub names_added: Vec<NameChange>,
    /// Exported names removed.
    pub names_removed: Vec<NameChange>,
    /// Ops whose version changed: op → old/new.
    pub ops_reversioned: BTreeMap<String, Change<u32>>,
    /// Schema changes.
    pub schema_changes: Vec<SchemaChange>,
    /// Kernels added.
    pub kernels_added: Vec<KernelChange>,
    /// Kernels removed.
    pub kernels_removed: Vec<KernelChange>,
    /// Backward kernels added (to a kernel present in both).
    pub backward_added: Vec<KernelChange>,
    /// Backward kernels removed (from a kernel present in both).
    pub backward_removed: Vec<KernelChange>,
    /// Models added.
    pub models_added: Vec<Export>,
    /// Models removed.
    pub models_removed: Vec<Export>,
    /// Datasets added.
    pub datasets_added: Vec<Export>,
    /// Datasets removed.
    pub datasets_removed: Vec<Export>,
}

fn change<T: PartialEq + Clone>(old: &T, new: &T) -> Option<Change<T>> {
    (old != new).then(|| Change { old: old.clone(), new: new.clone() })
}

/// Ops keyed by canonical name (`name@vN` when a plugin exports several versions of one name).
fn keyed(ops: &[OpSnapshot]) -> BTreeMap<String, &OpSnapshot> {
    let mut m = BTreeMap::new();
    for o in ops {
        let dup = ops.iter().filter(|x| x.name == o.name).count() > 1;
        m.insert(if dup { format!("{}@v{}", o.name, o.version) } else { o.name.clone() }, o);
    }
    m
}

fn names_of(key: &str, o: &OpSnapshot) -> Vec<NameChange> {
    let mut v = vec![NameChange { op: key.into(), name: o.name.clone(), kind: "canonical".into() }];
    for (kind, list) in [("api", &o.api_names), ("alias", &o.aliases), ("deprecated", &o.deprecated)] {
        v.extend(list.iter().map(|n| NameChange { op: key.into(), name: n.clone(), kind: kind.into() }));
    }
    v
}

fn flag_changes(op: &str, part: &str, old: &[ArgSnapshot], new: &[ArgSnapshot], out: &mut Vec<SchemaChange>) {
    let sc = |name: &str, change: String| SchemaChange { op: op.into(), part: part.into(), name: name.into(), change };
    for (i, a) in old.iter().enumerate() {
        match new.iter().position(|b| b.name == a.name) {
            None => out.push(sc(&a.name, "removed".into())),
            Some(j) => {
                let b = &new[j];
                if i != j {
                    out.push(sc(&a.name, format!("position: {i} -> {j}")));
                }
                for (f, x, y) in [("optional", a.optional, b.optional), ("variadic", a.variadic, b.variadic), ("differentiable", a.differentiable, b.differentiable)] {
                    if x != y {
                        out.push(sc(&a.name, format!("{f}: {x} -> {y}")));
                    }
                }
            }
        }
    }
    out.extend(new.iter().filter(|b| !old.iter().any(|a| a.name == b.name)).map(|b| sc(&b.name, "added".into())));
}

fn attr_changes(op: &str, old: &[AttrSnapshot], new: &[AttrSnapshot], out: &mut Vec<SchemaChange>) {
    let sc = |name: &str, change: String| SchemaChange { op: op.into(), part: "attr".into(), name: name.into(), change };
    let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "(required)".into());
    for (i, a) in old.iter().enumerate() {
        match new.iter().position(|b| b.name == a.name) {
            None => out.push(sc(&a.name, "removed".into())),
            Some(j) => {
                let b = &new[j];
                if i != j {
                    out.push(sc(&a.name, format!("position: {i} -> {j}")));
                }
                if a.kind != b.kind {
                    out.push(sc(&a.name, format!("kind: {} -> {}", a.kind, b.kind)));
                }
                if a.default != b.default {
                    out.push(sc(&a.name, format!("default: {} -> {}", show(&a.default), show(&b.default))));
                }
            }
        }
    }
    out.extend(new.iter().filter(|b| !old.iter().any(|a| a.name == b.name)).map(|b| sc(&b.name, "added".into())));
}

fn kernel_changes(op: &str, old: &[KernelSnapshot], new: &[KernelSnapshot], d: &mut PluginDiff) {
    let kc = |k: &KernelSnapshot| KernelChange { op: op.into(), device: k.device.clone(), dtype: k.dtype.clone() };
    let find = |list: &[KernelSnapshot], k: &KernelSnapshot| list.iter().find(|x| x.device == k.device && x.dtype == k.dtype).cloned();
    for k in old {
        match find(new, k) {
            None => d.kernels_removed.push(kc(k)),
            Some(n) if k.backward && !n.backward => d.backward_removed.push(kc(k)),
            Some(n) if !k.backward && n.backward => d.backward_added.push(kc(k)),
            Some(_) => {}
        }
    }
    d.kernels_added.extend(new.iter().filter(|k| find(old, k).is_none()).map(kc));
}

fn exports(old: &[Export], new: &[Export]) -> (Vec<Export>, Vec<Export>) {
    let added = new.iter().filter(|e| !old.contains(e)).cloned().collect();
    let removed = old.iter().filter(|e| !new.contains(e)).cloned().collect();
    (added, removed)
}

/// What changed from `old` to `new`.
pub fn diff(old: &PluginSnapshot, new: &PluginSnapshot) -> PluginDiff {
    let mut d = PluginDiff {
        plugin_name: change(&old.name, &new.name),
        plugin_version: change(&old.version, &new.version),
        sdk_version: change(&old.sdk_version, &new.sdk_version),
        ..PluginDiff::default()
    };
    let (o, n) = (keyed(&old.ops), keyed(&new.ops));
    for (key, a) in &o {
        let Some(b) = n.get(key) else {
            d.names_removed.extend(names_of(key, a));
            continue;
        };
        let (na, nb) = (names_of(key, a), names_of(key, b));
        d.names_removed.extend(na.iter().filter(|x| !nb.contains(x)).cloned());
        d.names_added.extend(nb.iter().filter(|x| !na.contains(x)).cloned());
        if let Some(c) = change(&a.version, &b.version) {
            d.ops_reversioned.insert(key.clone(), c);
        }
        flag_changes(key, "input", &a.inputs, &b.inputs, &mut d.schema_changes);
        flag_changes(key, "output", &a.outputs, &b.outputs, &mut d.schema_changes);
        attr_changes(key, &a.attrs, &b.attrs, &mut d.schema_changes);
        kernel_changes(key, &a.kernels, &b.kernels, &mut d);
    }
    for (key, b) in &n {
        if !o.contains_key(key) {
            d.names_added.extend(names_of(key, b));
        }
    }
    (d.models_added, d.models_removed) = exports(&old.models, &new.models);
    (d.datasets_added, d.datasets_removed) = exports(&old.datasets, &new.datasets);
    d
}

impl PluginDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == PluginDiff::default()
    }

    /// One line per change (`+` added, `-` removed, `~` changed); empty when identical.
    pub fn lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (what, c) in [("plugin name", &self.plugin_name), ("plugin version", &self.plugin_version), ("sdk version", &self.sdk_version)] {
            if let Some(c) = c {
                v.push(format!("~ {what}: {} -> {}", c.old, c.new));
            }
        }
        v.extend(self.names_removed.iter().map(|n| format!("- name {} [{}] of {}", n.name, n.kind, n.op)));
        v.extend(self.names_added.iter().map(|n| format!("+ name {} [{}] of {}", n.name, n.kind, n.op)));
        v.extend(self.ops_reversioned.iter().map(|(op, c)| format!("~ op {op}: version {} -> {}", c.old, c.new)));
        v.extend(self.schema_changes.iter().map(|s| format!("~ op {}: {} `{}` {}", s.op, s.part, s.name, s.change)));
        let k = |sign: &str, what: &str, list: &[KernelChange]| -> Vec<String> {
            list.iter().map(|k| format!("{sign} {what} {} {}/{}", k.op, k.device, k.dtype)).collect()
        };
        v.extend(k("-", "kernel", &self.kernels_removed));
        v.extend(k("+", "kernel", &self.kernels_added));
        v.extend(k("-", "backward", &self.backward_removed));
        v.extend(k("+", "backward", &self.backward_added));
        let e = |sign: &str, what: &str, list: &[Export]| -> Vec<String> { list.iter().map(|e| format!("{sign} {what} {} v{}", e.name, e.version)).collect() };
        v.extend(e("-", "model", &self.models_removed));
        v.extend(e("+", "model", &self.models_added));
        v.extend(e("-", "dataset", &self.datasets_removed));
        v.extend(e("+", "dataset", &self.datasets_added));
        v
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
