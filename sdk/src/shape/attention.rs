//! Shape function of `ferrite::scaled_dot_product_attention` (Vaswani et al. 2017, eq. 1), shared
//! by ops-ref (the oracle) and ops-cpu (FlashAttention), plus the validated geometry both
//! kernels start from.

use super::{check_float, check_same_dtype, opt, req};
use crate::abi::dtype::DType;
use crate::kernel::array::broadcast_shapes;
use crate::kernel::{Attrs, Meta};

/// Validated geometry of one attention call.
///
/// Query `[..., L, E]`, key `[..., S, E]`, value `[..., S, Ev]` with equal batch dims `...`;
/// the optional mask broadcasts to `[..., L, S]`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::attention::sdpa_geom;
/// // 2 batches × 4 heads; 5 queries attend over 7 keys of size 16; values of size 8.
/// let g = sdpa_geom(&[2, 4, 5, 16], &[2, 4, 7, 16], &[2, 4, 7, 8], Some(&[5, 7])).unwrap();
/// assert_eq!((g.batch.clone(), g.l, g.s, g.e, g.ev), (vec![2, 4], 5, 7, 16, 8));
/// assert_eq!(g.mask, Some(vec![5, 7]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdpaGeom {
    /// The batch dims `...` (possibly empty).
    pub batch: Vec<usize>,
    /// Number of queries `L`.
    pub l: usize,
    /// Number of keys/values `S`.
    pub s: usize,
    /// Query/key embedding size `E`.
    pub e: usize,
    /// Value embedding size `Ev`.
    pub ev: usize,
    /// Shape of the mask, if one was given.
    pub mask: Option<Vec<usize>>,
}

impl SdpaGeom {
    /// Product of the batch dims (1 for none).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::shape::attention::sdpa_geom;
    /// assert_eq!(sdpa_geom(&[2, 4, 5, 16], &[2, 4, 7, 16], &[2, 4, 7, 8], None).unwrap().batch_numel(), 8);
    /// assert_eq!(sdpa_geom(&[5, 16], &[7, 16], &[7, 8], None).unwrap().batch_numel(), 1);
    /// ```
    pub fn batch_numel(&self) -> usize {
        self.batch.iter().product()
    }

    /// The shape `[..., L, S]` the mask broadcasts to.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::shape::attention::sdpa_geom;
    /// assert_eq!(sdpa_geom(&[3, 5, 16], &[3, 7, 16], &[3, 7, 8], None).unwrap().score_shape(), vec![3, 5, 7]);
    /// ```
    pub fn score_shape(&self) -> Vec<usize> {
        [self.batch.clone(), vec![self.l, self.s]].concat()
    }
}

/// Checks the shapes of query `q`, key `k`, value `v` and optional mask `mask` and returns the
/// geometry. Errors (one line, naming the op) on rank < 2, unequal ranks or batch dims, key
/// embedding size unlike the query's, value length unlike the key's, or a mask that does not
/// broadcast to `[..., L, S]` (a mask may have fewer dims; it may not have more).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::attention::sdpa_geom;
/// assert!(sdpa_geom(&[5, 16], &[7, 16], &[7, 8], None).is_ok());
/// assert!(sdpa_geom(&[5, 16], &[7, 12], &[7, 8], None).unwrap_err().contains("key embedding size 12"));
/// assert!(sdpa_geom(&[5, 16], &[7, 16], &[6, 8], None).unwrap_err().contains("value has 6 positions"));
/// assert!(sdpa_geom(&[5, 16], &[7, 16], &[7, 8], Some(&[2, 5, 7])).unwrap_err().contains("cannot be broadcast"));
/// ```
pub fn sdpa_geom(q: &[usize], k: &[usize], v: &[usize], mask: Option<&[usize]>) -> Result<SdpaGeom, String> {
    let op = "scaled_dot_product_attention";
    if q.len() < 2 || k.len() != q.len() || v.len() != q.len() {
        return Err(format!("{op}: query, key and value must have the same rank >= 2, got {q:?}, {k:?}, {v:?}"));
    }
    let r = q.len();
    let batch = q[..r - 2].to_vec();
    if k[..r - 2] != batch[..] || v[..r - 2] != batch[..] {
        return Err(format!("{op}: batch dims of query {q:?}, key {k:?} and value {v:?} must match"));
    }
    let (l, e, s, ev) = (q[r - 2], q[r - 1], k[r - 2], v[r - 1]);
    if k[r - 1] != e {
        return Err(format!("{op}: key embedding size {} differs from query's {e}", k[r - 1]));
    }
    if v[r - 2] != s {
        return Err(format!("{op}: value has {} positions but key has {s}", v[r - 2]));
    }
    let target = [batch.clone(), vec![l, s]].concat();
    if let Some(m) = mask {
        let ok = m.len() <= target.len() && broadcast_shapes(m, &target).map(|b| b == target).unwrap_or(false);
        if !ok {
            return Err(format!("{op}: attn_mask of shape {m:?} cannot be broadcast to {target:?}"));
        }
    }
    Ok(SdpaGeom { batch, l, s, e, ev, mask: mask.map(|m| m.to_vec()) })
}

/// Shape function of `ferrite::scaled_dot_product_attention(query, key, value, attn_mask?)`:
/// one output `[..., L, Ev]` in the query's dtype. Errors on a non-float query, key/value dtypes
/// unlike the query's, a mask that is neither bool nor floating, and every shape error of
/// [`sdpa_geom`]. Attributes (`is_causal`, `scale`) do not affect the shape.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attrs, Meta};
/// use ferrite_sdk::{shape::attention::sdpa_shape, DType};
/// let m = |s: &[usize]| Some(Meta::new(DType::F32, s.to_vec()));
/// let mask = Some(Meta::new(DType::BOOL, vec![5, 7]));
/// let out = sdpa_shape(&[m(&[2, 5, 16]), m(&[2, 7, 16]), m(&[2, 7, 8]), mask], &Attrs(vec![])).unwrap();
/// assert_eq!(out, vec![Meta::new(DType::F32, vec![2, 5, 8])]);
/// ```
pub fn sdpa_shape(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let op = "scaled_dot_product_attention";
    let (q, k, v) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
    let m = opt(ins, 3);
    check_float(op, "query", q)?;
    check_same_dtype(op, "key", q.dtype, Some(k))?;
    check_same_dtype(op, "value", q.dtype, Some(v))?;
    if let Some(m) = m {
        if !m.dtype.is_float() && m.dtype != DType::BOOL {
            return Err(format!("{op}: attn_mask must be bool or floating, got {}", m.dtype.name()));
        }
    }
    let g = sdpa_geom(&q.shape, &k.shape, &v.shape, m.map(|m| &m.shape[..]))?;
    Ok(vec![Meta::new(q.dtype, [g.batch, vec![g.l, g.ev]].concat())])
}
