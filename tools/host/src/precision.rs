//! `--precision`: mixed-precision training as PyTorch AMP does it (Micikevicius et al., "Mixed
//! Precision Training", ICLR 2018): the parameters stay f32 (they are the master weights),
//! forward and loss run under autocast in bf16 or f16, and for f16 the loss is scaled
//! dynamically so small gradients do not flush to zero, skipping steps whose gradients
//! overflow (`torch.amp.GradScaler`).

use anyhow::Result;
use ferrite_sdk::amp::{GradScaler, GradScalerConfig};
use ferrite_sdk::optim::Optimizer;
use ferrite_sdk::{DType, Host, Tensor};
use serde::{Deserialize, Serialize};

/// Compute precision of training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// bfloat16 autocast (same exponent range as f32: no loss scaling needed).
    Bf16,
    /// float16 autocast with dynamic loss scaling.
    F16,
}

impl Precision {
    /// The autocast dtype, or `None` for f32.
    pub fn autocast_dtype(self) -> Option<DType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(DType::BF16),
            Precision::F16 => Some(DType::F16),
        }
    }
}

/// Runs forward passes under the configured autocast and steps the optimizer through a
/// loss scaler (a pass-through unless f16).
pub struct MixedPrecision {
    precision: Precision,
    scaler: GradScaler,
    skipped: u64,
}

impl MixedPrecision {
    /// For `precision`.
    ///
    /// # Errors
    /// Never for the defaults; kept fallible as the scaler's constructor is.
    pub fn new(precision: Precision) -> Result<MixedPrecision> {
        let scaler = GradScaler::new(GradScalerConfig { enabled: precision == Precision::F16, ..Default::default() })?;
        Ok(MixedPrecision { precision, scaler, skipped: 0 })
    }

    /// Runs `f` (forward + loss) under autocast (or plainly for f32).
    ///
    /// # Errors
    /// `f`'s error.
    pub fn forward<R>(&self, host: &Host, f: impl FnOnce() -> Result<R>) -> Result<R> {
        match self.precision.autocast_dtype() {
            None => f(),
            Some(dt) => host.autocast(dt, f)?,
        }
    }

    /// Backward of the (scaled) loss.
    ///
    /// # Errors
    /// Autograd errors.
    pub fn backward(&self, loss: &Tensor) -> Result<()> {
        self.scaler.scale(loss)?.backward()?;
        Ok(())
    }

    /// Optimizer step through the scaler (skipped when f16 gradients overflowed); returns
    /// whether it stepped.
    ///
    /// # Errors
    /// Optimizer errors.
    pub fn step(&mut self, opt: &mut dyn Optimizer) -> Result<bool> {
        let stepped = self.scaler.step(opt)?;
        self.scaler.update()?;
        if !stepped {
            self.skipped += 1;
        }
        Ok(stepped)
    }

    /// Steps skipped because of overflow so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The current loss scale (1 unless f16).
    pub fn scale(&self) -> f64 {
        self.scaler.get_scale()
    }
}

/// Dynamic loss scaling for parallel runs, where the strategy owns the optimizer: the host
/// scales the loss, the strategy unscales and inf-checks the synchronised gradients
/// (`unscale_grads`), and this tracks the scale with `torch.amp.GradScaler`'s rule and
/// defaults (start 2^16, halve on overflow and skip the step, double after 2000 clean steps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossScale {
    /// Current scale.
    pub scale: f64,
    /// Clean steps since the last change.
    pub growth_tracker: u64,
}

impl LossScale {
    /// PyTorch's defaults.
    pub fn new() -> LossScale {
        let c = GradScalerConfig::default();
        LossScale { scale: c.init_scale, growth_tracker: 0 }
    }

    /// Records one step's outcome: `found_inf` halves the scale (the step was skipped).
    pub fn update(&mut self, found_inf: bool) {
        let c = GradScalerConfig::default();
        if found_inf {
            self.scale *= c.backoff_factor;
            self.growth_tracker = 0;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker == c.growth_interval {
                self.scale *= c.growth_factor;
                self.growth_tracker = 0;
            }
        }
    }
}

impl Default for LossScale {
    fn default() -> Self {
        LossScale::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_scale_halves_on_overflow_and_grows_after_the_interval() {
        let mut s = LossScale::new();
        assert_eq!(s.scale, 65536.0);
        s.update(true);
        assert_eq!((s.scale, s.growth_tracker), (32768.0, 0));
        for _ in 0..2000 {
            s.update(false);
        }
        assert_eq!((s.scale, s.growth_tracker), (65536.0, 0));
    }
}
