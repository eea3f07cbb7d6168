//! Element-wise functions: unary math and activations, binary arithmetic, `gelu`, `where_`.

use crate::error::Result;
use crate::tensor::Tensor;
use crate::call1;

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
