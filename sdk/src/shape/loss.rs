//! Shape functions and attribute handling of the classification losses (`cross_entropy`,
//! `nll_loss`) and the loss reduction shared with `mse_loss`.

use super::{int_or, req};
use crate::abi::dtype::DType;
use crate::kernel::{Attrs, Meta};

/// A loss reduction (PyTorch's `reduction=`).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::loss::{reduction_attr, Reduction};
/// assert_eq!(reduction_attr("mse_loss", &Attrs(vec![Attr::Str("sum".into())]), 0), Ok(Reduction::Sum));
/// ```
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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::loss::{reduction_attr, Reduction};
/// assert_eq!(reduction_attr("nll_loss", &Attrs(vec![]), 0), Ok(Reduction::Mean));
/// assert_eq!(reduction_attr("nll_loss", &Attrs(vec![Attr::Str("none".into())]), 0), Ok(Reduction::None));
/// assert!(reduction_attr("nll_loss", &Attrs(vec![Attr::Str("avg".into())]), 0).unwrap_err().contains("\"avg\""));
/// ```
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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::loss::check_class_shapes;
/// assert_eq!(check_class_shapes("cross_entropy", &[8, 10], &[8], Some(&[10])), Ok((8, 10)));
/// assert!(check_class_shapes("cross_entropy", &[8, 10], &[7], None).unwrap_err().contains("target must have shape [8]"));
/// assert!(check_class_shapes("cross_entropy", &[8, 10], &[8], Some(&[9])).is_err());
/// ```
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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::Meta;
/// use ferrite_sdk::shape::loss::{class_loss_shape, Reduction};
/// use ferrite_sdk::DType;
/// let ins = [Some(Meta::new(DType::F32, vec![8, 10])), Some(Meta::new(DType::I64, vec![8]))];
/// assert_eq!(class_loss_shape("nll_loss", &ins, Reduction::None).unwrap()[0].shape, vec![8]);
/// assert_eq!(class_loss_shape("nll_loss", &ins, Reduction::Mean).unwrap()[0].shape, Vec::<usize>::new());
/// let bad = [ins[0].clone(), Some(Meta::new(DType::I32, vec![8]))];
/// assert!(class_loss_shape("nll_loss", &bad, Reduction::Sum).unwrap_err().contains("target must be int64"));
/// ```
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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::loss::{ce_attrs, Reduction};
/// assert_eq!(ce_attrs(&Attrs(vec![])), Ok((-100, 0.0, Reduction::Mean)));
/// let a = Attrs(vec![Attr::Int(0), Attr::Float(0.1), Attr::Str("sum".into())]);
/// assert_eq!(ce_attrs(&a), Ok((0, 0.1, Reduction::Sum)));
/// assert!(ce_attrs(&Attrs(vec![Attr::None, Attr::Float(1.5)])).unwrap_err().contains("label_smoothing"));
/// ```
pub fn ce_attrs(attrs: &Attrs) -> Result<(i64, f64, Reduction), String> {
    let ii = int_or(attrs, 0, -100).map_err(|e| format!("cross_entropy: {e}"))?;
    let eps = if attrs.is_none(1) { 0.0 } else { attrs.float(1).map_err(|e| format!("cross_entropy: {e}"))? };
    if !(0.0..=1.0).contains(&eps) {
        return Err(format!("cross_entropy: label_smoothing must be in [0, 1], got {eps}"));
    }
    Ok((ii, eps, reduction_attr("cross_entropy", attrs, 2)?))
}

/// Shape function of `ferrite::cross_entropy`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::loss::cross_entropy_shape, DType};
/// let ins = [Some(Meta::new(DType::F32, vec![4, 3])), Some(Meta::new(DType::I64, vec![4]))];
/// let per_sample = Attrs(vec![Attr::None, Attr::None, Attr::Str("none".into())]);
/// assert_eq!(cross_entropy_shape(&ins, &per_sample).unwrap(), vec![Meta::new(DType::F32, vec![4])]);
/// ```
pub fn cross_entropy_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    class_loss_shape("cross_entropy", ins, ce_attrs(attrs)?.2)
}

/// `(ignore_index, reduction)` of `nll_loss` (defaults -100, "mean").
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::loss::{nll_attrs, Reduction};
/// assert_eq!(nll_attrs(&Attrs(vec![Attr::Int(3)])), Ok((3, Reduction::Mean)));
/// ```
pub fn nll_attrs(attrs: &Attrs) -> Result<(i64, Reduction), String> {
    let ii = int_or(attrs, 0, -100).map_err(|e| format!("nll_loss: {e}"))?;
    Ok((ii, reduction_attr("nll_loss", attrs, 1)?))
}

/// Shape function of `ferrite::nll_loss`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attrs, Meta};
/// use ferrite_sdk::{shape::loss::nll_loss_shape, DType};
/// let ins = [Some(Meta::new(DType::F64, vec![4, 3])), Some(Meta::new(DType::I64, vec![4]))];
/// assert_eq!(nll_loss_shape(&ins, &Attrs(vec![])).unwrap(), vec![Meta::new(DType::F64, vec![])]); // mean: a scalar
/// ```
pub fn nll_loss_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    class_loss_shape("nll_loss", ins, nll_attrs(attrs)?.1)
}
