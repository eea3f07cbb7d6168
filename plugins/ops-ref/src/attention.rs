//! Scaled dot-product attention (Vaswani et al. 2017, eq. 1) with boolean or additive masks,
//! causal masking, and the "fully masked row → zeros" convention.
//!
//! The reference adapter hands kernels f64 arrays without dtypes, but a bool mask (true = attend)
//! and a float mask (added to the scores) with the same values mean different things. So this op
//! is registered by hand (the same descriptor `reference_op!` would build) with ABI wrappers that
//! look at the mask's dtype and pick [`sdpa_forward_bool_mask`] or [`sdpa_forward_float_mask`].

use crate::common::req;
use crate::nn_common::{bool_or, float_or};
use ferrite_sdk::kernel::array::{broadcast_index, unravel};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};
/// Shape function of `ferrite::scaled_dot_product_attention` (moved to the sdk so ops-ref and
/// ops-cpu share one definition).
pub use ferrite_sdk::shape::attention::sdpa_shape;
use ferrite_sdk::shape::attention::{sdpa_geom, SdpaGeom};

/// How the optional `attn_mask` input is interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskKind {
    /// Non-zero = attend, zero = masked out (a bool tensor).
    Bool,
    /// Added to the scaled scores; `-inf` masks out (a float tensor).
    Float,
}

/// Attention probabilities `[B, L, S]` (B = product of batch dims) and the scale used. A row with
/// no attendable key is all zeros.
fn probs(q: &Array, k: &Array, mask: Option<&Array>, kind: MaskKind, g: &SdpaGeom, attrs: &Attrs) -> Result<(Vec<f64>, f64), String> {
    let causal = bool_or(attrs, 0, false)?;
    let scale = float_or(attrs, 1, f64::NAN)?;
    let scale = if scale.is_nan() { 1.0 / (g.e as f64).sqrt() } else { scale };
    let nb: usize = g.batch.iter().product();
    let full = [g.batch.clone(), vec![g.l, g.s]].concat();
    let mut p = vec![0.0; nb * g.l * g.s];
    let mut scores = vec![0.0; g.s];
    let mut allowed = vec![false; g.s];
    for b in 0..nb {
        for i in 0..g.l {
            for j in 0..g.s {
                let row = (b * g.l + i) * g.s;
                let mut sc = scale * (0..g.e).map(|t| q.data[(b * g.l + i) * g.e + t] * k.data[(b * g.s + j) * g.e + t]).sum::<f64>();
                let mut ok = !causal || j <= i;
                if let (Some(m), Some(ms)) = (mask, &g.mask) {
                    let mv = m.data[broadcast_index(&unravel(row + j, &full), ms)];
                    match kind {
                        MaskKind::Bool => ok &= mv != 0.0,
                        MaskKind::Float => sc += mv,
                    }
                }
                scores[j] = sc;
                allowed[j] = ok && sc != f64::NEG_INFINITY;
            }
            let mx = (0..g.s).filter(|&j| allowed[j]).map(|j| scores[j]).fold(f64::NEG_INFINITY, f64::max);
            if mx == f64::NEG_INFINITY {
                continue; // fully masked row: zeros, never NaN
            }
            let row = &mut p[(b * g.l + i) * g.s..(b * g.l + i + 1) * g.s];
            for j in 0..g.s {
                row[j] = if allowed[j] { (scores[j] - mx).exp() } else { 0.0 };
            }
            let z: f64 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= z);
        }
    }
    Ok((p, scale))
}

type Inputs<'a> = (&'a Array, &'a Array, &'a Array, Option<&'a Array>, SdpaGeom);

fn inputs(ins: &[Option<Array>]) -> Result<Inputs<'_>, String> {
    let (q, k, v) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
    let m = ins.get(3).and_then(|m| m.as_ref());
    let g = sdpa_geom(&q.shape, &k.shape, &v.shape, m.map(|m| &m.shape[..]))?;
    Ok((q, k, v, m, g))
}

/// Scaled dot-product attention `softmax(Q·Kᵀ·scale + mask)·V` for query `[..., L, E]`, key
/// `[..., S, E]`, value `[..., S, Ev]` (equal batch dims) → `[..., L, Ev]`, with attrs
/// `(is_causal = false, scale = NaN meaning 1/√E)`. `attn_mask` (broadcastable to `[..., L, S]`)
/// is read as `kind`. `is_causal` keeps key `j ≤ i` (top-left aligned, as PyTorch) and combines
/// with a mask. A query with no attendable key outputs 0 (PyTorch's fused kernels; its math path
/// gives NaN).
pub fn sdpa_forward(ins: &[Option<Array>], attrs: &Attrs, kind: MaskKind) -> Result<Vec<Array>, String> {
    let (q, k, v, m, g) = inputs(ins)?;
    let (p, _) = probs(q, k, m, kind, &g, attrs)?;
    let nb: usize = g.batch.iter().product();
    let mut out = Array::zeros(&[g.batch.clone(), vec![g.l, g.ev]].concat());
    for b in 0..nb {
        for i in 0..g.l {
            for j in 0..g.s {
                let pij = p[(b * g.l + i) * g.s + j];
                for t in 0..g.ev {
                    out.data[(b * g.l + i) * g.ev + t] += pij * v.data[(b * g.s + j) * g.ev + t];
                }
            }
        }
    }
    Ok(vec![out])
}

/// Backward of [`sdpa_forward`]: `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `dS = P ⊙ (dP - rowsum(P ⊙ dP))`,
/// `dQ = scale·dS·K`, `dK = scale·dSᵀ·Q`. Masked entries (P = 0) and fully masked rows get zero
/// gradient; the mask gets none.
pub fn sdpa_backward(a: &BackwardArgs, kind: MaskKind) -> Result<Vec<Option<Array>>, String> {
    let (q, k, v, m, g) = inputs(&a.inputs)?;
    let (p, scale) = probs(q, k, m, kind, &g, &a.attrs)?;
    let d_o = &a.grads[0].data;
    let nb: usize = g.batch.iter().product();
    let (mut dq, mut dk, mut dv) = (Array::zeros(&q.shape), Array::zeros(&k.shape), Array::zeros(&v.shape));
    let mut dp = vec![0.0; g.s];
    for b in 0..nb {
        for i in 0..g.l {
            let oi = (b * g.l + i) * g.ev;
            let prow = &p[(b * g.l + i) * g.s..(b * g.l + i + 1) * g.s];
            for j in 0..g.s {
                let vj = (b * g.s + j) * g.ev;
                dp[j] = (0..g.ev).map(|t| d_o[oi + t] * v.data[vj + t]).sum();
                for t in 0..g.ev {
                    dv.data[vj + t] += prow[j] * d_o[oi + t];
                }
            }
            let dot: f64 = (0..g.s).map(|j| prow[j] * dp[j]).sum();
            for j in 0..g.s {
                let ds = prow[j] * (dp[j] - dot) * scale;
                if ds == 0.0 {
                    continue;
                }
                let (qi, kj) = ((b * g.l + i) * g.e, (b * g.s + j) * g.e);
                for t in 0..g.e {
                    dq.data[qi + t] += ds * k.data[kj + t];
                    dk.data[kj + t] += ds * q.data[qi + t];
                }
            }
        }
    }
    Ok(vec![Some(dq), Some(dk), Some(dv), None])
}

/// [`sdpa_forward`] with a bool `attn_mask` (true = attend); the kernel used for BOOL masks.
pub fn sdpa_forward_bool_mask(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    sdpa_forward(ins, attrs, MaskKind::Bool)
}

/// [`sdpa_forward`] with an additive float `attn_mask`; the kernel used for float masks and no mask.
pub fn sdpa_forward_float_mask(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    sdpa_forward(ins, attrs, MaskKind::Float)
}

/// [`sdpa_backward`] for a bool mask.
pub fn sdpa_backward_bool_mask(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    sdpa_backward(a, MaskKind::Bool)
}

/// [`sdpa_backward`] for a float mask or no mask.
pub fn sdpa_backward_float_mask(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    sdpa_backward(a, MaskKind::Float)
}

/// Hand-written registration (what `reference_op!` expands to, plus a mask-dtype switch).
#[allow(non_snake_case)]
pub mod SDPA {
    use super::*;
    use ferrite_sdk::abi::dtype::device_type;
    use ferrite_sdk::abi::kernel::{AttrValue, KernelCtx};
    use ferrite_sdk::abi::op::{ArgDesc, AttrDesc, KernelEntry, OpDesc};
    use ferrite_sdk::abi::view::{TensorMeta, TensorView};
    use ferrite_sdk::abi_stable::std_types::{RSlice, RStr};
    use ferrite_sdk::kernel::reference::{run_backward, run_forward, run_shape, RefBackward, RefForward};
    use ferrite_sdk::register::REFERENCE_FLOATS;

    /// Whether view `at` of `n` is a present, non-float (bool) tensor.
    unsafe fn bool_mask(views: *const TensorView, n: usize, at: usize) -> bool {
        at < n && !views.is_null() && {
            let m = &*views.add(at);
            m.is_present() && !m.dtype.is_float()
        }
    }

    /// Forward kernel: picks the bool- or float-mask reference function from input 3's dtype.
    ///
    /// # Safety
    /// The [`ferrite_sdk::abi::kernel::KernelFn`] contract.
    pub unsafe extern "C" fn forward(
        ctx: *const KernelCtx, i: *const TensorView, ni: usize, o: *const TensorView, no: usize, a: *const AttrValue, na: usize,
    ) -> i32 {
        let f: RefForward = if bool_mask(i, ni, 3) { sdpa_forward_bool_mask } else { sdpa_forward_float_mask };
        run_forward(ctx, i, ni, o, no, a, na, f)
    }

    /// Backward kernel: inputs are (grads of the 1 output, the 4 forward inputs, the output).
    ///
    /// # Safety
    /// The [`ferrite_sdk::abi::kernel::KernelFn`] contract.
    pub unsafe extern "C" fn backward(
        ctx: *const KernelCtx, i: *const TensorView, ni: usize, o: *const TensorView, no: usize, a: *const AttrValue, na: usize,
    ) -> i32 {
        let n_fwd_out = ni.saturating_sub(no) / 2;
        let (fwd, f): (RefForward, RefBackward) = if bool_mask(i, ni, n_fwd_out + 3) {
            (sdpa_forward_bool_mask, sdpa_backward_bool_mask)
        } else {
            (sdpa_forward_float_mask, sdpa_backward_float_mask)
        };
        run_backward(ctx, i, ni, o, no, a, na, fwd, f)
    }

    /// Shape function.
    ///
    /// # Safety
    /// The [`ferrite_sdk::abi::kernel::ShapeFn`] contract.
    pub unsafe extern "C" fn shape(
        ctx: *const KernelCtx, i: *const TensorView, ni: usize, a: *const AttrValue, na: usize, o: *mut TensorMeta, no: usize,
    ) -> i32 {
        run_shape(ctx, i, ni, a, na, o, no, sdpa_shape)
    }

    const fn entry(dtype: ferrite_sdk::DType) -> KernelEntry {
        KernelEntry { device_type: device_type::CPU, dtype, forward, has_backward: true, backward }
    }

    #[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::OPS)]
    #[linkme(crate = ferrite_sdk::linkme)]
    static DESC: OpDesc = OpDesc {
        name: RStr::from_str("ferrite::scaled_dot_product_attention"),
        api_names: RSlice::from_slice(&[
            RStr::from_str("nn.functional.scaled_dot_product_attention"),
            RStr::from_str("scaled_dot_product_attention"),
        ]),
        aliases: RSlice::from_slice(&[RStr::from_str("aten::scaled_dot_product_attention")]),
        deprecated: RSlice::from_slice(&[]),
        version: 1,
        doc: RStr::from_str(
            "softmax(Q K^T * scale + mask) V with bool (true = attend) or additive float mask, is_causal (top-left); fully masked rows give 0.",
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
        shape_fn: shape,
        kernels: RSlice::from_slice(&[
            entry(REFERENCE_FLOATS[0]),
            entry(REFERENCE_FLOATS[1]),
            entry(REFERENCE_FLOATS[2]),
            entry(REFERENCE_FLOATS[3]),
        ]),
    };
}

#[cfg(test)]
#[path = "attention_tests.rs"]
mod tests;
