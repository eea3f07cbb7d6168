//! Losses (`cross_entropy`, `nll_loss`, `mse_loss`) and their [`Reduction`].

use crate::error::Result;
use crate::tensor::Tensor;
use crate::call1;

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
