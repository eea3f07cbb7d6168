//! `ferrite-registry list/show` against the real plugins.

use std::process::Command;

fn registry(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrite-registry")).args(args).output().expect("run ferrite-registry");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The ops the reference plugin must export (issue: "the reference CPU plugin").
const REQUIRED: &[&str] = &[
    "add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "pow", "relu", "gelu", "tanh", "sigmoid", "where", "eq", "ne",
    "lt", "le", "gt", "ge", "sum", "mean", "max", "min", "argmax", "logsumexp", "softmax", "log_softmax", "matmul", "bmm",
    "linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool2d", "spatial_pyramid_pool",
    "layer_norm", "batch_norm", "dropout", "embedding", "cross_entropy", "nll_loss", "mse_loss", "cat", "stack",
    "index_select", "gather", "scaled_dot_product_attention",
];

#[test]
fn list_json_shows_every_exported_name_with_plugin_version_devices_dtypes_backward() {
    let (ok, out, err) = registry(&["list", "--json"]);
    assert!(ok, "{err}");
    let ops: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let ops = ops.as_array().unwrap();
    for name in REQUIRED {
        let canonical = format!("ferrite::{name}");
        let op = ops.iter().find(|o| o["name"] == canonical.as_str()).unwrap_or_else(|| panic!("{canonical} not listed"));
        assert_eq!(op["plugins"][0], "ops-ref");
        assert!(op["version"].as_u64().unwrap() >= 1);
        assert_eq!(op["devices"][0], "cpu");
        let dtypes: Vec<&str> = op["dtypes"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        assert!(dtypes.contains(&"f32") && dtypes.contains(&"f64"), "{canonical}: {dtypes:?}");
        assert!(op["backward"].is_boolean());
        assert!(!op["names"].as_array().unwrap().is_empty());
    }
    let (ok, table, _) = registry(&["list"]);
    assert!(ok);
    assert!(table.lines().count() > REQUIRED.len(), "{table}");
}

#[test]
fn show_resolves_api_names_and_rejects_unknown_ones() {
    let (ok, out, err) = registry(&["show", "nn.functional.conv2d"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ferrite::conv2d"), "{out}");
    assert!(out.contains("stride: ints = [1, 1]") && out.contains("cpu/f32"), "{out}");
    let (ok, _, err) = registry(&["show", "no.such.op"]);
    assert!(!ok && err.contains("no.such.op"), "{err}");
}

#[test]
fn list_filters_by_plugin_and_device() {
    let (ok, out, err) = registry(&["list", "--json", "--plugin", "ops-cpu"]);
    assert!(ok, "{err}");
    let ops: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let ops = ops.as_array().unwrap();
    assert!(ops.iter().any(|o| o["name"] == "ferrite::conv2d"), "ops-cpu provides conv2d");
    assert!(!ops.iter().any(|o| o["name"] == "ferrite::nll_loss"), "ops-cpu has no nll_loss kernel");
    for o in ops {
        assert!(o["kernels"].as_array().unwrap().iter().all(|k| k["plugin"] == "ops-cpu"), "{o}");
    }
    // A plugin without ops still shows what it exports.
    let (ok, out, err) = registry(&["list", "--plugin", "parallel-zero"]);
    assert!(ok, "{err}");
    assert!(out.contains("other exports:") && out.contains("parallel strategies parallel.zero"), "{out}");
    let (ok, out, _) = registry(&["list", "--json", "--device", "cuda"]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().len(), 0, "no cuda kernels");
}
