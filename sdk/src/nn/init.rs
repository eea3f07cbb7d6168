//! Parameter initialisers matching PyTorch's defaults (`torch.nn.init`).

use crate::abi::dtype::DType;
use crate::error::Result;
use crate::tensor::{Host, Tensor};

/// Bound of PyTorch's default weight init for `Linear`/`Conv2d`:
/// `kaiming_uniform_(w, a=√5)` gives `gain·√(3/fan_in)` with `gain = √(2/(1+a²))`, i.e.
/// `1/√fan_in`; the bias uses the same `1/√fan_in`. Returns 0 for `fan_in == 0` (PyTorch
/// leaves such tensors at zero bound too).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::nn::init::default_uniform_bound;
/// assert!((default_uniform_bound(4) - 0.5).abs() < 1e-12);
/// ```
pub fn default_uniform_bound(fan_in: usize) -> f64 {
    if fan_in == 0 {
        0.0
    } else {
        let a = 5f64.sqrt();
        let gain = (2.0 / (1.0 + a * a)).sqrt();
        gain * (3.0 / fan_in as f64).sqrt()
    }
}

/// A leaf parameter `U(-bound, bound)` of `shape`, `requires_grad = true`.
///
/// # Errors
/// [`crate::Error::Host`] if the core rejects the tensor.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::init::uniform_param;
/// // Kaiming-uniform bound of a Linear(64, ..): 1/sqrt(fan_in).
/// let w = uniform_param(&host, &[32, 64], 1.0 / 8.0, DType::F32)?;
/// assert!(w.requires_grad());
/// assert!(w.to_vec::<f32>()?.iter().all(|v| v.abs() <= 0.125));
/// # Ok(())
/// # }
/// ```
pub fn uniform_param(host: &Host, shape: &[usize], bound: f64, dtype: DType) -> Result<Tensor> {
    host.rand(shape, -bound, bound, dtype)?.requires_grad_(true)
}

/// A leaf parameter filled with `value`, `requires_grad = true`.
///
/// # Errors
/// [`crate::Error::Host`] if the core rejects the tensor.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::init::const_param;
/// let gamma = const_param(&host, &[8], 1.0, DType::F32)?; // a norm layer's weight
/// assert!(gamma.requires_grad());
/// assert_eq!(gamma.to_vec::<f32>()?, vec![1.0; 8]);
/// # Ok(())
/// # }
/// ```
pub fn const_param(host: &Host, shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
    host.full(shape, value, dtype)?.requires_grad_(true)
}

/// Rejects dtypes that cannot hold learnable parameters.
///
/// # Errors
/// [`crate::Error::Invalid`] for integer and bool dtypes.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{nn::init::check_float, DType};
/// assert!(check_float("Linear", DType::F32).is_ok());
/// assert!(check_float("Linear", DType::I64).is_err());
/// ```
pub fn check_float(what: &str, dtype: DType) -> Result<()> {
    if !dtype.is_float() {
        crate::bail!("{what}: parameters need a float dtype, got {dtype}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bound_is_one_over_sqrt_fan_in() {
        for fan_in in [1usize, 3, 64, 784, 4608] {
            let want = 1.0 / (fan_in as f64).sqrt();
            assert!((default_uniform_bound(fan_in) - want).abs() < 1e-15, "{fan_in}");
        }
        assert_eq!(default_uniform_bound(0), 0.0);
    }
}
