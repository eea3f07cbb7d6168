//! `torch.optim`-style optimizers: the [`Optimizer`] trait, [`Sgd`] and [`AdamW`].
//!
//! Updates run under `no_grad` with tensor ops and are written into each parameter and its
//! state in place with `copy_`, chunk by chunk ([`UPDATE_CHUNK`] elements), so parameter
//! handles held by modules stay valid and the update's temporaries stay small. Parameters without a `.grad`
//! are skipped (PyTorch's rule). Optimizer state (momentum buffers, moments, step counts) is
//! exported as named tensors, `state.{i}.{name}` with `i` the parameter's index — PyTorch's
//! `optimizer.state_dict()["state"]` layout — so checkpoints can resume training.

pub mod adamw;
pub mod sgd;
pub mod spec;

pub use adamw::{AdamW, AdamWConfig};
pub use sgd::{Sgd, SgdConfig};
pub use spec::OptimizerSpec;

use crate::error::Result;
use crate::tensor::Tensor;

/// An optimizer over a fixed list of parameters (one parameter group).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
/// let w = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
/// let mut opt = Sgd::new(vec![w.clone()], SgdConfig { lr: 0.5, ..Default::default() })?;
/// w.sum_all()?.backward()?; // grad = 1
/// opt.step()?;
/// assert_eq!(w.to_vec::<f32>()?, vec![0.5, 0.5]);
/// opt.set_lr(0.1); // e.g. a schedule
/// let saved = opt.state_dict();
/// opt.load_state_dict(&saved)?;
/// # Ok(())
/// # }
/// ```
pub trait Optimizer {
    /// One update of every parameter that has a `.grad` (`optimizer.step()`).
    ///
    /// # Errors
    /// [`crate::Error::Host`] if an op fails (e.g. a gradient whose shape differs from its
    /// parameter's).
    fn step(&mut self) -> Result<()>;

    /// Clears every parameter's `.grad` (`zero_grad(set_to_none=True)`).
    fn zero_grad(&self);

    /// Current learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (for schedulers).
    fn set_lr(&mut self, lr: f64);

    /// The parameters being optimised.
    fn params(&self) -> &[Tensor];

    /// Per-parameter state as named tensors (`state.{i}.momentum_buffer`, `state.{i}.exp_avg`,
    /// `state.{i}.exp_avg_sq`, `state.{i}.step`, ...); empty before the first step.
    fn state_dict(&self) -> Vec<(String, Tensor)>;

    /// Restores state saved by [`state_dict`](Optimizer::state_dict) (for the same parameter
    /// list). All entries are validated before any is applied.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for an unknown name, a parameter index out of range, or a
    /// shape that differs from the parameter's.
    fn load_state_dict(&mut self, sd: &[(String, Tensor)]) -> Result<()>;
}

/// Clears `.grad` of each parameter.
/// Elements of a parameter an optimizer updates at once: the update's temporaries are the
/// size of one chunk, not of the whole tensor (a ZeRO master shard is one tensor of Ψ/N
/// elements, and out-of-place temporaries of that size would be the memory peak). Chunks are
/// runs of whole rows (dim 0), so a tensor with rows larger than this is updated a row at a time.
pub const UPDATE_CHUNK: usize = 1 << 18;

/// Runs `f` on views of `tensors` (all of one shape) that together cover them: whole tensors
/// up to [`UPDATE_CHUNK`] elements, else runs of rows along dim 0 of about that many elements.
/// Element-wise updates on the views give bit-identical results to updating the whole tensors.
pub(crate) fn for_each_chunk(tensors: &[&Tensor], mut f: impl FnMut(&[Tensor]) -> Result<()>) -> Result<()> {
    let Some(first) = tensors.first() else { return Ok(()) };
    let shape = first.shape();
    let numel = first.numel();
    if shape.is_empty() || numel <= UPDATE_CHUNK {
        return f(&tensors.iter().map(|t| (*t).clone()).collect::<Vec<_>>());
    }
    let row = numel / shape[0];
    let rows = (UPDATE_CHUNK / row.max(1)).max(1);
    let mut a = 0;
    while a < shape[0] {
        let b = (a + rows).min(shape[0]);
        f(&tensors.iter().map(|t| t.slice(0, a, b, 1)).collect::<Result<Vec<_>>>()?)?;
        a = b;
    }
    Ok(())
}

pub(crate) fn clear_grads(params: &[Tensor]) {
    for p in params {
        // Clearing a gradient cannot fail for a live leaf; nothing useful to report.
        let _ = p.set_grad(None);
    }
}

/// Splits `state.{i}.{field}` into `(i, field)`.
pub(crate) fn parse_state_key(key: &str) -> Option<(usize, &str)> {
    let rest = key.strip_prefix("state.")?;
    let (i, field) = rest.split_once('.')?;
    Some((i.parse().ok()?, field))
}

/// Validates one loaded state entry against the parameter list: index in range, known field,
/// and (for tensor fields) the parameter's shape. Returns `(index, field)`.
pub(crate) fn check_state_entry<'a>(params: &[Tensor], key: &'a str, t: &Tensor, fields: &[&str]) -> Result<(usize, &'a str)> {
    let Some((i, field)) = parse_state_key(key) else {
        crate::bail!("optimizer load_state_dict: unexpected key {key:?}");
    };
    let Some(p) = params.get(i) else {
        crate::bail!("optimizer load_state_dict: {key:?} refers to parameter {i}, but there are {}", params.len());
    };
    if !fields.contains(&field) {
        crate::bail!("optimizer load_state_dict: unknown state {field:?} in {key:?} (expected one of {fields:?})");
    }
    if field == "step" {
        if t.numel() != 1 {
            crate::bail!("optimizer load_state_dict: {key:?} must hold one value, has shape {:?}", t.shape());
        }
    } else if t.shape() != p.shape() {
        crate::bail!("optimizer load_state_dict: {key:?} has shape {:?}, parameter has {:?}", t.shape(), p.shape());
    }
    Ok((i, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys_parse() {
        assert_eq!(parse_state_key("state.3.exp_avg"), Some((3, "exp_avg")));
        assert_eq!(parse_state_key("state.12.momentum_buffer"), Some((12, "momentum_buffer")));
        assert_eq!(parse_state_key("state.x.exp_avg"), None);
        assert_eq!(parse_state_key("param_groups.0.lr"), None);
        assert_eq!(parse_state_key("state.1"), None);
    }
}

#[cfg(test)]
mod optim_tests;
