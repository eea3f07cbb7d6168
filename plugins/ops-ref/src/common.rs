//! Shape helpers shared by the reference ops.

use ferrite_sdk::kernel::{Attrs, Meta};

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

/// Shape function for ops whose single output has the shape and dtype of input 0.
pub fn same_as_input(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    Ok(vec![req(ins, 0)?.clone()])
}
