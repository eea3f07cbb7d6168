//! Pure shape functions of the built-in ops, shared by every plugin that registers them.
//!
//! Each op family has one file; every shape function has the [`crate::kernel::reference::RefShape`]
//! signature `fn(&[Option<Meta>], &Attrs) -> Result<Vec<Meta>, String>`, so ops-ref registers it
//! through `reference_op!` and fast plugins through [`crate::kernel::reference::run_shape`]. One
//! definition keeps every plugin's output shapes identical. This module also holds the small
//! attribute and geometry helpers those functions (and kernels) need.

pub mod adaptive;
pub mod attention;
pub mod binary;
pub mod conv;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod softmax;

use crate::abi::dtype::DType;
use crate::kernel::{Attr, Attrs, Meta};

/// Normalises a possibly negative dim against `ndim` (PyTorch's wrap rule; a 0-d tensor accepts
/// dims 0 and -1).
pub fn norm_dim(d: i64, ndim: usize) -> Result<usize, String> {
    let n = ndim.max(1) as i64;
    let r = if d < 0 { d + n } else { d };
    if r < 0 || r >= n {
        return Err(format!("dimension {d} out of range for a {ndim}-d tensor"));
    }
    Ok(r as usize)
}

/// The input at `i`, which must be present.
pub fn req<T>(ins: &[Option<T>], i: usize) -> Result<&T, String> {
    ins.get(i).and_then(|x| x.as_ref()).ok_or_else(|| format!("input #{i} is required"))
}

/// The optional input at `i` (`None` when absent).
pub fn opt<T>(ins: &[Option<T>], i: usize) -> Option<&T> {
    ins.get(i).and_then(|x| x.as_ref())
}

/// Shape function for ops whose single output has the shape and dtype of input 0.
pub fn same_as_input(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    Ok(vec![req(ins, 0)?.clone()])
}

/// Int-list attribute `i`, or `default` when it is absent or unset (`Attr::None`).
pub fn ints_or(attrs: &Attrs, i: usize, default: &[i64]) -> Result<Vec<i64>, String> {
    if attrs.is_none(i) {
        Ok(default.to_vec())
    } else {
        attrs.ints(i)
    }
}

/// Int attribute `i`, or `default` when absent.
pub fn int_or(attrs: &Attrs, i: usize, default: i64) -> Result<i64, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.int(i)
    }
}

/// Float attribute `i`, or `default` when absent.
pub fn float_or(attrs: &Attrs, i: usize, default: f64) -> Result<f64, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.float(i)
    }
}

/// Bool attribute `i`, or `default` when absent.
pub fn bool_or(attrs: &Attrs, i: usize, default: bool) -> Result<bool, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.bool(i)
    }
}

/// String attribute `i`, or `default` when absent.
pub fn str_or(attrs: &Attrs, i: usize, default: &str) -> Result<String, String> {
    match attrs.0.get(i) {
        None | Some(Attr::None) => Ok(default.to_string()),
        _ => attrs.str(i).map(|s| s.to_string()),
    }
}

/// Reads a 2-element int list attribute (`[h, w]`; a single value means both) and checks every
/// entry is at least `min`. Errors name `op` and `name`.
pub fn pair(op: &str, name: &str, v: &[i64], min: i64) -> Result<[usize; 2], String> {
    let p = match v {
        [a] => [*a, *a],
        [a, b] => [*a, *b],
        _ => return Err(format!("{op}: {name} must have 1 or 2 values, got {v:?}")),
    };
    if p[0] < min || p[1] < min {
        return Err(format!("{op}: {name} must be >= {min}, got {v:?}"));
    }
    Ok([p[0] as usize, p[1] as usize])
}

/// Splits a 3-d `[C, H, W]` or 4-d `[N, C, H, W]` shape into (number of `H×W` planes, H, W).
pub fn planes(op: &str, shape: &[usize]) -> Result<(usize, usize, usize), String> {
    if shape.len() != 3 && shape.len() != 4 {
        return Err(format!("{op}: expected a 3-d [C, H, W] or 4-d [N, C, H, W] input, got shape {shape:?}"));
    }
    let n = shape.len();
    Ok((shape[..n - 2].iter().product(), shape[n - 2], shape[n - 1]))
}

/// Errors unless `m` has a floating dtype.
pub fn check_float(op: &str, what: &str, m: &Meta) -> Result<(), String> {
    if !m.dtype.is_float() {
        return Err(format!("{op}: {what} must be a floating tensor, got {}", m.dtype.name()));
    }
    Ok(())
}

/// Errors unless optional `other` (if present) has the dtype `dtype` (PyTorch rejects mixed dtypes).
pub fn check_same_dtype(op: &str, what: &str, dtype: DType, other: Option<&Meta>) -> Result<(), String> {
    if let Some(m) = other {
        if m.dtype != dtype {
            return Err(format!("{op}: {what} has dtype {} but input has {}", m.dtype.name(), dtype.name()));
        }
    }
    Ok(())
}
