//! Unit tests of [`super::diff`] on constructed snapshots.

use super::*;

fn kernel(dtype: &str, backward: bool) -> KernelSnapshot {
    KernelSnapshot { device: "cpu".into(), dtype: dtype.into(), backward }
}

fn op(name: &str) -> OpSnapshot {
    OpSnapshot {
        name: format!("ferrite::{name}"),
        version: 1,
        api_names: vec![name.into()],
        aliases: vec![format!("aten::{name}")],
        deprecated: vec![],
        inputs: vec![ArgSnapshot::new("input")],
        outputs: vec![ArgSnapshot::new("output")],
        attrs: vec![AttrSnapshot { name: "dim".into(), kind: "int".into(), default: Some("-1".into()) }],
        kernels: vec![kernel("f32", true), kernel("f64", true)],
    }
}

fn plugin() -> PluginSnapshot {
    PluginSnapshot {
        name: "p".into(),
        version: "0.1.0".into(),
        sdk_version: "0.1.0".into(),
        ops: vec![op("softmax"), op("relu")],
        models: vec![Export { name: "models.m".into(), version: 1 }],
        datasets: vec![],
    }
}

fn name(op: &str, name: &str, kind: &str) -> NameChange {
    NameChange { op: op.into(), name: name.into(), kind: kind.into() }
}

#[test]
fn identical_snapshots_have_an_empty_diff() {
    let d = diff(&plugin(), &plugin());
    assert!(d.is_empty(), "{d:?}");
    assert!(d.lines().is_empty());
}

#[test]
fn an_added_op_adds_exactly_its_names() {
    let mut new = plugin();
    new.ops.push(op("gelu"));
    let d = diff(&plugin(), &new);
    let expected = PluginDiff {
        names_added: vec![
            name("ferrite::gelu", "ferrite::gelu", "canonical"),
            name("ferrite::gelu", "gelu", "api"),
            name("ferrite::gelu", "aten::gelu", "alias"),
        ],
        ..PluginDiff::default()
    };
    assert_eq!(d, expected);
}

#[test]
fn a_removed_op_removes_exactly_its_names() {
    let mut new = plugin();
    new.ops.retain(|o| o.name != "ferrite::relu");
    let d = diff(&plugin(), &new);
    let expected = PluginDiff {
        names_removed: vec![
            name("ferrite::relu", "ferrite::relu", "canonical"),
            name("ferrite::relu", "relu", "api"),
            name("ferrite::relu", "aten::relu", "alias"),
        ],
        ..PluginDiff::default()
    };
    assert_eq!(d, expected);
    assert_eq!(d.lines()[0], "- name ferrite::relu [canonical] of ferrite::relu");
}

#[test]
fn a_changed_default_is_one_schema_change() {
    let mut new = plugin();
    new.ops[0].attrs[0].default = Some("1".into());
    let d = diff(&plugin(), &new);
    let expected = PluginDiff {
        schema_changes: vec![SchemaChange { op: "ferrite::softmax".into(), part: "attr".into(), name: "dim".into(), change: "default: -1 -> 1".into() }],
        ..PluginDiff::default()
    };
    assert_eq!(d, expected);
    assert_eq!(d.lines(), vec!["~ op ferrite::softmax: attr `dim` default: -1 -> 1".to_string()]);
}

#[test]
fn a_changed_op_version_is_reported_as_reversioned() {
    let mut new = plugin();
    new.ops[1].version = 2;
    let d = diff(&plugin(), &new);
    let mut expected = PluginDiff::default();
    expected.ops_reversioned.insert("ferrite::relu".into(), Change { old: 1, new: 2 });
    assert_eq!(d, expected);
    assert_eq!(d.lines(), vec!["~ op ferrite::relu: version 1 -> 2".to_string()]);
}

#[test]
fn an_added_dtype_kernel_is_reported_and_backward_changes_separately() {
    let mut new = plugin();
    new.ops[0].kernels.push(kernel("bf16", false));
    new.ops[1].kernels[0].backward = false;
    let d = diff(&plugin(), &new);
    let kc = |op: &str, dtype: &str| KernelChange { op: op.into(), device: "cpu".into(), dtype: dtype.into() };
    let expected = PluginDiff {
        kernels_added: vec![kc("ferrite::softmax", "bf16")],
        backward_removed: vec![kc("ferrite::relu", "f32")],
        ..PluginDiff::default()
    };
    assert_eq!(d, expected);
}

#[test]
fn argument_flags_names_and_metadata_changes_are_exact() {
    let mut new = plugin();
    new.version = "0.2.0".into();
    new.sdk_version = "0.2.0".into();
    new.models.clear();
    new.datasets.push(Export { name: "datasets.d".into(), version: 1 });
    let s = &mut new.ops[0];
    s.inputs[0].optional = true;
    s.inputs.push(ArgSnapshot { name: "mask".into(), optional: true, variadic: false, differentiable: false });
    s.outputs[0].differentiable = false;
    s.aliases.clear();
    s.deprecated.push("nn.softmax -> softmax".into());
    s.attrs[0].kind = "ints".into();
    let d = diff(&plugin(), &new);
    let sc = |part: &str, n: &str, c: &str| SchemaChange { op: "ferrite::softmax".into(), part: part.into(), name: n.into(), change: c.into() };
    let expected = PluginDiff {
        plugin_version: Some(Change { old: "0.1.0".into(), new: "0.2.0".into() }),
        sdk_version: Some(Change { old: "0.1.0".into(), new: "0.2.0".into() }),
        names_added: vec![name("ferrite::softmax", "nn.softmax -> softmax", "deprecated")],
        names_removed: vec![name("ferrite::softmax", "aten::softmax", "alias")],
        schema_changes: vec![
            sc("input", "input", "optional: false -> true"),
            sc("input", "mask", "added"),
            sc("output", "output", "differentiable: true -> false"),
            sc("attr", "dim", "kind: int -> ints"),
        ],
        models_removed: vec![Export { name: "models.m".into(), version: 1 }],
        datasets_added: vec![Export { name: "datasets.d".into(), version: 1 }],
        ..PluginDiff::default()
    };
    assert_eq!(d, expected);
    assert_eq!(d.lines().len(), 10, "{:#?}", d.lines());
}
