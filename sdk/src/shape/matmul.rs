//! Shape functions and operand geometry of `matmul`, `bmm` and `linear`.

use super::{check_float, check_same_dtype, opt, req};
use crate::kernel::array::broadcast_shapes;
use crate::kernel::{Attrs, Meta};

/// Shapes of a `torch.matmul` call after 1-D promotion.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::matmul::matmul_plan;
/// // [k] @ [B, k, m]: the vector is promoted to [1, k], broadcast over B, and its dim dropped.
/// let p = matmul_plan("matmul", &[4], &[3, 4, 5]).unwrap();
/// assert_eq!((p.a.clone(), p.b.clone(), p.batch.clone(), p.out.clone()), (vec![1, 4], vec![3, 4, 5], vec![3], vec![3, 5]));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MmPlan {
    /// First operand, promoted to at least 2-d: `[..batch_a, n, k]` (a 1-D `[k]` becomes `[1, k]`).
    pub a: Vec<usize>,
    /// Second operand, promoted to at least 2-d: `[..batch_b, k, m]` (a 1-D `[k]` becomes `[k, 1]`).
    pub b: Vec<usize>,
    /// Broadcast batch dims of the product.
    pub batch: Vec<usize>,
    /// Output shape (batch dims, then `n` unless `a` was 1-D, then `m` unless `b` was 1-D).
    pub out: Vec<usize>,
}

impl MmPlan {
    /// `(n, k, m)` of the per-batch product `[n, k] @ [k, m]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::shape::matmul::matmul_plan;
    /// assert_eq!(matmul_plan("matmul", &[2, 3], &[3, 7]).unwrap().nkm(), (2, 3, 7));
    /// ```
    pub fn nkm(&self) -> (usize, usize, usize) {
        let (ra, rb) = (self.a.len(), self.b.len());
        (self.a[ra - 2], self.a[ra - 1], self.b[rb - 1])
    }

    /// Batch dims of the (promoted) first operand.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::shape::matmul::matmul_plan;
    /// let p = matmul_plan("matmul", &[6, 1, 2, 3], &[5, 3, 4]).unwrap();
    /// assert_eq!((p.a_batch(), p.batch.as_slice()), (&[6, 1][..], &[6, 5][..]));
    /// ```
    pub fn a_batch(&self) -> &[usize] {
        &self.a[..self.a.len() - 2]
    }

    /// Batch dims of the (promoted) second operand.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::shape::matmul::matmul_plan;
    /// assert_eq!(matmul_plan("matmul", &[6, 1, 2, 3], &[5, 3, 4]).unwrap().b_batch(), &[5]);
    /// ```
    pub fn b_batch(&self) -> &[usize] {
        &self.b[..self.b.len() - 2]
    }
}

/// Plans `a @ b` with `torch.matmul` rules (shapes only). Errors (naming `op`) on 0-d operands,
/// mismatched inner dims or non-broadcastable batch dims.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::matmul::matmul_plan;
/// assert_eq!(matmul_plan("matmul", &[3], &[3]).unwrap().out, Vec::<usize>::new()); // dot product
/// assert!(matmul_plan("matmul", &[2, 3], &[4, 5]).unwrap_err().contains("inner dimensions differ"));
/// assert!(matmul_plan("matmul", &[2, 2, 3], &[3, 3, 4]).unwrap_err().contains("batch dims"));
/// ```
pub fn matmul_plan(op: &str, a: &[usize], b: &[usize]) -> Result<MmPlan, String> {
    if a.is_empty() || b.is_empty() {
        return Err(format!("{op}: both operands must be at least 1-d, got shapes {a:?} and {b:?}"));
    }
    let pa = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let pb = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (ra, rb) = (pa.len(), pb.len());
    let (n, k, k2, m) = (pa[ra - 2], pa[ra - 1], pb[rb - 2], pb[rb - 1]);
    if k != k2 {
        return Err(format!("{op}: inner dimensions differ: {a:?} @ {b:?} ({k} vs {k2})"));
    }
    let batch = broadcast_shapes(&pa[..ra - 2], &pb[..rb - 2]).map_err(|e| format!("{op}: batch dims: {e}"))?;
    let mut out = batch.clone();
    if a.len() > 1 {
        out.push(n);
    }
    if b.len() > 1 {
        out.push(m);
    }
    Ok(MmPlan { a: pa, b: pb, batch, out })
}

/// Shape of `ferrite::matmul`: `torch.matmul` rules; output dtype of `input`.
/// Errors on 0-d operands, mismatched inner dims, non-broadcastable batch dims or mixed dtypes.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attrs, Meta};
/// use ferrite_sdk::{shape::matmul::matmul_shape, DType};
/// let m = |s: &[usize]| Some(Meta::new(DType::F32, s.to_vec()));
/// assert_eq!(matmul_shape(&[m(&[10, 2, 3]), m(&[3, 4])], &Attrs(vec![])).unwrap()[0].shape, vec![10, 2, 4]);
/// ```
pub fn matmul_shape(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (a, b) = (req(ins, 0)?, req(ins, 1)?);
    check_float("matmul", "input", a)?;
    check_same_dtype("matmul", "other", a.dtype, Some(b))?;
    Ok(vec![Meta::new(a.dtype, matmul_plan("matmul", &a.shape, &b.shape)?.out)])
}

/// Checks `bmm` operand shapes `[B, n, k]` and `[B, k, m]` (3-d, equal `B` and `k`, no
/// broadcasting); one-line error otherwise.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::matmul::bmm_check;
/// assert!(bmm_check(&[4, 2, 3], &[4, 3, 5]).is_ok());
/// assert!(bmm_check(&[4, 2, 3], &[1, 3, 5]).is_err(), "bmm does not broadcast");
/// ```
pub fn bmm_check(a: &[usize], b: &[usize]) -> Result<(), String> {
    if a.len() != 3 || b.len() != 3 {
        return Err(format!("bmm: both operands must be 3-d [B, n, k] and [B, k, m], got {a:?} and {b:?}"));
    }
    if a[0] != b[0] || a[2] != b[1] {
        return Err(format!("bmm: shapes {a:?} and {b:?} do not match ([B, n, k] @ [B, k, m])"));
    }
    Ok(())
}

/// Shape of `ferrite::bmm`: `[B, n, k] @ [B, k, m] -> [B, n, m]`; errors unless both are 3-d
/// with equal `B` and `k` (no broadcasting) and equal dtypes.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attrs, Meta};
/// use ferrite_sdk::{shape::matmul::bmm_shape, DType};
/// let m = |s: &[usize]| Some(Meta::new(DType::F64, s.to_vec()));
/// assert_eq!(bmm_shape(&[m(&[4, 2, 3]), m(&[4, 3, 5])], &Attrs(vec![])).unwrap(), vec![Meta::new(DType::F64, vec![4, 2, 5])]);
/// ```
pub fn bmm_shape(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (a, b) = (req(ins, 0)?, req(ins, 1)?);
    check_float("bmm", "input", a)?;
    check_same_dtype("bmm", "mat2", a.dtype, Some(b))?;
    bmm_check(&a.shape, &b.shape)?;
    Ok(vec![Meta::new(a.dtype, vec![a.shape[0], a.shape[1], b.shape[2]])])
}

/// Checks `linear` shapes — input `[*, in]` (at least 1-d), weight `[out, in]`, optional bias
/// `[out]` — and returns the output shape `[*, out]`; one-line error otherwise.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::shape::matmul::linear_check;
/// assert_eq!(linear_check(&[8, 5, 16], &[32, 16], Some(&[32])), Ok(vec![8, 5, 32]));
/// assert!(linear_check(&[8, 15], &[32, 16], None).unwrap_err().contains("15 features"));
/// ```
pub fn linear_check(x: &[usize], w: &[usize], b: Option<&[usize]>) -> Result<Vec<usize>, String> {
    if x.is_empty() {
        return Err("linear: input must be at least 1-d [*, in], got a 0-d tensor".into());
    }
    if w.len() != 2 {
        return Err(format!("linear: weight must be 2-d [out, in], got {w:?}"));
    }
    let fin = x[x.len() - 1];
    if w[1] != fin {
        return Err(format!("linear: input has {fin} features but weight is {w:?} ([out, in])"));
    }
    if let Some(b) = b {
        if b != [w[0]] {
            return Err(format!("linear: bias must be [{}], got {b:?}", w[0]));
        }
    }
    let mut out = x.to_vec();
    if let Some(last) = out.last_mut() {
        *last = w[0];
    }
    Ok(out)
}

/// Shape of `ferrite::linear`: input `[*, in]`, weight `[out, in]`, bias `[out]` → `[*, out]`.
/// Errors on a feature mismatch, a non-2-d weight, a bias of the wrong shape or mixed dtypes.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attrs, Meta};
/// use ferrite_sdk::{shape::matmul::linear_shape, DType};
/// let m = |s: &[usize]| Some(Meta::new(DType::F32, s.to_vec()));
/// assert_eq!(linear_shape(&[m(&[8, 16]), m(&[4, 16]), None], &Attrs(vec![])).unwrap()[0].shape, vec![8, 4]);
/// ```
pub fn linear_shape(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (x, w) = (req(ins, 0)?, req(ins, 1)?);
    let b = opt(ins, 2);
    check_float("linear", "input", x)?;
    check_same_dtype("linear", "weight", x.dtype, Some(w))?;
    check_same_dtype("linear", "bias", x.dtype, b)?;
    Ok(vec![Meta::new(x.dtype, linear_check(&x.shape, &w.shape, b.map(|b| &b.shape[..]))?)])
}
