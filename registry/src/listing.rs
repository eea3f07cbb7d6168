//! Serializable summaries of the registry, for `ferrite-registry list/show` and JSON output.

use crate::snapshot::{NameKind, OpEntry, Registry};
use ferrite_sdk::abi::dtype::device_type_name;
use ferrite_sdk::abi::kernel::attr_kind;
use serde::Serialize;

/// One kernel of an op.
#[derive(Serialize, Debug, Clone)]
pub struct KernelSummary {
    /// `cpu`, `cuda`.
    pub device: String,
    /// `f32`, `bf16`, ...
    pub dtype: String,
    /// Plugin providing it.
    pub plugin: String,
    /// That plugin's version.
    pub plugin_version: String,
    /// Whether a backward kernel exists.
    pub backward: bool,
    /// SHA-256 of the providing plugin's file (the key of conformance records).
    pub plugin_sha256: String,
    /// Conformance of this kernel, when a tool looked it up (see `ferrite conformance`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conformance: Option<ConformanceStatus>,
}

/// The conformance status of one kernel.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct ConformanceStatus {
    /// `pass`, `fail`, `untested`, or `reference` (the reference plugin itself).
    pub status: String,
    /// UTC date of the run (`YYYY-MM-DDTHH:MM:SSZ`), when tested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Cases run, when tested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cases: Option<u32>,
}

/// One name of an op.
#[derive(Serialize, Debug, Clone)]
pub struct NameSummary {
    /// The name.
    pub name: String,
    /// `canonical`, `api`, `alias` or `deprecated`.
    pub kind: String,
    /// For deprecated names, what to use instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// Everything known about one op.
#[derive(Serialize, Debug, Clone)]
pub struct OpSummary {
    /// Stable id in this process.
    pub id: u32,
    /// Canonical name.
    pub name: String,
    /// Op version; each loaded version of an op is its own summary (its own row).
    pub version: u32,
    /// One-line summary.
    pub doc: String,
    /// Plugins providing it.
    pub plugins: Vec<String>,
    /// Every name with its kind.
    pub names: Vec<NameSummary>,
    /// Inputs as `name`, `name?` (optional), `name...` (variadic), `name!` (no gradient).
    pub inputs: Vec<String>,
    /// Outputs, `name!` when no gradient flows.
    pub outputs: Vec<String>,
    /// Attributes as `name: kind = default`.
    pub attrs: Vec<String>,
    /// Devices covered.
    pub devices: Vec<String>,
    /// Dtypes covered.
    pub dtypes: Vec<String>,
    /// Whether every kernel has a backward.
    pub backward: bool,
    /// Each kernel.
    pub kernels: Vec<KernelSummary>,
}

fn attr_string(a: &ferrite_sdk::abi::op::AttrDesc) -> String {
    let (kind, default) = match a.kind {
        attr_kind::INT => ("int", a.default_int.to_string()),
        attr_kind::FLOAT => ("float", format!("{}", a.default_float)),
        attr_kind::BOOL => ("bool", (a.default_int != 0).to_string()),
        attr_kind::INTS => ("ints", format!("{:?}", a.default_ints.as_slice())),
        attr_kind::STR => ("str", format!("{:?}", a.default_str.as_str())),
        _ => ("?", String::new()),
    };
    if a.has_default {
        format!("{}: {kind} = {default}", a.name)
    } else {
        format!("{}: {kind}", a.name)
    }
}

impl OpSummary {
    /// Summarises one op of a registry.
    pub fn of(reg: &Registry, op: &OpEntry) -> OpSummary {
        let schema = op.schema();
        let names = reg
            .names_of(op.id)
            .into_iter()
            .map(|(name, kind)| {
                let (kind, replacement) = match kind {
                    NameKind::Canonical => ("canonical", None),
                    NameKind::Api => ("api", None),
                    NameKind::Alias => ("alias", None),
                    NameKind::Deprecated { replacement } => ("deprecated", Some(replacement)),
                };
                NameSummary { name, kind: kind.to_string(), replacement }
            })
            .collect();
        let arg = |a: &ferrite_sdk::abi::op::ArgDesc| {
            let mut s = a.name.as_str().to_string();
            if a.variadic {
                s.push_str("...");
            }
            if a.optional {
                s.push('?');
            }
            if !a.differentiable {
                s.push('!');
            }
            s
        };
        let kernels: Vec<KernelSummary> = op
            .kernels
            .iter()
            .map(|k| {
                let p = &reg.plugins[op.providers[k.provider].plugin];
                KernelSummary {
                    device: device_type_name(k.device_type).to_string(),
                    dtype: k.dtype.short().to_string(),
                    plugin: p.name.clone(),
                    plugin_version: p.version.clone(),
                    backward: k.entry.has_backward,
                    plugin_sha256: p.sha256.clone(),
                    conformance: None,
                }
            })
            .collect();
        let mut devices: Vec<String> = kernels.iter().map(|k| k.device.clone()).collect();
        devices.dedup();
        let mut plugins: Vec<String> = op.providers.iter().map(|p| reg.plugins[p.plugin].name.clone()).collect();
        plugins.dedup();
        OpSummary {
            id: op.id,
            name: op.name.clone(),
            version: op.version,
            doc: schema.doc.as_str().to_string(),
            plugins,
            names,
            inputs: schema.inputs.iter().map(arg).collect(),
            outputs: schema.outputs.iter().map(arg).collect(),
            attrs: schema.attrs.iter().map(attr_string).collect(),
            dtypes: kernels.iter().map(|k| k.dtype.clone()).collect(),
            devices,
            backward: !kernels.is_empty() && kernels.iter().all(|k| k.backward),
            kernels,
        }
    }
}

impl Registry {
    /// Summaries of every op version, sorted by canonical name, then version (two loaded
    /// versions of an op are two rows).
    pub fn summaries(&self) -> Vec<OpSummary> {
        let mut v: Vec<OpSummary> = self.ops().map(|o| OpSummary::of(self, o)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        v
    }
}
