//! `progress.json` in a run folder: how far a parallel run got, so `--resume` continues it
//! exactly (the epoch, the core generator's state, the world it ran on).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name inside the run folder.
pub const FILE: &str = "progress.json";

/// The state saved after every epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Last finished epoch (1-based).
    pub epoch: u32,
    /// State of the core's random generator after that epoch.
    pub rng_state: u64,
    /// Ranks of the run (a resumed run must use as many: the shards are per rank).
    pub world_size: usize,
    /// Exported name of the strategy.
    pub strategy: String,
    /// The run's identity, also recorded in each of its shards.
    pub run_id: u64,
    /// SHA-256 (hex) of `model.safetensors` as written after this epoch.
    pub model_sha256: String,
    /// f16 dynamic loss scale and its growth tracker (absent for other precisions).
    #[serde(default)]
    pub loss_scale: Option<(f64, u64)>,
}

impl Progress {
    /// Writes `run_dir/progress.json` atomically.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join(FILE);
        crate::atomic::write_atomic(&path, serde_json::to_string_pretty(self)?.as_bytes()).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads `run_dir/progress.json`.
    ///
    /// # Errors
    /// Missing or malformed file (one line naming it).
    pub fn load(run_dir: &Path) -> Result<Progress> {
        let path = run_dir.join(FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {} (is this a parallel run folder?)", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is malformed", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = std::env::temp_dir().join(format!("ferrite-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = Progress { epoch: 3, rng_state: 42, world_size: 2, strategy: "parallel.zero".into(), run_id: 7, model_sha256: "ab".into(), loss_scale: Some((1024.0, 3)) };
        p.save(&dir).unwrap();
        assert_eq!(Progress::load(&dir).unwrap(), p);
        std::fs::write(dir.join(FILE), "{").unwrap();
        assert!(format!("{:#}", Progress::load(&dir).unwrap_err()).contains("malformed"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(format!("{:#}", Progress::load(&dir).unwrap_err()).contains("progress.json"));
    }
}
