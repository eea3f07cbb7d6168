//! The out-of-tree example plugin `plugins/third-party-example` end to end: built on its own
//! (its own `[workspace]`, ferrite-sdk by relative path) into `target/third-party`, checked by
//! `ferrite conformance` (its `contrib::` ops have no reference kernel, so every row is a
//! self-consistency check) and trained with `ferrite train` through its `models.contrib_mlp`.

use ferrite_tests::{plugin_path, target_dir, workspace_root};
use std::path::PathBuf;
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Builds the example and returns its `.so`.
fn build_example() -> PathBuf {
    let dir = workspace_root().join("plugins").join("third-party-example");
    // The workspace's lock pins the same dependency versions (the example's own lock is ignored by git).
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = target_dir().parent().unwrap().join("third-party");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "cargo build of the third-party example failed:\n{}", text(&out));
    let so = target.join("release").join("libferrite_contrib_example.so");
    assert!(so.exists(), "{} missing", so.display());
    so
}

fn default_plugins() -> PathBuf {
    for c in ["ferrite-ops-cpu", "ferrite-model-spp-net", "ferrite-dataset-digits"] {
        plugin_path(c);
    }
    plugin_path("ferrite-ops-ref")
}

#[test]
fn third_party_example_builds_passes_conformance_and_trains() {
    let reference = default_plugins();
    let so = build_example();
    let tmp = std::env::temp_dir().join(format!("ferrite-third-party-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(["conformance", "--plugin", so.to_str().unwrap(), "--reference", reference.to_str().unwrap(), "--cases", "16"])
        .env("FERRITE_CONFORMANCE_DB", tmp.join("db.json"))
        .env("FERRITE_NO_BUILD", "1")
        .env_remove("FERRITE_PLUGIN_PATH")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "conformance of the example failed:\n{t}");
    for op in ["contrib::swish", "contrib::focal_loss"] {
        for dt in ["f32", "f64", "bf16"] {
            assert!(
                t.lines().any(|l| l.starts_with(op) && l.contains(&format!(" {dt} ")) && l.contains("pass (self)")),
                "no self-checked pass row for {op} {dt}:\n{t}"
            );
        }
    }
    assert!(!t.lines().any(|l| l.contains("fail") && l.starts_with("contrib::")), "{t}");

    let run_dir = tmp.join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(["train", "--model", "models.contrib_mlp", "--plugin-path", so.parent().unwrap().to_str().unwrap()])
        .args(["--epochs", "3", "--sizes", "8", "--run-dir", run_dir.to_str().unwrap()])
        .env("FERRITE_NO_BUILD", "1")
        .env_remove("FERRITE_PLUGIN_PATH")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "training models.contrib_mlp failed:\n{t}");
    let acc: f64 = t
        .lines()
        .find_map(|l| l.strip_prefix("final test accuracy at 8x8: "))
        .and_then(|v| v.trim().trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("no final test accuracy:\n{t}"));
    assert!(acc > 80.0, "test accuracy {acc}% <= 80%:\n{t}");
    assert!(run_dir.join("model.safetensors").exists(), "{t}");
    let _ = std::fs::remove_dir_all(&tmp);
}
