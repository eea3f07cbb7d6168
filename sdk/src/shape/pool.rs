//! Shape functions and geometry of fixed-window 2-D pooling (`max_pool2d`, `avg_pool2d`).

use super::{bool_or, check_float, ints_or, pair, planes, req};
use crate::abi::dtype::DType;
use crate::kernel::{Attrs, Meta};

/// Output length of one pooled axis (PyTorch's `pooling_output_shape`):
/// `floor((n + 2p - d(k-1) - 1 + (ceil ? s-1 : 0)) / s) + 1`, minus one in ceil mode when the last
/// window would start at or past `n + p` (it must start inside the input or the left padding).
/// `None` when the result is < 1.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::pool::pool_out_len;
/// // PyTorch's formula: floor((n + 2p - d(k-1) - 1) / s) + 1.
/// assert_eq!(pool_out_len(7, 2, 2, 0, 1, false), Some(3));
/// assert_eq!(pool_out_len(7, 2, 2, 0, 1, true), Some(4)); // ceil_mode keeps the partial window
/// assert_eq!(pool_out_len(1, 3, 1, 0, 1, false), None); // kernel larger than the input
/// ```
pub fn pool_out_len(n: usize, k: usize, s: usize, p: usize, d: usize, ceil_mode: bool) -> Option<usize> {
    let (n, k, s, p, d) = (n as i64, k as i64, s as i64, p as i64, d as i64);
    let numer = n + 2 * p - d * (k - 1) - 1 + if ceil_mode { s - 1 } else { 0 };
    let mut out = numer.div_euclid(s) + 1;
    if ceil_mode && out > 0 && (out - 1) * s >= n + p {
        out -= 1;
    }
    (out >= 1).then_some(out as usize)
}

/// Validated geometry of a pooling call over `[.., H, W]`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::pool::max_pool_geom;
/// let g = max_pool_geom(&[2, 3, 8, 8], &Attrs(vec![Attr::Ints(vec![3]), Attr::Ints(vec![2]), Attr::Ints(vec![1])])).unwrap();
/// assert_eq!((g.lead.clone(), g.planes, g.k, g.s, g.p, g.d, g.out), (vec![2, 3], 6, [3, 3], [2, 2], [1, 1], [1, 1], [4, 4]));
/// ```
#[derive(Clone, Debug)]
pub struct PoolGeom {
    /// Leading dims (`[N, C]` or `[C]`).
    pub lead: Vec<usize>,
    /// Number of `H×W` planes.
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel size.
    pub k: [usize; 2],
    /// Stride.
    pub s: [usize; 2],
    /// Padding.
    pub p: [usize; 2],
    /// Dilation (`[1, 1]` for average pooling).
    pub d: [usize; 2],
    /// Output height and width.
    pub out: [usize; 2],
}

impl PoolGeom {
    /// Output shape `[.., oh, ow]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::{Attr, Attrs};
    /// use ferrite_sdk::shape::pool::avg_pool_geom;
    /// assert_eq!(avg_pool_geom(&[3, 8, 6], &Attrs(vec![Attr::Ints(vec![2])])).unwrap().out_shape(), vec![3, 4, 3]);
    /// ```
    pub fn out_shape(&self) -> Vec<usize> {
        [self.lead.clone(), vec![self.out[0], self.out[1]]].concat()
    }
}

/// Shared validation: attrs 0..=2 are (kernel_size, stride, padding); `dilation_at` and `ceil_at`
/// give the positions of dilation (max only) and ceil_mode.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::pool::pool_geom;
/// // Attrs (kernel_size, stride, padding, dilation, ceil_mode): dilation at 3, ceil_mode at 4.
/// let attrs = Attrs(vec![Attr::Ints(vec![2]), Attr::None, Attr::None, Attr::None, Attr::Bool(true)]);
/// assert_eq!(pool_geom("max_pool2d", &[1, 1, 7, 7], &attrs, Some(3), 4).unwrap().out, [4, 4]);
/// let big_pad = Attrs(vec![Attr::Ints(vec![2]), Attr::None, Attr::Ints(vec![2])]);
/// assert!(pool_geom("max_pool2d", &[1, 1, 7, 7], &big_pad, Some(3), 4).unwrap_err().contains("at most half"));
/// ```
pub fn pool_geom(op: &str, shape: &[usize], attrs: &Attrs, dilation_at: Option<usize>, ceil_at: usize) -> Result<PoolGeom, String> {
    if attrs.is_none(0) {
        return Err(format!("{op}: kernel_size is required"));
    }
    let k = pair(op, "kernel_size", &attrs.ints(0)?, 1)?;
    let sv = ints_or(attrs, 1, &[])?;
    let s = if sv.is_empty() { k } else { pair(op, "stride", &sv, 1)? };
    let p = pair(op, "padding", &ints_or(attrs, 2, &[0, 0])?, 0)?;
    let d = match dilation_at {
        Some(i) => pair(op, "dilation", &ints_or(attrs, i, &[1, 1])?, 1)?,
        None => [1, 1],
    };
    let ceil = bool_or(attrs, ceil_at, false)?;
    if p[0] > k[0] / 2 || p[1] > k[1] / 2 {
        return Err(format!("{op}: padding {p:?} must be at most half the kernel size {k:?}"));
    }
    let (np, h, w) = planes(op, shape)?;
    let oh = pool_out_len(h, k[0], s[0], p[0], d[0], ceil);
    let ow = pool_out_len(w, k[1], s[1], p[1], d[1], ceil);
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Err(format!("{op}: input {h}x{w} too small for kernel {k:?}, stride {s:?}, padding {p:?}, dilation {d:?}"));
    };
    Ok(PoolGeom { lead: shape[..shape.len() - 2].to_vec(), planes: np, h, w, k, s, p, d, out: [oh, ow] })
}

/// Geometry of `max_pool2d` (attrs kernel_size, stride, padding, dilation, ceil_mode).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::pool::max_pool_geom;
/// // Stride defaults to the kernel size.
/// assert_eq!(max_pool_geom(&[1, 4, 8, 8], &Attrs(vec![Attr::Ints(vec![2, 4])])).unwrap().out, [4, 2]);
/// ```
pub fn max_pool_geom(shape: &[usize], attrs: &Attrs) -> Result<PoolGeom, String> {
    pool_geom("max_pool2d", shape, attrs, Some(3), 4)
}

/// Geometry of `avg_pool2d` (attrs kernel_size, stride, padding, ceil_mode, count_include_pad).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::pool::avg_pool_geom;
/// // avg_pool2d has no dilation; ceil_mode is attribute 3.
/// let g = avg_pool_geom(&[1, 1, 5, 5], &Attrs(vec![Attr::Ints(vec![2]), Attr::None, Attr::None, Attr::Bool(true)])).unwrap();
/// assert_eq!((g.d, g.out), ([1, 1], [3, 3]));
/// ```
pub fn avg_pool_geom(shape: &[usize], attrs: &Attrs) -> Result<PoolGeom, String> {
    pool_geom("avg_pool2d", shape, attrs, None, 3)
}

/// Shape of `ferrite::max_pool2d`: `(out [.., oh, ow] of the input dtype, indices [.., oh, ow] i64)`.
/// Errors on a non 3/4-d input, kernel/stride/dilation < 1, padding > kernel/2 or an empty output.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::pool::max_pool2d_shape, DType};
/// let out = max_pool2d_shape(&[Some(Meta::new(DType::F32, vec![1, 2, 6, 6]))], &Attrs(vec![Attr::Ints(vec![2])])).unwrap();
/// assert_eq!(out, vec![Meta::new(DType::F32, vec![1, 2, 3, 3]), Meta::new(DType::I64, vec![1, 2, 3, 3])]); // values, indices
/// ```
pub fn max_pool2d_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    check_float("max_pool2d", "input", x)?;
    let s = max_pool_geom(&x.shape, attrs)?.out_shape();
    Ok(vec![Meta::new(x.dtype, s.clone()), Meta::new(DType::I64, s)])
}

/// Shape of `ferrite::avg_pool2d`: `[.., oh, ow]`, input dtype; errors as [`max_pool2d_shape`].
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::pool::avg_pool2d_shape, DType};
/// let out = avg_pool2d_shape(&[Some(Meta::new(DType::F64, vec![2, 6, 6]))], &Attrs(vec![Attr::Ints(vec![3])])).unwrap();
/// assert_eq!(out, vec![Meta::new(DType::F64, vec![2, 2, 2])]);
/// ```
pub fn avg_pool2d_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    check_float("avg_pool2d", "input", x)?;
    Ok(vec![Meta::new(x.dtype, avg_pool_geom(&x.shape, attrs)?.out_shape())])
}
