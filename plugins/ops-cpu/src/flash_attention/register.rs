//! Registration of `ferrite::scaled_dot_product_attention`: the `extern "C"` kernel and shape
//! entry points and the [`SDPA_DESC`] op descriptor.

use super::backward_pass::{backward_typed, BackwardMode};
use super::forward_pass::forward_typed;
use super::OP;
use crate::common::{views, CPU_FLOATS};
use ferrite_sdk::abi::dtype::device_type;
use ferrite_sdk::abi::kernel::{AttrValue, KernelCtx};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc, KernelEntry, OpDesc};
use ferrite_sdk::abi::view::{TensorMeta, TensorView};
use ferrite_sdk::abi_stable::std_types::{RSlice, RStr};
use ferrite_sdk::kernel::io::guarded;
use ferrite_sdk::kernel::reference::run_shape;
use ferrite_sdk::kernel::Attrs;
use ferrite_sdk::shape::attention::sdpa_shape;
use ferrite_sdk::DType;

/// Forward kernel of `ferrite::scaled_dot_product_attention` for every dtype of
/// [`CPU_FLOATS`]: inputs `(query [..., L, E], key [..., S, E], value [..., S, Ev],
/// attn_mask? broadcastable to [..., L, S])` (any strides), attrs `(is_causal, scale)`, output
/// `[..., L, Ev]` (contiguous, the query's dtype). f64 computes in f64, f32/f16/bf16 in f32.
/// Errors (`BAD_ARGS`): shapes (as [`sdpa_shape`]), key/value dtype unlike the query's, mask
/// neither bool nor float. Source: Dao et al. 2022, Algorithm 1.
///
/// # Safety
/// The [`ferrite_sdk::abi::kernel::KernelFn`] contract.
pub unsafe extern "C" fn forward(
    ctx: *const KernelCtx,
    i: *const TensorView,
    ni: usize,
    o: *const TensorView,
    no: usize,
    a: *const AttrValue,
    na: usize,
) -> i32 {
    guarded(ctx, || {
        let (ins, outs) = (views(i, ni), views(o, no));
        let attrs = Attrs::from_raw(a, na);
        match ins.first().map(|q| q.dtype) {
            Some(DType::F64) => forward_typed::<f64>(ctx, ins, outs, &attrs),
            Some(DType::F32 | DType::F16 | DType::BF16) => forward_typed::<f32>(ctx, ins, outs, &attrs),
            Some(dt) => Err(format!("{OP}: unsupported dtype {}", dt.name())),
            None => Err(format!("{OP}: query is required")),
        }
    })
}

/// Backward kernel: inputs `(dO [..., L, Ev], query, key, value, attn_mask?, out)`, outputs
/// `(dQ, dK, dV, d attn_mask)` (each absent when not wanted; the mask never gets one). Recomputes
/// the row log-sum-exp with one tiled pass, then runs Dao et al. 2022, Algorithm 2 (per head, or
/// split into a dK/dV pass and a dQ pass when there are fewer heads than threads). Fully masked
/// rows get zero gradient. Errors as [`forward`], plus grad/out/gradient shapes.
///
/// # Safety
/// The [`ferrite_sdk::abi::kernel::KernelFn`] contract.
pub unsafe extern "C" fn backward(
    ctx: *const KernelCtx,
    i: *const TensorView,
    ni: usize,
    o: *const TensorView,
    no: usize,
    a: *const AttrValue,
    na: usize,
) -> i32 {
    guarded(ctx, || backward_dispatch(ctx, views(i, ni), views(o, no), &Attrs::from_raw(a, na), None))
}

/// [`backward`] with the parallel mode forced (`None` = chosen from the head and thread counts).
///
/// # Safety
/// As [`backward`], with the views already sliced.
pub unsafe fn backward_with_mode(ctx: *const KernelCtx, ins: &[TensorView], outs: &[TensorView], attrs: &Attrs, mode: Option<BackwardMode>) -> i32 {
    guarded(ctx, || backward_dispatch(ctx, ins, outs, attrs, mode))
}

unsafe fn backward_dispatch(ctx: *const KernelCtx, ins: &[TensorView], outs: &[TensorView], attrs: &Attrs, mode: Option<BackwardMode>) -> Result<(), String> {
    match ins.get(1).map(|q| q.dtype) {
        Some(DType::F64) => backward_typed::<f64>(ctx, ins, outs, attrs, mode),
        Some(DType::F32 | DType::F16 | DType::BF16) => backward_typed::<f32>(ctx, ins, outs, attrs, mode),
        Some(dt) => Err(format!("{OP}: unsupported dtype {}", dt.name())),
        None => Err(format!("{OP} backward: query is required")),
    }
}

/// Shape function: the sdk's [`sdpa_shape`] (shared with ops-ref).
///
/// # Safety
/// The [`ferrite_sdk::abi::kernel::ShapeFn`] contract.
pub unsafe extern "C" fn shape_fn(
    ctx: *const KernelCtx,
    i: *const TensorView,
    ni: usize,
    a: *const AttrValue,
    na: usize,
    o: *mut TensorMeta,
    no: usize,
) -> i32 {
    run_shape(ctx, i, ni, a, na, o, no, sdpa_shape)
}

const fn entry(dtype: DType) -> KernelEntry {
    KernelEntry { device_type: device_type::CPU, dtype, forward, has_backward: true, backward }
}

/// The op descriptor: exactly ops-ref's schema of `ferrite::scaled_dot_product_attention`
/// (inputs `query, key, value, attn_mask?` (no grad), attrs `is_causal: bool = false`,
/// `scale: float = NaN` (→ 1/√E), one output), with FlashAttention kernels for f32, f64, f16,
/// bf16 on the CPU.
#[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::OPS)]
#[linkme(crate = ferrite_sdk::linkme)]
pub static SDPA_DESC: OpDesc = OpDesc {
    name: RStr::from_str("ferrite::scaled_dot_product_attention"),
    api_names: RSlice::from_slice(&[
        RStr::from_str("nn.functional.scaled_dot_product_attention"),
        RStr::from_str("scaled_dot_product_attention"),
    ]),
    aliases: RSlice::from_slice(&[RStr::from_str("aten::scaled_dot_product_attention")]),
    deprecated: RSlice::from_slice(&[]),
    version: 1,
    doc: RStr::from_str(
        "softmax(Q K^T * scale + mask) V with bool (true = attend) or additive float mask, is_causal (top-left); fully masked rows give 0. FlashAttention (Dao et al. 2022).",
    ),
    inputs: RSlice::from_slice(&[
        ArgDesc::tensor("query"),
        ArgDesc::tensor("key"),
        ArgDesc::tensor("value"),
        ArgDesc::tensor_nograd("attn_mask").optional(),
    ]),
    outputs: RSlice::from_slice(&[ArgDesc::tensor("out")]),
    attrs: RSlice::from_slice(&[AttrDesc::bool("is_causal", false), AttrDesc::float("scale", f64::NAN)]),
    dispatch_input: 0,
    shape_fn,
    kernels: RSlice::from_slice(&[entry(CPU_FLOATS[0]), entry(CPU_FLOATS[1]), entry(CPU_FLOATS[2]), entry(CPU_FLOATS[3])]),
};
