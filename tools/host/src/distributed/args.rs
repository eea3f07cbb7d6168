//! `ferrite train` flags of distributed training (each overrides its `[parallel]` key).

use super::config::ParallelConfig;
use clap::Args;

/// Distributed-training flags.
#[derive(Args, Debug, Default, Clone)]
pub struct ParallelArgs {
    /// Parallel strategy: none, ddp (parallel.ddp), zero1, zero2 or zero3 (parallel.zero), or
    /// NAME of any loaded third-party strategy exported as parallel.NAME.
    #[arg(long, value_name = "STRATEGY")]
    pub parallel: Option<String>,
    /// Ranks for --comm local (threads of this process).
    #[arg(long, value_name = "N")]
    pub world_size: Option<u32>,
    /// Comm backend: local (ranks as threads), mpi (ranks as `mpirun -np N` processes), or NAME
    /// of any loaded backend exported as comm.NAME (given --world-size and --timeout-ms).
    #[arg(long, value_name = "BACKEND")]
    pub comm: Option<String>,
    /// Micro-batches per optimizer step (no_sync on all but the last).
    #[arg(long, value_name = "K")]
    pub grad_accumulation: Option<u32>,
    /// ZeRO-3: modules kept gathered at once during forward and backward (default 2).
    #[arg(long, value_name = "N")]
    pub zero_live_modules: Option<u32>,
    /// Gradient bucket size in MiB (default 25).
    #[arg(long, value_name = "MIB")]
    pub bucket_cap_mb: Option<f64>,
    /// Tolerate parameters that get no gradient (DDP).
    #[arg(long)]
    pub find_unused_parameters: bool,
    /// Timeout of every collective in milliseconds.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Continue the parallel run in DIR from its last finished epoch, with its saved
    /// config.toml (only --epochs and --stop-after-epoch may change), model.safetensors,
    /// per-rank shards and progress.json. The world size must be the same.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<std::path::PathBuf>,
    /// Stop after this epoch (the run folder can be resumed with --resume).
    #[arg(long, value_name = "N")]
    pub stop_after_epoch: Option<u32>,
}

impl ParallelArgs {
    /// Whether any flag is given.
    pub fn any_set(&self) -> bool {
        self.parallel.is_some()
            || self.world_size.is_some()
            || self.comm.is_some()
            || self.grad_accumulation.is_some()
            || self.bucket_cap_mb.is_some()
            || self.zero_live_modules.is_some()
            || self.find_unused_parameters
            || self.timeout_ms.is_some()
            || self.resume.is_some()
            || self.stop_after_epoch.is_some()
    }

    /// Applies the flags to `cfg`.
    ///
    /// # Errors
    /// None today (names are checked by [`ParallelConfig::validate`]); kept fallible for flags
    /// that need checking here.
    pub fn apply(&self, cfg: &mut ParallelConfig) -> Result<(), String> {
        if let Some(p) = &self.parallel {
            match p.as_str() {
                "none" | "ddp" => cfg.strategy = p.clone(),
                "zero1" | "zero2" | "zero3" => {
                    cfg.strategy = "zero".into();
                    cfg.zero_stage = u32::from(p.as_bytes()[4] - b'0');
                }
                // A third-party `parallel.<name>`; ParallelConfig::validate checks the name.
                _ => cfg.strategy = p.clone(),
            }
        }
        if let Some(n) = self.world_size {
            cfg.world_size = n;
        }
        if let Some(c) = &self.comm {
            cfg.comm = c.clone();
        }
        if let Some(k) = self.grad_accumulation {
            cfg.grad_accumulation = k;
        }
        if let Some(n) = self.zero_live_modules {
            cfg.zero_live_modules = Some(n);
        }
        if let Some(b) = self.bucket_cap_mb {
            cfg.bucket_cap_mb = b;
        }
        if self.find_unused_parameters {
            cfg.find_unused_parameters = true;
        }
        if let Some(t) = self.timeout_ms {
            cfg.timeout_ms = t;
        }
        cfg.resume = self.resume.clone();
        cfg.stop_after_epoch = self.stop_after_epoch;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_stages_and_bad_values() {
        let mut c = ParallelConfig::default();
        ParallelArgs { parallel: Some("zero3".into()), world_size: Some(4), ..Default::default() }.apply(&mut c).unwrap();
        assert_eq!((c.strategy.as_str(), c.zero_stage, c.world_size), ("zero", 3, 4));
        ParallelArgs { parallel: Some("my_dp".into()), comm: Some("my_comm".into()), ..Default::default() }.apply(&mut c).unwrap();
        assert_eq!((c.strategy_name(), c.comm_name()), ("parallel.my_dp".to_string(), "comm.my_comm".to_string()));
        c.validate().unwrap();
        ParallelArgs { parallel: Some("Not A Name".into()), ..Default::default() }.apply(&mut c).unwrap();
        assert!(c.validate().unwrap_err().contains("parallel.strategy"));
    }
}
