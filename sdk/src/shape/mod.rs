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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::norm_dim;
/// assert_eq!(norm_dim(-1, 4), Ok(3));
/// assert_eq!(norm_dim(0, 0), Ok(0)); // a 0-d tensor accepts 0 and -1
/// assert!(norm_dim(4, 4).unwrap_err().contains("out of range"));
/// ```
pub fn norm_dim(d: i64, ndim: usize) -> Result<usize, String> {
    let n = ndim.max(1) as i64;
    let r = if d < 0 { d + n } else { d };
    if r < 0 || r >= n {
        return Err(format!("dimension {d} out of range for a {ndim}-d tensor"));
    }
    Ok(r as usize)
}

/// The input at `i`, which must be present.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::req;
/// let ins = [Some(1), None];
/// assert_eq!(req(&ins, 0), Ok(&1));
/// assert_eq!(req(&ins, 1).unwrap_err(), "input #1 is required");
/// ```
pub fn req<T>(ins: &[Option<T>], i: usize) -> Result<&T, String> {
    ins.get(i).and_then(|x| x.as_ref()).ok_or_else(|| format!("input #{i} is required"))
}

/// The optional input at `i` (`None` when absent).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::opt;
/// let ins = [Some("weight"), None];
/// assert_eq!((opt(&ins, 0), opt(&ins, 1), opt(&ins, 5)), (Some(&"weight"), None, None));
/// ```
pub fn opt<T>(ins: &[Option<T>], i: usize) -> Option<&T> {
    ins.get(i).and_then(|x| x.as_ref())
}

/// Shape function for ops whose single output has the shape and dtype of input 0.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attrs, Meta};
/// use ferrite_sdk::{shape::same_as_input, DType};
/// let x = Meta::new(DType::F32, vec![2, 3]);
/// assert_eq!(same_as_input(&[Some(x.clone())], &Attrs(vec![])).unwrap(), vec![x]);
/// ```
pub fn same_as_input(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    Ok(vec![req(ins, 0)?.clone()])
}

/// Int-list attribute `i`, or `default` when it is absent or unset (`Attr::None`).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::ints_or;
/// let attrs = Attrs(vec![Attr::Ints(vec![2, 2]), Attr::None]);
/// assert_eq!(ints_or(&attrs, 0, &[1, 1]).unwrap(), vec![2, 2]);
/// assert_eq!(ints_or(&attrs, 1, &[1, 1]).unwrap(), vec![1, 1]);
/// assert_eq!(ints_or(&attrs, 7, &[0]).unwrap(), vec![0]);
/// ```
pub fn ints_or(attrs: &Attrs, i: usize, default: &[i64]) -> Result<Vec<i64>, String> {
    if attrs.is_none(i) {
        Ok(default.to_vec())
    } else {
        attrs.ints(i)
    }
}

/// Int attribute `i`, or `default` when absent.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::int_or;
/// let attrs = Attrs(vec![Attr::Int(3), Attr::Float(0.5)]);
/// assert_eq!(int_or(&attrs, 0, 1).unwrap(), 3);
/// assert_eq!(int_or(&attrs, 2, 1).unwrap(), 1);
/// assert!(int_or(&attrs, 1, 1).is_err(), "a float is not an int");
/// ```
pub fn int_or(attrs: &Attrs, i: usize, default: i64) -> Result<i64, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.int(i)
    }
}

/// Float attribute `i`, or `default` when absent.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::float_or;
/// let attrs = Attrs(vec![Attr::Float(0.1), Attr::None]);
/// assert_eq!((float_or(&attrs, 0, 1.0).unwrap(), float_or(&attrs, 1, 1.0).unwrap()), (0.1, 1.0));
/// ```
pub fn float_or(attrs: &Attrs, i: usize, default: f64) -> Result<f64, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.float(i)
    }
}

/// Bool attribute `i`, or `default` when absent.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::bool_or;
/// let attrs = Attrs(vec![Attr::Bool(true)]);
/// assert_eq!((bool_or(&attrs, 0, false).unwrap(), bool_or(&attrs, 1, false).unwrap()), (true, false));
/// ```
pub fn bool_or(attrs: &Attrs, i: usize, default: bool) -> Result<bool, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.bool(i)
    }
}

/// String attribute `i`, or `default` when absent.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::str_or;
/// let attrs = Attrs(vec![Attr::Str("sum".into()), Attr::None]);
/// assert_eq!(str_or(&attrs, 0, "mean").unwrap(), "sum");
/// assert_eq!(str_or(&attrs, 1, "mean").unwrap(), "mean");
/// ```
pub fn str_or(attrs: &Attrs, i: usize, default: &str) -> Result<String, String> {
    match attrs.0.get(i) {
        None | Some(Attr::None) => Ok(default.to_string()),
        _ => attrs.str(i).map(|s| s.to_string()),
    }
}

/// Reads a 2-element int list attribute (`[h, w]`; a single value means both) and checks every
/// entry is at least `min`. Errors name `op` and `name`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::pair;
/// assert_eq!(pair("max_pool2d", "stride", &[2], 1), Ok([2, 2]));
/// assert_eq!(pair("conv2d", "padding", &[1, 0], 0), Ok([1, 0]));
/// assert!(pair("conv2d", "stride", &[0, 1], 1).unwrap_err().contains("stride must be >= 1"));
/// assert!(pair("conv2d", "stride", &[1, 2, 3], 1).is_err());
/// ```
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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::planes;
/// assert_eq!(planes("max_pool2d", &[2, 3, 8, 6]), Ok((6, 8, 6))); // N·C planes of H×W
/// assert_eq!(planes("max_pool2d", &[3, 8, 6]), Ok((3, 8, 6)));
/// assert!(planes("max_pool2d", &[8, 6]).is_err());
/// ```
pub fn planes(op: &str, shape: &[usize]) -> Result<(usize, usize, usize), String> {
    if shape.len() != 3 && shape.len() != 4 {
        return Err(format!("{op}: expected a 3-d [C, H, W] or 4-d [N, C, H, W] input, got shape {shape:?}"));
    }
    let n = shape.len();
    Ok((shape[..n - 2].iter().product(), shape[n - 2], shape[n - 1]))
}

/// Errors unless `m` has a floating dtype.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{kernel::Meta, shape::check_float, DType};
/// assert!(check_float("softmax", "input", &Meta::new(DType::BF16, vec![2])).is_ok());
/// let e = check_float("softmax", "input", &Meta::new(DType::I64, vec![2])).unwrap_err();
/// assert_eq!(e, "softmax: input must be a floating tensor, got int64");
/// ```
pub fn check_float(op: &str, what: &str, m: &Meta) -> Result<(), String> {
    if !m.dtype.is_float() {
        return Err(format!("{op}: {what} must be a floating tensor, got {}", m.dtype.name()));
    }
    Ok(())
}

/// Errors unless optional `other` (if present) has the dtype `dtype` (PyTorch rejects mixed dtypes).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{kernel::Meta, shape::check_same_dtype, DType};
/// let w = Meta::new(DType::F64, vec![4]);
/// assert!(check_same_dtype("linear", "weight", DType::F64, Some(&w)).is_ok());
/// assert!(check_same_dtype("linear", "bias", DType::F32, None).is_ok());
/// assert!(check_same_dtype("linear", "weight", DType::F32, Some(&w)).unwrap_err().contains("float64"));
/// ```
pub fn check_same_dtype(op: &str, what: &str, dtype: DType, other: Option<&Meta>) -> Result<(), String> {
    if let Some(m) = other {
        if m.dtype != dtype {
            return Err(format!("{op}: {what} has dtype {} but input has {}", m.dtype.name(), dtype.name()));
        }
    }
    Ok(())
}
