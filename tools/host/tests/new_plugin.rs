//! `ferrite new-plugin` end to end: each kind is generated into a temp dir, unit-tested and
//! built as a standalone crate (into `target/templates`, shared between runs so dependencies
//! compile once), then loaded by the host: `ferrite conformance` for the op, `ferrite plugins`
//! for the model and the dataset.

use ferrite_tests::{plugin_path, target_dir, workspace_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ferrite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrite")).args(args).env("FERRITE_NO_BUILD", "1").env_remove("FERRITE_PLUGIN_PATH").output().expect("run ferrite")
}

/// Generates `name` of `kind` into a fresh temp dir, runs its unit tests, builds it and returns
/// the `.so`.
fn generate_and_build(name: &str, kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrite-new-plugin-{}-{kind}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = ferrite(&["new-plugin", name, "--kind", kind, "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "new-plugin failed:\n{}", text(&out));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("[workspace]") && !manifest.contains("ferrite-core"), "{manifest}");
    // The workspace's lock pins the same dependency versions, so target/templates reuses them.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = target_dir().parent().unwrap().join("templates");
    for sub in ["test", "build"] {
        let out = Command::new(env!("CARGO"))
            .args([sub, "--release", "--quiet"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("run cargo");
        assert!(out.status.success(), "cargo {sub} of the generated {kind} crate failed:\n{}", text(&out));
    }
    let so = target.join("release").join(format!("lib{}.so", name.replace('-', "_")));
    assert!(so.exists(), "{} missing", so.display());
    let _ = std::fs::remove_dir_all(&dir);
    so
}

fn default_plugins() -> PathBuf {
    for c in ["ferrite-ops-cpu", "ferrite-model-spp-net", "ferrite-dataset-digits"] {
        plugin_path(c);
    }
    plugin_path("ferrite-ops-ref")
}

#[test]
fn op_plugin_builds_and_conformance_self_checks_it() {
    let reference = default_plugins();
    let so = generate_and_build("tmpl-op", "op");
    let db = std::env::temp_dir().join(format!("ferrite-new-plugin-{}-db.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(["conformance", "--plugin", so.to_str().unwrap(), "--reference", reference.to_str().unwrap(), "--cases", "8"])
        .env("FERRITE_CONFORMANCE_DB", &db)
        .env("FERRITE_NO_BUILD", "1")
        .output()
        .unwrap();
    let t = text(&out);
    // ops-ref has no kernel of a new `contrib::` op, so the suite checks the plugin against itself:
    // each dtype against its own f64 kernel, the f64 backward against finite differences, on
    // inputs generated from the schema (default beta). Every row is marked `(self)`.
    for dt in ["f32", "f64", "f16", "bf16"] {
        assert!(
            t.lines().any(|l| l.starts_with("contrib::tmpl_op") && l.contains(&format!(" {dt} ")) && l.contains("pass (self)")),
            "no self-checked pass row for {dt}:\n{t}"
        );
    }
    assert!(out.status.success() && !t.contains("nothing was checked"), "the self-consistency checks must pass:\n{t}");
    let _ = std::fs::remove_file(&db);
}

fn listed_by_plugins(so: &Path, export: &str) {
    default_plugins();
    let out = ferrite(&["plugins", "--plugin-path", so.to_str().unwrap()]);
    let t = text(&out);
    assert!(out.status.success() && t.contains(export), "`{export}` not listed:\n{t}");
}

#[test]
fn model_plugin_builds_and_is_listed() {
    let so = generate_and_build("tmpl-model", "model");
    listed_by_plugins(&so, "models.tmpl_model");
}

#[test]
fn dataset_plugin_builds_and_is_listed() {
    let so = generate_and_build("tmpl-dataset", "dataset");
    listed_by_plugins(&so, "datasets.tmpl_dataset");
}

#[test]
fn bad_names_and_non_empty_dirs_are_refused() {
    let dir = std::env::temp_dir().join(format!("ferrite-new-plugin-{}-refuse", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = ferrite(&["new-plugin", "Bad Name", "--kind", "op", "--dir", dir.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).contains("invalid plugin name"), "{}", text(&out));
    std::fs::write(dir.join("keep.txt"), "x").unwrap();
    let out = ferrite(&["new-plugin", "ok-name", "--kind", "model", "--dir", dir.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).contains("refusing to overwrite"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(dir.join("keep.txt")).unwrap(), "x");
    let _ = std::fs::remove_dir_all(&dir);
}
