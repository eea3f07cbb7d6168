//! Sharded training-state checkpoints: every rank writes `shards/rank-R-of-N.safetensors`
//! with its strategy state (optimizer moments, step counts, ZeRO shards) and the strategy's
//! JSON layout in the metadata, atomically (the sdk writes to a temp file and renames).

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

/// Path of rank `rank`'s shard in `run_dir`.
pub fn shard_path(run_dir: &Path, rank: usize, world_size: usize) -> PathBuf {
    run_dir.join("shards").join(format!("rank-{rank}-of-{world_size}.safetensors"))
}

/// Writes this rank's shard.
///
/// # Errors
/// The strategy is not set up; the file cannot be written.
pub fn save_shard(run_dir: &Path, strategy: &HostedStrategy) -> Result<PathBuf> {
    let path = shard_path(run_dir, strategy.rank(), strategy.world_size());
    let mut md = HashMap::new();
    md.insert(FORMAT_KEY.to_string(), FORMAT.to_string());
    md.insert(LAYOUT_KEY.to_string(), strategy.metadata());
    ferrite_sdk::checkpoint::save_safetensors(&path, &strategy.state_dict()?, Some(md))
        .with_context(|| format!("writing shard {}", path.display()))?;
    Ok(path)
}
