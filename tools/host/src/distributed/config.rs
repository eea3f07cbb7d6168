//! The `[parallel]` table of a training config: strategy, comm backend, world size.

use serde::{Deserialize, Serialize};

/// How training is spread over ranks.
///
/// ```toml
/// [parallel]
/// strategy = "ddp"          # "none", "ddp", "zero", or any loaded `parallel.<name>` as "<name>"
/// zero_stage = 1            # 1, 2 or 3 (strategy = "zero")
/// zero_live_modules = 2     # ZeRO-3: modules kept gathered at once
/// comm = "local"            # "local" (threads), "mpi" (mpirun processes), or any loaded `comm.<name>`
/// world_size = 2            # comm = "local" only; MPI takes it from mpirun -np
/// bucket_cap_mb = 25.0
/// find_unused_parameters = false
/// grad_accumulation = 1     # micro-batches per optimizer step (no_sync on all but the last)
/// timeout_ms = 60000        # a collective not done by then is an error on every rank
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParallelConfig {
    /// `"none"` (one process, no communication), `"ddp"` (`parallel.ddp`), `"zero"`
    /// (`parallel.zero`), or the `<name>` of any strategy a loaded plugin exports as
    /// `parallel.<name>` (third-party strategies; the `parallel.` prefix may be written too).
    pub strategy: String,
    /// ZeRO stage 1 (optimizer state sharded), 2 (+ gradients), 3 (+ parameters).
    pub zero_stage: u32,
    /// ZeRO-3: modules whose parameters may be gathered at once during forward and backward
    /// (>= 1; parallel.zero's `live_modules`, [`DEFAULT_ZERO_LIVE_MODULES`] when unset). Only
    /// for `strategy = "zero"` with `zero_stage = 3`.
    pub zero_live_modules: Option<u32>,
    /// Comm backend: `"local"` (`comm.local`, threads), `"mpi"` (`comm.mpi`), or the `<name>`
    /// of any backend a loaded plugin exports as `comm.<name>` (the prefix may be written too).
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
    /// Continue the run in this folder from its last finished epoch (`--resume`; not saved).
    #[serde(skip)]
    pub resume: Option<std::path::PathBuf>,
    /// Stop after this epoch, leaving a resumable run (`--stop-after-epoch`; not saved).
    #[serde(skip)]
    pub stop_after_epoch: Option<u32>,
}

impl Default for ParallelConfig {
    fn default() -> Self {
        ParallelConfig {
            strategy: "none".into(),
            zero_stage: 1,
            zero_live_modules: None,
            comm: "local".into(),
            world_size: 1,
            bucket_cap_mb: 25.0,
            find_unused_parameters: false,
            grad_accumulation: 1,
            timeout_ms: 60_000,
            resume: None,
            stop_after_epoch: None,
        }
    }
}

impl ParallelConfig {
    /// Accepts `strategy = "zero1"|"zero2"|"zero3"` (the `--parallel` spelling) as
    /// `strategy = "zero"` with that stage.
    pub fn normalize(&mut self) {
        if let Some(stage) = self.strategy.strip_prefix("zero").and_then(|d| d.parse::<u32>().ok()) {
            if (1..=3).contains(&stage) {
                self.strategy = "zero".into();
                self.zero_stage = stage;
            }
        }
    }

    /// True when a strategy plugin drives training.
    pub fn enabled(&self) -> bool {
        self.strategy != "none"
    }

    /// Checks every value; the message names the key.
    ///
    /// # Errors
    /// A one-line reason.
    pub fn validate(&self) -> Result<(), String> {
        if self.stop_after_epoch == Some(0) {
            return Err("--stop-after-epoch must be >= 1".into());
        }
        if self.timeout_ms > 86_400_000 {
            return Err(format!("parallel.timeout_ms must be at most 86400000 (one day), got {}", self.timeout_ms));
        }
        if !self.enabled() {
            if self.world_size != 1 {
                return Err(format!("parallel.world_size = {} needs a strategy (--parallel ddp|zero1|zero2|zero3)", self.world_size));
            }
            if self.grad_accumulation != 1 {
                return Err("parallel.grad_accumulation needs a strategy (for one process: --parallel ddp --world-size 1)".into());
            }
            if self.stop_after_epoch.is_some() {
                return Err("--stop-after-epoch needs a strategy (for one process: --parallel ddp --world-size 1)".into());
            }
        }
        if self.strategy != "none" && !is_export_suffix(strip(&self.strategy, "parallel.")) {
            return Err(format!(
                "parallel.strategy must be \"none\", \"ddp\", \"zero\" or the name of a loaded parallel.* strategy (lowercase letters, digits, `_`, `-`), got {:?}",
                self.strategy
            ));
        }
        if !is_export_suffix(strip(&self.comm, "comm.")) {
            return Err(format!(
                "parallel.comm must be \"local\", \"mpi\" or the name of a loaded comm.* backend (lowercase letters, digits, `_`, `-`), got {:?}",
                self.comm
            ));
        }
        if !(1..=3).contains(&self.zero_stage) {
            return Err(format!("parallel.zero_stage must be 1, 2 or 3, got {}", self.zero_stage));
        }
        if let Some(n) = self.zero_live_modules {
            if n == 0 {
                return Err("parallel.zero_live_modules must be >= 1".into());
            }
            if !(self.strategy_name() == "parallel.zero" && self.zero_stage == 3) {
                return Err("parallel.zero_live_modules (--zero-live-modules) applies to ZeRO stage 3 only (--parallel zero3)".into());
            }
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

    /// Exported name of the strategy plugin (`parallel.ddp`; `"my_dp"` → `parallel.my_dp`).
    pub fn strategy_name(&self) -> String {
        format!("parallel.{}", strip(&self.strategy, "parallel."))
    }

    /// Exported name of the comm backend (`comm.local`; `"my_comm"` → `comm.my_comm`).
    pub fn comm_name(&self) -> String {
        format!("comm.{}", strip(&self.comm, "comm."))
    }

    /// True for `comm.mpi`, whose ranks are `mpirun` processes (world size from `mpirun -np`).
    pub fn is_mpi(&self) -> bool {
        self.comm_name() == "comm.mpi"
    }

    /// The backend's TOML config: `timeout_ms` for `comm.mpi`; `world_size` and `timeout_ms`
    /// for every other backend (`comm.local` and third-party backends, whose ranks all live
    /// in this process).
    pub fn comm_toml(&self) -> String {
        if self.is_mpi() {
            format!("timeout_ms = {}\n", self.timeout_ms)
        } else {
            format!("world_size = {}\ntimeout_ms = {}\n", self.world_size, self.timeout_ms)
        }
    }

    /// The strategy's TOML config, with the optimizer table given as TOML.
    pub fn strategy_toml(&self, optimizer: &toml::Table) -> String {
        let mut t = toml::Table::new();
        if self.strategy_name() == "parallel.zero" {
            // ZeRO reduces module by module: it has no buckets to size.
            t.insert("stage".into(), i64::from(self.zero_stage).into());
            if let Some(n) = self.zero_live_modules {
                t.insert("live_modules".into(), i64::from(n).into());
            }
        } else {
            t.insert("bucket_cap_mb".into(), self.bucket_cap_mb.into());
            t.insert("find_unused_parameters".into(), self.find_unused_parameters.into());
        }
        t.insert("optimizer".into(), toml::Value::Table(optimizer.clone()));
        toml::to_string(&t).unwrap_or_default()
    }
}

/// parallel.zero's `live_modules` when the config does not set it.
pub const DEFAULT_ZERO_LIVE_MODULES: u32 = 2;

/// `name` without `prefix` (`"comm.x"` → `"x"`; `"x"` stays).
fn strip<'a>(name: &'a str, prefix: &str) -> &'a str {
    name.strip_prefix(prefix).unwrap_or(name)
}

/// True when `s` can follow `parallel.`/`comm.` in an exported name: 1-64 lowercase ASCII
/// letters, digits, `_` or `-`, starting with a letter.
fn is_export_suffix(s: &str) -> bool {
    s.len() <= 64
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
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
            ParallelConfig { strategy: "Bad Name".into(), ..Default::default() },
            ParallelConfig { strategy: "parallel.".into(), ..Default::default() },
            ParallelConfig { comm: "comm.9x".into(), ..Default::default() },
            ParallelConfig { comm: "".into(), ..Default::default() },
            ParallelConfig { zero_stage: 4, ..Default::default() },
            ParallelConfig { world_size: 0, ..Default::default() },
            ParallelConfig { grad_accumulation: 0, ..Default::default() },
            ParallelConfig { strategy: "zero".into(), zero_stage: 3, zero_live_modules: Some(0), ..Default::default() },
            ParallelConfig { strategy: "zero".into(), zero_stage: 2, zero_live_modules: Some(1), ..Default::default() },
            ParallelConfig { strategy: "ddp".into(), zero_live_modules: Some(1), ..Default::default() },
            ParallelConfig { zero_live_modules: Some(1), ..Default::default() },
        ] {
            assert!(bad.validate().unwrap_err().starts_with("parallel."));
        }
        let z3 = ParallelConfig { strategy: "zero".into(), zero_stage: 3, zero_live_modules: Some(1), ..Default::default() };
        z3.validate().unwrap();
        assert!(z3.strategy_toml(&toml::Table::new()).contains("live_modules = 1"));
    }

    #[test]
    fn third_party_strategies_and_backends_by_exported_name() {
        let c = ParallelConfig { strategy: "my_dp".into(), comm: "comm.my_comm".into(), world_size: 3, ..Default::default() };
        c.validate().unwrap();
        assert_eq!((c.strategy_name(), c.comm_name()), ("parallel.my_dp".to_string(), "comm.my_comm".to_string()));
        assert_eq!(c.comm_toml(), "world_size = 3\ntimeout_ms = 60000\n");
        let full = ParallelConfig { strategy: "parallel.my_dp".into(), ..c.clone() };
        assert_eq!(full.strategy_name(), "parallel.my_dp");
        let t = c.strategy_toml(&toml::Table::new());
        assert!(t.contains("find_unused_parameters") && !t.contains("stage"), "{t}");
        let mpi = ParallelConfig { comm: "mpi".into(), ..Default::default() };
        assert!(mpi.is_mpi() && !mpi.comm_toml().contains("world_size"));
    }
}
