//! Layer functions: `linear`, `conv2d`, pooling, upsampling, normalisation, dropout and
//! `embedding`.

use crate::error::Result;
use crate::kernel::Attr;
use crate::tensor::Tensor;
use crate::{call, call1};
use super::sizes;

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
/// new_running_mean, new_running_var)`. In training the running buffers are read here (not by
/// the op) and never enter the autograd graph, so the caller may update them in place before
/// backward; in eval they are saved by the op and an in-place write before backward is an error.
///
/// # Errors
/// [`crate::Error::Host`] from the op: input not `[N, C, *]`, a per-channel tensor not `[C]`,
/// mixed dtypes, one value per channel in training, or missing running stats in eval.
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
    if !training {
        // Eval normalises with the running statistics: the op saves them for backward and their
        // version is checked there (an in-place write before backward is an error, as PyTorch).
        let mut v = call!("ferrite::batch_norm", [Some(input), weight, bias, running_mean, running_var], [training, momentum, eps], 5)?;
        let new_running_var = v.pop().expect("five outputs");
        let new_running_mean = v.pop().expect("five outputs");
        return Ok(BatchNormOutput { output: v.swap_remove(0), new_running_mean, new_running_var });
    }
    // Training normalises with the batch statistics only, so the running buffers are not handed
    // to the op: a recorded node would save them, and the caller's in-place update right after
    // (`running_mean.copy_(new_running_mean)`, as `nn.BatchNorm2d` does) would bump their version
    // and fail backward. Without them the op returns the batch mean and unbiased variance, and the
    // running average is blended here (PyTorch: running stats are buffers, never in the graph).
    let mut v = call!("ferrite::batch_norm", [Some(input), weight, bias, None, None], [training, momentum, eps], 5)?;
    let batch_var = v.pop().expect("five outputs");
    let batch_mean = v.pop().expect("five outputs");
    let blend = |old: Option<&Tensor>, batch: Tensor| -> Result<Tensor> {
        match old {
            Some(old) => old.detach().mul_scalar(1.0 - momentum)?.add(&batch.mul_scalar(momentum)?),
            None => Ok(batch),
        }
    };
    Ok(BatchNormOutput {
        output: v.swap_remove(0),
        new_running_mean: blend(running_mean, batch_mean)?,
        new_running_var: blend(running_var, batch_var)?,
    })
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
