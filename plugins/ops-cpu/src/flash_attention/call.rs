//! ABI glue shared by the forward and backward: argument validation ([`parse`]), the
//! [`Problem`] built from a call, and output buffers written in place or staged.

use super::geometry::{MaskView, Problem, SyncPtr};
use super::tile_math::Real;
use super::OP;
use crate::common::shape;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::Attrs;
use ferrite_sdk::shape::attention::{sdpa_geom, SdpaGeom};
use ferrite_sdk::shape::{bool_or, float_or};
use ferrite_sdk::DType;

/// An output buffer: the output's own memory when it already has the compute type, otherwise
/// a staging buffer written back (rounded once) at the end.
pub(super) enum OutBuf<'a, T> {
    Direct(&'a mut [T]),
    Staged(Vec<T>),
}

impl<T: Real> OutBuf<'_, T> {
    pub(super) unsafe fn new(v: &TensorView) -> Self {
        if v.dtype == T::NATIVE && v.is_contiguous() {
            OutBuf::Direct(std::slice::from_raw_parts_mut(v.ptr() as *mut T, v.numel()))
        } else {
            OutBuf::Staged(vec![T::ZERO; v.numel()])
        }
    }
    pub(super) fn ptr(&mut self) -> SyncPtr<T> {
        match self {
            OutBuf::Direct(s) => SyncPtr(s.as_mut_ptr()),
            OutBuf::Staged(v) => SyncPtr(v.as_mut_ptr()),
        }
    }
    pub(super) unsafe fn finish(self, v: &TensorView) {
        if let OutBuf::Staged(buf) = self {
            T::write(v, &buf);
        }
    }
}

/// Validated call arguments: geometry, `is_causal`, scale (NaN → 1/√E) and the mask view.
pub(super) struct Call {
    pub(super) g: SdpaGeom,
    pub(super) causal: bool,
    pub(super) scale: f64,
}

pub(super) unsafe fn parse(ins: &[TensorView], attrs: &Attrs) -> Result<Call, String> {
    if ins.len() < 3 || ins[..3].iter().any(|v| !v.is_present()) {
        return Err(format!("{OP}: query, key and value are required"));
    }
    let (q, k, v) = (&ins[0], &ins[1], &ins[2]);
    if k.dtype != q.dtype || v.dtype != q.dtype {
        return Err(format!(
            "{OP}: key ({}) and value ({}) must have the query's dtype {}",
            k.dtype.name(),
            v.dtype.name(),
            q.dtype.name()
        ));
    }
    let m = ins.get(3).filter(|m| m.is_present());
    if let Some(m) = m {
        if !m.dtype.is_float() && m.dtype != DType::BOOL && m.dtype != DType::U8 {
            return Err(format!("{OP}: attn_mask must be bool or floating, got {}", m.dtype.name()));
        }
    }
    let ms = m.map(shape);
    let g = sdpa_geom(&shape(q), &shape(k), &shape(v), ms.as_deref())?;
    let causal = bool_or(attrs, 0, false)?;
    let scale = float_or(attrs, 1, f64::NAN)?;
    let scale = if scale.is_nan() { 1.0 / (g.e as f64).sqrt() } else { scale };
    Ok(Call { g, causal, scale })
}

pub(super) unsafe fn problem<'a, T: Real>(call: &Call, q: &'a [T], k: &'a [T], v: &'a [T], mask: Option<&TensorView>) -> Problem<'a, T> {
    let g = &call.g;
    Problem {
        q,
        k,
        v,
        nb: g.batch_numel(),
        l: g.l,
        s: g.s,
        e: g.e,
        ev: g.ev,
        scale: T::from_f64(call.scale),
        causal: call.causal,
        mask: mask.map(|m| MaskView::new(m, g)),
    }
}
