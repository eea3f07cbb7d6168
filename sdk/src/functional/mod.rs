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
    neg => "ferrite::neg";
    /// `e^x`. Op `ferrite::exp`.
    exp => "ferrite::exp";
    /// Natural log (`-inf` at 0, NaN below). Op `ferrite::log`.
    log => "ferrite::log";
    /// Square root. Op `ferrite::sqrt`.
    sqrt => "ferrite::sqrt";
    /// `|x|` (gradient `sign(x)`, 0 at 0). Op `ferrite::abs`.
    abs => "ferrite::abs";
    /// `max(x, 0)` (gradient 0 at 0, as PyTorch). Op `ferrite::relu`.
    relu => "ferrite::relu";
    /// Hyperbolic tangent. Op `ferrite::tanh`.
    tanh => "ferrite::tanh";
    /// Logistic sigmoid `1/(1+e^-x)`. Op `ferrite::sigmoid`.
    sigmoid => "ferrite::sigmoid";
}

binary! {
    /// Elementwise sum with broadcasting (NumPy rules). Op `ferrite::add`.
    add => "ferrite::add";
    /// Elementwise difference with broadcasting. Op `ferrite::sub`.
    sub => "ferrite::sub";
    /// Elementwise product with broadcasting. Op `ferrite::mul`.
    mul => "ferrite::mul";
    /// Elementwise quotient with broadcasting. Op `ferrite::div`.
    div => "ferrite::div";
    /// `input ^ other` with broadcasting (gradient w.r.t. the exponent uses `ln(input)`).
    /// Op `ferrite::pow`.
    pow => "ferrite::pow";
    /// `input == other` with broadcasting → bool; no gradient. Op `ferrite::eq`.
    eq => "ferrite::eq";
    /// `input != other` → bool. Op `ferrite::ne`.
    ne => "ferrite::ne";
    /// `input < other` → bool. Op `ferrite::lt`.
    lt => "ferrite::lt";
    /// `input <= other` → bool. Op `ferrite::le`.
    le => "ferrite::le";
    /// `input > other` → bool. Op `ferrite::gt`.
    gt => "ferrite::gt";
    /// `input >= other` → bool. Op `ferrite::ge`.
    ge => "ferrite::ge";
    /// Matrix product with `torch.matmul` semantics: 1-D operands are promoted (and the added
    /// dimension removed), batch dimensions broadcast. `[..., n, k] @ [..., k, m] -> [..., n, m]`.
    /// Op `ferrite::matmul`.
    matmul => "ferrite::matmul";
    /// Batched matrix product `[B, n, k] @ [B, k, m] -> [B, n, m]`, no broadcasting. Op `ferrite::bmm`.
    bmm => "ferrite::bmm";
}

/// GELU; `approximate` is `"none"` (erf form) or `"tanh"` (Hendrycks & Gimpel 2016).
/// Op `ferrite::gelu`, attrs `(approximate: str = "none")`.
pub fn gelu(input: &Tensor, approximate: &str) -> Result<Tensor> {
    call1!("ferrite::gelu", [Some(input)], [approximate])
}

/// `condition ? input : other` with broadcasting of all three; `condition` is bool, no gradient.
/// Op `ferrite::where`, inputs `(condition, input, other)`, dispatch on `input`.
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
pub fn sum(input: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    call1!("ferrite::sum", [Some(input)], [dims_attr(dims), keepdim])
}

/// Mean over `dims` (all when empty). Op `ferrite::mean`, attrs as [`sum`].
pub fn mean(input: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    call1!("ferrite::mean", [Some(input)], [dims_attr(dims), keepdim])
}

/// `log(sum(exp(x)))` over `dims`, computed with the max subtracted; an all `-inf` slice gives
/// `-inf` with zero gradient. Op `ferrite::logsumexp`, attrs as [`sum`].
pub fn logsumexp(input: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    call1!("ferrite::logsumexp", [Some(input)], [dims_attr(dims), keepdim])
}

/// Maximum along `dim` with the index of the first maximum (`torch.max(x, dim)`): returns
/// `(values, indices: i64)`. Op `ferrite::max`, attrs `(dim: int, keepdim: bool = false)`.
pub fn max_dim(input: &Tensor, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
    let mut v = call!("ferrite::max", [Some(input)], [dim as i64, keepdim], 2)?;
    let i = v.pop().expect("two outputs");
    Ok((v.pop().expect("two outputs"), i))
}

/// Minimum along `dim` with indices. Op `ferrite::min`, attrs as [`max_dim`].
pub fn min_dim(input: &Tensor, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
    let mut v = call!("ferrite::min", [Some(input)], [dim as i64, keepdim], 2)?;
    let i = v.pop().expect("two outputs");
    Ok((v.pop().expect("two outputs"), i))
}

/// Index (i64) of the first maximum along `dim`. Op `ferrite::argmax`, attrs `(dim: int, keepdim: bool = false)`.
pub fn argmax(input: &Tensor, dim: isize, keepdim: bool) -> Result<Tensor> {
    call1!("ferrite::argmax", [Some(input)], [dim as i64, keepdim])
}

/// Softmax along `dim` (max-subtracted). Op `ferrite::softmax`, attrs `(dim: int)`.
pub fn softmax(input: &Tensor, dim: isize) -> Result<Tensor> {
    call1!("ferrite::softmax", [Some(input)], [dim as i64])
}

/// Log-softmax along `dim`. Op `ferrite::log_softmax`, attrs `(dim: int)`.
pub fn log_softmax(input: &Tensor, dim: isize) -> Result<Tensor> {
    call1!("ferrite::log_softmax", [Some(input)], [dim as i64])
}

/// `y = x W^T + b`: input `[*, in]`, weight `[out, in]`, bias `[out]` → `[*, out]`.
/// Op `ferrite::linear`, inputs `(input, weight, bias?)`.
pub fn linear(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    call1!("ferrite::linear", [Some(input), Some(weight), bias], [])
}

/// 2-D convolution (cross-correlation, as PyTorch): input `[N, C, H, W]`, weight
/// `[O, C/groups, kH, kW]`, bias `[O]` → `[N, O, H', W']` with
/// `H' = (H + 2p - d(kH-1) - 1)/s + 1`. Op `ferrite::conv2d`, inputs `(input, weight, bias?)`,
/// attrs `(stride: ints = [1,1], padding: ints = [0,0], dilation: ints = [1,1], groups: int = 1)`.
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
pub fn max_pool2d(input: &Tensor, kernel_size: [usize; 2], stride: Option<[usize; 2]>, padding: [usize; 2]) -> Result<Tensor> {
    Ok(max_pool2d_with_indices(input, kernel_size, stride, padding, [1, 1], false)?.0)
}

/// Average pooling over `[N, C, H, W]`. Op `ferrite::avg_pool2d`, attrs `(kernel_size: ints,
/// stride: ints = [], padding: ints = [0,0], ceil_mode: bool = false, count_include_pad: bool = true)`.
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
pub fn adaptive_max_pool2d(input: &Tensor, output_size: [usize; 2]) -> Result<(Tensor, Tensor)> {
    let mut v = call!("ferrite::adaptive_max_pool2d", [Some(input)], [sizes("adaptive_max_pool2d", &output_size)?], 2)?;
    let i = v.pop().expect("two outputs");
    Ok((v.pop().expect("two outputs"), i))
}

/// Adaptive average pooling with the same bins as [`adaptive_max_pool2d`].
/// Op `ferrite::adaptive_avg_pool2d`, attrs `(output_size: ints)`.
pub fn adaptive_avg_pool2d(input: &Tensor, output_size: [usize; 2]) -> Result<Tensor> {
    call1!("ferrite::adaptive_avg_pool2d", [Some(input)], [sizes("adaptive_avg_pool2d", &output_size)?])
}

/// Spatial pyramid pooling (He et al. 2014, SPP-net §2.3): adaptive pooling of `[N, C, H, W]`
/// to `l×l` for each level `l`, each flattened to `[N, C·l·l]` and concatenated →
/// `[N, C·Σl²]`, for any `H, W ≥ 1`. `mode` is `"max"` or `"avg"`.
/// Op `ferrite::spatial_pyramid_pool`, attrs `(levels: ints = [1,2,4], mode: str = "max")`.
pub fn spatial_pyramid_pool(input: &Tensor, levels: &[usize], mode: &str) -> Result<Tensor> {
    call1!("ferrite::spatial_pyramid_pool", [Some(input)], [sizes("spatial_pyramid_pool", levels)?, mode])
}

/// Nearest-neighbour upsampling `[N, C, H, W] -> [N, C, oh, ow]`, source index
/// `floor(dst · in / out)` (PyTorch's `nearest`). Op `ferrite::upsample_nearest2d`, attrs `(output_size: ints)`.
pub fn upsample_nearest2d(input: &Tensor, output_size: [usize; 2]) -> Result<Tensor> {
    call1!("ferrite::upsample_nearest2d", [Some(input)], [sizes("upsample_nearest2d", &output_size)?])
}

/// Layer normalisation over the trailing `normalized_shape` dims (Ba et al. 2016), biased
/// variance. Op `ferrite::layer_norm`, inputs `(input, weight?, bias?)`, attrs
/// `(normalized_shape: ints, eps: float = 1e-5)`, outputs `(out, mean, rstd)`.
pub fn layer_norm(input: &Tensor, normalized_shape: &[usize], weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    Ok(call!("ferrite::layer_norm", [Some(input), weight, bias], [sizes("layer_norm", normalized_shape)?, eps], 3)?.remove(0))
}

/// Result of [`batch_norm`]: the output and, in training mode, the updated running statistics.
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
pub fn embedding(input: &Tensor, weight: &Tensor, padding_idx: Option<usize>) -> Result<Tensor> {
    call1!("ferrite::embedding", [Some(input), Some(weight)], [padding_idx.map_or(-1, |p| p as i64)])
}

/// Loss reduction, as PyTorch's `reduction=` argument.
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
pub fn nll_loss(input: &Tensor, target: &Tensor, weight: Option<&Tensor>, ignore_index: i64, reduction: Reduction) -> Result<Tensor> {
    call1!("ferrite::nll_loss", [Some(input), Some(target), weight], [ignore_index, reduction.as_str()])
}

/// Mean squared error (same shapes). Op `ferrite::mse_loss`, attrs `(reduction: str = "mean")`.
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    call1!("ferrite::mse_loss", [Some(input), Some(target)], [reduction.as_str()])
}

/// Concatenation along `dim` (all other dims equal). Op `ferrite::cat`, variadic input, attrs `(dim: int = 0)`.
pub fn cat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
    static OP: call::OpCache = call::OpCache::new("ferrite::cat");
    let ins: Vec<Option<&Tensor>> = tensors.iter().map(|t| Some(*t)).collect();
    Ok(call::call_op(&OP, &ins, &[Attr::Int(dim as i64)], 1)?.remove(0))
}

/// Stacks equal-shaped tensors along a new `dim`. Op `ferrite::stack`, variadic input, attrs `(dim: int = 0)`.
pub fn stack(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
    static OP: call::OpCache = call::OpCache::new("ferrite::stack");
    let ins: Vec<Option<&Tensor>> = tensors.iter().map(|t| Some(*t)).collect();
    Ok(call::call_op(&OP, &ins, &[Attr::Int(dim as i64)], 1)?.remove(0))
}

/// Selects entries along `dim` by a 1-D i64 `index`. Op `ferrite::index_select`,
/// inputs `(input, index)`, attrs `(dim: int)`.
pub fn index_select(input: &Tensor, dim: isize, index: &Tensor) -> Result<Tensor> {
    call1!("ferrite::index_select", [Some(input), Some(index)], [dim as i64])
}

/// `out[i][j] = input[index[i][j]][j]` (for `dim = 0`; likewise for other dims); `index` has
/// the input's rank. Op `ferrite::gather`, inputs `(input, index)`, attrs `(dim: int)`.
pub fn gather(input: &Tensor, dim: isize, index: &Tensor) -> Result<Tensor> {
    call1!("ferrite::gather", [Some(input), Some(index)], [dim as i64])
}

/// Scaled dot-product attention: `softmax(QKᵀ·scale + mask)·V` for `q [..., L, E]`,
/// `k [..., S, E]`, `v [..., S, Ev]` → `[..., L, Ev]`. `attn_mask` broadcastable to
/// `[..., L, S]` is bool (true = attend) or float (added to the scores). `is_causal` keeps key
/// `j ≤ i` (top-left aligned, as PyTorch). `scale` defaults to `1/√E`. A query whose keys are all
/// masked gets output 0 and gradient 0 (never NaN). Op `ferrite::scaled_dot_product_attention`,
/// inputs `(query, key, value, attn_mask?)`, attrs `(is_causal: bool = false, scale: float = NaN (default))`.
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
pub fn full_like(t: &Tensor, v: f64) -> Result<Tensor> {
    t.host().full(&t.shape(), v, t.dtype())
}

/// A 0-d tensor of `t`'s dtype holding `v` (for scalar arithmetic).
pub fn scalar_like(t: &Tensor, v: f64) -> Result<Tensor> {
    let dtype = if t.dtype().is_float() { t.dtype() } else { DType::F32 };
    t.host().scalar(v, dtype)
}
