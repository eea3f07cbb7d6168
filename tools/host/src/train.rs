//! `ferrite train`: multi-size training (SPP-net §2.3 "multi-size training": one set of weights,
//! batches of each input size interleaved within every epoch), per-epoch evaluation at every
//! size, and a run folder with the checkpoint, metrics CSV, plot and resolved config.

use crate::config::{OptimizerKind, TrainConfig};
use crate::evaluate::{batch_stats, evaluate};
use crate::hosted::{HostedDataset, HostedModel};
use crate::metrics::{EpochRecord, MetricsLog};
use crate::{atomic, plot};
use anyhow::{Context, Result};
use ferrite_core::Runtime;
use ferrite_sdk::abi::plugin::split;
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::optim::{AdamW, AdamWConfig, Optimizer, Sgd, SgdConfig};
use ferrite_sdk::rng::Rng;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Checkpoint metadata keys.
pub mod meta {
    /// Format marker key.
    pub const FORMAT: &str = "ferrite.format";
    /// The format this version writes and reads.
    pub const FORMAT_V1: &str = "ferrite-checkpoint-v1";
    /// Model exported name.
    pub const MODEL: &str = "ferrite.model";
    /// Model config (TOML).
    pub const MODEL_CONFIG: &str = "ferrite.model_config";
    /// Dataset exported name.
    pub const DATASET: &str = "ferrite.dataset";
    /// Dataset config without the size (TOML).
    pub const DATASET_CONFIG: &str = "ferrite.dataset_config";
    /// Comma-separated input sizes.
    pub const SIZES: &str = "ferrite.sizes";
    /// Prefix of the per-size test accuracy recorded at save time.
    pub const TEST_ACCURACY: &str = "ferrite.test_accuracy.";
}

/// What a finished run produced.
#[derive(Debug)]
pub struct TrainSummary {
    /// Run folder.
    pub run_dir: PathBuf,
    /// Checkpoint file.
    pub checkpoint: PathBuf,
    /// Final test accuracy (fraction) per input size.
    pub test_accuracy: Vec<(u32, f64)>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// Whether this process reports the run (false on MPI ranks other than 0).
    pub primary: bool,
}

fn make_optimizer(cfg: &TrainConfig, params: Vec<ferrite_sdk::Tensor>) -> Result<Box<dyn Optimizer>> {
    Ok(match cfg.optimizer {
        OptimizerKind::Sgd => Box::new(Sgd::new(
            params,
            SgdConfig { lr: cfg.lr(), momentum: cfg.momentum, weight_decay: cfg.weight_decay(), ..Default::default() },
        )?),
        OptimizerKind::Adamw => {
            Box::new(AdamW::new(params, AdamWConfig { lr: cfg.lr(), weight_decay: cfg.weight_decay(), ..Default::default() })?)
        }
    })
}

/// Interleaved training batches of one epoch: `(dataset index, sample indices)`.
fn epoch_plan(data: &[HostedDataset], batch_size: usize, rng: &mut Rng) -> Vec<(usize, Vec<u64>)> {
    let per_size = data
        .iter()
        .map(|d| {
            let mut idx: Vec<u64> = (0..d.len(split::TRAIN) as u64).collect();
            rng.shuffle(&mut idx);
            idx.chunks(batch_size).map(|c| c.to_vec()).collect()
        })
        .collect();
    crate::distributed::plan::interleave(per_size)
}

/// Runs the whole training described by `cfg` (plugins must be loaded).
pub fn train(cfg: &TrainConfig) -> Result<TrainSummary> {
    if cfg.parallel.enabled() {
        return crate::distributed::train_parallel(cfg);
    }
    let start = Instant::now();
    let rt = Runtime::global();
    let host = ferrite_core::host();
    host.manual_seed(cfg.seed);
    let run_dir = cfg.run_dir.clone().context("run_dir was not resolved")?;
    // Never mix a new run into an old one (a failed start would leave a config.toml that no
    // longer matches the checkpoint beside it).
    if std::fs::read_dir(&run_dir).map(|mut d| d.next().is_some()).unwrap_or(false) {
        anyhow::bail!("run folder {} already exists and is not empty; choose another --run-dir", run_dir.display());
    }
    let mut model = HostedModel::new(&cfg.model, rt.create_model(&cfg.model, &cfg.model_config_toml())?, host);
    let data: Vec<HostedDataset> = cfg
        .sizes
        .iter()
        .map(|&s| Ok(HostedDataset::new(s, rt.create_dataset(&cfg.dataset, &cfg.dataset_config_toml(s))?, host)))
        .collect::<Result<_>>()?;
    // One forward pass per size before anything is written: a size the model cannot take fails
    // here, not after epochs of training.
    host.no_grad(|| -> Result<()> {
        for d in &data {
            let (x, _) = d.batch(split::TRAIN, &[0])?;
            model.forward(&x).with_context(|| format!("input size {}x{}", d.size, d.size))?;
        }
        Ok(())
    })?;
    // Only now that model and data work: a bad name or config leaves no stray run folder.
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating run folder {}", run_dir.display()))?;
    let cfg_path = run_dir.join("config.toml");
    atomic::write_atomic(&cfg_path, cfg.to_toml()?.as_bytes()).with_context(|| format!("writing {}", cfg_path.display()))?;
    println!("model   {} ({} parameters)", cfg.model, model.named_parameters().iter().map(|(_, t)| t.numel()).sum::<usize>());
    for d in &data {
        println!("data    {}x{}: {}", d.size, d.size, d.describe());
    }
    if let Some(line) = cfg.settings_line() {
        println!("setup   {line}");
    }
    let params: Vec<_> = model.named_parameters().into_iter().map(|(_, t)| t).collect();
    let mut opt = make_optimizer(cfg, params)?;
    let mut amp = crate::precision::MixedPrecision::new(cfg.precision)?;
    let base_lr = cfg.lr();
    let mut rng = Rng::new(cfg.seed ^ 0xD1B5_4A32_D192_ED03);
    let mut log = MetricsLog::new();
    let batch_size = cfg.batch_size as usize;
    let epochs = cfg.epochs;
    // `--watch-plugins`: new builds of the loaded plugins are checked and swapped in only at
    // step boundaries, so every optimizer step runs entirely on one build.
    let mut watcher = cfg.watch_plugins.then(|| crate::watch::PluginWatcher::of_loaded("ops-ref"));
    let plugins_log = run_dir.join("plugins.log");
    if let Some(w) = &watcher {
        println!("watching {} plugin file(s) for new builds (decisions in {})", w.paths().len(), plugins_log.display());
    }

    for epoch in 1..=epochs {
        let t0 = Instant::now();
        // Cosine learning-rate decay (Loshchilov & Hutter 2017, SGDR without restarts).
        let progress = (epoch - 1) as f64 / epochs as f64;
        opt.set_lr(base_lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        model.set_training(true);
        let plan = epoch_plan(&data, batch_size, &mut rng);
        let bar = ProgressBar::new(plan.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches, loss {msg} ({elapsed})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{epochs}"));
        let mut sums = vec![(0.0f64, 0usize, 0usize); data.len()];
        for (di, idx) in &plan {
            if let Some(w) = watcher.as_mut() {
                for event in w.poll() {
                    bar.suspend(|| crate::watch::record(&event, &plugins_log))
                        .with_context(|| format!("writing {}", plugins_log.display()))?;
                }
            }
            let (x, y) = data[*di].batch(split::TRAIN, idx)?;
            let (logits, loss) = amp.forward(&host, || {
                let logits = model.forward(&x)?;
                let loss = F::cross_entropy(&logits, &y, None, -100, 0.0, Reduction::Mean)?;
                Ok((logits, loss))
            })?;
            opt.zero_grad();
            amp.backward(&loss)?;
            amp.step(opt.as_mut())?;
            let (l, c) = host.no_grad(|| batch_stats(&logits.detach(), &y))?;
            let s = &mut sums[*di];
            s.0 += l;
            s.1 += c;
            s.2 += idx.len();
            let lv = loss.item()?;
            anyhow::ensure!(
                lv.is_finite(),
                "training diverged at epoch {epoch} (loss is {lv}); lower the learning rate (--lr, now {base_lr})"
            );
            bar.set_message(format!("{lv:.4}"));
            bar.inc(1);
        }
        bar.finish_and_clear();
        if amp.skipped() > 0 {
            println!("f16 loss scaling: {} step(s) skipped on overflow so far, scale now {}", amp.skipped(), amp.scale());
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        for (d, s) in data.iter().zip(&sums) {
            let (test_loss, test_acc) = evaluate(&mut model, d, split::TEST, 256)?;
            let rec = EpochRecord {
                epoch,
                size: d.size,
                train_loss: s.0 / s.2.max(1) as f64,
                train_accuracy: s.1 as f64 / s.2.max(1) as f64,
                test_loss,
                test_accuracy: test_acc,
                seconds: train_seconds,
            };
            println!(
                "epoch {epoch:>3}/{epochs} size {:>2}x{:<2} train loss {:.4} acc {:>6.2}%  test loss {:.4} acc {:>6.2}%  (epoch {:.1}s)",
                d.size,
                d.size,
                rec.train_loss,
                100.0 * rec.train_accuracy,
                rec.test_loss,
                100.0 * rec.test_accuracy,
                train_seconds
            );
            log.push(rec);
        }
        log.write_csv(&run_dir.join("metrics.csv"))?;
    }

    let test_accuracy: Vec<(u32, f64)> =
        data.iter().map(|d| (d.size, log.for_size(d.size).last().map_or(0.0, |r| r.test_accuracy))).collect();
    let checkpoint = run_dir.join("model.safetensors");
    save_checkpoint(&checkpoint, &model, cfg, &test_accuracy)?;
    plot::plot_metrics(&log, &run_dir.join("metrics.png"), &format!("{} on {}", cfg.model, cfg.dataset))?;
    Ok(TrainSummary { run_dir, checkpoint, test_accuracy, seconds: start.elapsed().as_secs_f64(), primary: true })
}

pub(crate) fn save_checkpoint(path: &Path, model: &HostedModel, cfg: &TrainConfig, acc: &[(u32, f64)]) -> Result<()> {
    let mut md = HashMap::new();
    md.insert(meta::FORMAT.to_string(), meta::FORMAT_V1.to_string());
    md.insert(meta::MODEL.to_string(), cfg.model.clone());
    md.insert(meta::MODEL_CONFIG.to_string(), model.config());
    md.insert(meta::DATASET.to_string(), cfg.dataset.clone());
    md.insert(meta::DATASET_CONFIG.to_string(), toml::to_string(&cfg.dataset_config)?);
    md.insert(meta::SIZES.to_string(), cfg.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","));
    for (s, a) in acc {
        md.insert(format!("{}{s}", meta::TEST_ACCURACY), format!("{a:.6}"));
    }
    ferrite_sdk::checkpoint::save_safetensors(path, &model.state_dict(), Some(md))
        .with_context(|| format!("writing checkpoint {}", path.display()))
}
