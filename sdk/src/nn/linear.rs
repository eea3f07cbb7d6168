//! `Linear` (`torch.nn.Linear`).

use super::init::{check_float, default_uniform_bound, uniform_param};
use super::module::{leaf_mode, Module};
use crate::abi::dtype::DType;
use crate::error::Result;
use crate::functional as F;
use crate::tensor::{Host, Tensor};

/// `y = x Wᵀ + b`: input `[*, in_features]` → `[*, out_features]`.
///
/// Parameters `weight [out_features, in_features]` and `bias [out_features]`, both initialised
/// `U(-1/√in, 1/√in)` as PyTorch (`kaiming_uniform_(a=√5)` for the weight).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Linear, Module};
/// let fc = Linear::new(&host, 784, 10, true, DType::F32)?;
/// let y = fc.forward(&host.zeros(&[32, 784], DType::F32)?)?;
/// assert_eq!(y.shape(), vec![32, 10]);
/// assert_eq!(fc.num_parameters(), 784 * 10 + 10);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Linear {
    /// `[out_features, in_features]`.
    pub weight: Tensor,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Tensor>,
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    training: bool,
}

impl Linear {
    /// A new layer with parameters of `dtype` (float).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a non-float dtype; [`crate::Error::Host`] from the core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::nn::{Linear, Module};
    /// let fc = Linear::new(&host, 4, 2, true, DType::F32)?;
    /// assert_eq!(fc.weight.shape(), vec![2, 4]); // [out, in], as PyTorch
    /// assert_eq!(fc.forward(&host.ones(&[5, 4], DType::F32)?)?.shape(), vec![5, 2]);
    /// assert!(Linear::new(&host, 4, 2, true, DType::I64).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(host: &Host, in_features: usize, out_features: usize, bias: bool, dtype: DType) -> Result<Linear> {
        check_float("Linear", dtype)?;
        let bound = default_uniform_bound(in_features);
        let weight = uniform_param(host, &[out_features, in_features], bound, dtype)?;
        let bias = if bias { Some(uniform_param(host, &[out_features], bound, dtype)?) } else { None };
        Ok(Linear { weight, bias, in_features, out_features, training: true })
    }
}

impl Module for Linear {
    /// `[*, in_features]` → `[*, out_features]` (op `ferrite::linear`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::linear(x, &self.weight, self.bias.as_ref())
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        v.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        v
    }

    leaf_mode!();
}
