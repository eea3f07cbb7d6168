//! Reductions (`sum`, `mean`, `logsumexp`, `max_dim`, `min_dim`, `argmax`) and `softmax` /
//! `log_softmax` along one dim.

use crate::error::Result;
use crate::tensor::Tensor;
use crate::{call, call1};
use super::dims_attr;

/// Sum over `dims` (all dims when empty), keeping reduced dims as size 1 if `keepdim`.
/// f16/bf16 accumulate in f32 or wider. Op `ferrite::sum`, attrs `(dim: ints = [], keepdim: bool = false)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.arange(6, DType::F32)?.reshape(&[2, 3])?;
/// assert_eq!(F::sum(&x, &[1], false)?.to_vec::<f32>()?, vec![3.0, 12.0]);
/// assert_eq!(F::sum(&x, &[0], true)?.shape(), vec![1, 3]);
/// # Ok(())
/// # }
/// ```
pub fn sum(input: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    call1!("ferrite::sum", [Some(input)], [dims_attr(dims), keepdim])
}

/// Mean over `dims` (all when empty). Op `ferrite::mean`, attrs as [`sum`].
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.arange(6, DType::F32)?.reshape(&[2, 3])?;
/// assert_eq!(F::mean(&x, &[-1], false)?.to_vec::<f32>()?, vec![1.0, 4.0]);
/// # Ok(())
/// # }
/// ```
pub fn mean(input: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    call1!("ferrite::mean", [Some(input)], [dims_attr(dims), keepdim])
}

/// `log(sum(exp(x)))` over `dims`, computed with the max subtracted; an all `-inf` slice gives
/// `-inf` with zero gradient. Op `ferrite::logsumexp`, attrs as [`sum`].
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.zeros(&[2, 4], DType::F64)?;
/// let y = F::logsumexp(&x, &[1], false)?.to_vec::<f64>()?;
/// assert!((y[0] - 4f64.ln()).abs() < 1e-12);
/// # Ok(())
/// # }
/// ```
pub fn logsumexp(input: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    call1!("ferrite::logsumexp", [Some(input)], [dims_attr(dims), keepdim])
}

/// Maximum along `dim` with the index of the first maximum (`torch.max(x, dim)`): returns
/// `(values, indices: i64)`. Op `ferrite::max`, attrs `(dim: int, keepdim: bool = false)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.from_slice(&[1.0f32, 5.0, 2.0, 7.0, 0.0, 3.0], &[2, 3])?;
/// let (values, indices) = F::max_dim(&x, 1, false)?;
/// assert_eq!(values.to_vec::<f32>()?, vec![5.0, 7.0]);
/// assert_eq!(indices.to_vec::<i64>()?, vec![1, 0]);
/// # Ok(())
/// # }
/// ```
pub fn max_dim(input: &Tensor, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
    let mut v = call!("ferrite::max", [Some(input)], [dim as i64, keepdim], 2)?;
    let i = v.pop().expect("two outputs");
    Ok((v.pop().expect("two outputs"), i))
}

/// Minimum along `dim` with indices. Op `ferrite::min`, attrs as [`max_dim`].
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.from_slice(&[1.0f32, 5.0, 2.0, 7.0, 0.0, 3.0], &[2, 3])?;
/// let (values, indices) = F::min_dim(&x, 1, false)?;
/// assert_eq!(values.to_vec::<f32>()?, vec![1.0, 0.0]);
/// assert_eq!(indices.to_vec::<i64>()?, vec![0, 1]);
/// # Ok(())
/// # }
/// ```
pub fn min_dim(input: &Tensor, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
    let mut v = call!("ferrite::min", [Some(input)], [dim as i64, keepdim], 2)?;
    let i = v.pop().expect("two outputs");
    Ok((v.pop().expect("two outputs"), i))
}

/// Index (i64) of the first maximum along `dim`. Op `ferrite::argmax`, attrs `(dim: int, keepdim: bool = false)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.from_slice(&[1.0f32, 5.0, 2.0, 7.0, 0.0, 3.0], &[2, 3])?;
/// assert_eq!(F::argmax(&x, 1, true)?.shape(), vec![2, 1]);
/// # Ok(())
/// # }
/// ```
pub fn argmax(input: &Tensor, dim: isize, keepdim: bool) -> Result<Tensor> {
    call1!("ferrite::argmax", [Some(input)], [dim as i64, keepdim])
}

/// Softmax along `dim` (max-subtracted). Op `ferrite::softmax`, attrs `(dim: int)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.zeros(&[2, 4], DType::F32)?;
/// assert_eq!(F::softmax(&x, -1)?.to_vec::<f32>()?, vec![0.25; 8]);
/// # Ok(())
/// # }
/// ```
pub fn softmax(input: &Tensor, dim: isize) -> Result<Tensor> {
    call1!("ferrite::softmax", [Some(input)], [dim as i64])
}

/// Log-softmax along `dim`. Op `ferrite::log_softmax`, attrs `(dim: int)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.randn(&[2, 4], 0.0, 1.0, DType::F32)?;
/// let p = F::log_softmax(&x, -1)?.exp()?;
/// assert!((F::sum(&p, &[-1], false)?.to_vec::<f32>()?[0] - 1.0).abs() < 1e-5);
/// # Ok(())
/// # }
/// ```
pub fn log_softmax(input: &Tensor, dim: isize) -> Result<Tensor> {
    call1!("ferrite::log_softmax", [Some(input)], [dim as i64])
}
