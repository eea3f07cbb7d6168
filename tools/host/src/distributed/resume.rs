//! Loading a parallel run's state to continue it (`ferrite train --resume DIR`).

use super::progress::Progress;
use super::rank::RankState;
use super::shards::{file_sha256, shard_path, state_model_path, strategy_json, strategy_value, verify_shard};
use crate::config::TrainConfig;
use anyhow::{Context, Result};
use ferrite_sdk::checkpoint::{load_safetensors, load_safetensors_metadata};
use std::path::Path;

/// Reads `progress.json`, checks it against this run, loads `model.safetensors` into the
/// model and restores the core's generator. Call before the strategy's setup.
///
/// # Errors
/// Missing files, another world size or strategy, parameters that do not fit the model.
pub fn load_model(st: &mut RankState, cfg: &TrainConfig, run_dir: &Path) -> Result<Progress> {
    let progress = Progress::load(run_dir)?;
    let world = st.strategy.world_size();
    anyhow::ensure!(
        progress.world_size == world,
        "{} was written by {} ranks, this run has {world}: sharded state cannot be resumed on another world size",
        run_dir.display(),
        progress.world_size
    );
    anyhow::ensure!(
        progress.strategy == cfg.parallel.strategy_name(),
        "{} was trained with {}, not {}",
        run_dir.display(),
        progress.strategy,
        cfg.parallel.strategy_name()
    );
    if let Some(stop) = cfg.parallel.stop_after_epoch {
        anyhow::ensure!(stop > progress.epoch, "--stop-after-epoch {stop}: {} already finished epoch {}", run_dir.display(), progress.epoch);
    }
    anyhow::ensure!(progress.epoch < cfg.epochs, "{} already finished epoch {} of {}; raise --epochs", run_dir.display(), progress.epoch, cfg.epochs);
    let host = ferrite_core::host();
    let path = state_model_path(run_dir, progress.epoch);
    anyhow::ensure!(
        file_sha256(&path)? == progress.model_sha256,
        "{} is not the model progress.json recorded after epoch {} (its SHA-256 differs): the file is damaged or replaced",
        path.display(),
        progress.epoch
    );
    let saved = load_safetensors(&host, &path).with_context(|| format!("reading {}", path.display()))?;
    host.no_grad(|| -> Result<()> {
        for (name, p) in st.model.named_parameters().into_iter().chain(st.model.named_buffers()) {
            let (_, t) = saved.iter().find(|(n, _)| *n == name).with_context(|| format!("{} has no `{name}`", path.display()))?;
            anyhow::ensure!(t.shape() == p.shape(), "`{name}` in {} has shape {:?}, the model's is {:?}", path.display(), t.shape(), p.shape());
            p.copy_(t)?;
        }
        Ok(())
    })?;
    host.manual_seed(progress.rng_state);
    if let (Some(ls), Some((scale, growth_tracker))) = (st.loss_scale.as_mut(), progress.loss_scale) {
        *ls = crate::precision::LossScale { scale, growth_tracker };
    }
    Ok(progress)
}

/// Loads this rank's shard into the strategy (a collective for ZeRO: every rank calls it).
///
/// # Errors
/// A missing or foreign shard file, state that does not fit the strategy.
pub fn load_shard(st: &mut RankState, run_dir: &Path, progress: &Progress) -> Result<()> {
    let path = shard_path(run_dir, progress.epoch, st.strategy.rank(), st.strategy.world_size());
    verify_shard(&path, st.strategy.rank(), st.strategy.world_size(), progress.run_id, progress.epoch)?;
    // The same strategy, settings and layout as this run's: a shard of another layout (e.g.
    // ZeRO's flat layout of older versions) could have the same size and load scrambled.
    let saved = strategy_json(&path, &load_safetensors_metadata(&path)?)?;
    let now = strategy_value(&st.strategy.metadata()).context("this strategy's metadata")?;
    anyhow::ensure!(
        saved == now,
        "{} was written with another strategy layout or settings than this run's ({} now); it cannot be resumed{}",
        path.display(),
        now.get("strategy").and_then(|s| s.as_str()).unwrap_or("?"),
        if saved.get("layout").and_then(|l| l.get("groups")).is_none() && now.get("layout").and_then(|l| l.get("groups")).is_some() {
            " (ZeRO shards of the flat layout of versions before 2026-11-30)"
        } else {
            ""
        }
    );
    let state = load_safetensors(&ferrite_core::host(), &path)?;
    st.strategy.load_state_dict(state).with_context(|| format!("restoring {}", path.display()))
}
