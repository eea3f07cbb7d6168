//! Joining and indexing tensors (`cat`, `stack`, `index_select`, `gather`) and constant tensors
//! shaped like another (`full_like`, `scalar_like`).

use crate::abi::dtype::DType;
use crate::error::Result;
use crate::kernel::Attr;
use crate::tensor::Tensor;
use crate::call1;

/// Concatenation along `dim` (all other dims equal). Op `ferrite::cat`, variadic input, attrs `(dim: int = 0)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let a = host.ones(&[2, 3], DType::F32)?;
/// let b = host.zeros(&[1, 3], DType::F32)?;
/// assert_eq!(F::cat(&[&a, &b], 0)?.shape(), vec![3, 3]);
/// # Ok(())
/// # }
/// ```
pub fn cat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
    static OP: super::call::OpCache = super::call::OpCache::new("ferrite::cat");
    let ins: Vec<Option<&Tensor>> = tensors.iter().map(|t| Some(*t)).collect();
    Ok(super::call::call_op(&OP, &ins, &[Attr::Int(dim as i64)], 1)?.remove(0))
}

/// Stacks equal-shaped tensors along a new `dim`. Op `ferrite::stack`, variadic input, attrs `(dim: int = 0)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let a = host.ones(&[3], DType::F32)?;
/// assert_eq!(F::stack(&[&a, &a], 0)?.shape(), vec![2, 3]);
/// # Ok(())
/// # }
/// ```
pub fn stack(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
    static OP: super::call::OpCache = super::call::OpCache::new("ferrite::stack");
    let ins: Vec<Option<&Tensor>> = tensors.iter().map(|t| Some(*t)).collect();
    Ok(super::call::call_op(&OP, &ins, &[Attr::Int(dim as i64)], 1)?.remove(0))
}

/// Selects entries along `dim` by a 1-D i64 `index`. Op `ferrite::index_select`,
/// inputs `(input, index)`, attrs `(dim: int)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.arange(6, DType::I64)?.reshape(&[3, 2])?;
/// let idx = host.from_slice(&[2i64, 0], &[2])?;
/// assert_eq!(F::index_select(&x, 0, &idx)?.to_vec::<i64>()?, vec![4, 5, 0, 1]);
/// # Ok(())
/// # }
/// ```
pub fn index_select(input: &Tensor, dim: isize, index: &Tensor) -> Result<Tensor> {
    call1!("ferrite::index_select", [Some(input), Some(index)], [dim as i64])
}

/// `out[i][j] = input[index[i][j]][j]` (for `dim = 0`; likewise for other dims); `index` has
/// the input's rank. Op `ferrite::gather`, inputs `(input, index)`, attrs `(dim: int)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
/// let idx = host.from_slice(&[1i64, 0], &[2, 1])?;
/// assert_eq!(F::gather(&x, 1, &idx)?.to_vec::<f32>()?, vec![2.0, 3.0]);
/// # Ok(())
/// # }
/// ```
pub fn gather(input: &Tensor, dim: isize, index: &Tensor) -> Result<Tensor> {
    call1!("ferrite::gather", [Some(input), Some(index)], [dim as i64])
}

/// A tensor of the same shape and dtype as `t` filled with `v`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.zeros(&[2, 3], DType::BF16)?;
/// let y = F::full_like(&x, 1.0)?;
/// assert_eq!((y.shape(), y.dtype()), (vec![2, 3], DType::BF16));
/// # Ok(())
/// # }
/// ```
pub fn full_like(t: &Tensor, v: f64) -> Result<Tensor> {
    t.host().full(&t.shape(), v, t.dtype())
}

/// A 0-d tensor of `t`'s dtype holding `v` (for scalar arithmetic).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.zeros(&[2], DType::I64)?;
/// assert_eq!(F::scalar_like(&x, 0.5)?.dtype(), DType::F32); // ints get an f32 scalar
/// # Ok(())
/// # }
/// ```
pub fn scalar_like(t: &Tensor, v: f64) -> Result<Tensor> {
    let dtype = if t.dtype().is_float() { t.dtype() } else { DType::F32 };
    t.host().scalar(v, dtype)
}
