//! Automatic mixed precision (`torch.autocast(device_type="cpu", dtype=...)`): a per-thread
//! state in the core, applied by the dispatcher to the inputs of every op call.
//!
//! The state lives here, not in the sdk, because every plugin links its own copy of the sdk's
//! statics: a model plugin's forward would not see a thread-local set by the host's sdk.
//!
//! Rules (PyTorch's autocast op lists, `aten/src/ATen/autocast_mode.cpp`, matched by the op's
//! canonical name without namespace):
//! * [`LOWER_PRECISION`] ops (matmul, linear, conv, attention): every floating input is cast to
//!   the autocast dtype, so the op runs in f16/bf16.
//! * [`FP32`] ops (softmax, losses, norms, exp/log/pow, sum, ...): 16-bit floating inputs are
//!   cast up to f32, so the op runs (and returns) f32.
//! * Any other op whose floating inputs have different dtypes runs in the widest one (f64 >
//!   f32 > f16/bf16; f16 mixed with bf16 gives f32), PyTorch's `promote` rule. Kernels have no
//!   type promotion of their own, so without this an f32 residual added to a bf16 matmul output
//!   would fail. Ops with a single floating dtype are left alone.
//!
//! Casts go through [`crate::ops::to_dtype`], which autograd records: gradients flow back
//! through the cast, so an f32 parameter used by a bf16 matmul gets an f32 gradient. Unlike
//! PyTorch, casts of parameters are not cached across ops of one autocast region (each use
//! casts again), which costs time, never correctness. The rules apply on every device.

use crate::error::Result;
use crate::ops;
use crate::tensor::Tensor;
use ferrite_sdk::abi::host::AutocastState;
use ferrite_sdk::DType;
use std::cell::Cell;

/// Ops that autocast runs in the lower-precision dtype (PyTorch's CPU `lower_precision_fp`
/// list, restricted to names an op library may export).
pub const LOWER_PRECISION: &[&str] = &[
    "matmul",
    "mm",
    "bmm",
    "baddbmm",
    "addmm",
    "addbmm",
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "scaled_dot_product_attention",
    "flash_attention",
    "prelu",
];

/// Ops that autocast runs in f32 (PyTorch's `fp32` autocast list: numerically sensitive
/// reductions, exponentials, normalisations and losses).
pub const FP32: &[&str] = &[
    "softmax",
    "log_softmax",
    "logsumexp",
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "binary_cross_entropy_with_logits",
    "layer_norm",
    "group_norm",
    "batch_norm",
    "norm",
    "sum",
    "prod",
    "cumsum",
    "cumprod",
    "exp",
    "expm1",
    "log",
    "log1p",
    "log2",
    "log10",
    "pow",
    "rsqrt",
    "reciprocal",
    "softplus",
];

/// How autocast treats an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Cast floating inputs to the autocast dtype.
    LowerPrecision,
    /// Cast 16-bit floating inputs to f32.
    Fp32,
    /// Cast mixed floating inputs to the widest of them.
    Promote,
}

/// The policy for an op's canonical name (`namespace::name`; the namespace is ignored).
pub fn policy(op_name: &str) -> Policy {
    let short = op_name.rsplit("::").next().unwrap_or(op_name);
    let short = short.split('@').next().unwrap_or(short);
    if LOWER_PRECISION.contains(&short) {
        Policy::LowerPrecision
    } else if FP32.contains(&short) {
        Policy::Fp32
    } else {
        Policy::Promote
    }
}

thread_local! {
    static STATE: Cell<AutocastState> = const { Cell::new(AutocastState { enabled: false, dtype: DType::BF16 }) };
}

/// This thread's autocast state.
pub fn state() -> AutocastState {
    STATE.with(|s| s.get())
}

/// Replaces this thread's autocast state; returns the previous one. The dtype must be `F16`
/// or `BF16` when enabling (checked by the caller, see [`valid_dtype`]).
pub fn set_state(new: AutocastState) -> AutocastState {
    STATE.with(|s| s.replace(new))
}

/// Whether `dtype` can be an autocast dtype (PyTorch's CPU autocast accepts bf16 and f16).
pub fn valid_dtype(dtype: DType) -> bool {
    dtype == DType::BF16 || dtype == DType::F16
}

/// Turns autocast off until dropped (ops called from inside an autocast op must not be cast
/// again, as PyTorch excludes the autocast key inside its wrappers).
pub struct Suspend(AutocastState);

impl Suspend {
    /// Suspends autocast on this thread.
    pub fn new() -> Suspend {
        let prev = state();
        Suspend(set_state(AutocastState { enabled: false, dtype: prev.dtype }))
    }
}

impl Default for Suspend {
    fn default() -> Self {
        Suspend::new()
    }
}

impl Drop for Suspend {
    fn drop(&mut self) {
        set_state(self.0);
    }
}

/// Rank for "widest": f64 > f32 > the 16-bit types.
fn width(d: DType) -> u8 {
    if d == DType::F64 {
        3
    } else if d == DType::F32 {
        2
    } else {
        1
    }
}

/// The dtype `inputs` of an op named `op_name` should run in under `st`, or `None` to leave
/// them alone.
fn target(op_name: &str, inputs: &[Option<Tensor>], st: AutocastState) -> Option<Policy> {
    if !st.enabled || !inputs.iter().flatten().any(|t| t.dtype().is_float()) {
        return None;
    }
    Some(policy(op_name))
}

/// Applies the autocast rules of this thread to the inputs of op `op_name`; returns `None`
/// when nothing changes (autocast off, no floating input, or already in the right dtypes).
///
/// # Errors
/// A failed cast (out of memory).
pub fn cast_inputs(op_name: &str, inputs: &[Option<Tensor>]) -> Result<Option<Vec<Option<Tensor>>>> {
    let st = state();
    let Some(pol) = target(op_name, inputs, st) else { return Ok(None) };
    let floats = || inputs.iter().flatten().map(|t| t.dtype()).filter(|d| d.is_float());
    let want = |d: DType| -> DType {
        match pol {
            Policy::LowerPrecision => st.dtype,
            Policy::Fp32 if d.bits == 16 => DType::F32,
            Policy::Fp32 => d,
            Policy::Promote => {
                let w = floats().map(width).max().unwrap_or(0);
                let widest: Vec<DType> = floats().filter(|&x| width(x) == w).collect();
                if w == 1 && widest.iter().any(|&x| x != widest[0]) {
                    DType::F32
                } else {
                    widest[0]
                }
            }
        }
    };
    if floats().all(|d| want(d) == d) {
        return Ok(None);
    }
    let cast = inputs
        .iter()
        .map(|t| match t {
            Some(t) if t.dtype().is_float() && want(t.dtype()) != t.dtype() => ops::to_dtype(t, want(t.dtype())).map(Some),
            other => Ok(other.clone()),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(cast))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_follow_pytorch_lists() {
        assert_eq!(policy("ferrite::linear"), Policy::LowerPrecision);
        assert_eq!(policy("ferrite::matmul@2"), Policy::LowerPrecision);
        assert_eq!(policy("ferrite::scaled_dot_product_attention"), Policy::LowerPrecision);
        assert_eq!(policy("ferrite::softmax"), Policy::Fp32);
        assert_eq!(policy("ferrite::cross_entropy"), Policy::Fp32);
        assert_eq!(policy("ferrite::add"), Policy::Promote);
        assert_eq!(policy("ferrite::relu"), Policy::Promote);
    }

    fn t(d: DType) -> Option<Tensor> {
        Some(Tensor::zeros(&[2], d).unwrap())
    }

    fn dtypes(v: &[Option<Tensor>]) -> Vec<DType> {
        v.iter().flatten().map(|t| t.dtype()).collect()
    }

    #[test]
    fn casts_follow_the_policy_only_when_enabled() {
        let ins = [t(DType::F32), t(DType::F32)];
        assert!(cast_inputs("ferrite::linear", &ins).unwrap().is_none(), "autocast is off by default");
        let prev = set_state(AutocastState { enabled: true, dtype: DType::BF16 });
        let lp = cast_inputs("ferrite::linear", &ins).unwrap().unwrap();
        assert_eq!(dtypes(&lp), vec![DType::BF16, DType::BF16]);
        let up = cast_inputs("ferrite::softmax", &[t(DType::F16)]).unwrap().unwrap();
        assert_eq!(dtypes(&up), vec![DType::F32]);
        assert!(cast_inputs("ferrite::softmax", &[t(DType::F64)]).unwrap().is_none());
        let pr = cast_inputs("ferrite::add", &[t(DType::BF16), t(DType::F32)]).unwrap().unwrap();
        assert_eq!(dtypes(&pr), vec![DType::F32, DType::F32]);
        let pr = cast_inputs("ferrite::add", &[t(DType::BF16), t(DType::F16)]).unwrap().unwrap();
        assert_eq!(dtypes(&pr), vec![DType::F32, DType::F32]);
        assert!(cast_inputs("ferrite::add", &[t(DType::BF16), t(DType::BF16)]).unwrap().is_none());
        let idx = cast_inputs("ferrite::cross_entropy", &[t(DType::BF16), t(DType::I64)]).unwrap().unwrap();
        assert_eq!(dtypes(&idx), vec![DType::F32, DType::I64], "integer inputs are never cast");
        {
            let _s = Suspend::new();
            assert!(cast_inputs("ferrite::linear", &ins).unwrap().is_none());
        }
        assert!(state().enabled);
        set_state(prev);
    }
}
