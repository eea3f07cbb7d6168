//! `scaled_dot_product_attention` (Vaswani et al. 2017, eq. 1).

use crate::error::Result;
use crate::tensor::Tensor;
use crate::call1;

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
