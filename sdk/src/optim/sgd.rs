//! Stochastic gradient descent with momentum (`torch.optim.SGD`).

use super::{check_state_entry, clear_grads, for_each_chunk, Optimizer};
use crate::error::Result;
use crate::tensor::Tensor;

/// Hyper-parameters of [`Sgd`]; defaults are PyTorch's (`lr = 1e-3`, everything else off).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::optim::SgdConfig;
/// let cfg = SgdConfig { lr: 0.01, momentum: 0.9, nesterov: true, ..Default::default() };
/// assert_eq!(cfg.weight_decay, 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate `γ`.
    pub lr: f64,
    /// Momentum factor `μ` (0 = plain SGD).
    pub momentum: f64,
    /// Dampening `τ` of the momentum update.
    pub dampening: f64,
    /// L2 penalty `λ` added to the gradient (coupled weight decay).
    pub weight_decay: f64,
    /// Nesterov momentum (Sutskever et al. 2013); needs `momentum > 0` and `dampening == 0`.
    pub nesterov: bool,
    /// Maximise the objective instead of minimising it.
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 1e-3, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false }
    }
}

/// SGD exactly as `torch.optim.SGD`, per parameter `θ` with gradient `g`:
///
/// ```text
/// g ← −g                       if maximize
/// g ← g + λθ                   if λ ≠ 0
/// b ← g (first step)  |  μb + (1−τ)g      if μ ≠ 0
/// g ← g + μb (nesterov)  |  b             if μ ≠ 0
/// θ ← θ − γg
/// ```
///
/// State: `state.{i}.momentum_buffer` (shape and dtype of parameter `i`) when `μ ≠ 0`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Linear, Module};
/// use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
/// let model = Linear::new(&host, 4, 1, true, DType::F32)?;
/// let mut opt = Sgd::new(model.parameters(), SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() })?;
/// let x = host.randn(&[8, 4], 0.0, 1.0, DType::F32)?;
/// for _ in 0..3 {
///     opt.zero_grad();
///     let loss = model.forward(&x)?.pow_scalar(2.0)?.mean_all()?;
///     loss.backward()?;
///     opt.step()?;
/// }
/// assert_eq!(opt.lr(), 0.1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Sgd {
    params: Vec<Tensor>,
    config: SgdConfig,
    momentum_buffer: Vec<Option<Tensor>>,
}

impl Sgd {
    /// An optimizer over `params`.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a negative or NaN `lr`, `momentum` or `weight_decay`, or
    /// `nesterov` without momentum or with dampening (PyTorch's checks).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
    /// let opt = Sgd::new(vec![], SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() }).unwrap();
    /// assert_eq!(opt.lr(), 0.1);
    /// assert!(Sgd::new(vec![], SgdConfig { lr: -0.1, ..Default::default() }).is_err());
    /// assert!(Sgd::new(vec![], SgdConfig { nesterov: true, ..Default::default() }).is_err()); // no momentum
    /// ```
    pub fn new(params: Vec<Tensor>, config: SgdConfig) -> Result<Sgd> {
        let c = &config;
        if ![c.lr, c.momentum, c.weight_decay].iter().all(|x| (0.0..).contains(x)) || !c.dampening.is_finite() {
            crate::bail!("SGD: invalid hyper-parameters {c:?} (lr, momentum, weight_decay must be >= 0)");
        }
        if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
            crate::bail!("SGD: nesterov momentum requires a momentum and zero dampening");
        }
        let n = params.len();
        Ok(Sgd { params, config, momentum_buffer: vec![None; n] })
    }

    /// The hyper-parameters.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::optim::{Sgd, SgdConfig};
    /// let opt = Sgd::new(vec![], SgdConfig { lr: 0.1, weight_decay: 5e-4, ..Default::default() }).unwrap();
    /// assert_eq!(opt.config().weight_decay, 5e-4);
    /// ```
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

/// A new tensor holding `t`'s values (never sharing storage with it).
/// `torch.optim.SGD` on one chunk: `d = g + λθ`; with momentum `b ← μb + (1−τ)d` (`b ← d`
/// on the first step), `d = d + μb` (Nesterov) or `b`; `θ ← θ − γd`, written back in place.
/// At most 3 chunk-sized temporaries are alive at once.
fn step_chunk(p: &Tensor, g: &Tensor, buf: Option<&Tensor>, first: bool, c: &SgdConfig) -> Result<()> {
    let mut d = if c.maximize { g.neg()? } else { g.clone() };
    if c.weight_decay != 0.0 {
        let wd = p.mul_scalar(c.weight_decay)?;
        d = d.add(&wd)?;
    }
    if let Some(buf) = buf {
        if first {
            buf.copy_(&d)?;
        } else {
            let kept = buf.mul_scalar(c.momentum)?;
            let added = if c.dampening == 0.0 { kept.add(&d)? } else { kept.add(&d.mul_scalar(1.0 - c.dampening)?)? };
            drop(kept);
            buf.copy_(&added)?;
        }
        d = if c.nesterov {
            let look = buf.mul_scalar(c.momentum)?;
            d.add(&look)?
        } else {
            buf.clone()
        };
    }
    let delta = d.mul_scalar(c.lr)?;
    drop(d);
    p.copy_(&p.sub(&delta)?)
}

pub(crate) fn fresh_copy(t: &Tensor) -> Result<Tensor> {
    let out = t.host().zeros(&t.shape(), t.dtype())?;
    out.copy_(t)?;
    Ok(out)
}

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        let c = self.config;
        for (p, buf) in self.params.iter().zip(self.momentum_buffer.iter_mut()) {
            let Some(g) = p.grad() else { continue };
            p.host().no_grad(|| -> Result<()> {
                // The momentum buffer lives in place from its first step on.
                let first = c.momentum != 0.0 && buf.is_none();
                let b = match (c.momentum != 0.0, buf.take()) {
                    (true, Some(b)) => Some(b),
                    (true, None) => Some(p.host().zeros(&p.shape(), p.dtype())?),
                    (false, _) => None,
                };
                let mut all = vec![p, &g];
                if let Some(b) = &b {
                    all.push(b);
                }
                let r = for_each_chunk(&all, |ch| step_chunk(&ch[0], &ch[1], ch.get(2), first, &c));
                *buf = b;
                r
            })?;
        }
        Ok(())
    }

    fn zero_grad(&self) {
        clear_grads(&self.params)
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let named = self.momentum_buffer.iter().enumerate();
        named.filter_map(|(i, b)| b.as_ref().map(|b| (format!("state.{i}.momentum_buffer"), b.detach()))).collect()
    }

    fn load_state_dict(&mut self, sd: &[(String, Tensor)]) -> Result<()> {
        let mut new = vec![None; self.params.len()];
        for (key, t) in sd {
            let (i, _) = check_state_entry(&self.params, key, t, &["momentum_buffer"])?;
            let p = &self.params[i];
            new[i] = Some(p.host().no_grad(|| fresh_copy(&t.to_dtype(p.dtype())?))?);
        }
        self.momentum_buffer = new;
        Ok(())
    }
}
