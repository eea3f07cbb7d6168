//! [`MasterWeights`]: f32 master copies of a reduced-precision model's parameters
//! (Micikevicius et al. 2018, "Mixed Precision Training", §3.1): the optimizer updates the
//! f32 copies, so updates smaller than a bf16/f16 ulp accumulate instead of rounding away.
//!
//! # Examples
//!
//! ```no_run
//! # use ferrite_sdk::{DType, Host, Result};
//! # fn demo(host: Host) -> Result<()> {
//! use ferrite_sdk::amp::MasterWeights;
//! use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
//! // 1 + 1e-3 rounds back to 1 in bf16; the f32 master keeps the small updates.
//! let w = host.ones(&[1], DType::BF16)?.requires_grad_(true)?;
//! let mut opt = MasterWeights::new(vec![w.clone()], |m| Sgd::new(m, SgdConfig { lr: 1e-3, ..Default::default() }))?;
//! for _ in 0..10 {
//!     w.to_dtype(DType::F32)?.sum_all()?.backward()?;
//!     opt.step()?;
//!     opt.zero_grad();
//! }
//! assert!((opt.params()[0].item()? - 0.99).abs() < 1e-6);
//! # Ok(())
//! # }
//! ```

use crate::abi::dtype::DType;
use crate::error::Result;
use crate::optim::Optimizer;
use crate::tensor::Tensor;

/// An optimizer over f32 master copies of a model's (bf16/f16) parameters.
///
/// * Gradients go up as they arrive: a gradient hook on each model parameter adds the f32
///   conversion of its gradient into the master's `.grad` during backward, so masters hold
///   their gradients right after `backward()` (and a [`super::GradScaler`] can unscale and
///   inf-check them) and gradient accumulation over micro-batches sums in f32.
/// * [`Optimizer::step`] runs the wrapped optimizer on the masters, then copies the updated
///   values down into the model parameters (rounded to their dtype).
/// * [`Optimizer::params`] are the masters; [`Optimizer::zero_grad`] clears the gradients of
///   both copies.
/// * [`Optimizer::state_dict`] is the wrapped optimizer's plus `master.{i}` (the f32 copy of
///   parameter `i`); loading it restores the masters and copies them down.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::amp::MasterWeights;
/// use ferrite_sdk::optim::{AdamW, AdamWConfig, Optimizer};
/// let w = host.ones(&[4], DType::BF16)?.requires_grad_(true)?;
/// let mut opt = MasterWeights::new(vec![w.clone()], |masters| AdamW::new(masters, AdamWConfig::default()))?;
/// w.to_dtype(DType::F32)?.sum_all()?.backward()?;
/// assert_eq!(opt.params()[0].grad().unwrap().dtype(), DType::F32);
/// opt.step()?; // updates the f32 master, then w
/// # Ok(())
/// # }
/// ```
pub struct MasterWeights<O: Optimizer> {
    model: Vec<Tensor>,
    masters: Vec<Tensor>,
    inner: O,
}

impl<O: Optimizer> MasterWeights<O> {
    /// Makes an f32 master (a leaf requiring grad) for each model parameter, hooks the model
    /// parameters' gradients into the masters, and builds the wrapped optimizer over the
    /// masters with `make` (e.g. `|m| AdamW::new(m, cfg)`).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if a parameter is not a float tensor that requires grad; the
    /// errors of `make`; [`crate::Error::Host`] if an op fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::amp::MasterWeights;
    /// use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
    /// let w = host.ones(&[3], DType::F16)?.requires_grad_(true)?;
    /// let opt = MasterWeights::new(vec![w.clone()], |m| Sgd::new(m, SgdConfig { lr: 0.1, ..Default::default() }))?;
    /// assert_eq!(opt.params()[0].dtype(), DType::F32);
    /// let frozen = host.ones(&[3], DType::F16)?; // does not require grad
    /// assert!(MasterWeights::new(vec![frozen], |m| Sgd::new(m, Default::default())).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(model_params: Vec<Tensor>, make: impl FnOnce(Vec<Tensor>) -> Result<O>) -> Result<MasterWeights<O>> {
        let mut masters = Vec::with_capacity(model_params.len());
        for (i, p) in model_params.iter().enumerate() {
            if !p.dtype().is_float() || !p.requires_grad() {
                crate::bail!("MasterWeights: parameter {i} must be a float tensor that requires grad ({} given)", p.dtype());
            }
            // A fresh f32 tensor, never aliasing the model's storage (even for f32 params).
            let m = p.host().zeros(&p.shape(), DType::F32)?;
            p.host().no_grad(|| m.copy_(p))?;
            let m = m.requires_grad_(true)?;
            let target = m.clone();
            p.register_hook(move |g| {
                // Errors cannot be reported from a hook; the conversions below only fail for
                // an out-of-memory condition, which the next op reports.
                let g32 = g.to_dtype(DType::F32).ok()?;
                let sum = match target.grad() {
                    Some(old) => old.add(&g32).ok()?,
                    None => g32,
                };
                let _ = target.set_grad(Some(&sum));
                None
            })?;
            masters.push(m);
        }
        let inner = make(masters.clone())?;
        Ok(MasterWeights { model: model_params, masters, inner })
    }

    /// The model's (reduced-precision) parameters.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::amp::MasterWeights;
    /// use ferrite_sdk::optim::{AdamW, AdamWConfig};
    /// let w = host.ones(&[2, 2], DType::BF16)?.requires_grad_(true)?;
    /// let opt = MasterWeights::new(vec![w.clone()], |m| AdamW::new(m, AdamWConfig::default()))?;
    /// assert_eq!(opt.model_params()[0].dtype(), DType::BF16);
    /// assert_eq!(opt.model_params()[0].handle(), w.handle());
    /// # Ok(())
    /// # }
    /// ```
    pub fn model_params(&self) -> &[Tensor] {
        &self.model
    }

    /// The wrapped optimizer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::amp::MasterWeights;
    /// use ferrite_sdk::optim::{AdamW, AdamWConfig};
    /// let w = host.ones(&[2], DType::BF16)?.requires_grad_(true)?;
    /// let cfg = AdamWConfig { weight_decay: 0.1, ..Default::default() };
    /// let opt = MasterWeights::new(vec![w], |m| AdamW::new(m, cfg))?;
    /// assert_eq!(opt.inner().config().weight_decay, 0.1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The wrapped optimizer, mutably (e.g. to change hyper-parameters).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::amp::MasterWeights;
    /// use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
    /// let w = host.ones(&[2], DType::F16)?.requires_grad_(true)?;
    /// let mut opt = MasterWeights::new(vec![w], |m| Sgd::new(m, SgdConfig { lr: 0.1, ..Default::default() }))?;
    /// opt.inner_mut().set_lr(0.01); // e.g. a schedule driving the wrapped optimizer
    /// assert_eq!(opt.lr(), 0.01);
    /// # Ok(())
    /// # }
    /// ```
    pub fn inner_mut(&mut self) -> &mut O {
        &mut self.inner
    }

    /// Copies every master into its model parameter (rounded to the parameter's dtype).
    ///
    /// # Errors
    /// [`crate::Error::Host`] if a copy fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::amp::MasterWeights;
    /// use ferrite_sdk::optim::{Optimizer, Sgd};
    /// let w = host.ones(&[2], DType::BF16)?.requires_grad_(true)?;
    /// let opt = MasterWeights::new(vec![w.clone()], |m| Sgd::new(m, Default::default()))?;
    /// let m = &opt.params()[0];
    /// host.no_grad(|| m.copy_(&host.full(&[2], 1.5, DType::F32)?))?;
    /// opt.copy_down()?;
    /// assert_eq!(w.to_vec_f64()?, vec![1.5, 1.5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn copy_down(&self) -> Result<()> {
        for (p, m) in self.model.iter().zip(&self.masters) {
            p.host().no_grad(|| p.copy_(m))?;
        }
        Ok(())
    }
}

impl<O: Optimizer> Optimizer for MasterWeights<O> {
    fn step(&mut self) -> Result<()> {
        self.inner.step()?;
        self.copy_down()
    }

    fn zero_grad(&self) {
        self.inner.zero_grad();
        for p in &self.model {
            let _ = p.set_grad(None);
        }
    }

    fn lr(&self) -> f64 {
        self.inner.lr()
    }

    fn set_lr(&mut self, lr: f64) {
        self.inner.set_lr(lr)
    }

    fn params(&self) -> &[Tensor] {
        &self.masters
    }

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut sd = self.inner.state_dict();
        sd.extend(self.masters.iter().enumerate().map(|(i, m)| (format!("master.{i}"), m.detach())));
        sd
    }

    fn load_state_dict(&mut self, sd: &[(String, Tensor)]) -> Result<()> {
        let mut rest = Vec::new();
        let mut masters = Vec::new();
        for (k, t) in sd {
            let Some(i) = k.strip_prefix("master.") else {
                rest.push((k.clone(), t.clone()));
                continue;
            };
            let Some(m) = i.parse::<usize>().ok().and_then(|i| self.masters.get(i).map(|m| (i, m))) else {
                crate::bail!("MasterWeights load_state_dict: {k:?} does not name one of {} parameters", self.masters.len());
            };
            if t.shape() != m.1.shape() {
                crate::bail!("MasterWeights load_state_dict: {k:?} has shape {:?}, parameter has {:?}", t.shape(), m.1.shape());
            }
            masters.push((m.0, t.clone()));
        }
        self.inner.load_state_dict(&rest)?;
        for (i, t) in masters {
            let m = &self.masters[i];
            m.host().no_grad(|| m.copy_(&t))?;
        }
        self.copy_down()
    }
}

/// Boxed optimizers are optimizers too, so `MasterWeights<Box<dyn Optimizer>>` and
/// `GradScaler::step(&mut boxed)` work for optimizers chosen at run time.
impl<T: Optimizer + ?Sized> Optimizer for Box<T> {
    fn step(&mut self) -> Result<()> {
        (**self).step()
    }
    fn zero_grad(&self) {
        (**self).zero_grad()
    }
    fn lr(&self) -> f64 {
        (**self).lr()
    }
    fn set_lr(&mut self, lr: f64) {
        (**self).set_lr(lr)
    }
    fn params(&self) -> &[Tensor] {
        (**self).params()
    }
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        (**self).state_dict()
    }
    fn load_state_dict(&mut self, sd: &[(String, Tensor)]) -> Result<()> {
        (**self).load_state_dict(sd)
    }
}
