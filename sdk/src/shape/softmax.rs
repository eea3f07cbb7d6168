//! Shape function and layout of `softmax` / `log_softmax` along one dim.

use super::reduce::split_at_dim;
use super::{norm_dim, req};
use crate::kernel::{Attrs, Meta};

/// `(outer, len, inner)` of `shape` split at attr `dim` (required int, attribute 0).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::softmax::softmax_layout;
/// assert_eq!(softmax_layout("softmax", &[2, 3, 4], &Attrs(vec![Attr::Int(1)])), Ok((2, 3, 4)));
/// assert!(softmax_layout("softmax", &[2, 3], &Attrs(vec![Attr::Int(2)])).unwrap_err().contains("out of range"));
/// ```
pub fn softmax_layout(op: &str, shape: &[usize], attrs: &Attrs) -> Result<(usize, usize, usize), String> {
    let d = attrs.int(0).map_err(|e| format!("{op}: dim: {e}"))?;
    Ok(split_at_dim(shape, norm_dim(d, shape.len()).map_err(|e| format!("{op}: {e}"))?))
}

/// Shape function of both ops: the input's shape and dtype (after validating `dim`).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::softmax::softmax_shape, DType};
/// let x = Meta::new(DType::BF16, vec![8, 10]);
/// assert_eq!(softmax_shape(&[Some(x.clone())], &Attrs(vec![Attr::Int(-1)])).unwrap(), vec![x]);
/// ```
pub fn softmax_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    softmax_layout("softmax", &x.shape, attrs)?;
    Ok(vec![x.clone()])
}
