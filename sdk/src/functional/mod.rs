//! `nn.functional`: PyTorch-style functions over [`Tensor`]s, each a call of an exported op.
//!
//! This module is also the contract between the sdk and op plugins: the canonical name, the input
//! order and the attribute order used here are the op schemas every provider (ops-ref, ops-cpu,
//! third-party) registers. Shapes follow PyTorch (NCHW, row-major). Every function returns
//! `Err` with a one-line reason on bad shapes or dtypes; none panics.

pub mod call;

use crate::abi::dtype::DType;
use crate::error::Result;
use crate::kernel::Attr;
use crate::tensor::Tensor;
use crate::{call, call1};

macro_rules! unary {
    ($($(#[$m:meta])* $f:ident => $name:literal;)*) => {$(
        $(#[$m])*
        pub fn $f(input: &Tensor) -> Result<Tensor> {
            call1!($name, [Some(input)], [])
        }
    )*};
}

macro_rules! binary {
    ($($(#[$m:meta])* $f:ident => $name:literal;)*) => {$(
        $(#[$m])*
        pub fn $f(input: &Tensor, other: &Tensor) -> Result<Tensor> {
            call1!($name, [Some(input), Some(other)], [])
        }
    )*};
}

unary! {
    /// `-x`, any shape. Op `ferrite::neg`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[1.0f64, -2.0], &[2])?;
    /// assert_eq!(F::neg(&x)?.to_vec::<f64>()?, vec![-1.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    neg => "ferrite::neg";
    /// `e^x`. Op `ferrite::exp`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[0.0f64, 0.0], &[2])?;
    /// assert_eq!(F::exp(&x)?.to_vec::<f64>()?, vec![1.0, 1.0]);
    /// # Ok(())
    /// # }
    /// ```
    exp => "ferrite::exp";
    /// Natural log (`-inf` at 0, NaN below). Op `ferrite::log`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[1.0f64, 1.0], &[2])?;
    /// assert_eq!(F::log(&x)?.to_vec::<f64>()?, vec![0.0, 0.0]);
    /// # Ok(())
    /// # }
    /// ```
    log => "ferrite::log";
    /// Square root. Op `ferrite::sqrt`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[4.0f64, 9.0], &[2])?;
    /// assert_eq!(F::sqrt(&x)?.to_vec::<f64>()?, vec![2.0, 3.0]);
    /// # Ok(())
    /// # }
    /// ```
    sqrt => "ferrite::sqrt";
    /// `|x|` (gradient `sign(x)`, 0 at 0). Op `ferrite::abs`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[-1.5f64, 2.0], &[2])?;
    /// assert_eq!(F::abs(&x)?.to_vec::<f64>()?, vec![1.5, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    abs => "ferrite::abs";
    /// `max(x, 0)` (gradient 0 at 0, as PyTorch). Op `ferrite::relu`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[-1.0f64, 2.0], &[2])?;
    /// assert_eq!(F::relu(&x)?.to_vec::<f64>()?, vec![0.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    relu => "ferrite::relu";
    /// Hyperbolic tangent. Op `ferrite::tanh`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[0.0f64, 0.0], &[2])?;
    /// assert_eq!(F::tanh(&x)?.to_vec::<f64>()?, vec![0.0, 0.0]);
    /// # Ok(())
    /// # }
    /// ```
    tanh => "ferrite::tanh";
    /// Logistic sigmoid `1/(1+e^-x)`. Op `ferrite::sigmoid`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[0.0f64, 0.0], &[2])?;
    /// assert_eq!(F::sigmoid(&x)?.to_vec::<f64>()?, vec![0.5, 0.5]);
    /// # Ok(())
    /// # }
    /// ```
    sigmoid => "ferrite::sigmoid";
}

binary! {
    /// Elementwise sum with broadcasting (NumPy rules). Op `ferrite::add`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f64, 2.0], &[2])?;
    /// let b = host.from_slice(&[10.0f64, 20.0], &[2])?;
    /// assert_eq!(F::add(&a, &b)?.to_vec::<f64>()?, vec![11.0, 22.0]);
    /// # Ok(())
    /// # }
    /// ```
    add => "ferrite::add";
    /// Elementwise difference with broadcasting. Op `ferrite::sub`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f64, 2.0], &[2])?;
    /// let b = host.from_slice(&[10.0f64, 20.0], &[2])?;
    /// assert_eq!(F::sub(&a, &b)?.to_vec::<f64>()?, vec![-9.0, -18.0]);
    /// # Ok(())
    /// # }
    /// ```
    sub => "ferrite::sub";
    /// Elementwise product with broadcasting. Op `ferrite::mul`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f64, 2.0], &[2])?;
    /// let b = host.from_slice(&[10.0f64, 20.0], &[2])?;
    /// assert_eq!(F::mul(&a, &b)?.to_vec::<f64>()?, vec![10.0, 40.0]);
    /// # Ok(())
    /// # }
    /// ```
    mul => "ferrite::mul";
    /// Elementwise quotient with broadcasting. Op `ferrite::div`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f64, 2.0], &[2])?;
    /// let b = host.from_slice(&[4.0f64, 8.0], &[2])?;
    /// assert_eq!(F::div(&a, &b)?.to_vec::<f64>()?, vec![0.25, 0.25]);
    /// # Ok(())
    /// # }
    /// ```
    div => "ferrite::div";
    /// `input ^ other` with broadcasting (gradient w.r.t. the exponent uses `ln(input)`).
    /// Op `ferrite::pow`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[2.0f64, 3.0], &[2])?;
    /// let b = host.from_slice(&[2.0f64, 2.0], &[2])?;
    /// assert_eq!(F::pow(&a, &b)?.to_vec::<f64>()?, vec![4.0, 9.0]);
    /// # Ok(())
    /// # }
    /// ```
    pow => "ferrite::pow";
    /// `input == other` with broadcasting → bool; no gradient. Op `ferrite::eq`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = host.from_slice(&[2.0f32, 2.0], &[2])?;
    /// let m = F::eq(&a, &b)?; // boolean mask
    /// assert_eq!(m.dtype(), DType::BOOL);
    /// # Ok(())
    /// # }
    /// ```
    eq => "ferrite::eq";
    /// `input != other` → bool. Op `ferrite::ne`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = host.from_slice(&[2.0f32, 2.0], &[2])?;
    /// let m = F::ne(&a, &b)?; // boolean mask
    /// assert_eq!(m.dtype(), DType::BOOL);
    /// # Ok(())
    /// # }
    /// ```
    ne => "ferrite::ne";
    /// `input < other` → bool. Op `ferrite::lt`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = host.from_slice(&[2.0f32, 2.0], &[2])?;
    /// let m = F::lt(&a, &b)?; // boolean mask
    /// assert_eq!(m.dtype(), DType::BOOL);
    /// # Ok(())
    /// # }
    /// ```
    lt => "ferrite::lt";
    /// `input <= other` → bool. Op `ferrite::le`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = host.from_slice(&[2.0f32, 2.0], &[2])?;
    /// let m = F::le(&a, &b)?; // boolean mask
    /// assert_eq!(m.dtype(), DType::BOOL);
    /// # Ok(())
    /// # }
    /// ```
    le => "ferrite::le";
    /// `input > other` → bool. Op `ferrite::gt`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = host.from_slice(&[2.0f32, 2.0], &[2])?;
    /// let m = F::gt(&a, &b)?; // boolean mask
    /// assert_eq!(m.dtype(), DType::BOOL);
    /// # Ok(())
    /// # }
    /// ```
    gt => "ferrite::gt";
    /// `input >= other` → bool. Op `ferrite::ge`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = host.from_slice(&[2.0f32, 2.0], &[2])?;
    /// let m = F::ge(&a, &b)?; // boolean mask
    /// assert_eq!(m.dtype(), DType::BOOL);
    /// # Ok(())
    /// # }
    /// ```
    ge => "ferrite::ge";
    /// Matrix product with `torch.matmul` semantics: 1-D operands are promoted (and the added
    /// dimension removed), batch dimensions broadcast. `[..., n, k] @ [..., k, m] -> [..., n, m]`.
    /// Op `ferrite::matmul`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.ones(&[2, 3], DType::F32)?;
    /// let b = host.ones(&[3, 5], DType::F32)?;
    /// assert_eq!(F::matmul(&a, &b)?.shape(), vec![2, 5]);
    /// # Ok(())
    /// # }
    /// ```
    matmul => "ferrite::matmul";
    /// Batched matrix product `[B, n, k] @ [B, k, m] -> [B, n, m]`, no broadcasting. Op `ferrite::bmm`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.ones(&[4, 2, 3], DType::F32)?;
    /// let b = host.ones(&[4, 3, 5], DType::F32)?;
    /// assert_eq!(F::bmm(&a, &b)?.shape(), vec![4, 2, 5]);
    /// # Ok(())
    /// # }
    /// ```
    bmm => "ferrite::bmm";
}

/// GELU; `approximate` is `"none"` (erf form) or `"tanh"` (Hendrycks & Gimpel 2016).
/// Op `ferrite::gelu`, attrs `(approximate: str = "none")`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.from_slice(&[0.0f32, 1.0], &[2])?;
/// let y = F::gelu(&x, "tanh")?; // or "none" for the exact erf form
/// assert_eq!(y.to_vec::<f32>()?[0], 0.0);
/// # Ok(())
/// # }
/// ```
pub fn gelu(input: &Tensor, approximate: &str) -> Result<Tensor> {
    call1!("ferrite::gelu", [Some(input)], [approximate])
}

/// `condition ? input : other` with broadcasting of all three; `condition` is bool, no gradient.
/// Op `ferrite::where`, inputs `(condition, input, other)`, dispatch on `input`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let a = host.from_slice(&[1.0f32, 5.0], &[2])?;
/// let b = host.from_slice(&[3.0f32, 3.0], &[2])?;
/// let m = F::gt(&a, &b)?;
/// assert_eq!(F::where_(&m, &a, &b)?.to_vec::<f32>()?, vec![3.0, 5.0]);
/// # Ok(())
/// # }
/// ```
pub fn where_(condition: &Tensor, input: &Tensor, other: &Tensor) -> Result<Tensor> {
    call1!("ferrite::where", [Some(condition), Some(input), Some(other)], [])
}

/// Sizes as an int-list attribute; a size beyond `i64::MAX` is an error, not a wrapped value.
fn sizes(what: &str, xs: &[usize]) -> Result<Attr> {
    xs.iter()
        .map(|&x| i64::try_from(x).map_err(|_| crate::Error::Invalid(format!("{what}: {x} is too large"))))
        .collect::<Result<Vec<i64>>>()
        .map(Attr::Ints)
}

fn dims_attr(dims: &[isize]) -> Attr {
    Attr::Ints(dims.iter().map(|&d| d as i64).collect())
}

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

/// `y = x W^T + b`: input `[*, in]`, weight `[out, in]`, bias `[out]` → `[*, out]`.
/// Op `ferrite::linear`, inputs `(input, weight, bias?)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[8, 3], DType::F32)?;
/// let w = host.ones(&[5, 3], DType::F32)?; // [out, in]
/// let b = host.zeros(&[5], DType::F32)?;
/// assert_eq!(F::linear(&x, &w, Some(&b))?.shape(), vec![8, 5]);
/// # Ok(())
/// # }
/// ```
pub fn linear(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    call1!("ferrite::linear", [Some(input), Some(weight), bias], [])
}

/// 2-D convolution (cross-correlation, as PyTorch): input `[N, C, H, W]`, weight
/// `[O, C/groups, kH, kW]`, bias `[O]` → `[N, O, H', W']` with
/// `H' = (H + 2p - d(kH-1) - 1)/s + 1`. Op `ferrite::conv2d`, inputs `(input, weight, bias?)`,
/// attrs `(stride: ints = [1,1], padding: ints = [0,0], dilation: ints = [1,1], groups: int = 1)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[1, 3, 8, 8], DType::F32)?;
/// let w = host.ones(&[16, 3, 3, 3], DType::F32)?;
/// let y = F::conv2d(&x, &w, None, [1, 1], [1, 1], [1, 1], 1)?;
/// assert_eq!(y.shape(), vec![1, 16, 8, 8]);
/// # Ok(())
/// # }
/// ```
pub fn conv2d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Result<Tensor> {
    let p = |a: [usize; 2]| sizes("conv2d", &a);
    // `groups` is an int attribute (a one-element list would be refused by the dispatcher).
    let groups = i64::try_from(groups).map_err(|_| crate::Error::Invalid(format!("conv2d: groups {groups} is too large")))?;
    call1!("ferrite::conv2d", [Some(input), Some(weight), bias], [p(stride)?, p(padding)?, p(dilation)?, groups])
}

/// Max pooling over `[N, C, H, W]` (padding counts as `-inf`), returning `(output, indices)`
/// where indices are flat positions within each `H×W` plane (PyTorch's convention). `stride`
/// `None` means `kernel_size`. Op `ferrite::max_pool2d`, attrs `(kernel_size: ints,
/// stride: ints = [] (= kernel_size), padding: ints = [0,0], dilation: ints = [1,1], ceil_mode: bool = false)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.arange(16, DType::F32)?.reshape(&[1, 1, 4, 4])?;
/// let (y, idx) = F::max_pool2d_with_indices(&x, [2, 2], None, [0, 0], [1, 1], false)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![5.0, 7.0, 13.0, 15.0]);
/// assert_eq!(idx.to_vec::<i64>()?, vec![5, 7, 13, 15]);
/// # Ok(())
/// # }
/// ```
pub fn max_pool2d_with_indices(
    input: &Tensor,
    kernel_size: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> Result<(Tensor, Tensor)> {
    let p = |a: [usize; 2]| sizes("max_pool2d", &a);
    let s = stride.map_or(Ok(Attr::Ints(vec![])), p)?;
    let mut v = call!("ferrite::max_pool2d", [Some(input)], [p(kernel_size)?, s, p(padding)?, p(dilation)?, ceil_mode], 2)?;
    let i = v.pop().expect("two outputs");
    Ok((v.pop().expect("two outputs"), i))
}

/// Max pooling without indices; see [`max_pool2d_with_indices`].
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[2, 3, 8, 8], DType::F32)?;
/// assert_eq!(F::max_pool2d(&x, [2, 2], None, [0, 0])?.shape(), vec![2, 3, 4, 4]);
/// # Ok(())
/// # }
/// ```
pub fn max_pool2d(input: &Tensor, kernel_size: [usize; 2], stride: Option<[usize; 2]>, padding: [usize; 2]) -> Result<Tensor> {
    Ok(max_pool2d_with_indices(input, kernel_size, stride, padding, [1, 1], false)?.0)
}

/// Average pooling over `[N, C, H, W]`. Op `ferrite::avg_pool2d`, attrs `(kernel_size: ints,
/// stride: ints = [], padding: ints = [0,0], ceil_mode: bool = false, count_include_pad: bool = true)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[1, 1, 4, 4], DType::F32)?;
/// let y = F::avg_pool2d(&x, [2, 2], None, [0, 0], false, true)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![1.0; 4]);
/// # Ok(())
/// # }
/// ```
pub fn avg_pool2d(
    input: &Tensor,
    kernel_size: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
    ceil_mode: bool,
    count_include_pad: bool,
) -> Result<Tensor> {
    let p = |a: [usize; 2]| sizes("avg_pool2d", &a);
    let s = stride.map_or(Ok(Attr::Ints(vec![])), p)?;
    call1!("ferrite::avg_pool2d", [Some(input)], [p(kernel_size)?, s, p(padding)?, ceil_mode, count_include_pad])
}

/// Adaptive max pooling `[N, C, H, W] -> [N, C, oh, ow]`; bin `i` of `n` inputs pooled to `m`
/// covers `[floor(i·n/m), ceil((i+1)·n/m))` (PyTorch's rule; bins may overlap, `m > n` allowed).
/// Returns `(output, indices)` with flat per-plane indices. Op `ferrite::adaptive_max_pool2d`,
/// attrs `(output_size: ints)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.randn(&[1, 2, 7, 9], 0.0, 1.0, DType::F32)?;
/// let (y, idx) = F::adaptive_max_pool2d(&x, [3, 3])?;
/// assert_eq!(y.shape(), vec![1, 2, 3, 3]);
/// assert_eq!(idx.dtype(), DType::I64);
/// # Ok(())
/// # }
/// ```
pub fn adaptive_max_pool2d(input: &Tensor, output_size: [usize; 2]) -> Result<(Tensor, Tensor)> {
    let mut v = call!("ferrite::adaptive_max_pool2d", [Some(input)], [sizes("adaptive_max_pool2d", &output_size)?], 2)?;
    let i = v.pop().expect("two outputs");
    Ok((v.pop().expect("two outputs"), i))
}

/// Adaptive average pooling with the same bins as [`adaptive_max_pool2d`].
/// Op `ferrite::adaptive_avg_pool2d`, attrs `(output_size: ints)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[1, 2, 7, 9], DType::F32)?;
/// assert_eq!(F::adaptive_avg_pool2d(&x, [1, 1])?.shape(), vec![1, 2, 1, 1]);
/// # Ok(())
/// # }
/// ```
pub fn adaptive_avg_pool2d(input: &Tensor, output_size: [usize; 2]) -> Result<Tensor> {
    call1!("ferrite::adaptive_avg_pool2d", [Some(input)], [sizes("adaptive_avg_pool2d", &output_size)?])
}

/// Spatial pyramid pooling (He et al. 2014, SPP-net §2.3): adaptive pooling of `[N, C, H, W]`
/// to `l×l` for each level `l`, each flattened to `[N, C·l·l]` and concatenated →
/// `[N, C·Σl²]`, for any `H, W ≥ 1`. `mode` is `"max"` or `"avg"`.
/// Op `ferrite::spatial_pyramid_pool`, attrs `(levels: ints = [1,2,4], mode: str = "max")`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[2, 3, 13, 13], DType::F32)?;
/// // levels 1, 2, 4 → 3 * (1 + 4 + 16) features per sample
/// let y = F::spatial_pyramid_pool(&x, &[1, 2, 4], "max")?;
/// assert_eq!(y.shape(), vec![2, 63]);
/// # Ok(())
/// # }
/// ```
pub fn spatial_pyramid_pool(input: &Tensor, levels: &[usize], mode: &str) -> Result<Tensor> {
    call1!("ferrite::spatial_pyramid_pool", [Some(input)], [sizes("spatial_pyramid_pool", levels)?, mode])
}

/// Nearest-neighbour upsampling `[N, C, H, W] -> [N, C, oh, ow]`, source index
/// `floor(dst · in / out)` (PyTorch's `nearest`). Op `ferrite::upsample_nearest2d`, attrs `(output_size: ints)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[1, 1, 2, 2], DType::F32)?;
/// assert_eq!(F::upsample_nearest2d(&x, [4, 4])?.shape(), vec![1, 1, 4, 4]);
/// # Ok(())
/// # }
/// ```
pub fn upsample_nearest2d(input: &Tensor, output_size: [usize; 2]) -> Result<Tensor> {
    call1!("ferrite::upsample_nearest2d", [Some(input)], [sizes("upsample_nearest2d", &output_size)?])
}

/// Layer normalisation over the trailing `normalized_shape` dims (Ba et al. 2016), biased
/// variance. Op `ferrite::layer_norm`, inputs `(input, weight?, bias?)`, attrs
/// `(normalized_shape: ints, eps: float = 1e-5)`, outputs `(out, mean, rstd)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.randn(&[4, 8], 0.0, 1.0, DType::F32)?;
/// let y = F::layer_norm(&x, &[8], None, None, 1e-5)?;
/// let m = F::mean(&y, &[-1], false)?.to_vec::<f32>()?;
/// assert!(m.iter().all(|v| v.abs() < 1e-4));
/// # Ok(())
/// # }
/// ```
pub fn layer_norm(input: &Tensor, normalized_shape: &[usize], weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    Ok(call!("ferrite::layer_norm", [Some(input), weight, bias], [sizes("layer_norm", normalized_shape)?, eps], 3)?.remove(0))
}

/// Result of [`batch_norm`]: the output and, in training mode, the updated running statistics.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.randn(&[4, 3, 2, 2], 0.0, 1.0, DType::F32)?;
/// let (rm, rv) = (host.zeros(&[3], DType::F32)?, host.ones(&[3], DType::F32)?);
/// let out = F::batch_norm(&x, Some(&rm), Some(&rv), None, None, true, 0.1, 1e-5)?;
/// rm.copy_(&out.new_running_mean)?; // the caller owns the buffers
/// rv.copy_(&out.new_running_var)?;
/// assert_eq!(out.output.shape(), x.shape());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BatchNormOutput {
    /// Normalised output, same shape as the input.
    pub output: Tensor,
    /// `(1-momentum)·running_mean + momentum·batch_mean` (training) or the old one (eval).
    pub new_running_mean: Tensor,
    /// Same with the unbiased batch variance.
    pub new_running_var: Tensor,
}

/// Batch normalisation over `[N, C, *]` per channel (Ioffe & Szegedy 2015). Training uses batch
/// statistics (biased variance for normalising, unbiased for the running update); eval uses the
/// running statistics, which are then required. Op `ferrite::batch_norm`, inputs
/// `(input, weight?, bias?, running_mean?, running_var?)`, attrs `(training: bool,
/// momentum: float = 0.1, eps: float = 1e-5)`, outputs `(out, save_mean, save_invstd,
/// new_running_mean, new_running_var)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.randn(&[4, 3, 2, 2], 0.0, 1.0, DType::F32)?;
/// let (rm, rv) = (host.zeros(&[3], DType::F32)?, host.ones(&[3], DType::F32)?);
/// // Inference: normalise with the running statistics.
/// let out = F::batch_norm(&x, Some(&rm), Some(&rv), None, None, false, 0.1, 1e-5)?;
/// assert_eq!(out.output.shape(), vec![4, 3, 2, 2]);
/// # Ok(())
/// # }
/// ```
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    input: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<BatchNormOutput> {
    let mut v = call!("ferrite::batch_norm", [Some(input), weight, bias, running_mean, running_var], [training, momentum, eps], 5)?;
    let new_running_var = v.pop().expect("five outputs");
    let new_running_mean = v.pop().expect("five outputs");
    Ok(BatchNormOutput { output: v.swap_remove(0), new_running_mean, new_running_var })
}

/// Inverted dropout (Srivastava et al. 2014): in training, zeroes each element with probability
/// `p` and scales the rest by `1/(1-p)`; with `training == false` it is the identity. The mask
/// comes from the core's seeded generator. Op `ferrite::dropout`, attrs `(p: float = 0.5,
/// training: bool = true, seed: int = 0)`, outputs `(out, mask)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[1000], DType::F32)?;
/// let same = F::dropout(&x, 0.5, false)?; // eval mode: identity
/// assert_eq!(same.to_vec::<f32>()?, x.to_vec::<f32>()?);
/// let y = F::dropout(&x, 0.5, true)?.to_vec::<f32>()?; // kept values scaled by 1/(1-p)
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
/// # Ok(())
/// # }
/// ```
pub fn dropout(input: &Tensor, p: f64, training: bool) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        crate::bail!("dropout: p must be in [0, 1], got {p}");
    }
    if !training || p == 0.0 {
        return Ok(input.clone());
    }
    let seed = (input.host().next_seed() >> 1) as i64;
    Ok(call!("ferrite::dropout", [Some(input)], [p, training, seed], 2)?.remove(0))
}

/// Embedding lookup: `input` (i64 indices, any shape) into `weight [V, D]` → `[*input, D]`;
/// rows equal to `padding_idx` get no gradient. Op `ferrite::embedding`, inputs
/// `(input, weight)`, attrs `(padding_idx: int = -1 (none))`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let weight = host.randn(&[10, 4], 0.0, 1.0, DType::F32)?;
/// let ids = host.from_slice(&[1i64, 3, 3], &[3])?;
/// assert_eq!(F::embedding(&ids, &weight, None)?.shape(), vec![3, 4]);
/// # Ok(())
/// # }
/// ```
pub fn embedding(input: &Tensor, weight: &Tensor, padding_idx: Option<usize>) -> Result<Tensor> {
    call1!("ferrite::embedding", [Some(input), Some(weight)], [padding_idx.map_or(-1, |p| p as i64)])
}

/// Loss reduction, as PyTorch's `reduction=` argument.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::functional::Reduction;
/// assert_eq!(Reduction::Mean.as_str(), "mean");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Per-sample losses.
    None,
    /// Weighted mean over non-ignored samples.
    Mean,
    /// Sum.
    Sum,
}

impl Reduction {
    /// `"none"`, `"mean"` or `"sum"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::functional::Reduction;
    /// assert_eq!(Reduction::None.as_str(), "none");
    /// assert_eq!(Reduction::Sum.as_str(), "sum");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Reduction::None => "none",
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
        }
    }
}

/// Cross-entropy from logits `[N, C]` and i64 targets `[N]`, with optional class weights `[C]`,
/// `ignore_index` and label smoothing ε: `l_i = (1-ε)·w[y_i]·(-log p_i[y_i]) + (ε/C)·Σ_c w[c]·(-log p_i[c])`;
/// `mean` divides by `Σ w[y_i]` over non-ignored samples (PyTorch's rule); ignored samples add
/// nothing to the loss, the normaliser or the gradient. Op `ferrite::cross_entropy`, inputs
/// `(input, target, weight?)`, attrs `(ignore_index: int = -100, label_smoothing: float = 0,
/// reduction: str = "mean")`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::functional::Reduction;
/// let logits = host.zeros(&[2, 4], DType::F32)?;
/// let target = host.from_slice(&[0i64, 3], &[2])?;
/// let loss = F::cross_entropy(&logits, &target, None, -100, 0.0, Reduction::Mean)?;
/// assert!((loss.item()? - 4f64.ln()).abs() < 1e-6);
/// # Ok(())
/// # }
/// ```
pub fn cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    call1!("ferrite::cross_entropy", [Some(input), Some(target), weight], [ignore_index, label_smoothing, reduction.as_str()])
}

/// Negative log-likelihood from log-probabilities `[N, C]` and targets `[N]`.
/// Op `ferrite::nll_loss`, inputs `(input, target, weight?)`, attrs `(ignore_index: int = -100,
/// reduction: str = "mean")`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::functional::Reduction;
/// let logp = F::log_softmax(&host.zeros(&[2, 4], DType::F32)?, -1)?;
/// let target = host.from_slice(&[1i64, 2], &[2])?;
/// let loss = F::nll_loss(&logp, &target, None, -100, Reduction::Sum)?;
/// assert!((loss.item()? - 2.0 * 4f64.ln()).abs() < 1e-5);
/// # Ok(())
/// # }
/// ```
pub fn nll_loss(input: &Tensor, target: &Tensor, weight: Option<&Tensor>, ignore_index: i64, reduction: Reduction) -> Result<Tensor> {
    call1!("ferrite::nll_loss", [Some(input), Some(target), weight], [ignore_index, reduction.as_str()])
}

/// Mean squared error (same shapes). Op `ferrite::mse_loss`, attrs `(reduction: str = "mean")`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::functional::Reduction;
/// let a = host.from_slice(&[1.0f32, 2.0], &[2])?;
/// let b = host.from_slice(&[1.0f32, 4.0], &[2])?;
/// assert_eq!(F::mse_loss(&a, &b, Reduction::Mean)?.item()?, 2.0);
/// # Ok(())
/// # }
/// ```
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    call1!("ferrite::mse_loss", [Some(input), Some(target)], [reduction.as_str()])
}

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
    static OP: call::OpCache = call::OpCache::new("ferrite::cat");
    let ins: Vec<Option<&Tensor>> = tensors.iter().map(|t| Some(*t)).collect();
    Ok(call::call_op(&OP, &ins, &[Attr::Int(dim as i64)], 1)?.remove(0))
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
    static OP: call::OpCache = call::OpCache::new("ferrite::stack");
    let ins: Vec<Option<&Tensor>> = tensors.iter().map(|t| Some(*t)).collect();
    Ok(call::call_op(&OP, &ins, &[Attr::Int(dim as i64)], 1)?.remove(0))
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

/// Scaled dot-product attention: `softmax(QKᵀ·scale + mask)·V` for `q [..., L, E]`,
/// `k [..., S, E]`, `v [..., S, Ev]` → `[..., L, Ev]`. `attn_mask` broadcastable to
/// `[..., L, S]` is bool (true = attend) or float (added to the scores). `is_causal` keeps key
/// `j ≤ i` (top-left aligned, as PyTorch). `scale` defaults to `1/√E`. A query whose keys are all
/// masked gets output 0 and gradient 0 (never NaN). Op `ferrite::scaled_dot_product_attention`,
/// inputs `(query, key, value, attn_mask?)`, attrs `(is_causal: bool = false, scale: float = NaN (default))`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// // [batch, heads, seq, head_dim]
/// let q = host.randn(&[1, 2, 5, 8], 0.0, 1.0, DType::F32)?;
/// let out = F::scaled_dot_product_attention(&q, &q, &q, None, true, None)?;
/// assert_eq!(out.shape(), vec![1, 2, 5, 8]);
/// # Ok(())
/// # }
/// ```
pub fn scaled_dot_product_attention(
    query: &Tensor,
    key: &Tensor,
    value: &Tensor,
    attn_mask: Option<&Tensor>,
    is_causal: bool,
    scale: Option<f64>,
) -> Result<Tensor> {
    call1!(
        "ferrite::scaled_dot_product_attention",
        [Some(query), Some(key), Some(value), attn_mask],
        [is_causal, scale.unwrap_or(f64::NAN)]
    )
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
