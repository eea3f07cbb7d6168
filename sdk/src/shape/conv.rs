//! Shape function and validated geometry of `conv2d`.

use super::{check_float, check_same_dtype, int_or, ints_or, opt, pair, req};
use crate::kernel::{Attrs, Meta};

/// Validated geometry of one conv2d call.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::conv::conv2d_geom;
/// // stride 2, padding 1, dilation 1, groups 2: [1, 4, 9, 9] * [6, 2, 3, 3] -> [1, 6, 5, 5].
/// let attrs = Attrs(vec![Attr::Ints(vec![2]), Attr::Ints(vec![1]), Attr::None, Attr::Int(2)]);
/// let g = conv2d_geom(&[1, 4, 9, 9], &[6, 2, 3, 3], Some(&[6]), &attrs).unwrap();
/// assert_eq!((g.o, g.k, g.stride, g.padding, g.groups, g.out), (6, [3, 3], [2, 2], [1, 1], 2, [5, 5]));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dGeom {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub o: usize,
    /// Kernel height and width.
    pub k: [usize; 2],
    /// Stride (≥ 1).
    pub stride: [usize; 2],
    /// Zero padding on each side.
    pub padding: [usize; 2],
    /// Dilation (≥ 1).
    pub dilation: [usize; 2],
    /// Groups (divides `c` and `o`).
    pub groups: usize,
    /// Output height and width (≥ 1).
    pub out: [usize; 2],
}

impl Conv2dGeom {
    /// Output shape `[N, O, H', W']`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Attrs;
    /// use ferrite_sdk::shape::conv::conv2d_geom;
    /// assert_eq!(conv2d_geom(&[2, 3, 8, 8], &[16, 3, 3, 3], None, &Attrs(vec![])).unwrap().out_shape(), vec![2, 16, 6, 6]);
    /// ```
    pub fn out_shape(&self) -> Vec<usize> {
        vec![self.n, self.o, self.out[0], self.out[1]]
    }
}

/// Checks shapes and attrs `(stride, padding, dilation, groups)` of a conv2d call:
/// input `[N, C, H, W]`, weight `[O, C/groups, kH, kW]`, bias `[O]`. Output size
/// `(H + 2p - d(k-1) - 1)/s + 1` must be ≥ 1. Errors (one line) on any violation.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// use ferrite_sdk::shape::conv::conv2d_geom;
/// let none = Attrs(vec![]);
/// assert!(conv2d_geom(&[1, 3, 8, 8], &[4, 2, 3, 3], None, &none).unwrap_err().contains("expects 2 input channels"));
/// assert!(conv2d_geom(&[1, 3, 2, 2], &[4, 3, 3, 3], None, &none).unwrap_err().contains("output would be empty"));
/// let dilated = Attrs(vec![Attr::None, Attr::None, Attr::Ints(vec![2])]);
/// assert_eq!(conv2d_geom(&[1, 3, 8, 8], &[4, 3, 3, 3], None, &dilated).unwrap().out, [4, 4]);
/// ```
pub fn conv2d_geom(x: &[usize], wt: &[usize], bias: Option<&[usize]>, attrs: &Attrs) -> Result<Conv2dGeom, String> {
    let op = "conv2d";
    let stride = pair(op, "stride", &ints_or(attrs, 0, &[1, 1])?, 1)?;
    let padding = pair(op, "padding", &ints_or(attrs, 1, &[0, 0])?, 0)?;
    let dilation = pair(op, "dilation", &ints_or(attrs, 2, &[1, 1])?, 1)?;
    let groups = int_or(attrs, 3, 1)?;
    if groups < 1 {
        return Err(format!("{op}: groups must be >= 1, got {groups}"));
    }
    let groups = groups as usize;
    if x.len() != 4 {
        return Err(format!("{op}: input must be 4-d [N, C, H, W], got shape {x:?}"));
    }
    if wt.len() != 4 {
        return Err(format!("{op}: weight must be 4-d [O, C/groups, kH, kW], got shape {wt:?}"));
    }
    let (n, c, h, w) = (x[0], x[1], x[2], x[3]);
    let o = wt[0];
    if !c.is_multiple_of(groups) || !o.is_multiple_of(groups) {
        return Err(format!("{op}: groups={groups} must divide input channels {c} and output channels {o}"));
    }
    if wt[1] * groups != c {
        return Err(format!("{op}: weight {wt:?} expects {} input channels (groups={groups}), input has {c}", wt[1] * groups));
    }
    if let Some(b) = bias {
        if b != [o] {
            return Err(format!("{op}: bias must be [{o}], got {b:?}"));
        }
    }
    let k = [wt[2], wt[3]];
    let mut out = [0; 2];
    for i in 0..2 {
        let size = [h, w][i] + 2 * padding[i];
        let eff = dilation[i] * (k[i].max(1) - 1) + 1;
        if k[i] == 0 || size < eff {
            return Err(format!(
                "{op}: kernel {k:?} (dilation {dilation:?}) larger than padded input {:?}; output would be empty",
                [h + 2 * padding[0], w + 2 * padding[1]]
            ));
        }
        out[i] = (size - eff) / stride[i] + 1;
    }
    Ok(Conv2dGeom { n, c, h, w, o, k, stride, padding, dilation, groups, out })
}

/// Shape of `ferrite::conv2d`: `[N, O, H', W']` with `H' = (H + 2p - d(kH-1) - 1)/s + 1`, dtype of
/// the input. Errors as [`conv2d_geom`], and on mixed dtypes.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs, Meta};
/// use ferrite_sdk::{shape::conv::conv2d_shape, DType};
/// let m = |s: &[usize]| Some(Meta::new(DType::F32, s.to_vec()));
/// let same = Attrs(vec![Attr::Ints(vec![1]), Attr::Ints(vec![1])]); // stride 1, padding 1
/// assert_eq!(conv2d_shape(&[m(&[2, 3, 8, 8]), m(&[16, 3, 3, 3]), m(&[16])], &same).unwrap(), vec![Meta::new(DType::F32, vec![2, 16, 8, 8])]);
/// ```
pub fn conv2d_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (x, w) = (req(ins, 0)?, req(ins, 1)?);
    let b = opt(ins, 2);
    check_float("conv2d", "input", x)?;
    check_same_dtype("conv2d", "weight", x.dtype, Some(w))?;
    check_same_dtype("conv2d", "bias", x.dtype, b)?;
    let g = conv2d_geom(&x.shape, &w.shape, b.map(|b| &b.shape[..]), attrs)?;
    Ok(vec![Meta::new(x.dtype, g.out_shape())])
}
