//! End to end: the `ferrite` binary trains from plugin `.so` files with its defaults, writes the
//! run folder, and `ferrite eval` reloads the checkpoint to the same accuracy.

use std::path::Path;
use std::process::Command;

fn ferrite(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrite")).args(args).output().expect("run ferrite");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `final test accuracy at 8x8: 98.33%` → (8, 98.33); same for eval's `test accuracy at ...`.
fn accuracies(text: &str, prefix: &str) -> Vec<(u32, f64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|rest| {
            let (size, pct) = rest.split_once(": ").expect("size: pct");
            let side: u32 = size.split('x').next().unwrap().parse().unwrap();
            let pct: f64 = pct.split('%').next().unwrap().parse().unwrap();
            (side, pct)
        })
        .collect()
}

#[test]
fn default_training_reaches_97_percent_at_both_sizes_and_checkpoint_reloads() {
    let dir = std::env::temp_dir().join(format!("ferrite-e2e-{}", std::process::id()));
    let run = dir.join("run");
    let (ok, out, err) = ferrite(&["train", "--run-dir", run.to_str().unwrap()]);
    assert!(ok, "train failed:\n{out}\n{err}");
    let acc = accuracies(&out, "final test accuracy at ");
    assert_eq!(acc.iter().map(|a| a.0).collect::<Vec<_>>(), vec![8, 16], "{out}");
    for (size, pct) in &acc {
        assert!(*pct >= 97.0, "test accuracy at {size}x{size} is {pct}% < 97%\n{out}");
    }
    for f in ["model.safetensors", "metrics.csv", "metrics.png", "config.toml"] {
        assert!(run.join(f).is_file(), "{f} missing in the run folder");
    }
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 10 * 2, "header + 10 epochs x 2 sizes:\n{csv}");
    assert!(!run.read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("tmp")), "temp files left");

    let ckpt = run.join("model.safetensors");
    let (ok, out2, err2) = ferrite(&["eval", "--checkpoint", ckpt.to_str().unwrap()]);
    assert!(ok, "eval failed:\n{out2}\n{err2}");
    assert_eq!(accuracies(&out2, "test accuracy at "), acc, "eval must reproduce the training accuracy");

    let (ok, out3, _) = ferrite(&["plugins"]);
    assert!(ok);
    for p in ["ops-ref", "ops-cpu", "model-spp-net", "dataset-digits"] {
        assert!(out3.contains(p), "plugin {p} not listed:\n{out3}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reference_ops_are_selectable_and_train_like_the_fast_ones() {
    let dir = std::env::temp_dir().join(format!("ferrite-e2e-ops-{}", std::process::id()));
    let mut finals = Vec::new();
    for ops in ["ref", "cpu"] {
        let run = dir.join(ops);
        let (ok, out, err) = ferrite(&["train", "--ops", ops, "--epochs", "2", "--run-dir", run.to_str().unwrap()]);
        assert!(ok, "train --ops {ops} failed:\n{out}\n{err}");
        finals.push(accuracies(&out, "final test accuracy at "));
    }
    // Same seed, same data order: the kernels agree to rounding, so the accuracies agree to
    // within one test sample (0.28%).
    for ((s1, a1), (s2, a2)) in finals[0].iter().zip(&finals[1]) {
        assert_eq!(s1, s2);
        assert!((a1 - a2).abs() <= 0.3, "ops-ref {a1}% vs ops-cpu {a2}% at {s1}x{s1}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batch_norm_model_trains_and_its_running_stats_reload_for_eval() {
    // BatchNorm2d updates its running stats in place after each forward; backward must still
    // work (it once failed with a saved-tensor version error) and eval must use the saved stats.
    let dir = std::env::temp_dir().join(format!("ferrite-e2e-bn-{}", std::process::id()));
    let run = dir.join("run");
    let (ok, out, err) = ferrite(&["train", "--epochs", "2", "--model-config", "batch_norm = true", "--run-dir", run.to_str().unwrap()]);
    assert!(ok, "train with batch_norm failed:\n{out}\n{err}");
    let acc = accuracies(&out, "final test accuracy at ");
    assert_eq!(acc.len(), 2, "{out}");
    for (size, pct) in &acc {
        assert!(*pct >= 90.0, "batch-norm test accuracy at {size}x{size} is {pct}% < 90%\n{out}");
    }
    let ckpt = run.join("model.safetensors");
    let (ok, out2, err2) = ferrite(&["eval", "--checkpoint", ckpt.to_str().unwrap()]);
    assert!(ok, "eval failed:\n{out2}\n{err2}");
    assert_eq!(accuracies(&out2, "test accuracy at "), acc, "eval must reproduce the training accuracy");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_config_and_bad_checkpoint_are_one_line_errors() {
    let dir = std::env::temp_dir().join(format!("ferrite-e2e-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "epochs = \"many\"\n").unwrap();
    let (ok, _, err) = ferrite(&["train", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("epochs"), "{err}");
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"\xff\xff\xff\xff\xff\xff\xff\x7fjunk").unwrap();
    let (ok, _, err) = ferrite(&["eval", "--checkpoint", junk.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(err.trim().lines().filter(|l| l.starts_with("error")).count(), 1, "{err}");
    let (ok, _, err) = ferrite(&["eval", "--checkpoint", Path::new("/nonexistent/x.safetensors").to_str().unwrap()]);
    assert!(!ok && err.contains("x.safetensors"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
