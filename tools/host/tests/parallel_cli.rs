//! `ferrite train --parallel ...` end to end: a stopped and resumed run equals an uninterrupted
//! one, shards merge into one full checkpoint, N ranks × batch b equal one rank × batch N·b.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ferrite(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrite")).args(args).output().expect("run ferrite");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn fresh(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrite-parallel-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    let host = ferrite_core::host();
    let mut v: Vec<(String, Vec<f32>)> = ferrite_sdk::checkpoint::load_safetensors(&host, path)
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.to_dtype(ferrite_sdk::DType::F32).unwrap().to_vec::<f32>().unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn train(run: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--optimizer", "adamw", "--run-dir", run.to_str().unwrap()];
    args.extend_from_slice(extra);
    if !extra.contains(&"--epochs") {
        args.extend(["--epochs", "3"]);
    }
    let (ok, out) = ferrite(&args);
    assert!(ok, "{out}");
    out
}

#[test]
fn stopped_and_resumed_runs_equal_uninterrupted_ones_and_shards_merge() {
    for strategy in ["ddp", "zero3"] {
        let (a, b) = (fresh(&format!("a-{strategy}")), fresh(&format!("b-{strategy}")));
        // Dropout draws random numbers on every rank thread: resumption must replay them too.
        let mut common = vec!["--parallel", strategy, "--world-size", "2", "--model-config", "hidden = 16", "--model-config", "dropout = 0.3"];
        if strategy == "zero3" {
            // One module gathered at a time: every forward and backward re-gathers.
            common.extend(["--zero-live-modules", "1"]);
        }
        train(&a, &common);
        let mut stop = common.clone();
        stop.extend(["--stop-after-epoch", "1"]);
        let out = train(&b, &stop);
        assert!(out.contains("--resume"), "{out}");
        // A second training process on the same folder is refused while one holds it.
        let held = std::fs::OpenOptions::new().write(true).open(b.join(".lock")).unwrap();
        held.try_lock().unwrap();
        let (ok, out) = ferrite(&["train", "--resume", b.to_str().unwrap()]);
        assert!(!ok && out.contains("in use by another ferrite train"), "{out}");
        drop(held);
        // A crash while saving epoch 2: part of its state written, the run's model.safetensors
        // and metrics.csv already replaced. progress.json still points at epoch 1, whose state
        // folder is intact, so the resumed run equals the uninterrupted one.
        std::fs::create_dir_all(b.join("shards/epoch-2")).unwrap();
        std::fs::write(b.join("shards/epoch-2/rank-0-of-2.safetensors"), b"half a shard").unwrap();
        std::fs::write(b.join("model.safetensors"), b"half a model").unwrap();
        let mut csv = std::fs::read_to_string(b.join("metrics.csv")).unwrap();
        let last = csv.lines().last().unwrap().to_string();
        csv.push_str(&format!("{}\n", last.replacen("1,", "2,", 1)));
        std::fs::write(b.join("metrics.csv"), csv).unwrap();
        let (ok, out) = ferrite(&["train", "--resume", b.to_str().unwrap()]);
        assert!(ok && out.contains("resuming"), "{out}");
        assert_eq!(tensors(&a.join("model.safetensors")), tensors(&b.join("model.safetensors")), "{strategy}: resumed run differs");
        assert_eq!(std::fs::read_to_string(a.join("metrics.csv")).unwrap().lines().count(), std::fs::read_to_string(b.join("metrics.csv")).unwrap().lines().count());
        // Only the last epoch's state is kept; every rank's shard equals the uninterrupted run's.
        let states: Vec<String> = std::fs::read_dir(b.join("shards")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(states, ["epoch-3"], "{strategy}");
        for r in 0..2 {
            let s = format!("shards/epoch-3/rank-{r}-of-2.safetensors");
            assert_eq!(tensors(&a.join(&s)), tensors(&b.join(&s)), "{strategy}: shard {r} differs");
        }
        // One full checkpoint from the shards: parameters equal the model's, and every
        // parameter has its optimizer moments in its own shape.
        let (ok, out) = ferrite(&["merge-shards", a.to_str().unwrap()]);
        assert!(ok, "{out}");
        let full = tensors(&a.join("full.safetensors"));
        let model = tensors(&a.join("model.safetensors"));
        for (name, values) in &model {
            let (_, merged) = full.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{strategy}: {name} not merged"));
            assert_eq!(merged, values, "{strategy}: {name}");
        }
        for i in 0..model.len() {
            assert!(full.iter().any(|(n, _)| *n == format!("optimizer.state.{i}.exp_avg")), "{strategy}: moments of parameter {i}");
        }
        let (ok, out) = ferrite(&["train", "--resume", a.to_str().unwrap()]);
        assert!(!ok && out.contains("already finished epoch 3 of 3"), "{out}");
        // A shard in the wrong place, or a damaged one, is refused (never resumed from).
        let shard = |r: usize| a.join(format!("shards/epoch-3/rank-{r}-of-2.safetensors"));
        let (ok, out) = ferrite(&["merge-shards", a.to_str().unwrap(), "-o", a.join("model.safetensors").to_str().unwrap()]);
        assert!(!ok && out.contains("part of the run"), "{out}");
        std::fs::copy(shard(0), shard(1)).unwrap();
        std::fs::copy(a.join("shards/epoch-3/rank-0-of-2.safetensors.sha256"), a.join("shards/epoch-3/rank-1-of-2.safetensors.sha256")).unwrap();
        let (ok, out) = ferrite(&["merge-shards", a.to_str().unwrap()]);
        assert!(!ok && out.contains("written by rank 0 of 2, not rank 1 of 2"), "{out}");
        let mut bytes = std::fs::read(shard(0)).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x55;
        std::fs::write(shard(0), bytes).unwrap();
        let (ok, out) = ferrite(&["merge-shards", a.to_str().unwrap()]);
        assert!(!ok && out.contains("does not match its checksum"), "{out}");
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
    }
}

#[test]
fn two_ranks_of_batch_b_equal_one_rank_of_batch_2b() {
    let (one, two) = (fresh("one"), fresh("two"));
    train(&one, &["--parallel", "ddp", "--world-size", "1", "--batch-size", "64", "--epochs", "1"]);
    train(&two, &["--parallel", "ddp", "--world-size", "2", "--batch-size", "32", "--epochs", "1"]);
    let (x, y) = (tensors(&one.join("model.safetensors")), tensors(&two.join("model.safetensors")));
    let d = x.iter().zip(&y).flat_map(|((_, p), (_, q))| p.iter().zip(q).map(|(a, b)| (a - b).abs())).fold(0f32, f32::max);
    assert!(d < 1e-4, "parameters differ by {d}");
    let _ = std::fs::remove_dir_all(&one);
    let _ = std::fs::remove_dir_all(&two);
}

#[test]
fn bad_parallel_flags_are_one_line_errors() {
    for (args, want) in [
        (vec!["train", "--parallel", "fsdp"], "parallel.fsdp"),
        (vec!["train", "--parallel", "ddp", "--comm", "nccl"], "comm.nccl"),
        (vec!["train", "--parallel", "ddp", "--world-size", "0"], "parallel.world_size"),
        (vec!["train", "--resume", "/nonexistent/run"], "config.toml"),
    ] {
        let (ok, out) = ferrite(&args);
        assert!(!ok && out.contains(want), "{args:?}: {out}");
    }
}

fn mpirun(args: &[&str]) -> (bool, String) {
    let out = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-np", "2", env!("CARGO_BIN_EXE_ferrite")])
        .args(args)
        .output()
        .expect("mpirun (Open MPI) must be installed: .ci/run installs openmpi-bin");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn mpirun_two_processes_equal_one_process_on_the_combined_batch() {
    let one = fresh("mpi-one");
    train(&one, &["--parallel", "ddp", "--world-size", "1", "--batch-size", "64", "--epochs", "1"]);
    let reference = tensors(&one.join("model.safetensors"));
    for strategy in ["ddp", "zero2"] {
        let two = fresh(&format!("mpi-{strategy}"));
        let (ok, out) = mpirun(&[
            "train", "--parallel", strategy, "--comm", "mpi", "--batch-size", "32", "--epochs", "1", "--optimizer", "adamw",
            "--run-dir", two.to_str().unwrap(),
        ]);
        assert!(ok, "{out}");
        // Only rank 0 reports.
        assert_eq!(out.matches("run folder:").count(), 1, "{out}");
        let got = tensors(&two.join("model.safetensors"));
        let d = reference.iter().zip(&got).flat_map(|((_, p), (_, q))| p.iter().zip(q).map(|(a, b)| (a - b).abs())).fold(0f32, f32::max);
        assert!(d < 1e-4, "{strategy} over MPI differs from one process by {d}");
        if strategy == "ddp" {
            // Replicas stay identical: each rank's optimizer state equals rank 0's.
            assert_eq!(tensors(&two.join("shards/epoch-1/rank-0-of-2.safetensors")), tensors(&two.join("shards/epoch-1/rank-1-of-2.safetensors")));
        }
        let _ = std::fs::remove_dir_all(&two);
    }
    let _ = std::fs::remove_dir_all(&one);
}

fn final_accuracies(out: &str) -> Vec<f64> {
    out.lines()
        .filter_map(|l| l.strip_prefix("final test accuracy at ").and_then(|r| r.split(": ").nth(1)).and_then(|v| v.trim_end_matches('%').parse().ok()))
        .collect()
}

#[test]
fn mixed_precision_trains_in_bf16_and_f16_with_and_without_a_strategy() {
    for (p, extra) in [
        ("bf16", vec![]),
        ("f16", vec![]),
        ("bf16", vec!["--parallel", "zero3", "--world-size", "2"]),
        ("f16", vec!["--parallel", "zero2", "--world-size", "2"]),
    ] {
        let run = fresh(&format!("prec-{p}-{}", extra.len()));
        let mut args = vec!["--precision", p, "--epochs", "3"];
        args.extend(extra.iter().copied());
        let out = train(&run, &args);
        let acc = final_accuracies(&out);
        assert_eq!(acc.len(), 2, "{out}");
        assert!(acc.iter().all(|&a| a > 85.0), "{p} {extra:?}: {acc:?}\n{out}");
        let _ = std::fs::remove_dir_all(&run);
    }
}

#[test]
fn a_shard_of_another_layout_is_refused_before_training() {
    use ferrite_host::distributed::shards::{checksum_path, file_sha256, LAYOUT_KEY};
    let run = fresh("layout");
    train(&run, &["--parallel", "zero2", "--world-size", "2", "--epochs", "2", "--stop-after-epoch", "1"]);
    // Rank 0's shard as an older version wrote it: the same tensors, a flat layout (no module
    // groups). Same size, so only the metadata can tell.
    let shard = run.join("shards/epoch-1/rank-0-of-2.safetensors");
    let host = ferrite_core::host();
    let tensors = ferrite_sdk::checkpoint::load_safetensors(&host, &shard).unwrap();
    let mut md = ferrite_sdk::checkpoint::load_safetensors_metadata(&shard).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&md[LAYOUT_KEY]).unwrap();
    meta["layout"].as_object_mut().unwrap().remove("groups");
    md.insert(LAYOUT_KEY.to_string(), meta.to_string());
    ferrite_sdk::checkpoint::save_safetensors(&shard, &tensors, Some(md)).unwrap();
    std::fs::write(checksum_path(&shard), file_sha256(&shard).unwrap()).unwrap();
    let (ok, out) = ferrite(&["train", "--resume", run.to_str().unwrap()]);
    assert!(!ok && out.contains("another strategy layout") && out.contains("flat layout"), "{out}");
    assert!(!out.contains("epoch   2/2"), "refused only after training: {out}");
    let _ = std::fs::remove_dir_all(&run);
}
