//! Shape functions and geometry of adaptive pooling and spatial pyramid pooling (PyTorch's
//! adaptive bin rule).

use super::{check_float, ints_or, planes, req, str_or};
use crate::abi::dtype::DType;
use crate::kernel::{Attrs, Meta};

/// Bin `i` of an axis of length `n` pooled to `m`: `[floor(i·n/m), ceil((i+1)·n/m))`
/// (PyTorch's `start_index`/`end_index`; bins may overlap, `m > n` repeats elements).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::adaptive::adaptive_bin;
/// // 5 inputs into 3 bins: [0, 2), [1, 4), [3, 5) (bins overlap when m does not divide n).
/// assert_eq!((0..3).map(|i| adaptive_bin(i, 5, 3)).collect::<Vec<_>>(), vec![(0, 2), (1, 4), (3, 5)]);
/// ```
pub fn adaptive_bin(i: usize, n: usize, m: usize) -> (usize, usize) {
    (i * n / m, ((i + 1) * n).div_ceil(m))
}

/// (planes, h, w, oh, ow, output shape) of an adaptive pooling call.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::adaptive::{adaptive_geom, AdaptiveGeom};
/// let g: AdaptiveGeom = adaptive_geom("adaptive_avg_pool2d", &[2, 3, 7, 5], &Attrs(vec![Attr::Ints(vec![2])])).unwrap();
/// assert_eq!(g, (6, 7, 5, 2, 2, vec![2, 3, 2, 2])); // (planes, H, W, oH, oW, output shape)
/// ```
pub type AdaptiveGeom = (usize, usize, usize, usize, usize, Vec<usize>);

/// Validates `[.., H, W]` (3-d or 4-d, `H, W ≥ 1`) and `output_size` (attr 0: `[oh, ow]`, a single
/// value means both, each ≥ 0). Returns (planes, h, w, oh, ow, output shape).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::adaptive::adaptive_geom;
/// let g = adaptive_geom("adaptive_max_pool2d", &[3, 8, 8], &Attrs(vec![Attr::Ints(vec![4, 2])])).unwrap();
/// assert_eq!((g.3, g.4, g.5), (4, 2, vec![3, 4, 2]));
/// assert!(adaptive_geom("adaptive_max_pool2d", &[3, 8, 8], &Attrs(vec![Attr::None])).unwrap_err().contains("output_size is required"));
/// ```
pub fn adaptive_geom(op: &str, shape: &[usize], attrs: &Attrs) -> Result<AdaptiveGeom, String> {
    if attrs.is_none(0) {
        return Err(format!("{op}: output_size is required"));
    }
    let os = attrs.ints(0)?;
    let (oh, ow) = match os[..] {
        [a] => (a, a),
        [a, b] => (a, b),
        _ => return Err(format!("{op}: output_size must have 1 or 2 values, got {os:?}")),
    };
    if oh < 0 || ow < 0 {
        return Err(format!("{op}: output_size must be non-negative, got {os:?}"));
    }
    let (np, h, w) = planes(op, shape)?;
    if h == 0 || w == 0 {
        return Err(format!("{op}: input spatial size must be non-empty, got {shape:?}"));
    }
    let out = [&shape[..shape.len() - 2], &[oh as usize, ow as usize]].concat();
    Ok((np, h, w, oh as usize, ow as usize, out))
}

/// Shape of `ferrite::adaptive_max_pool2d`: `(out [.., oh, ow] input dtype, indices [.., oh, ow] i64)`.
/// Errors on a non 3/4-d or spatially empty input and on a bad `output_size`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::adaptive::adaptive_max_pool2d_shape, DType};
/// let out = adaptive_max_pool2d_shape(&[Some(Meta::new(DType::F32, vec![1, 4, 9, 9]))], &Attrs(vec![Attr::Ints(vec![3])])).unwrap();
/// assert_eq!(out, vec![Meta::new(DType::F32, vec![1, 4, 3, 3]), Meta::new(DType::I64, vec![1, 4, 3, 3])]); // values, indices
/// ```
pub fn adaptive_max_pool2d_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    check_float("adaptive_max_pool2d", "input", x)?;
    let out = adaptive_geom("adaptive_max_pool2d", &x.shape, attrs)?.5;
    Ok(vec![Meta::new(x.dtype, out.clone()), Meta::new(DType::I64, out)])
}

/// Shape of `ferrite::adaptive_avg_pool2d`: `[.., oh, ow]`, input dtype; errors as the max variant.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::adaptive::adaptive_avg_pool2d_shape, DType};
/// let out = adaptive_avg_pool2d_shape(&[Some(Meta::new(DType::F64, vec![2, 9, 9]))], &Attrs(vec![Attr::Ints(vec![1, 3])])).unwrap();
/// assert_eq!(out, vec![Meta::new(DType::F64, vec![2, 1, 3])]);
/// ```
pub fn adaptive_avg_pool2d_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    check_float("adaptive_avg_pool2d", "input", x)?;
    Ok(vec![Meta::new(x.dtype, adaptive_geom("adaptive_avg_pool2d", &x.shape, attrs)?.5)])
}

/// Validated SPP call: (n, c, h, w, levels, is_max, total bins per channel Σl²).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::adaptive::{spp_geom, SppGeom};
/// let g: SppGeom = spp_geom(&[2, 8, 13, 13], &Attrs(vec![Attr::Ints(vec![1, 2]), Attr::Str("avg".into())])).unwrap();
/// assert_eq!(g, (2, 8, 13, 13, vec![1, 2], false, 5)); // (N, C, H, W, levels, is_max, bins per channel)
/// ```
pub type SppGeom = (usize, usize, usize, usize, Vec<usize>, bool, usize);

/// Validates an SPP call: 4-d `[N, C, H, W]` input with `H, W ≥ 1`, attrs `(levels = [1,2,4],
/// mode = "max" | "avg")`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::adaptive::spp_geom;
/// let g = spp_geom(&[1, 4, 6, 6], &Attrs(vec![])).unwrap(); // defaults: levels [1, 2, 4], "max"
/// assert_eq!((g.4.clone(), g.5, g.6), (vec![1, 2, 4], true, 21));
/// assert!(spp_geom(&[1, 4, 6, 6], &Attrs(vec![Attr::None, Attr::Str("median".into())])).unwrap_err().contains("mode"));
/// ```
pub fn spp_geom(shape: &[usize], attrs: &Attrs) -> Result<SppGeom, String> {
    let op = "spatial_pyramid_pool";
    let levels = ints_or(attrs, 0, &[1, 2, 4])?;
    if levels.is_empty() || levels.iter().any(|&l| l < 1) {
        return Err(format!("{op}: levels must be a non-empty list of sizes >= 1, got {levels:?}"));
    }
    let mode = str_or(attrs, 1, "max")?;
    let is_max = match mode.as_str() {
        "max" => true,
        "avg" => false,
        m => return Err(format!("{op}: mode must be \"max\" or \"avg\", got {m:?}")),
    };
    if shape.len() != 4 || shape[2] == 0 || shape[3] == 0 {
        return Err(format!("{op}: input must be 4-d [N, C, H, W] with H, W >= 1, got {shape:?}"));
    }
    let levels: Vec<usize> = levels.iter().map(|&l| l as usize).collect();
    let total = levels
        .iter()
        .try_fold(0usize, |acc, &l| l.checked_mul(l).and_then(|b| acc.checked_add(b)))
        .and_then(|t| t.checked_mul(shape[1].max(1)).map(|_| t))
        .ok_or_else(|| format!("{op}: levels {levels:?} give too many bins"))?;
    Ok((shape[0], shape[1], shape[2], shape[3], levels, is_max, total))
}

/// Shape of `ferrite::spatial_pyramid_pool`: `[N, C·Σl²]`, input dtype. Errors on a non 4-d or
/// spatially empty input, empty or non-positive levels, or an unknown mode.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attrs, Meta};
/// use ferrite_sdk::{shape::adaptive::spatial_pyramid_pool_shape, DType};
/// // Any H×W gives a fixed-length vector: C · (1 + 4 + 16) features (He et al. 2015).
/// for hw in [8, 13] {
///     let out = spatial_pyramid_pool_shape(&[Some(Meta::new(DType::F32, vec![2, 4, hw, hw]))], &Attrs(vec![])).unwrap();
///     assert_eq!(out[0].shape, vec![2, 4 * 21]);
/// }
/// ```
pub fn spatial_pyramid_pool_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    check_float("spatial_pyramid_pool", "input", x)?;
    let (n, c, _, _, _, _, total) = spp_geom(&x.shape, attrs)?;
    Ok(vec![Meta::new(x.dtype, vec![n, c * total])])
}
