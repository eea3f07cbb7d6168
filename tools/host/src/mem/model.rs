//! The estimator itself: bytes per parameter and their sharding.

use serde::Serialize;

/// Training precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Precision {
    /// fp32 weights and gradients, no master copy (`f32` as in `ferrite train --precision`).
    #[value(alias = "f32")]
    Fp32,
    /// bf16 weights/gradients with fp32 master weights (mixed precision).
    Bf16,
    /// fp16 weights/gradients with fp32 master weights (mixed precision, loss scaling; `f16`
    /// as in `ferrite train --precision`).
    #[value(alias = "f16")]
    Fp16,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16 mixed precision",
            Precision::Fp16 => "fp16 mixed precision",
        })
    }
}

/// Optimizer whose state is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Optimizer {
    /// Adam/AdamW: fp32 momentum and variance (8 bytes per parameter).
    Adamw,
    /// SGD with momentum: one fp32 buffer (4 bytes per parameter).
    Sgd,
    /// SGD without momentum: no state.
    SgdPlain,
}

impl std::fmt::Display for Optimizer {
    /// The `--optimizer` value (`adamw`, `sgd`, `sgd-plain`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clap::ValueEnum;
        let v = self.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
        f.write_str(&v)
    }
}

/// Transformer activation sizes (Korthikanti et al. 2022, eq. 2), per device.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Activations {
    /// Transformer layers `L`.
    pub layers: u64,
    /// Hidden size `h`.
    pub hidden: u64,
    /// Attention heads `a`.
    pub heads: u64,
    /// Sequence length `s`.
    pub seq: u64,
    /// Micro-batch size per device `b`.
    pub batch: u64,
}

/// What to estimate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MemPlan {
    /// Number of parameters Ψ.
    pub params: f64,
    /// Precision.
    pub precision: Precision,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// ZeRO stage 0 (plain data parallel) to 3.
    pub zero_stage: u8,
    /// Data-parallel world size N_d (≥ 1).
    pub world_size: u64,
    /// Optional transformer activations.
    pub activations: Option<Activations>,
}

/// Bytes per device, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MemEstimate {
    /// Working-precision weights.
    pub params: f64,
    /// Gradients.
    pub grads: f64,
    /// Optimizer state, including fp32 master weights under mixed precision.
    pub optimizer: f64,
    /// Activations kept for backward (0 when not given).
    pub activations: f64,
}

impl MemEstimate {
    /// Model states: weights + gradients + optimizer state.
    pub fn model_states(&self) -> f64 {
        self.params + self.grads + self.optimizer
    }

    /// Everything.
    pub fn total(&self) -> f64 {
        self.model_states() + self.activations
    }
}

/// Per-device bytes for `plan`. Errors (one line) on a stage above 3, a zero world size, or a
/// non-positive parameter count.
pub fn estimate(plan: &MemPlan) -> Result<MemEstimate, String> {
    if !(plan.params > 0.0 && plan.params.is_finite()) {
        return Err(format!("parameter count must be positive, got {}", plan.params));
    }
    if plan.zero_stage > 3 {
        return Err(format!("ZeRO stage must be 0, 1, 2 or 3, got {}", plan.zero_stage));
    }
    if plan.world_size == 0 {
        return Err("world size must be at least 1".into());
    }
    let (weight, grad, master) = match plan.precision {
        Precision::Fp32 => (4.0, 4.0, 0.0),
        Precision::Bf16 | Precision::Fp16 => (2.0, 2.0, 4.0),
    };
    let state = match plan.optimizer {
        Optimizer::Adamw => 8.0,
        Optimizer::Sgd => 4.0,
        Optimizer::SgdPlain => 0.0,
    };
    let psi = plan.params;
    let n = plan.world_size as f64;
    let shard = |stage: u8| if plan.zero_stage >= stage { n } else { 1.0 };
    let activations = plan.activations.map_or(0.0, |a| {
        let (s, b, h, heads, l) = (a.seq as f64, a.batch as f64, a.hidden as f64, a.heads as f64, a.layers as f64);
        let per_layer_16bit = s * b * h * (34.0 + 5.0 * heads * s / h);
        // eq. (2) counts 16-bit activations; fp32 training stores them twice as wide.
        let width = if plan.precision == Precision::Fp32 { 2.0 } else { 1.0 };
        l * per_layer_16bit * width
    });
    Ok(MemEstimate {
        params: weight * psi / shard(3),
        grads: grad * psi / shard(2),
        optimizer: (master + state) * psi / shard(1),
        activations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(params: f64, stage: u8, n: u64) -> MemPlan {
        MemPlan { params, precision: Precision::Bf16, optimizer: Optimizer::Adamw, zero_stage: stage, world_size: n, activations: None }
    }

    #[test]
    fn seven_billion_mixed_precision_adamw_is_112_gb() {
        let e = estimate(&plan(7e9, 0, 1)).unwrap();
        assert_eq!((e.params, e.grads, e.optimizer), (14e9, 14e9, 84e9), "2 + 2 + 12 bytes per parameter");
        assert_eq!(e.total(), 112e9);
    }

    #[test]
    fn zero_paper_figure_1_per_device_figures() {
        // Ψ = 7.5B, N_d = 64, K = 12: 120 GB, 31.4 GB, 16.6 GB, 1.9 GB.
        let gb = |stage| (estimate(&plan(7.5e9, stage, 64)).unwrap().total() / 1e9 * 10.0).round() / 10.0;
        assert_eq!([gb(0), gb(1), gb(2), gb(3)], [120.0, 31.4, 16.6, 1.9]);
    }

    #[test]
    fn fp32_sgd_and_activations() {
        let mut p = plan(1e6, 0, 1);
        p.precision = Precision::Fp32;
        p.optimizer = Optimizer::Sgd;
        assert_eq!(estimate(&p).unwrap().model_states(), 12e6);
        p.activations = Some(Activations { layers: 1, hidden: 1024, heads: 16, seq: 2048, batch: 1 });
        // s·b·h·(34 + 5·a·s/h) = 2048·1024·(34 + 160) bytes in 16-bit, doubled for fp32.
        assert_eq!(estimate(&p).unwrap().activations, 2.0 * 2048.0 * 1024.0 * 194.0);
    }

    #[test]
    fn bad_plans_are_errors() {
        assert!(estimate(&plan(0.0, 0, 1)).is_err());
        assert!(estimate(&plan(1e9, 4, 8)).is_err());
        assert!(estimate(&plan(1e9, 1, 0)).is_err());
    }
}
