//! `ferrite mem --measure`: trains a real MLP for a few steps (one process, or `parallel.ddp` /
//! `parallel.zero` over `comm.local` with every rank a thread of this process) and compares the
//! core allocator's process-wide peak of tensor memory with `world_size ×` the per-rank
//! estimate of [`super::peak`].
//!
//! The model is `layers × (Linear(H, H) + ReLU)` with `H` chosen so that `layers·(H² + H)` is
//! close to the requested parameter count, and a tiny batch, so model states dominate and the
//! estimator can describe every byte.

use super::model::Optimizer;
use super::peak::{self, Phase, RunShape, Strategy};
use crate::distributed::config::ParallelConfig;
use crate::distributed::launch::{process_groups, root_cause, run_ranks};
use crate::distributed::strategy::HostedStrategy;
use anyhow::{Context, Result};
use ferrite_core::tensor::storage;
use ferrite_sdk::nn::{Linear, Module, ReLU, Sequential};
use ferrite_sdk::optim::OptimizerSpec;
use ferrite_sdk::{DType, Host, Tensor};
use serde::Serialize;

/// Learning rate and weight decay of the measured runs (small: the values do not matter).
const LR: f64 = 1e-3;
const WEIGHT_DECAY: f64 = 1e-2;

/// What to train.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeasureSpec {
    /// Target parameter count (the MLP width is fitted to it).
    pub params: f64,
    /// Linear layers.
    pub layers: usize,
    /// Rows of each rank's batch `[batch, H]`.
    pub batch: usize,
    /// Optimizer (`Sgd` = momentum 0.9; weight decay 0.01 throughout).
    pub optimizer: Optimizer,
    /// Strategy (`None` requires `world_size = 1`).
    pub strategy: Strategy,
    /// Ranks (threads over comm.local).
    pub world_size: u32,
    /// Optimizer steps (≥ 2, so a steady-state step with allocated state is measured).
    pub steps: usize,
}

/// Estimated (process-wide: `world_size ×` per rank) and measured bytes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The shape given to the estimator.
    pub shape: RunShape,
    /// MLP width `H`.
    pub width: usize,
    /// Per-rank estimate after setup.
    pub est_setup: Phase,
    /// Per-rank estimate between steady-state steps.
    pub est_between: Phase,
    /// Per-rank peak phase.
    pub est_peak: Phase,
    /// Measured live bytes after setup (all ranks, above the baseline).
    pub setup: f64,
    /// Measured live bytes after the last step's `zero_grad` (all ranks).
    pub between: f64,
    /// Measured peak (all ranks, above the baseline).
    pub peak: f64,
}

impl Comparison {
    /// `(measured − estimate) / estimate` of the peak.
    pub fn peak_error(&self) -> f64 {
        rel(self.peak, self.est_peak.total() * self.shape.world_size as f64)
    }
}

/// `(measured − estimate) / estimate`.
pub fn rel(measured: f64, estimate: f64) -> f64 {
    (measured - estimate) / estimate
}

/// Width `H` with `layers·(H² + H)` closest to `params` (at least 1).
pub fn mlp_width(params: f64, layers: usize) -> usize {
    let per = params / layers.max(1) as f64;
    (((1.0 + 4.0 * per).sqrt() - 1.0) / 2.0).round().max(1.0) as usize
}

fn optimizer_spec(o: Optimizer) -> OptimizerSpec {
    match o {
        Optimizer::Adamw => OptimizerSpec::AdamW { lr: LR, betas: (0.9, 0.999), eps: 1e-8, weight_decay: WEIGHT_DECAY },
        Optimizer::Sgd => OptimizerSpec::Sgd { lr: LR, momentum: 0.9, weight_decay: WEIGHT_DECAY },
        Optimizer::SgdPlain => OptimizerSpec::Sgd { lr: LR, momentum: 0.0, weight_decay: WEIGHT_DECAY },
    }
}

fn optimizer_toml(o: Optimizer) -> String {
    match o {
        Optimizer::Adamw => format!("[optimizer]\nkind = \"adamw\"\nlr = {LR}\nweight_decay = {WEIGHT_DECAY}\n"),
        Optimizer::Sgd => format!("[optimizer]\nkind = \"sgd\"\nlr = {LR}\nmomentum = 0.9\nweight_decay = {WEIGHT_DECAY}\n"),
        Optimizer::SgdPlain => format!("[optimizer]\nkind = \"sgd\"\nlr = {LR}\nweight_decay = {WEIGHT_DECAY}\n"),
    }
}

fn mlp(host: &Host, layers: usize, width: usize) -> Result<Sequential> {
    let mut m = Sequential::new();
    for _ in 0..layers {
        m.push(Linear::new(host, width, width, true, DType::F32)?);
        m.push(ReLU::new());
    }
    Ok(m)
}

/// Forward (`mean(y²)` as the loss) and backward.
fn forward_backward(m: &Sequential, x: &Tensor) -> Result<()> {
    m.forward(x)?.pow_scalar(2.0)?.mean_all()?.backward()?;
    Ok(())
}

/// Live tensor bytes, measured by one rank while the others wait at a barrier.
fn synced_live(g: &ferrite_core::comm::ProcessGroup, baseline: usize) -> Result<f64> {
    g.wait(g.barrier()?)?;
    let live = storage::live_bytes().saturating_sub(baseline) as f64;
    g.wait(g.barrier()?)?;
    Ok(live)
}

/// Trains as `spec` says and compares (plugins for ops must be loaded; comm.local and the
/// strategy plugin are loaded here when needed).
///
/// # Errors
/// Bad spec (`None` with several ranks, fewer than 2 steps, a stage outside 1..=3), plugins
/// missing, op or communication errors.
pub fn measure(spec: &MeasureSpec) -> Result<Comparison> {
    anyhow::ensure!(spec.steps >= 2, "--measure needs at least 2 steps (the second one has optimizer state), got {}", spec.steps);
    anyhow::ensure!(spec.layers >= 1 && spec.batch >= 1, "layers and batch must be at least 1");
    anyhow::ensure!(
        spec.strategy != Strategy::None || spec.world_size == 1,
        "a world size of {} needs a strategy (--zero 1..3, or --zero 0 for parallel.ddp)",
        spec.world_size
    );
    let host = ferrite_core::host();
    let width = mlp_width(spec.params, spec.layers);
    let n_params = (spec.layers * (width * width + width)) as u64;
    // Saved for backward at the end of forward, per rank: the input batch, and per layer the
    // Linear output (ReLU's input) and the ReLU output (the next Linear's input), plus y².
    let act_elems = spec.batch * width * (1 + 2 * spec.layers + 1);
    let shape = RunShape {
        params: n_params,
        largest: (width * width) as u64,
        // A module is one Linear: weight and bias.
        largest_module: (width * width + width) as u64,
        // The measured run uses the `[parallel]` default.
        live_modules: u64::from(crate::distributed::config::DEFAULT_ZERO_LIVE_MODULES),
        modules: spec.layers as u64,
        activations: 4.0 * act_elems as f64,
        optimizer: spec.optimizer,
        strategy: spec.strategy,
        world_size: u64::from(spec.world_size),
    };
    let est_setup = peak::after_setup(&shape).map_err(anyhow::Error::msg)?;
    let est_between = peak::between_steps(&shape).map_err(anyhow::Error::msg)?;
    let est_peak = peak::peak(&shape).map_err(anyhow::Error::msg)?;
    let (setup, between, peak) = match spec.strategy {
        Strategy::None => measure_single(spec, host, width)?,
        _ => measure_parallel(spec, host, width)?,
    };
    Ok(Comparison { shape, width, est_setup, est_between, est_peak, setup, between, peak })
}

fn measure_single(spec: &MeasureSpec, host: Host, width: usize) -> Result<(f64, f64, f64)> {
    let baseline = storage::live_bytes();
    storage::reset_peak_bytes();
    let model = mlp(&host, spec.layers, width)?;
    let mut opt = optimizer_spec(spec.optimizer).build(model.parameters())?;
    let setup = storage::live_bytes().saturating_sub(baseline) as f64;
    let x = host.randn(&[spec.batch, width], 0.0, 1.0, DType::F32)?;
    for _ in 0..spec.steps {
        forward_backward(&model, &x)?;
        opt.step()?;
        opt.zero_grad();
    }
    drop(x);
    let between = storage::live_bytes().saturating_sub(baseline) as f64;
    let peak = storage::peak_bytes().saturating_sub(baseline) as f64;
    Ok((setup, between, peak))
}

fn measure_parallel(spec: &MeasureSpec, host: Host, width: usize) -> Result<(f64, f64, f64)> {
    let (strategy, stage) = match spec.strategy {
        Strategy::Zero(s) => ("zero", u32::from(s)),
        _ => ("ddp", 1),
    };
    let cfg = ParallelConfig { strategy: strategy.into(), zero_stage: stage, world_size: spec.world_size, ..Default::default() };
    cfg.validate().map_err(anyhow::Error::msg)?;
    let groups = process_groups(&cfg, &[])?;
    let toml = cfg.strategy_toml(&optimizer_toml(spec.optimizer).parse::<toml::Table>()?.get("optimizer").and_then(|v| v.as_table()).cloned().context("optimizer table")?);
    let mut states = Vec::new();
    for g in groups {
        let rank = g.rank();
        states.push((rank, HostedStrategy::new(&cfg.strategy_name(), g, &toml, host)?));
    }
    let baseline = storage::live_bytes();
    storage::reset_peak_bytes();
    let results = run_ranks(states, |mut st: HostedStrategy| -> Result<(f64, f64)> {
        let model = mlp(&host, spec.layers, width)?;
        st.setup_tensors(model.named_parameters(), Vec::new())?;
        let setup = synced_live(st.group(), baseline)?;
        let x = host.randn(&[spec.batch, width], 0.0, 1.0, DType::F32)?;
        for _ in 0..spec.steps {
            st.pre_forward()?;
            forward_backward(&model, &x)?;
            st.post_backward()?;
            st.step()?;
            st.zero_grad();
        }
        drop(x);
        let between = synced_live(st.group(), baseline)?;
        Ok((setup, between))
    });
    let peak = storage::peak_bytes().saturating_sub(baseline) as f64;
    let v = root_cause(results)?;
    // Every rank read the same process-wide counter between barriers; rank 0's reading.
    let (setup, between) = v[0];
    Ok((setup, between, peak))
}

/// The comparison as text: per-rank phases of the estimate, then estimate vs measured.
pub fn report(c: &Comparison) -> String {
    let mib = |b: f64| format!("{:.2} MiB", b / (1u64 << 20) as f64);
    let n = c.shape.world_size as f64;
    let mut s = format!(
        "measured: {} × (Linear({w},{w}) + ReLU) = {} parameters, {}, {}, {} rank(s)\n",
        c.shape.params / (c.width * c.width + c.width) as u64,
        c.shape.params,
        c.shape.optimizer.to_string(),
        match c.shape.strategy {
            Strategy::None => "one process".to_string(),
            Strategy::Ddp => "parallel.ddp".to_string(),
            Strategy::Zero(s) => format!("parallel.zero stage {s}"),
        },
        c.shape.world_size,
        w = c.width
    );
    s += &format!("estimated peak per rank: phase `{}`\n", c.est_peak.name);
    for t in &c.est_peak.terms {
        s += &format!("  {:<26} {:>12}  ({})\n", t.name, mib(t.bytes), t.source);
    }
    s += &format!("{:<28} {:>12} {:>12} {:>8}\n", "all ranks", "estimate", "measured", "error");
    for (name, e, m) in [
        ("after setup", c.est_setup.total() * n, c.setup),
        ("between steps", c.est_between.total() * n, c.between),
        ("peak", c.est_peak.total() * n, c.peak),
    ] {
        s += &format!("{:<28} {:>12} {:>12} {:>+7.1}%\n", name, mib(e), mib(m), 100.0 * rel(m, e));
    }
    if c.shape.world_size > 1 && c.peak < c.est_peak.total() * n * 0.9 {
        // The estimate is every rank at its peak at once; between collectives the rank threads
        // drift apart (more so with more ranks than cores), which only lowers the process peak.
        s += &format!(
            "note: the peak phase `{}` has no collective to line the {} rank threads up; a measured \
             peak below the estimate means they were not at their peak together\n",
            c.est_peak.name, c.shape.world_size
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_fits_the_parameter_count() {
        let h = mlp_width(1.0e6, 8);
        assert_eq!(h, 353);
        let n = |h: usize| 8.0 * (h * h + h) as f64;
        assert!((n(h) - 1.0e6).abs() <= (n(h + 1) - 1.0e6).abs() && (n(h) - 1.0e6).abs() <= (n(h - 1) - 1.0e6).abs());
        assert_eq!(mlp_width(1.0, 4), 1);
    }

    #[test]
    fn relative_error_sign() {
        assert_eq!(rel(90.0, 100.0), -0.1);
        assert_eq!(rel(110.0, 100.0), 0.1);
    }
}
