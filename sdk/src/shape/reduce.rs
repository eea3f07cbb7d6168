//! Shape functions and dim handling of the reductions: `sum`, `mean`, `logsumexp` over a set of
//! dims; `max`, `min` (values + indices) and `argmax` along one dim.

use super::{norm_dim, req};
use crate::abi::dtype::DType;
use crate::kernel::{Attrs, Meta};

/// Which dims of an `ndim`-d tensor a `dim` list reduces (empty list: all). Errors on an
/// out-of-range or repeated dim.
pub fn reduced_mask(op: &str, dims: &[i64], ndim: usize) -> Result<Vec<bool>, String> {
    let mut mask = vec![dims.is_empty(); ndim];
    for &d in dims {
        let k = norm_dim(d, ndim).map_err(|e| format!("{op}: {e}"))?;
        if ndim == 0 {
            continue;
        }
        if mask[k] {
            return Err(format!("{op}: dim {d} appears more than once in {dims:?}"));
        }
        mask[k] = true;
    }
    Ok(mask)
}

/// The input shape with reduced dims set to 1 (the `keepdim` shape).
pub fn keep_shape(shape: &[usize], mask: &[bool]) -> Vec<usize> {
    shape.iter().zip(mask).map(|(&s, &m)| if m { 1 } else { s }).collect()
}

/// The output shape: the `keepdim` shape, or the input shape without reduced dims.
pub fn reduced_shape(shape: &[usize], mask: &[bool], keepdim: bool) -> Vec<usize> {
    if keepdim {
        keep_shape(shape, mask)
    } else {
        shape.iter().zip(mask).filter(|(_, &m)| !m).map(|(&s, _)| s).collect()
    }
}

/// `(mask, keepdim)` from attrs `(dim: ints, keepdim: bool)` (both optional).
pub fn dims_attrs(op: &str, attrs: &Attrs, ndim: usize) -> Result<(Vec<bool>, bool), String> {
    let dims = if attrs.is_none(0) { vec![] } else { attrs.ints(0).map_err(|e| format!("{op}: dim: {e}"))? };
    let keepdim = !attrs.is_none(1) && attrs.bool(1).map_err(|e| format!("{op}: keepdim: {e}"))?;
    Ok((reduced_mask(op, &dims, ndim)?, keepdim))
}

/// Shared shape function of `sum`, `mean` and `logsumexp`.
pub fn dims_reduce_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    let (mask, keepdim) = dims_attrs("reduction", attrs, x.shape.len())?;
    Ok(vec![Meta::new(x.dtype, reduced_shape(&x.shape, &mask, keepdim))])
}

/// `(outer, len, inner)` of a row-major shape split at `dim`: element `(o, k, i)` of the slice
/// view lies at `(o·len + k)·inner + i`. A 0-d shape is `(1, 1, 1)`.
pub fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    if shape.is_empty() {
        return (1, 1, 1);
    }
    (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product())
}

/// `(dim, keepdim)` from attrs `(dim: int (required), keepdim: bool = false)`.
pub fn dim_attrs(op: &str, attrs: &Attrs, ndim: usize) -> Result<(usize, bool), String> {
    let d = attrs.int(0).map_err(|e| format!("{op}: dim: {e}"))?;
    let keepdim = !attrs.is_none(1) && attrs.bool(1).map_err(|e| format!("{op}: keepdim: {e}"))?;
    Ok((norm_dim(d, ndim).map_err(|e| format!("{op}: {e}"))?, keepdim))
}

/// Output shape of a single-dim reduction; a zero-size `dim` is an error.
pub fn dim_out_shape(op: &str, shape: &[usize], dim: usize, keepdim: bool) -> Result<Vec<usize>, String> {
    if !shape.is_empty() && shape[dim] == 0 {
        return Err(format!("{op}: cannot reduce over zero-size dim {dim} of shape {shape:?}"));
    }
    let mut mask = vec![false; shape.len()];
    if !shape.is_empty() {
        mask[dim] = true;
    }
    Ok(reduced_shape(shape, &mask, keepdim))
}

/// Shape function of `max`/`min`: `(values: input dtype, indices: i64)`.
pub fn max_min_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    let (dim, keepdim) = dim_attrs("max/min", attrs, x.shape.len())?;
    let s = dim_out_shape("max/min", &x.shape, dim, keepdim)?;
    Ok(vec![Meta::new(x.dtype, s.clone()), Meta::new(DType::I64, s)])
}

/// Shape function of `argmax`: i64 indices.
pub fn argmax_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    let (dim, keepdim) = dim_attrs("argmax", attrs, x.shape.len())?;
    Ok(vec![Meta::new(DType::I64, dim_out_shape("argmax", &x.shape, dim, keepdim)?)])
}
