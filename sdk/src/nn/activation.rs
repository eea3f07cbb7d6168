//! Parameter-free layers: `ReLU`, `Dropout`, `Flatten`.

use super::module::{leaf_mode, Module};
use crate::error::Result;
use crate::functional as F;
use crate::tensor::Tensor;

/// `max(x, 0)` elementwise, any shape (`torch.nn.ReLU`).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Module, ReLU};
/// let y = ReLU::new().forward(&host.from_slice(&[-1.0f32, 1.0], &[2])?)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![0.0, 1.0]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ReLU {
    training: bool,
}

impl ReLU {
    /// A new ReLU.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{Module, ReLU};
    /// let r = ReLU::new();
    /// assert!(r.is_training() && r.parameters().is_empty());
    /// ```
    pub fn new() -> ReLU {
        ReLU { training: true }
    }
}

impl Default for ReLU {
    fn default() -> Self {
        ReLU::new()
    }
}

impl Module for ReLU {
    /// Any shape → same shape (op `ferrite::relu`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::relu(x)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    leaf_mode!();
}

/// Inverted dropout (`torch.nn.Dropout`, Srivastava et al. 2014), any shape.
///
/// Follows the module mode: in training each element is zeroed with probability `p` and the
/// rest scaled by `1/(1−p)`; after `eval()` (or a parent's `eval()`) it is the identity
/// (field case C18: pytorch-fm#21, pytorch#26338).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Dropout, Module};
/// let mut d = Dropout::new(0.1)?;
/// assert!(Dropout::new(1.5).is_err());
/// d.eval(); // identity in eval mode
/// let x = host.ones(&[4], DType::F32)?;
/// assert_eq!(d.forward(&x)?.to_vec::<f32>()?, vec![1.0; 4]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Dropout {
    p: f64,
    training: bool,
}

impl Dropout {
    /// Dropout with probability `p`, in training mode.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] unless `0 ≤ p ≤ 1` (as PyTorch).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::Dropout;
    /// assert_eq!(Dropout::new(0.5).unwrap().p(), 0.5);
    /// assert!(Dropout::new(-0.1).is_err());
    /// ```
    pub fn new(p: f64) -> Result<Dropout> {
        if !(0.0..=1.0).contains(&p) {
            crate::bail!("Dropout: p must be in [0, 1], got {p}");
        }
        Ok(Dropout { p, training: true })
    }

    /// The drop probability.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::Dropout;
    /// assert_eq!(Dropout::new(0.1).unwrap().p(), 0.1);
    /// ```
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Module for Dropout {
    /// Any shape → same shape; the identity (the same tensor) in eval mode.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::dropout(x, self.p, self.training)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    leaf_mode!();
}

/// Flattens dims `start_dim..=end_dim` into one (`torch.nn.Flatten`, default `1..=-1`):
/// `[N, C, H, W]` → `[N, C·H·W]`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Flatten, Module};
/// let x = host.zeros(&[2, 3, 4, 5], DType::F32)?;
/// assert_eq!(Flatten::new().forward(&x)?.shape(), vec![2, 60]);
/// assert_eq!(Flatten::with_dims(0, 1).forward(&x)?.shape(), vec![6, 4, 5]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Flatten {
    /// First dim flattened (negative counts from the end).
    pub start_dim: isize,
    /// Last dim flattened (negative counts from the end).
    pub end_dim: isize,
    training: bool,
}

impl Flatten {
    /// PyTorch's default, `start_dim = 1`, `end_dim = -1`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::Flatten;
    /// let f = Flatten::new();
    /// assert_eq!((f.start_dim, f.end_dim), (1, -1)); // [N, C, H, W] -> [N, C*H*W]
    /// ```
    pub fn new() -> Flatten {
        Flatten::with_dims(1, -1)
    }

    /// Explicit dims.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::Flatten;
    /// let f = Flatten::with_dims(-2, -1); // [N, C, H, W] -> [N, C, H*W]
    /// assert_eq!((f.start_dim, f.end_dim), (-2, -1));
    /// ```
    pub fn with_dims(start_dim: isize, end_dim: isize) -> Flatten {
        Flatten { start_dim, end_dim, training: true }
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten::new()
    }
}

impl Module for Flatten {
    /// `[d0, …, d_{s}, …, d_{e}, …]` → `[d0, …, d_s·…·d_e, …]` (a view when possible).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.flatten(self.start_dim, self.end_dim)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    leaf_mode!();
}
