//! Mixed-precision training (`torch.amp`): dynamic loss scaling ([`GradScaler`]) and f32
//! master weights for a bf16/f16 model ([`MasterWeights`], Micikevicius et al. 2018).
//!
//! Autocast itself is [`crate::Host::autocast`] (its state lives in the core, per thread, so a
//! model plugin's forward sees it). A typical bf16 step:
//!
//! ```no_run
//! # use ferrite_sdk::{DType, Host, Tensor, Result};
//! # fn demo(host: Host, x: Tensor, w: Tensor) -> Result<()> {
//! use ferrite_sdk::amp::GradScaler;
//! use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
//! let mut opt = Sgd::new(vec![w.clone()], SgdConfig { lr: 0.1, ..Default::default() })?;
//! let mut scaler = GradScaler::new(Default::default())?;
//! let loss = host.autocast(DType::BF16, || x.matmul(&w)?.to_dtype(DType::F32)?.mean_all())??;
//! scaler.scale(&loss)?.backward()?;
//! scaler.step(&mut opt)?;
//! scaler.update()?;
//! opt.zero_grad();
//! # Ok(())
//! # }
//! ```

pub mod grad_scaler;
pub mod master;

pub use grad_scaler::{GradScaler, GradScalerConfig, GradScalerState};
pub use master::MasterWeights;

#[cfg(test)]
mod tests;
