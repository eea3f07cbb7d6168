//! The `[parallel]` table of a training config: strategy, comm backend, world size.

use serde::{Deserialize, Serialize};

/// How training is spread over ranks.
///
/// ```toml
/// [parallel]
/// strategy = "ddp"          # "none", "ddp" or "zero"
/// zero_stage = 1            # 1, 2 or 3 (strategy = "zero")
/// comm = "local"            # "local" (ranks as threads) or "mpi" (ranks as mpirun processes)
/// world_size = 2            # comm = "local" only; MPI takes it from mpirun -np
/// bucket_cap_mb = 25.0
/// find_unused_parameters = false
/// grad_accumulation = 1     # micro-batches per optimizer step (no_sync on all but the last)
/// timeout_ms = 60000        # a collective not done by then is an error on every rank
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParallelConfig {
    /// `"none"` (one process, no communication), `"ddp"` (`parallel.ddp`) or `"zero"`
    /// (`parallel.zero`).
    pub strategy: String,
    /// ZeRO stage 1 (optimizer state sharded), 2 (+ gradients), 3 (+ parameters).
    pub zero_stage: u32,
    /// Comm backend: `"local"` (`comm.local`, threads) or `"mpi"` (`comm.mpi`).
    pub comm: String,
    /// Ranks for `comm = "local"` (>= 1).
    pub world_size: u32,
    /// Gradient bucket size in MiB.
    pub bucket_cap_mb: f64,
    /// Allow parameters without gradient (DDP's `find_unused_parameters`).
    pub find_unused_parameters: bool,
    /// Micro-batches per optimizer step (>= 1); gradients of the first `k - 1` accumulate
    /// locally (`no_sync`), the last one synchronises the sum. The loss is divided by `k`, so
    /// `k` micro-batches of `b` equal one batch of `k·b`.
    pub grad_accumulation: u32,
    /// Timeout of every collective, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for ParallelConfig {
    fn default() -> Self {
        ParallelConfig {
            strategy: "none".into(),
            zero_stage: 1,
            comm: "local".into(),
            world_size: 1,
            bucket_cap_mb: 25.0,
            find_unused_parameters: false,
            grad_accumulation: 1,
            timeout_ms: 60_000,
        }
    }
}

impl ParallelConfig {
    /// True when a strategy plugin drives training.
    pub fn enabled(&self) -> bool {
        self.strategy != "none"
    }

    /// Checks every value; the message names the key.
    ///
    /// # Errors
    /// A one-line reason.
    pub fn validate(&self) -> Result<(), String> {
        if !["none", "ddp", "zero"].contains(&self.strategy.as_str()) {
            return Err(format!("parallel.strategy must be \"none\", \"ddp\" or \"zero\", got {:?}", self.strategy));
        }
        if !["local", "mpi"].contains(&self.comm.as_str()) {
            return Err(format!("parallel.comm must be \"local\" or \"mpi\", got {:?}", self.comm));
        }
        if !(1..=3).contains(&self.zero_stage) {
            return Err(format!("parallel.zero_stage must be 1, 2 or 3, got {}", self.zero_stage));
        }
        if !(1..=256).contains(&self.world_size) {
            return Err(format!("parallel.world_size must be in 1..=256, got {}", self.world_size));
        }
        if !(self.bucket_cap_mb > 0.0 && self.bucket_cap_mb.is_finite()) {
            return Err(format!("parallel.bucket_cap_mb must be > 0, got {}", self.bucket_cap_mb));
        }
        if self.grad_accumulation == 0 {
            return Err("parallel.grad_accumulation must be >= 1".into());
        }
        if self.timeout_ms == 0 {
            return Err("parallel.timeout_ms must be >= 1".into());
        }
        Ok(())
    }

    /// Exported name of the strategy plugin (`parallel.ddp`).
    pub fn strategy_name(&self) -> String {
        format!("parallel.{}", self.strategy)
    }

    /// Exported name of the comm backend (`comm.local`).
    pub fn comm_name(&self) -> String {
        format!("comm.{}", self.comm)
    }

    /// The backend's TOML config.
    pub fn comm_toml(&self) -> String {
        match self.comm.as_str() {
            "local" => format!("world_size = {}\ntimeout_ms = {}\n", self.world_size, self.timeout_ms),
            _ => format!("timeout_ms = {}\n", self.timeout_ms),
        }
    }

    /// The strategy's TOML config, with the optimizer table given as TOML.
    pub fn strategy_toml(&self, optimizer: &toml::Table) -> String {
        let mut t = toml::Table::new();
        t.insert("bucket_cap_mb".into(), self.bucket_cap_mb.into());
        if self.strategy == "zero" {
            t.insert("stage".into(), i64::from(self.zero_stage).into());
        } else {
            t.insert("find_unused_parameters".into(), self.find_unused_parameters.into());
        }
        t.insert("optimizer".into(), toml::Value::Table(optimizer.clone()));
        toml::to_string(&t).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_names() {
        let c = ParallelConfig::default();
        assert!(!c.enabled());
        c.validate().unwrap();
        let c = ParallelConfig { strategy: "zero".into(), zero_stage: 3, ..Default::default() };
        assert_eq!((c.strategy_name(), c.comm_name()), ("parallel.zero".to_string(), "comm.local".to_string()));
        let mut opt = toml::Table::new();
        opt.insert("kind".into(), "sgd".into());
        opt.insert("lr".into(), 0.1.into());
        let t = c.strategy_toml(&opt);
        assert!(t.contains("stage = 3") && t.contains("[optimizer]") && t.contains("kind = \"sgd\""), "{t}");
        for bad in [
            ParallelConfig { strategy: "fsdp".into(), ..Default::default() },
            ParallelConfig { comm: "nccl".into(), ..Default::default() },
            ParallelConfig { zero_stage: 4, ..Default::default() },
            ParallelConfig { world_size: 0, ..Default::default() },
            ParallelConfig { grad_accumulation: 0, ..Default::default() },
        ] {
            assert!(bad.validate().unwrap_err().starts_with("parallel."));
        }
    }
}
