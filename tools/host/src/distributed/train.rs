//! `ferrite train` with a `[parallel]` strategy: ranks as threads (`comm.local`) or as
//! `mpirun` processes (`comm.mpi`), rank 0 reporting and writing the run folder, every rank
//! writing its shard of the training state.

use super::config::ParallelConfig;
use super::launch::{process_groups, root_cause, run_ranks};
use super::progress::Progress;
use super::rank::{evaluate_epoch, reduce_sums, train_epoch, RankState};
use super::resume;
use super::run_lock;
use super::shards::{file_sha256, prune_states, save_shard, state_dir};
use super::strategy::HostedStrategy;
use crate::config::{OptimizerKind, TrainConfig};
use crate::metrics::MetricsLog;
use crate::train::{save_checkpoint, TrainSummary};
use crate::{atomic, plot};
use anyhow::{Context, Result};
use ferrite_core::comm::ProcessGroup;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The optimizer of `cfg` as the strategy's `[optimizer]` table.
pub fn optimizer_table(cfg: &TrainConfig) -> toml::Table {
    let mut t = toml::Table::new();
    match cfg.optimizer {
        OptimizerKind::Sgd => {
            t.insert("kind".into(), "sgd".into());
            t.insert("momentum".into(), cfg.momentum.into());
        }
        OptimizerKind::Adamw => {
            t.insert("kind".into(), "adamw".into());
        }
    }
    t.insert("lr".into(), cfg.lr().into());
    t.insert("weight_decay".into(), cfg.weight_decay().into());
    t
}

/// What rank 0 decides before anything is written, told to every rank at once (so a refused
/// start fails every rank immediately instead of leaving the others in a collective).
pub struct Start {
    /// Rank 0's run folder (MPI ranks may resolve different timestamps).
    pub run_dir: PathBuf,
    /// The run's identity, recorded in every shard: shards of another run are refused.
    pub run_id: u64,
    /// Rank 0's lock on the run folder (see [`super::run_lock`]), held until the run ends.
    pub lock: Option<std::fs::File>,
}

/// Rank 0 checks the run folder (empty for a new run; a resumable one for `--resume`) and
/// picks the run id; every rank receives the outcome.
///
/// # Errors
/// Rank 0's refusal (on every rank), communication errors.
fn agree_on_start(group: &ProcessGroup, cfg: &TrainConfig, mine: &Path) -> Result<Start> {
    const MAX: usize = 4096;
    let mut buf = vec![0f64; MAX + 3];
    let mut lock = None;
    if group.rank() == 0 {
        let decision: Result<u64> = match &cfg.parallel.resume {
            Some(_) if !mine.join("progress.json").is_file() => Progress::load(mine).map(|p| p.run_id),
            Some(_) => run_lock::lock_run_dir(mine).and_then(|l| {
                lock = Some(l);
                Progress::load(mine).map(|p| p.run_id)
            }),
            None if std::fs::read_dir(mine).map(|mut d| d.next().is_some()).unwrap_or(false) => {
                Err(anyhow::anyhow!("run folder {} already exists and is not empty; choose another --run-dir", mine.display()))
            }
            None => run_lock::lock_run_dir(mine).map(|l| {
                lock = Some(l);
                fresh_run_id()
            }),
        };
        let (ok, id, text) = match decision {
            Ok(id) => (1.0, id, mine.to_string_lossy().into_owned()),
            Err(e) => (0.0, 0, format!("{e:#}")),
        };
        let bytes = text.into_bytes();
        anyhow::ensure!(bytes.len() < MAX, "run folder path is longer than {MAX} bytes");
        for (b, v) in bytes.iter().zip(buf.iter_mut()) {
            *v = f64::from(*b);
        }
        buf[MAX] = ok;
        buf[MAX + 1] = (id >> 32) as f64;
        buf[MAX + 2] = (id & 0xFFFF_FFFF) as f64;
    }
    let t = ferrite_core::Tensor::from_f64(&[(MAX + 3) as i64], &buf, ferrite_sdk::DType::F64)?;
    group.wait(group.broadcast(&t, 0)?)?;
    let v = t.to_f64_vec();
    let text: Vec<u8> = v[..MAX].iter().map(|&x| x as u8).take_while(|&b| b != 0).collect();
    let text = String::from_utf8_lossy(&text).into_owned();
    anyhow::ensure!(v[MAX] == 1.0, "{text}");
    Ok(Start { run_dir: PathBuf::from(text), run_id: ((v[MAX + 1] as u64) << 32) | v[MAX + 2] as u64, lock })
}

/// A run id: time and process, hashed.
fn fresh_run_id() -> u64 {
    use sha2::{Digest, Sha256};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let h = Sha256::digest(format!("{now}-{}", std::process::id()).as_bytes());
    u64::from_le_bytes(h[..8].try_into().expect("8 bytes"))
}

/// Trains with the strategy of `cfg.parallel` (plugins for ops, model and dataset must be
/// loaded; the comm and strategy plugins are loaded here).
///
/// # Errors
/// Any rank's failure (the root cause is preferred over peers reporting it), bad configs,
/// an existing non-empty run folder.
pub fn train_parallel(cfg: &TrainConfig) -> Result<TrainSummary> {
    let start = Instant::now();
    let host = ferrite_core::host();
    host.manual_seed(cfg.seed);
    let p: &ParallelConfig = &cfg.parallel;
    let run_dir = cfg.run_dir.clone().context("run_dir was not resolved")?;
    let groups = process_groups(p, &cfg.plugin_path)?;
    let world = groups.first().map_or(1, |g| g.world_size());
    // MPI takes the world size from mpirun; a different --world-size is a mistake to report.
    anyhow::ensure!(
        !p.is_mpi() || p.world_size == 1 || p.world_size == world,
        "--world-size {} but mpirun started {world} processes (with --comm mpi, mpirun -np sets the world size)",
        p.world_size
    );
    let mut cfg = cfg.clone();
    cfg.parallel.world_size = world;
    let cfg = &cfg;
    let p = &cfg.parallel;
    let strategy_toml = p.strategy_toml(&optimizer_table(cfg));
    // Built in rank order on this thread: initialisation is deterministic for a seed.
    let mut states = Vec::new();
    for g in groups {
        let rank = g.rank();
        let strategy = HostedStrategy::new(&p.strategy_name(), g, &strategy_toml, host)?;
        states.push((rank, RankState::new(cfg, strategy, host)?));
    }
    let results = run_ranks(states, |st| rank_main(cfg, st, &run_dir));
    let summaries = root_cause(results)?;
    let mut summary = summaries.into_iter().flatten().next().unwrap_or(TrainSummary {
        run_dir: run_dir.clone(),
        checkpoint: run_dir.join("model.safetensors"),
        test_accuracy: Vec::new(),
        seconds: 0.0,
        primary: false,
    });
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// One rank from setup to its last shard; rank 0 returns the summary.
fn rank_main(cfg: &TrainConfig, mut st: RankState, run_dir: &Path) -> Result<Option<TrainSummary>> {
    let rank = st.strategy.rank();
    let main = rank == 0;
    // Each rank draws from a generator of its own seeded alike, as separate processes would
    // (ranks that are threads must not interleave draws from one shared stream).
    ferrite_core::Runtime::global().set_thread_rng(Some(cfg.seed ^ 0x5851_F42D_4C95_7F2D));
    // `_lock` (rank 0's) lives until this function returns: the run folder is ours till then.
    let Start { run_dir, run_id, lock: _lock } = agree_on_start(st.strategy.group(), cfg, run_dir)?;
    let mut log = MetricsLog::new();
    let mut first_epoch = 1;
    if cfg.parallel.resume.is_some() {
        let progress = resume::load_model(&mut st, cfg, &run_dir)?;
        first_epoch = progress.epoch + 1;
        if main {
            log = MetricsLog::read_csv(&run_dir.join("metrics.csv")).context("reading the run's metrics.csv")?;
            // Rows of an epoch whose save was interrupted are trained again.
            log.retain_up_to_epoch(progress.epoch);
            println!("resuming {} after epoch {} of {}", run_dir.display(), progress.epoch, cfg.epochs);
        }
        st.strategy.setup(&st.model)?;
        resume::load_shard(&mut st, &run_dir, &progress)?;
    } else {
        st.strategy.setup(&st.model)?;
    }
    if main && first_epoch == 1 {
        std::fs::create_dir_all(&run_dir).with_context(|| format!("creating run folder {}", run_dir.display()))?;
        let cfg_path = run_dir.join("config.toml");
        atomic::write_atomic(&cfg_path, cfg.to_toml()?.as_bytes()).with_context(|| format!("writing {}", cfg_path.display()))?;
        let n: usize = st.model.named_parameters().iter().map(|(_, t)| t.numel()).sum();
        println!("model    {} ({n} parameters)", cfg.model);
        for d in &st.data {
            println!("data     {}x{}: {}", d.size, d.size, d.describe());
        }
        if let Some(line) = cfg.settings_line() {
            println!("setup    {line}");
        }
        let accumulation = match cfg.parallel.grad_accumulation {
            1 => String::new(),
            k => format!(", {k} micro-batches per step (no_sync on all but the last)"),
        };
        println!("parallel {} ({}){accumulation}", st.strategy.describe(), st.strategy.group().describe());
    }
    let base_lr = cfg.lr();
    for epoch in first_epoch..=cfg.epochs {
        let t0 = Instant::now();
        // Cosine decay, as in single-process training.
        let progress = f64::from(epoch - 1) / f64::from(cfg.epochs);
        let lr = base_lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        let sums = train_epoch(&mut st, cfg, epoch, lr)?;
        let sums = reduce_sums(&st, &sums)?;
        let seconds = t0.elapsed().as_secs_f64();
        for rec in evaluate_epoch(&mut st, epoch, &sums, seconds)? {
            println!(
                "epoch {epoch:>3}/{} size {:>2}x{:<2} train loss {:.4} acc {:>6.2}%  test loss {:.4} acc {:>6.2}%  (epoch {:.1}s, {} rank{})",
                cfg.epochs,
                rec.size,
                rec.size,
                rec.train_loss,
                100.0 * rec.train_accuracy,
                rec.test_loss,
                100.0 * rec.test_accuracy,
                seconds,
                st.strategy.world_size(),
                if st.strategy.world_size() == 1 { "" } else { "s" }
            );
            log.push(rec);
        }
        let test_accuracy: Vec<(u32, f64)> =
            st.data.iter().map(|d| (d.size, log.for_size(d.size).last().map_or(0.0, |r| r.test_accuracy))).collect();
        // After every epoch: the full model (rank 0; parameters are gathered by evaluation),
        // every rank's shard of the optimizer state and the progress marker, so the run can
        // be resumed exactly from here. The marker is written last: a crash in between leaves
        // the previous epoch's marker, never one that points at missing files.
        save_epoch(&st, cfg, &run_dir, &log, &test_accuracy, epoch, run_id)?;
        if cfg.parallel.stop_after_epoch == Some(epoch) && epoch < cfg.epochs {
            if main {
                if cfg.parallel.is_mpi() {
                    let n = st.strategy.world_size();
                    println!("stopped after epoch {epoch}; continue with: mpirun -np {n} ferrite train --resume {} (the same mpirun options)", run_dir.display());
                } else {
                    println!("stopped after epoch {epoch}; continue with: ferrite train --resume {}", run_dir.display());
                }
            }
            break;
        }
    }
    if !main {
        return Ok(None);
    }
    // The strategy's counters after training (ZeRO: gathers, reductions overlapped).
    println!("parallel {}", st.strategy.describe());
    let test_accuracy: Vec<(u32, f64)> =
        st.data.iter().map(|d| (d.size, log.for_size(d.size).last().map_or(0.0, |r| r.test_accuracy))).collect();
    plot::plot_metrics(&log, &run_dir.join("metrics.png"), &format!("{} on {}", cfg.model, cfg.dataset))?;
    Ok(Some(TrainSummary { run_dir: run_dir.clone(), checkpoint: run_dir.join("model.safetensors"), test_accuracy, seconds: 0.0, primary: true }))
}

/// Writes one epoch's resumable state (see the call site): every rank's shard and the model
/// into `shards/epoch-E/`, the model also as the run's `model.safetensors`, then (rank 0, after
/// every rank is done) `progress.json` pointing at epoch E, and last the older state folders are
/// deleted. A crash at any point leaves a `progress.json` whose files all exist.
fn save_epoch(st: &RankState, cfg: &TrainConfig, run_dir: &Path, log: &MetricsLog, acc: &[(u32, f64)], epoch: u32, run_id: u64) -> Result<()> {
    let main = st.strategy.rank() == 0;
    let dir = state_dir(run_dir, epoch);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    save_shard(run_dir, &st.strategy, run_id, epoch)?;
    let mut model_sha256 = String::new();
    if main {
        log.write_csv(&run_dir.join("metrics.csv"))?;
        let state_model = dir.join("model.safetensors");
        save_checkpoint(&state_model, &st.model, cfg, acc)?;
        model_sha256 = file_sha256(&state_model)?;
        publish(&state_model, &run_dir.join("model.safetensors"))?;
    }
    // Every shard is on disk before rank 0 declares the epoch done.
    let g = st.strategy.group();
    g.wait(g.barrier()?)?;
    if main {
        let progress = Progress {
            epoch,
            rng_state: ferrite_core::Runtime::global().rng_state(),
            world_size: st.strategy.world_size(),
            strategy: cfg.parallel.strategy_name(),
            run_id,
            model_sha256,
            loss_scale: st.loss_scale.map(|l| (l.scale, l.growth_tracker)),
        };
        progress.save(run_dir)?;
        prune_states(run_dir, epoch)?;
    }
    Ok(())
}

/// Replaces `to` atomically with a copy of `from` (a copy, not a hard link: a program that
/// rewrites the run's `model.safetensors` in place must not change the saved state).
fn publish(from: &Path, to: &Path) -> Result<()> {
    atomic::replace_with(to, |tmp: &Path| -> Result<()> {
        std::fs::copy(from, tmp).with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
        Ok(())
    })
    .with_context(|| format!("writing {}", to.display()))
}
