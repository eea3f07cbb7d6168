//! Shape function and layout of `softmax` / `log_softmax` along one dim.

use super::reduce::split_at_dim;
use super::{norm_dim, req};
use crate::kernel::{Attrs, Meta};

/// `(outer, len, inner)` of `shape` split at attr `dim` (required int, attribute 0).
pub fn softmax_layout(op: &str, shape: &[usize], attrs: &Attrs) -> Result<(usize, usize, usize), String> {
    let d = attrs.int(0).map_err(|e| format!("{op}: dim: {e}"))?;
    Ok(split_at_dim(shape, norm_dim(d, shape.len()).map_err(|e| format!("{op}: {e}"))?))
}

/// Shape function of both ops: the input's shape and dtype (after validating `dim`).
pub fn softmax_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    softmax_layout("softmax", &x.shape, attrs)?;
    Ok(vec![x.clone()])
}
