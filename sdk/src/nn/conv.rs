//! `Conv2d` (`torch.nn.Conv2d`).

use super::init::{check_float, default_uniform_bound, uniform_param};
use super::module::{leaf_mode, Module};
use crate::abi::dtype::DType;
use crate::error::Result;
use crate::functional as F;
use crate::tensor::{Host, Tensor};

/// Hyper-parameters of [`Conv2d`] besides the channels and kernel size (PyTorch's defaults).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::nn::Conv2dConfig;
/// let cfg = Conv2dConfig { stride: [2, 2], bias: false, ..Default::default() };
/// assert_eq!((cfg.padding, cfg.groups), ([0, 0], 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Step between windows, `[sH, sW]`; default `[1, 1]`.
    pub stride: [usize; 2],
    /// Zero padding on each side, `[pH, pW]`; default `[0, 0]`.
    pub padding: [usize; 2],
    /// Spacing between kernel taps, `[dH, dW]`; default `[1, 1]`.
    pub dilation: [usize; 2],
    /// Channel groups; `in_channels` and `out_channels` must be divisible by it. Default 1.
    pub groups: usize,
    /// Whether to add a learnable bias. Default `true`.
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, bias: true }
    }
}

/// 2-D convolution (cross-correlation): `[N, C, H, W]` → `[N, O, H', W']` with
/// `H' = ⌊(H + 2p − d(kH−1) − 1)/s⌋ + 1`.
///
/// Parameters `weight [O, C/groups, kH, kW]` and `bias [O]`, both `U(-b, b)` with
/// `b = 1/√(C/groups·kH·kW)` (PyTorch's default init).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Conv2d, Conv2dConfig, Module};
/// let cfg = Conv2dConfig { padding: [1, 1], ..Default::default() };
/// let conv = Conv2d::new(&host, 3, 16, [3, 3], cfg, DType::F32)?;
/// let y = conv.forward(&host.zeros(&[2, 3, 32, 32], DType::F32)?)?;
/// assert_eq!(y.shape(), vec![2, 16, 32, 32]);
/// # Ok(())
/// # }
/// ```
///
/// `clone()` is shallow, as Python's `copy.copy(module)`: the clone shares the weight and bias
/// tensors (an update of one is seen by the other), e.g. to call the layer from a closure
/// given to [`crate::nn::checkpoint`].
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// `[out_channels, in_channels/groups, kH, kW]`.
    pub weight: Tensor,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Tensor>,
    /// Input channels `C`.
    pub in_channels: usize,
    /// Output channels `O`.
    pub out_channels: usize,
    /// `[kH, kW]`.
    pub kernel_size: [usize; 2],
    /// Stride, padding, dilation, groups.
    pub config: Conv2dConfig,
    training: bool,
}

impl Conv2d {
    /// A new layer with parameters of `dtype` (float).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for zero groups, stride, dilation or kernel size, channels not
    /// divisible by `groups`, or a non-float dtype; [`crate::Error::Host`] from the core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::nn::{Conv2d, Conv2dConfig, Module};
    /// let cfg = Conv2dConfig { padding: [1, 1], ..Default::default() };
    /// let conv = Conv2d::new(&host, 3, 16, [3, 3], cfg, DType::F32)?;
    /// assert_eq!(conv.weight.shape(), vec![16, 3, 3, 3]);
    /// let y = conv.forward(&host.zeros(&[2, 3, 8, 8], DType::F32)?)?;
    /// assert_eq!(y.shape(), vec![2, 16, 8, 8]);
    /// assert!(Conv2d::new(&host, 3, 16, [3, 3], Conv2dConfig { groups: 2, ..cfg }, DType::F32).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(host: &Host, in_channels: usize, out_channels: usize, kernel_size: [usize; 2], config: Conv2dConfig, dtype: DType) -> Result<Conv2d> {
        check_float("Conv2d", dtype)?;
        let g = config.groups;
        if g == 0 || !in_channels.is_multiple_of(g) || !out_channels.is_multiple_of(g) {
            crate::bail!("Conv2d: in_channels {in_channels} and out_channels {out_channels} must be divisible by groups {g} (> 0)");
        }
        if kernel_size.contains(&0) || config.stride.contains(&0) || config.dilation.contains(&0) {
            crate::bail!("Conv2d: kernel_size {kernel_size:?}, stride {:?} and dilation {:?} must be positive", config.stride, config.dilation);
        }
        let fan_in = in_channels / g * kernel_size[0] * kernel_size[1];
        let bound = default_uniform_bound(fan_in);
        let weight = uniform_param(host, &[out_channels, in_channels / g, kernel_size[0], kernel_size[1]], bound, dtype)?;
        let bias = if config.bias { Some(uniform_param(host, &[out_channels], bound, dtype)?) } else { None };
        Ok(Conv2d { weight, bias, in_channels, out_channels, kernel_size, config, training: true })
    }
}

impl Module for Conv2d {
    /// `[N, C, H, W]` → `[N, O, H', W']` (op `ferrite::conv2d`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        F::conv2d(x, &self.weight, self.bias.as_ref(), c.stride, c.padding, c.dilation, c.groups)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        v.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        v
    }

    leaf_mode!();
}
