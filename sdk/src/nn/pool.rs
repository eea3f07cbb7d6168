//! Pooling layers: `MaxPool2d`, `AdaptiveAvgPool2d`, `SpatialPyramidPool`.

use super::module::{leaf_mode, Module};
use crate::error::Result;
use crate::functional as F;
use crate::tensor::Tensor;

/// Max pooling over `[N, C, H, W]` (`torch.nn.MaxPool2d`): output
/// `H' = ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1` (`⌈…⌉` with `ceil_mode`); padding counts as `−∞`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{MaxPool2d, Module};
/// let y = MaxPool2d::new([2, 2]).forward(&host.zeros(&[1, 3, 8, 8], DType::F32)?)?;
/// assert_eq!(y.shape(), vec![1, 3, 4, 4]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MaxPool2d {
    /// `[kH, kW]`.
    pub kernel_size: [usize; 2],
    /// `[sH, sW]`; PyTorch's default is the kernel size.
    pub stride: [usize; 2],
    /// `[pH, pW]`, at most half the kernel.
    pub padding: [usize; 2],
    /// `[dH, dW]`.
    pub dilation: [usize; 2],
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
    training: bool,
}

impl MaxPool2d {
    /// Window `kernel_size`, stride = kernel size, no padding (PyTorch's defaults).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::MaxPool2d;
    /// let p = MaxPool2d::new([2, 2]);
    /// assert_eq!((p.stride, p.padding, p.ceil_mode), ([2, 2], [0, 0], false));
    /// ```
    pub fn new(kernel_size: [usize; 2]) -> MaxPool2d {
        MaxPool2d { kernel_size, stride: kernel_size, padding: [0, 0], dilation: [1, 1], ceil_mode: false, training: true }
    }

    /// Explicit stride and padding.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::MaxPool2d;
    /// let p = MaxPool2d::with_stride([3, 3], [2, 2], [1, 1]); // ResNet's stem pool
    /// assert_eq!((p.kernel_size, p.stride, p.padding), ([3, 3], [2, 2], [1, 1]));
    /// ```
    pub fn with_stride(kernel_size: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> MaxPool2d {
        MaxPool2d { stride, padding, ..MaxPool2d::new(kernel_size) }
    }
}

impl Module for MaxPool2d {
    /// `[N, C, H, W]` → `[N, C, H', W']` (op `ferrite::max_pool2d`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(F::max_pool2d_with_indices(x, self.kernel_size, Some(self.stride), self.padding, self.dilation, self.ceil_mode)?.0)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    leaf_mode!();
}

/// Adaptive average pooling `[N, C, H, W]` → `[N, C, oh, ow]` (`torch.nn.AdaptiveAvgPool2d`);
/// bin `i` of `m` over `n` inputs covers `[⌊i·n/m⌋, ⌈(i+1)·n/m⌉)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{AdaptiveAvgPool2d, Module};
/// let y = AdaptiveAvgPool2d::new([1, 1]).forward(&host.zeros(&[1, 3, 7, 5], DType::F32)?)?;
/// assert_eq!(y.shape(), vec![1, 3, 1, 1]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AdaptiveAvgPool2d {
    /// `[oh, ow]`.
    pub output_size: [usize; 2],
    training: bool,
}

impl AdaptiveAvgPool2d {
    /// Pools to `output_size`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::AdaptiveAvgPool2d;
    /// assert_eq!(AdaptiveAvgPool2d::new([7, 7]).output_size, [7, 7]);
    /// ```
    pub fn new(output_size: [usize; 2]) -> AdaptiveAvgPool2d {
        AdaptiveAvgPool2d { output_size, training: true }
    }
}

impl Module for AdaptiveAvgPool2d {
    /// `[N, C, H, W]` → `[N, C, oh, ow]` (op `ferrite::adaptive_avg_pool2d`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::adaptive_avg_pool2d(x, self.output_size)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    leaf_mode!();
}

/// Pooling used by each pyramid level.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::nn::PoolMode;
/// assert_eq!(PoolMode::Max.as_str(), "max");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// Max pooling (SPP-net's choice).
    Max,
    /// Average pooling.
    Avg,
}

impl PoolMode {
    /// `"max"` or `"avg"` (the op attribute).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::PoolMode;
    /// assert_eq!((PoolMode::Max.as_str(), PoolMode::Avg.as_str()), ("max", "avg"));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Max => "max",
            PoolMode::Avg => "avg",
        }
    }
}

/// Spatial pyramid pooling (He, Zhang, Ren, Sun 2014, "Spatial Pyramid Pooling in Deep
/// Convolutional Networks for Visual Recognition", §2.3): adaptive pooling of `[N, C, H, W]`
/// to `l×l` bins for each level `l`, flattened and concatenated → `[N, C·Σl²]`, a fixed length
/// for any `H, W ≥ 1`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Module, PoolMode, SpatialPyramidPool};
/// let spp = SpatialPyramidPool::new(&[1, 2, 4], PoolMode::Max)?;
/// assert_eq!(spp.output_features(8), 8 * 21);
/// let y = spp.forward(&host.zeros(&[2, 8, 13, 11], DType::F32)?)?;
/// assert_eq!(y.shape(), vec![2, 168]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SpatialPyramidPool {
    /// Bins per side for each level (the paper's `{4×4, 2×2, 1×1}` is `[1, 2, 4]` here).
    pub levels: Vec<usize>,
    /// Max or average pooling.
    pub mode: PoolMode,
    training: bool,
}

impl SpatialPyramidPool {
    /// A pyramid with `levels` bins per side.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for no levels or a zero level.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{PoolMode, SpatialPyramidPool};
    /// assert!(SpatialPyramidPool::new(&[1, 2, 4], PoolMode::Avg).is_ok());
    /// assert!(SpatialPyramidPool::new(&[], PoolMode::Max).is_err());
    /// assert!(SpatialPyramidPool::new(&[0, 1], PoolMode::Max).is_err());
    /// ```
    pub fn new(levels: &[usize], mode: PoolMode) -> Result<SpatialPyramidPool> {
        if levels.is_empty() || levels.contains(&0) {
            crate::bail!("SpatialPyramidPool: levels must be non-empty and positive, got {levels:?}");
        }
        Ok(SpatialPyramidPool { levels: levels.to_vec(), mode, training: true })
    }

    /// Output features per sample for `channels` input channels: `C·Σl²`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{PoolMode, SpatialPyramidPool};
    /// let spp = SpatialPyramidPool::new(&[1, 2, 4], PoolMode::Max).unwrap();
    /// assert_eq!(spp.output_features(256), 256 * (1 + 4 + 16));
    /// ```
    pub fn output_features(&self, channels: usize) -> usize {
        channels * self.levels.iter().map(|l| l * l).sum::<usize>()
    }
}

impl Module for SpatialPyramidPool {
    /// `[N, C, H, W]` → `[N, C·Σl²]` (op `ferrite::spatial_pyramid_pool`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::spatial_pyramid_pool(x, &self.levels, self.mode.as_str())
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    leaf_mode!();
}
