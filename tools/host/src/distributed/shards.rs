//! Sharded training-state checkpoints: after epoch E every rank writes
//! `shards/epoch-E/rank-R-of-N.safetensors` with its strategy state (optimizer moments, step
//! counts, ZeRO shards) and the strategy's JSON layout in the metadata, atomically (the sdk
//! writes to a temp file and renames), and rank 0 writes the model beside them. Each epoch's
//! state is a folder of its own, and the previous one is deleted only after `progress.json`
//! points at the new one, so a crash while saving leaves the previous epoch resumable.

use super::strategy::HostedStrategy;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Metadata key of the format marker.
pub const FORMAT_KEY: &str = "ferrite.format";
/// The shard format this version writes.
pub const FORMAT: &str = "ferrite-shard-v1";
/// Metadata key of the strategy's layout JSON.
pub const LAYOUT_KEY: &str = "ferrite.strategy";

/// Folder of the resumable state written after `epoch`: `RUN_DIR/shards/epoch-E`.
pub fn state_dir(run_dir: &Path, epoch: u32) -> PathBuf {
    run_dir.join("shards").join(format!("epoch-{epoch}"))
}

fn shard_file(rank: usize, world_size: usize) -> String {
    format!("rank-{rank}-of-{world_size}.safetensors")
}

/// Path of rank `rank`'s shard written after `epoch`. Runs saved before state folders existed
/// keep their shards directly in `shards/`; that path is returned for them.
pub fn shard_path(run_dir: &Path, epoch: u32, rank: usize, world_size: usize) -> PathBuf {
    let dir = state_dir(run_dir, epoch);
    let legacy = run_dir.join("shards").join(shard_file(rank, world_size));
    if !dir.is_dir() && legacy.is_file() {
        legacy
    } else {
        dir.join(shard_file(rank, world_size))
    }
}

/// The model saved with the state of `epoch` (`shards/epoch-E/model.safetensors`; the run's
/// `model.safetensors` for runs saved before state folders existed).
pub fn state_model_path(run_dir: &Path, epoch: u32) -> PathBuf {
    let dir = state_dir(run_dir, epoch);
    if dir.is_dir() {
        dir.join("model.safetensors")
    } else {
        run_dir.join("model.safetensors")
    }
}

/// Deletes every saved state but `keep`'s (older epoch folders, shards of the flat legacy
/// layout). Called once `progress.json` points at `keep`.
///
/// # Errors
/// A folder that cannot be read or removed.
pub fn prune_states(run_dir: &Path, keep: u32) -> Result<()> {
    let shards = run_dir.join("shards");
    let keep_dir = state_dir(run_dir, keep);
    for e in std::fs::read_dir(&shards).with_context(|| format!("reading {}", shards.display()))?.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() && name.starts_with("epoch-") && p != keep_dir {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
        } else if p.is_file() && name.starts_with("rank-") {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}

/// Metadata key of the run id (hex).
pub const RUN_ID_KEY: &str = "ferrite.run_id";
/// Metadata key of the epoch after which the shard was written.
pub const EPOCH_KEY: &str = "ferrite.epoch";
/// Metadata key of the writing rank.
pub const RANK_KEY: &str = "ferrite.rank";
/// Metadata key of the world size.
pub const WORLD_KEY: &str = "ferrite.world_size";

/// A shard's strategy metadata (the JSON of `StrategyObj::metadata`) without its rank, which
/// differs between the shards of one run by design.
///
/// # Errors
/// No or unparsable strategy metadata.
pub fn strategy_json(path: &Path, md: &HashMap<String, String>) -> Result<serde_json::Value> {
    let text = md.get(LAYOUT_KEY).with_context(|| format!("{} has no strategy metadata", path.display()))?;
    strategy_value(text).with_context(|| format!("strategy metadata of {}", path.display()))
}

/// [`strategy_json`] of a metadata string.
///
/// # Errors
/// Unparsable JSON.
pub fn strategy_value(text: &str) -> Result<serde_json::Value> {
    let mut v: serde_json::Value = serde_json::from_str(text)?;
    if let Some(o) = v.as_object_mut() {
        o.remove("rank");
    }
    Ok(v)
}

/// SHA-256 of a file, lower-case hex.
///
/// # Errors
/// The file cannot be read.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Path of the checksum file beside a shard.
pub fn checksum_path(shard: &Path) -> PathBuf {
    let mut s = shard.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// Writes this rank's shard into [`state_dir`] (with run id, epoch, rank and world size in its
/// metadata) and, beside it, its SHA-256, so a damaged or foreign shard is refused instead of resumed from.
///
/// # Errors
/// The strategy is not set up; a file cannot be written.
pub fn save_shard(run_dir: &Path, strategy: &HostedStrategy, run_id: u64, epoch: u32) -> Result<PathBuf> {
    let path = state_dir(run_dir, epoch).join(shard_file(strategy.rank(), strategy.world_size()));
    let mut md = HashMap::new();
    md.insert(FORMAT_KEY.to_string(), FORMAT.to_string());
    md.insert(LAYOUT_KEY.to_string(), strategy.metadata());
    md.insert(RUN_ID_KEY.to_string(), format!("{run_id:016x}"));
    md.insert(EPOCH_KEY.to_string(), epoch.to_string());
    md.insert(RANK_KEY.to_string(), strategy.rank().to_string());
    md.insert(WORLD_KEY.to_string(), strategy.world_size().to_string());
    ferrite_sdk::checkpoint::save_safetensors(&path, &strategy.state_dict()?, Some(md))
        .with_context(|| format!("writing shard {}", path.display()))?;
    let sum = checksum_path(&path);
    crate::atomic::write_atomic(&sum, file_sha256(&path)?.as_bytes()).with_context(|| format!("writing {}", sum.display()))?;
    Ok(path)
}

/// Checks that `path` is rank `rank`'s shard of `world` ranks, written by run `run_id` after
/// `epoch`, and that its bytes match its checksum.
///
/// # Errors
/// One line naming the file and what does not match.
pub fn verify_shard(path: &Path, rank: usize, world: usize, run_id: u64, epoch: u32) -> Result<()> {
    let sum = checksum_path(path);
    let want = std::fs::read_to_string(&sum).with_context(|| format!("reading {} (the shard's checksum)", sum.display()))?;
    anyhow::ensure!(
        file_sha256(path)? == want.trim(),
        "{} does not match its checksum {}: the file is damaged",
        path.display(),
        sum.display()
    );
    let md = ferrite_sdk::checkpoint::load_safetensors_metadata(path)?;
    let get = |k: &str| md.get(k).cloned().unwrap_or_default();
    anyhow::ensure!(get(FORMAT_KEY) == FORMAT, "{} is not a Ferrite shard ({FORMAT})", path.display());
    anyhow::ensure!(
        get(RANK_KEY) == rank.to_string() && get(WORLD_KEY) == world.to_string(),
        "{} was written by rank {} of {}, not rank {rank} of {world}",
        path.display(),
        get(RANK_KEY),
        get(WORLD_KEY)
    );
    anyhow::ensure!(get(RUN_ID_KEY) == format!("{run_id:016x}"), "{} belongs to another run (run id {})", path.display(), get(RUN_ID_KEY));
    anyhow::ensure!(
        get(EPOCH_KEY) == epoch.to_string(),
        "{} was written after epoch {}, but the run's progress.json is at epoch {epoch}",
        path.display(),
        get(EPOCH_KEY)
    );
    Ok(())
}
