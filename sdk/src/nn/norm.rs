//! Normalisation layers: `BatchNorm2d` (Ioffe & Szegedy 2015) and `LayerNorm` (Ba et al. 2016).

use super::init::{check_float, const_param};
use super::module::{leaf_mode, Module};
use crate::abi::dtype::DType;
use crate::error::Result;
use crate::functional as F;
use crate::tensor::{Host, Tensor};

/// Batch normalisation over `[N, C, H, W]` per channel (`torch.nn.BatchNorm2d`).
///
/// Parameters `weight [C]` (ones) and `bias [C]` (zeros); buffers `running_mean [C]` (zeros),
/// `running_var [C]` (ones) and `num_batches_tracked` (0-d i64, as PyTorch, so PyTorch state
/// dicts load strictly). In training the batch statistics normalise and the running statistics
/// are updated `(1−momentum)·old + momentum·batch` (unbiased variance), written **in place**
/// into the same buffer tensors; in eval the running statistics normalise. As in PyTorch the
/// buffers never receive gradients, and in training [`F::batch_norm`] keeps them out of the
/// autograd graph, so `backward` after that in-place update is valid.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{BatchNorm2d, Module};
/// let mut bn = BatchNorm2d::new(&host, 16, DType::F32)?;
/// let x = host.randn(&[8, 16, 4, 4], 0.0, 1.0, DType::F32)?;
/// bn.forward(&x)?; // training: updates running_mean / running_var
/// bn.eval();
/// assert_eq!(bn.forward(&x)?.shape(), vec![8, 16, 4, 4]);
/// assert_eq!(bn.named_buffers().len(), 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BatchNorm2d {
    /// `[C]`, ones (`None` when built without affine parameters).
    pub weight: Option<Tensor>,
    /// `[C]`, zeros.
    pub bias: Option<Tensor>,
    /// `[C]`, zeros; updated in place during training.
    pub running_mean: Tensor,
    /// `[C]`, ones; updated in place during training.
    pub running_var: Tensor,
    /// 0-d i64 count of training batches seen.
    pub num_batches_tracked: Tensor,
    /// Channels `C`.
    pub num_features: usize,
    /// Added to the variance; default 1e-5.
    pub eps: f64,
    /// Running-average factor; default 0.1.
    pub momentum: f64,
    training: bool,
}

impl BatchNorm2d {
    /// PyTorch's defaults: `eps = 1e-5`, `momentum = 0.1`, affine.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a non-float dtype; [`crate::Error::Host`] from the core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::nn::{BatchNorm2d, Module};
    /// let bn = BatchNorm2d::new(&host, 3, DType::F32)?;
    /// assert_eq!((bn.eps, bn.momentum), (1e-5, 0.1));
    /// assert_eq!(bn.forward(&host.randn(&[4, 3, 5, 5], 0.0, 1.0, DType::F32)?)?.shape(), vec![4, 3, 5, 5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(host: &Host, num_features: usize, dtype: DType) -> Result<BatchNorm2d> {
        Self::with_options(host, num_features, 1e-5, 0.1, true, dtype)
    }

    /// Explicit `eps`, `momentum` and `affine`.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a non-float dtype, `eps < 0` or `momentum ∉ [0, 1]`;
    /// [`crate::Error::Host`] from the core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::nn::BatchNorm2d;
    /// let bn = BatchNorm2d::with_options(&host, 8, 1e-3, 0.01, false, DType::F32)?;
    /// assert!(bn.weight.is_none() && bn.bias.is_none()); // affine = false
    /// assert!(BatchNorm2d::with_options(&host, 8, 1e-5, 1.5, true, DType::F32).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_options(host: &Host, num_features: usize, eps: f64, momentum: f64, affine: bool, dtype: DType) -> Result<BatchNorm2d> {
        check_float("BatchNorm2d", dtype)?;
        if !(0.0..).contains(&eps) || !(0.0..=1.0).contains(&momentum) {
            crate::bail!("BatchNorm2d: need eps >= 0 and momentum in [0, 1], got eps {eps}, momentum {momentum}");
        }
        let c = [num_features];
        let (weight, bias) = if affine {
            (Some(const_param(host, &c, 1.0, dtype)?), Some(const_param(host, &c, 0.0, dtype)?))
        } else {
            (None, None)
        };
        Ok(BatchNorm2d {
            weight,
            bias,
            running_mean: host.zeros(&c, dtype)?,
            running_var: host.ones(&c, dtype)?,
            num_batches_tracked: host.zeros(&[], DType::I64)?,
            num_features,
            eps,
            momentum,
            training: true,
        })
    }
}

impl Module for BatchNorm2d {
    /// `[N, C, H, W]` → same shape (op `ferrite::batch_norm`).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if the input is not 4-D with `C` channels, or has a single value
    /// per channel in training (as PyTorch).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        if s.len() != 4 || s[1] != self.num_features {
            crate::bail!("BatchNorm2d({}): expected [N, {}, H, W], got {s:?}", self.num_features, self.num_features);
        }
        if self.training && s[0] * s[2] * s[3] <= 1 {
            crate::bail!("BatchNorm2d: expected more than 1 value per channel when training, got input {s:?}");
        }
        let out = F::batch_norm(
            x,
            Some(&self.running_mean),
            Some(&self.running_var),
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.training,
            self.momentum,
            self.eps,
        )?;
        if self.training {
            let host = x.host();
            host.no_grad(|| -> Result<()> {
                self.running_mean.copy_(&out.new_running_mean)?;
                self.running_var.copy_(&out.new_running_var)?;
                let n = self.num_batches_tracked.item()?;
                self.num_batches_tracked.copy_(&host.scalar(n + 1.0, DType::I64)?)
            })?;
        }
        Ok(out.output)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        v.extend(self.weight.iter().map(|w| ("weight".to_string(), w.clone())));
        v.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        v
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".to_string(), self.running_mean.clone()),
            ("running_var".to_string(), self.running_var.clone()),
            ("num_batches_tracked".to_string(), self.num_batches_tracked.clone()),
        ]
    }

    leaf_mode!();
}

/// Layer normalisation over the trailing `normalized_shape` dims (`torch.nn.LayerNorm`,
/// Ba et al. 2016), biased variance: input `[*, *normalized_shape]` → same shape.
/// Parameters `weight` (ones) and `bias` (zeros) of shape `normalized_shape`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{LayerNorm, Module};
/// let ln = LayerNorm::new(&host, &[64], DType::F32)?;
/// let y = ln.forward(&host.randn(&[2, 10, 64], 0.0, 1.0, DType::F32)?)?;
/// assert_eq!(y.shape(), vec![2, 10, 64]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LayerNorm {
    /// Ones of `normalized_shape` (`None` without elementwise affine).
    pub weight: Option<Tensor>,
    /// Zeros of `normalized_shape`.
    pub bias: Option<Tensor>,
    /// The trailing dims normalised over.
    pub normalized_shape: Vec<usize>,
    /// Added to the variance; default 1e-5.
    pub eps: f64,
    training: bool,
}

impl LayerNorm {
    /// PyTorch's defaults: `eps = 1e-5`, elementwise affine.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for an empty shape or a non-float dtype; [`crate::Error::Host`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::nn::{LayerNorm, Module};
    /// let ln = LayerNorm::new(&host, &[16], DType::F32)?;
    /// assert_eq!(ln.forward(&host.randn(&[2, 5, 16], 0.0, 1.0, DType::F32)?)?.shape(), vec![2, 5, 16]);
    /// assert!(LayerNorm::new(&host, &[], DType::F32).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(host: &Host, normalized_shape: &[usize], dtype: DType) -> Result<LayerNorm> {
        Self::with_options(host, normalized_shape, 1e-5, true, dtype)
    }

    /// Explicit `eps` and `elementwise_affine`.
    ///
    /// # Errors
    /// As [`LayerNorm::new`], plus `eps < 0`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::nn::LayerNorm;
    /// let ln = LayerNorm::with_options(&host, &[4, 4], 1e-6, false, DType::F32)?;
    /// assert!(ln.weight.is_none() && ln.eps == 1e-6);
    /// assert!(LayerNorm::with_options(&host, &[4], -1.0, true, DType::F32).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_options(host: &Host, normalized_shape: &[usize], eps: f64, elementwise_affine: bool, dtype: DType) -> Result<LayerNorm> {
        check_float("LayerNorm", dtype)?;
        if normalized_shape.is_empty() || !(0.0..).contains(&eps) {
            crate::bail!("LayerNorm: need a non-empty normalized_shape and eps >= 0, got {normalized_shape:?}, {eps}");
        }
        let (weight, bias) = if elementwise_affine {
            (Some(const_param(host, normalized_shape, 1.0, dtype)?), Some(const_param(host, normalized_shape, 0.0, dtype)?))
        } else {
            (None, None)
        };
        Ok(LayerNorm { weight, bias, normalized_shape: normalized_shape.to_vec(), eps, training: true })
    }
}

impl Module for LayerNorm {
    /// `[*, *normalized_shape]` → same shape (op `ferrite::layer_norm`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::layer_norm(x, &self.normalized_shape, self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        v.extend(self.weight.iter().map(|w| ("weight".to_string(), w.clone())));
        v.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        v
    }

    leaf_mode!();
}
