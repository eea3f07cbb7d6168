//! Shape functions and dim handling of the reductions: `sum`, `mean`, `logsumexp` over a set of
//! dims; `max`, `min` (values + indices) and `argmax` along one dim.

use super::{norm_dim, req};
use crate::abi::dtype::DType;
use crate::kernel::{Attrs, Meta};

/// Which dims of an `ndim`-d tensor a `dim` list reduces (empty list: all). Errors on an
/// out-of-range or repeated dim.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::reduce::reduced_mask;
/// assert_eq!(reduced_mask("sum", &[0, -1], 3), Ok(vec![true, false, true]));
/// assert_eq!(reduced_mask("sum", &[], 2), Ok(vec![true, true])); // no dims: all
/// assert!(reduced_mask("sum", &[1, -2], 3).unwrap_err().contains("more than once"));
/// ```
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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::reduce::keep_shape;
/// assert_eq!(keep_shape(&[2, 3, 4], &[false, true, false]), vec![2, 1, 4]);
/// ```
pub fn keep_shape(shape: &[usize], mask: &[bool]) -> Vec<usize> {
    shape.iter().zip(mask).map(|(&s, &m)| if m { 1 } else { s }).collect()
}

/// The output shape: the `keepdim` shape, or the input shape without reduced dims.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::reduce::reduced_shape;
/// assert_eq!(reduced_shape(&[2, 3, 4], &[true, false, true], false), vec![3]);
/// assert_eq!(reduced_shape(&[2, 3, 4], &[true, false, true], true), vec![1, 3, 1]);
/// ```
pub fn reduced_shape(shape: &[usize], mask: &[bool], keepdim: bool) -> Vec<usize> {
    if keepdim {
        keep_shape(shape, mask)
    } else {
        shape.iter().zip(mask).filter(|(_, &m)| !m).map(|(&s, _)| s).collect()
    }
}

/// `(mask, keepdim)` from attrs `(dim: ints, keepdim: bool)` (both optional).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::reduce::dims_attrs;
/// assert_eq!(dims_attrs("mean", &Attrs(vec![Attr::Ints(vec![1]), Attr::Bool(true)]), 2), Ok((vec![false, true], true)));
/// assert_eq!(dims_attrs("mean", &Attrs(vec![]), 2), Ok((vec![true, true], false)));
/// ```
pub fn dims_attrs(op: &str, attrs: &Attrs, ndim: usize) -> Result<(Vec<bool>, bool), String> {
    let dims = if attrs.is_none(0) { vec![] } else { attrs.ints(0).map_err(|e| format!("{op}: dim: {e}"))? };
    let keepdim = !attrs.is_none(1) && attrs.bool(1).map_err(|e| format!("{op}: keepdim: {e}"))?;
    Ok((reduced_mask(op, &dims, ndim)?, keepdim))
}

/// Shared shape function of `sum`, `mean` and `logsumexp`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::reduce::dims_reduce_shape, DType};
/// let x = Some(Meta::new(DType::F32, vec![2, 3, 4]));
/// assert_eq!(dims_reduce_shape(&[x.clone()], &Attrs(vec![Attr::Ints(vec![-1])])).unwrap()[0].shape, vec![2, 3]);
/// assert_eq!(dims_reduce_shape(&[x], &Attrs(vec![])).unwrap()[0].shape, Vec::<usize>::new()); // all dims
/// ```
pub fn dims_reduce_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    let (mask, keepdim) = dims_attrs("reduction", attrs, x.shape.len())?;
    Ok(vec![Meta::new(x.dtype, reduced_shape(&x.shape, &mask, keepdim))])
}

/// `(outer, len, inner)` of a row-major shape split at `dim`: element `(o, k, i)` of the slice
/// view lies at `(o·len + k)·inner + i`. A 0-d shape is `(1, 1, 1)`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::reduce::split_at_dim;
/// assert_eq!(split_at_dim(&[2, 3, 4, 5], 1), (2, 3, 20));
/// assert_eq!(split_at_dim(&[], 0), (1, 1, 1));
/// ```
pub fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    if shape.is_empty() {
        return (1, 1, 1);
    }
    (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product())
}

/// `(dim, keepdim)` from attrs `(dim: int (required), keepdim: bool = false)`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::reduce::dim_attrs;
/// assert_eq!(dim_attrs("max", &Attrs(vec![Attr::Int(-1)]), 3), Ok((2, false)));
/// assert!(dim_attrs("max", &Attrs(vec![]), 3).unwrap_err().starts_with("max: dim"));
/// ```
pub fn dim_attrs(op: &str, attrs: &Attrs, ndim: usize) -> Result<(usize, bool), String> {
    let d = attrs.int(0).map_err(|e| format!("{op}: dim: {e}"))?;
    let keepdim = !attrs.is_none(1) && attrs.bool(1).map_err(|e| format!("{op}: keepdim: {e}"))?;
    Ok((norm_dim(d, ndim).map_err(|e| format!("{op}: {e}"))?, keepdim))
}

/// Output shape of a single-dim reduction; a zero-size `dim` is an error.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::reduce::dim_out_shape;
/// assert_eq!(dim_out_shape("argmax", &[2, 3], 1, false), Ok(vec![2]));
/// assert_eq!(dim_out_shape("argmax", &[2, 3], 1, true), Ok(vec![2, 1]));
/// assert!(dim_out_shape("argmax", &[2, 0], 1, false).unwrap_err().contains("zero-size"));
/// ```
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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::reduce::max_min_shape, DType};
/// let out = max_min_shape(&[Some(Meta::new(DType::F32, vec![4, 5]))], &Attrs(vec![Attr::Int(0)])).unwrap();
/// assert_eq!(out, vec![Meta::new(DType::F32, vec![5]), Meta::new(DType::I64, vec![5])]);
/// ```
pub fn max_min_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    let (dim, keepdim) = dim_attrs("max/min", attrs, x.shape.len())?;
    let s = dim_out_shape("max/min", &x.shape, dim, keepdim)?;
    Ok(vec![Meta::new(x.dtype, s.clone()), Meta::new(DType::I64, s)])
}

/// Shape function of `argmax`: i64 indices.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::reduce::argmax_shape, DType};
/// let out = argmax_shape(&[Some(Meta::new(DType::F32, vec![4, 5]))], &Attrs(vec![Attr::Int(1), Attr::Bool(true)])).unwrap();
/// assert_eq!(out, vec![Meta::new(DType::I64, vec![4, 1])]);
/// ```
pub fn argmax_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    let (dim, keepdim) = dim_attrs("argmax", attrs, x.shape.len())?;
    Ok(vec![Meta::new(DType::I64, dim_out_shape("argmax", &x.shape, dim, keepdim)?)])
}
