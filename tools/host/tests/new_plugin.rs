//! `ferrite new-plugin` end to end: each kind is generated into a temp dir, unit-tested and
//! built as a standalone crate (into `target/templates`, shared between runs so dependencies
//! compile once), then loaded by the host: `ferrite conformance` for the op, `ferrite plugins`
//! for the model and the dataset, `ferrite collectives` for the comm backend, and a one-epoch
//! `ferrite train --parallel` of the generated strategy over the generated backend.

use ferrite_tests::{plugin_path, target_dir, workspace_root};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

fn text(o: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ferrite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrite")).args(args).env("FERRITE_NO_BUILD", "1").env_remove("FERRITE_PLUGIN_PATH").output().expect("run ferrite")
}

/// [`generate_and_build`] once per kind in this process (tests share the temp dir of a kind).
fn built(name: &str, kind: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut done = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    done.get_or_insert_with(HashMap::new).entry(kind.to_string()).or_insert_with(|| generate_and_build(name, kind)).clone()
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
fn comm_plugin_builds_and_every_collective_checks_out_in_the_host() {
    let so = built("tmpl-comm", "comm");
    let args = ["collectives", "--comm", "comm.tmpl_comm", "--world-size", "3", "--sizes", "1K,64K", "--iters", "1", "--timeout-ms", "10000"];
    // Without --plugin-path the backend is not on the search path: a one-line failure naming it.
    let out = ferrite(&args);
    assert!(!out.status.success() && text(&out).contains("comm.tmpl_comm"), "{}", text(&out));
    let out = ferrite(&[&args[..], &["--plugin-path", so.to_str().unwrap()]].concat());
    let t = text(&out);
    assert!(out.status.success() && t.contains("comm.tmpl_comm: every collective matches its definition"), "{t}");
}

/// `(train loss, test accuracy %)` of the last epoch line of `ferrite train`
/// (`epoch 1/1 size 8x8 train loss 2.0613 acc 39.22% test loss 1.3905 acc 73.54% (...)`).
fn last_epoch(t: &str) -> (f64, f64) {
    let line = t.lines().filter(|l| l.starts_with("epoch")).last().unwrap_or_else(|| panic!("no epoch line:\n{t}"));
    let number_after = |at: usize| -> f64 { line[at..].split_whitespace().next().unwrap().trim_end_matches('%').parse().unwrap() };
    let loss = number_after(line.find("train loss").expect("train loss") + "train loss".len());
    let acc = number_after(line.rfind("acc").expect("acc") + "acc".len());
    (loss, acc)
}

#[test]
fn generated_strategy_trains_over_the_generated_backend_like_ddp_over_comm_local() {
    default_plugins();
    for c in ["ferrite-comm-local", "ferrite-parallel-ddp"] {
        plugin_path(c);
    }
    let comm = built("tmpl-comm", "comm");
    let par = built("tmpl-parallel", "parallel");
    let listed = ferrite(&["plugins", "--plugin-path", comm.to_str().unwrap(), "--plugin-path", par.to_str().unwrap()]);
    let t = text(&listed);
    assert!(t.contains("comm.tmpl_comm") && t.contains("parallel.tmpl_parallel"), "{t}");
    let tmp = std::env::temp_dir().join(format!("ferrite-new-plugin-{}-train", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let train = |extra: &[&str], run: &str| {
        let run_dir = tmp.join(run);
        let mut args = vec!["train", "--epochs", "1", "--sizes", "8", "--world-size", "2", "--run-dir", run_dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = ferrite(&args);
        let t = text(&out);
        assert!(out.status.success(), "ferrite {args:?} failed:\n{t}");
        assert!(run_dir.join("model.safetensors").exists(), "{t}");
        (t.clone(), last_epoch(&t))
    };
    let (t, mine) = train(
        &["--plugin-path", comm.to_str().unwrap(), "--plugin-path", par.to_str().unwrap(), "--parallel", "tmpl_parallel", "--comm", "tmpl_comm"],
        "generated",
    );
    assert!(t.contains("parallel.tmpl_parallel rank 0/2") && t.contains("comm.tmpl_comm rank 0/2"), "{t}");
    // Same seed, same averaged gradients, same SGD: the reference strategy and backend agree
    // (up to the order of float additions in the all-reduce).
    let (_, ddp) = train(&["--parallel", "ddp", "--comm", "local"], "ddp");
    assert!((mine.0 - ddp.0).abs() < 1e-3 && (mine.1 - ddp.1).abs() < 0.5, "generated {mine:?} vs ddp {ddp:?}");
    assert!(mine.1 > 30.0, "one epoch should beat chance (10%): {mine:?}");
    let _ = std::fs::remove_dir_all(&tmp);
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
