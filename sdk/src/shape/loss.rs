//! Shape functions and attribute handling of the classification losses (`cross_entropy`,
//! `nll_loss`) and the loss reduction shared with `mse_loss`.

use super::{int_or, req};
use crate::abi::dtype::DType;
use crate::kernel::{Attrs, Meta};

/// A loss reduction (PyTorch's `reduction=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Per-sample losses.
    None,
    /// Weighted mean.
    Mean,
    /// Sum.
    Sum,
}

/// Reads string attribute `i` as a [`Reduction`] (default `"mean"` when unset).
pub fn reduction_attr(op: &str, attrs: &Attrs, i: usize) -> Result<Reduction, String> {
    let s = if attrs.is_none(i) { "mean" } else { attrs.str(i).map_err(|e| format!("{op}: reduction: {e}"))? };
    match s {
        "none" => Ok(Reduction::None),
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        other => Err(format!("{op}: reduction must be \"none\", \"mean\" or \"sum\", got {other:?}")),
    }
}

/// Checks `input [N, C]`, `target [N]`, `weight [C]?` shapes; returns `(N, C)`.
pub fn check_class_shapes(op: &str, input: &[usize], target: &[usize], weight: Option<&[usize]>) -> Result<(usize, usize), String> {
    if input.len() != 2 {
        return Err(format!("{op}: input must be [N, C], got shape {input:?}"));
    }
    let (n, c) = (input[0], input[1]);
    if target != [n] {
        return Err(format!("{op}: target must have shape [{n}] for input {input:?}, got {target:?}"));
    }
    if let Some(w) = weight {
        if w != [c] {
            return Err(format!("{op}: weight must have shape [{c}], got {w:?}"));
        }
    }
    Ok((n, c))
}

/// Shape function body of `cross_entropy` and `nll_loss`: `[N]` for `"none"`, else `[]`; input's
/// dtype. Target must be int64, weight floating.
pub fn class_loss_shape(op: &str, ins: &[Option<Meta>], red: Reduction) -> Result<Vec<Meta>, String> {
    let (x, t) = (req(ins, 0)?, req(ins, 1)?);
    if t.dtype != DType::I64 {
        return Err(format!("{op}: target must be int64, got {}", t.dtype.name()));
    }
    let w = ins.get(2).and_then(|w| w.as_ref());
    if let Some(w) = w {
        if !w.dtype.is_float() {
            return Err(format!("{op}: weight must be floating point, got {}", w.dtype.name()));
        }
    }
    let (n, _) = check_class_shapes(op, &x.shape, &t.shape, w.map(|w| &w.shape[..]))?;
    Ok(vec![Meta::new(x.dtype, if red == Reduction::None { vec![n] } else { vec![] })])
}

/// `(ignore_index, label_smoothing, reduction)` of `cross_entropy` (attrs in schema order, with
/// defaults -100, 0.0, "mean"); smoothing must lie in `[0, 1]`.
pub fn ce_attrs(attrs: &Attrs) -> Result<(i64, f64, Reduction), String> {
    let ii = int_or(attrs, 0, -100).map_err(|e| format!("cross_entropy: {e}"))?;
    let eps = if attrs.is_none(1) { 0.0 } else { attrs.float(1).map_err(|e| format!("cross_entropy: {e}"))? };
    if !(0.0..=1.0).contains(&eps) {
        return Err(format!("cross_entropy: label_smoothing must be in [0, 1], got {eps}"));
    }
    Ok((ii, eps, reduction_attr("cross_entropy", attrs, 2)?))
}

/// Shape function of `ferrite::cross_entropy`.
pub fn cross_entropy_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    class_loss_shape("cross_entropy", ins, ce_attrs(attrs)?.2)
}

/// `(ignore_index, reduction)` of `nll_loss` (defaults -100, "mean").
pub fn nll_attrs(attrs: &Attrs) -> Result<(i64, Reduction), String> {
    let ii = int_or(attrs, 0, -100).map_err(|e| format!("nll_loss: {e}"))?;
    Ok((ii, reduction_attr("nll_loss", attrs, 1)?))
}

/// Shape function of `ferrite::nll_loss`.
pub fn nll_loss_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    class_loss_shape("nll_loss", ins, nll_attrs(attrs)?.1)
}
