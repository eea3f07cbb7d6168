//! `Embedding` (`torch.nn.Embedding`).

use super::init::check_float;
use super::module::{leaf_mode, Module};
use crate::abi::dtype::DType;
use crate::error::Result;
use crate::functional as F;
use crate::rng::Rng;
use crate::tensor::{Host, Tensor};

/// A lookup table: i64 indices of any shape `[*]` → `[*, embedding_dim]`.
///
/// Parameter `weight [num_embeddings, embedding_dim]` initialised `N(0, 1)` as PyTorch, with
/// the `padding_idx` row (if any) zero and receiving no gradient.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Embedding, Module};
/// let emb = Embedding::new(&host, 1000, 64, Some(0), DType::F32)?;
/// let ids = host.from_slice(&[5i64, 0, 42], &[1, 3])?;
/// assert_eq!(emb.forward(&ids)?.shape(), vec![1, 3, 64]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Embedding {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Tensor,
    /// Row that stays zero and gets no gradient.
    pub padding_idx: Option<usize>,
    training: bool,
}

impl Embedding {
    /// A table of `num_embeddings` rows of `embedding_dim` values of `dtype` (float).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for `padding_idx ≥ num_embeddings` or a non-float dtype;
    /// [`crate::Error::Host`] from the core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::nn::{Embedding, Module};
    /// let emb = Embedding::new(&host, 10, 4, Some(0), DType::F32)?;
    /// assert_eq!(emb.weight.shape(), vec![10, 4]);
    /// let ids = host.from_slice(&[0i64, 3, 9], &[3])?;
    /// assert_eq!(emb.forward(&ids)?.shape(), vec![3, 4]);
    /// assert!(Embedding::new(&host, 10, 4, Some(10), DType::F32).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(host: &Host, num_embeddings: usize, embedding_dim: usize, padding_idx: Option<usize>, dtype: DType) -> Result<Embedding> {
        check_float("Embedding", dtype)?;
        if let Some(p) = padding_idx.filter(|&p| p >= num_embeddings) {
            crate::bail!("Embedding: padding_idx {p} out of range for {num_embeddings} embeddings");
        }
        let mut rng = Rng::new(host.next_seed());
        let mut v: Vec<f64> = (0..num_embeddings * embedding_dim).map(|_| rng.normal()).collect();
        if let Some(p) = padding_idx {
            v[p * embedding_dim..(p + 1) * embedding_dim].fill(0.0);
        }
        let weight = host.from_f64(&v, &[num_embeddings, embedding_dim], dtype)?.requires_grad_(true)?;
        Ok(Embedding { weight, padding_idx, training: true })
    }
}

impl Module for Embedding {
    /// i64 indices `[*]` → `[*, embedding_dim]` (op `ferrite::embedding`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::embedding(x, &self.weight, self.padding_idx)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
    leaf_mode!();
}
