//! Shape function and geometry of `layer_norm`.

use super::{check_float, check_same_dtype, opt, req};
use crate::kernel::{Attrs, Meta};

/// Leading dims and the normalised size; errors unless the input's trailing dims equal
/// `normalized_shape` (attribute 0, non-empty) and weight/bias (if given) have exactly that shape.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::norm::ln_geom;
/// let attrs = Attrs(vec![Attr::Ints(vec![5, 16])]);
/// assert_eq!(ln_geom(&[2, 5, 16], Some(&[5, 16]), None, &attrs), Ok((vec![2], 80)));
/// assert!(ln_geom(&[2, 5, 8], None, None, &attrs).unwrap_err().contains("does not end with"));
/// ```
pub fn ln_geom(x: &[usize], w: Option<&[usize]>, b: Option<&[usize]>, attrs: &Attrs) -> Result<(Vec<usize>, usize), String> {
    let op = "layer_norm";
    if attrs.is_none(0) {
        return Err(format!("{op}: normalized_shape is required"));
    }
    let ns = attrs.ints(0)?;
    if ns.is_empty() || ns.iter().any(|&d| d < 0) {
        return Err(format!("{op}: normalized_shape must be a non-empty list of sizes, got {ns:?}"));
    }
    let ns: Vec<usize> = ns.iter().map(|&d| d as usize).collect();
    if x.len() < ns.len() || x[x.len() - ns.len()..] != ns[..] {
        return Err(format!("{op}: input shape {x:?} does not end with normalized_shape {ns:?}"));
    }
    for (name, t) in [("weight", w), ("bias", b)] {
        if let Some(t) = t {
            if t != &ns[..] {
                return Err(format!("{op}: {name} must have shape {ns:?}, got {t:?}"));
            }
        }
    }
    Ok((x[..x.len() - ns.len()].to_vec(), ns.iter().product()))
}

/// Shape of `ferrite::layer_norm`: `(out = input shape, mean, rstd = leading dims)`, all input dtype.
/// Errors on a normalized_shape that is empty or does not match the input's trailing dims, a
/// weight/bias of another shape, or mixed dtypes.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::norm::layer_norm_shape, DType};
/// let out = layer_norm_shape(&[Some(Meta::new(DType::F32, vec![2, 3, 8]))], &Attrs(vec![Attr::Ints(vec![8])])).unwrap();
/// let shapes: Vec<Vec<usize>> = out.into_iter().map(|m| m.shape).collect();
/// assert_eq!(shapes, vec![vec![2, 3, 8], vec![2, 3], vec![2, 3]]); // out, mean, rstd
/// ```
pub fn layer_norm_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    let (w, b) = (opt(ins, 1), opt(ins, 2));
    check_float("layer_norm", "input", x)?;
    check_same_dtype("layer_norm", "weight", x.dtype, w)?;
    check_same_dtype("layer_norm", "bias", x.dtype, b)?;
    let (lead, _) = ln_geom(&x.shape, w.map(|t| &t.shape[..]), b.map(|t| &t.shape[..]), attrs)?;
    Ok(vec![Meta::new(x.dtype, x.shape.clone()), Meta::new(x.dtype, lead.clone()), Meta::new(x.dtype, lead)])
}
