//! `Sequential` (`torch.nn.Sequential`).

use super::module::{prefixed, Module};
use crate::error::Result;
use crate::tensor::Tensor;

/// Children applied in order; child `i` is named `"i"`, so its tensors are `"i.weight"`, ...
/// (PyTorch's naming, e.g. `features.0.weight` inside a parent field `features`).
/// `train`/`eval` reach every child.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Flatten, Linear, Module, ReLU, Sequential};
/// let model = Sequential::new()
///     .with(Flatten::new())
///     .with(Linear::new(&host, 28 * 28, 128, true, DType::F32)?)
///     .with(ReLU::new())
///     .with(Linear::new(&host, 128, 10, true, DType::F32)?);
/// assert_eq!(model.len(), 4);
/// let y = model.forward(&host.zeros(&[16, 1, 28, 28], DType::F32)?)?;
/// assert_eq!(y.shape(), vec![16, 10]);
/// assert_eq!(model.state_dict()[0].0, "1.weight");
/// # Ok(())
/// # }
/// ```
pub struct Sequential {
    children: Vec<Box<dyn Module>>,
    training: bool,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sequential({} children)", self.children.len())
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential::new()
    }
}

impl Sequential {
    /// An empty container in training mode (the identity until children are pushed).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{Module, Sequential};
    /// let s = Sequential::new();
    /// assert!(s.is_empty() && s.is_training());
    /// ```
    pub fn new() -> Sequential {
        Sequential { children: Vec::new(), training: true }
    }

    /// Appends a child (`append`); it takes this container's current mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{Flatten, Module, ReLU, Sequential};
    /// let mut s = Sequential::new();
    /// s.eval();
    /// s.push(ReLU::new()).push(Flatten::new());
    /// assert_eq!(s.len(), 2);
    /// assert!(!s.get(0).unwrap().is_training()); // children take the container's mode
    /// ```
    pub fn push(&mut self, mut m: impl Module + 'static) -> &mut Self {
        m.train(self.training);
        self.children.push(Box::new(m));
        self
    }

    /// Builder form of [`push`](Sequential::push).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{Flatten, ReLU, Sequential};
    /// let s = Sequential::new().with(ReLU::new()).with(Flatten::new());
    /// assert_eq!(s.len(), 2);
    /// ```
    pub fn with(mut self, m: impl Module + 'static) -> Self {
        self.push(m);
        self
    }

    /// Appends an already boxed child.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{Module, ReLU, Sequential};
    /// let chosen: Box<dyn Module> = Box::new(ReLU::new()); // e.g. picked from a config
    /// let mut s = Sequential::new();
    /// s.push_boxed(chosen);
    /// assert_eq!(s.len(), 1);
    /// ```
    pub fn push_boxed(&mut self, mut m: Box<dyn Module>) -> &mut Self {
        m.train(self.training);
        self.children.push(m);
        self
    }

    /// Number of children.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{ReLU, Sequential};
    /// assert_eq!(Sequential::new().with(ReLU::new()).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// True without children.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{ReLU, Sequential};
    /// assert!(Sequential::new().is_empty());
    /// assert!(!Sequential::new().with(ReLU::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Child `i`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{Module, ReLU, Sequential};
    /// let s = Sequential::new().with(ReLU::new());
    /// assert!(s.get(0).unwrap().parameters().is_empty());
    /// assert!(s.get(1).is_none());
    /// ```
    pub fn get(&self, i: usize) -> Option<&dyn Module> {
        self.children.get(i).map(|b| &**b)
    }

    /// Child `i`, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::nn::{Module, ReLU, Sequential};
    /// let mut s = Sequential::new().with(ReLU::new());
    /// s.get_mut(0).unwrap().eval(); // only this child
    /// assert!(!s.get(0).unwrap().is_training() && s.is_training());
    /// ```
    pub fn get_mut(&mut self, i: usize) -> Option<&mut (dyn Module + 'static)> {
        self.children.get_mut(i).map(|b| &mut **b)
    }
}

impl Module for Sequential {
    /// Feeds `x` through each child in turn; shapes are those of the children.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for m in &self.children {
            y = m.forward(&y)?;
        }
        Ok(y)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.children.iter().enumerate().flat_map(|(i, m)| prefixed(&i.to_string(), m.named_parameters())).collect()
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.children.iter().enumerate().flat_map(|(i, m)| prefixed(&i.to_string(), m.named_buffers())).collect()
    }

    fn train(&mut self, mode: bool) {
        self.training = mode;
        self.children.iter_mut().for_each(|m| m.train(mode));
    }

    fn is_training(&self) -> bool {
        self.training
    }
}
