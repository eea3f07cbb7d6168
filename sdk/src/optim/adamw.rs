//! AdamW (`torch.optim.AdamW`; Loshchilov & Hutter 2019, "Decoupled Weight Decay
//! Regularization", Algorithm 2).

use super::sgd::fresh_copy;
use super::{check_state_entry, clear_grads, for_each_chunk, Optimizer};
use crate::error::Result;
use crate::functional as F;
use crate::tensor::Tensor;

/// Hyper-parameters of [`AdamW`]; defaults are PyTorch's: `lr = 1e-3`,
/// `betas = (0.9, 0.999)`, `eps = 1e-8`, `weight_decay = 1e-2`, no AMSGrad.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::optim::AdamWConfig;
/// let cfg = AdamWConfig { lr: 3e-4, ..Default::default() };
/// assert!(!cfg.amsgrad);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate `γ`.
    pub lr: f64,
    /// `(β₁, β₂)`, decay rates of the first and second moments.
    pub betas: (f64, f64),
    /// `ε` added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay `λ` (`θ ← θ(1 − γλ)`).
    pub weight_decay: f64,
    /// AMSGrad variant (Reddi et al. 2018): use the running maximum of `v̂`.
    pub amsgrad: bool,
    /// Maximise the objective instead of minimising it.
    pub maximize: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 1e-2, amsgrad: false, maximize: false }
    }
}

/// Per-parameter AdamW state.
#[derive(Debug, Default, Clone)]
struct State {
    step: u64,
    exp_avg: Option<Tensor>,
    exp_avg_sq: Option<Tensor>,
    max_exp_avg_sq: Option<Tensor>,
}

/// AdamW exactly as `torch.optim.AdamW` (single-tensor path), per parameter `θ`, gradient `g`,
/// step `t` (from 1):
///
/// ```text
/// θ ← θ(1 − γλ)
/// m ← lerp(m, g, 1−β₁)           v ← β₂v + (1−β₂)g²
/// v_max ← max(v_max, v)           (AMSGrad only; then v_max replaces v below)
/// θ ← θ − (γ/(1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
/// ```
///
/// State: `state.{i}.step` (0-d i64), `state.{i}.exp_avg`, `state.{i}.exp_avg_sq` and, with
/// AMSGrad, `state.{i}.max_exp_avg_sq` (shape and dtype of parameter `i`).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::{Linear, Module};
/// use ferrite_sdk::optim::{Optimizer, AdamW, AdamWConfig};
/// let model = Linear::new(&host, 4, 1, true, DType::F32)?;
/// let mut opt = AdamW::new(model.parameters(), AdamWConfig { lr: 0.1, weight_decay: 0.01, ..Default::default() })?;
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
pub struct AdamW {
    params: Vec<Tensor>,
    config: AdamWConfig,
    state: Vec<State>,
}

impl AdamW {
    /// An optimizer over `params`.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] unless `lr ≥ 0`, `eps ≥ 0`, `0 ≤ β < 1` and `weight_decay ≥ 0`
    /// (PyTorch's checks).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::optim::{AdamW, AdamWConfig, Optimizer};
    /// // `params` would be `model.parameters()`; the checks need no tensors.
    /// let opt = AdamW::new(vec![], AdamWConfig { lr: 3e-4, ..Default::default() }).unwrap();
    /// assert_eq!(opt.lr(), 3e-4);
    /// assert!(AdamW::new(vec![], AdamWConfig { betas: (0.9, 1.0), ..Default::default() }).is_err());
    /// ```
    pub fn new(params: Vec<Tensor>, config: AdamWConfig) -> Result<AdamW> {
        let c = &config;
        let beta_ok = |b: f64| (0.0..1.0).contains(&b);
        if ![c.lr, c.eps, c.weight_decay].iter().all(|x| (0.0..).contains(x)) || !beta_ok(c.betas.0) || !beta_ok(c.betas.1) {
            crate::bail!("AdamW: invalid hyper-parameters {c:?}");
        }
        let n = params.len();
        Ok(AdamW { params, config, state: vec![State::default(); n] })
    }

    /// The hyper-parameters.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::optim::{AdamW, AdamWConfig};
    /// let opt = AdamW::new(vec![], AdamWConfig::default()).unwrap();
    /// assert_eq!((opt.config().betas, opt.config().weight_decay), ((0.9, 0.999), 0.01));
    /// ```
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }
}

/// `torch.lerp(a, b, w)` with PyTorch's two-branch formula (exact for `w` near 0 or 1).
fn lerp(a: &Tensor, b: &Tensor, w: f64) -> Result<Tensor> {
    let diff = b.sub(a)?;
    if w.abs() < 0.5 {
        a.add(&diff.mul_scalar(w)?)
    } else {
        b.sub(&diff.mul_scalar(1.0 - w)?)
    }
}

fn update(p: &Tensor, g: Tensor, st: &mut State, c: &AdamWConfig) -> Result<()> {
    // The moments live in place from the first step on (zeros, as PyTorch initialises them).
    let zeros = || F::full_like(p, 0.0);
    let m = match st.exp_avg.take() {
        Some(m) => m,
        None => zeros()?,
    };
    let v = match st.exp_avg_sq.take() {
        Some(v) => v,
        None => zeros()?,
    };
    let vmax = match (c.amsgrad, st.max_exp_avg_sq.take()) {
        (true, Some(x)) => Some(x),
        (true, None) => Some(zeros()?),
        (false, _) => None,
    };
    st.step += 1;
    let t = st.step as f64;
    let bc1 = 1.0 - c.betas.0.powf(t);
    let bc2_sqrt = (1.0 - c.betas.1.powf(t)).sqrt();
    let mut all = vec![p, &g, &m, &v];
    if let Some(x) = &vmax {
        all.push(x);
    }
    let r = for_each_chunk(&all, |ch| update_chunk(&ch[0], &ch[1], &ch[2], &ch[3], ch.get(4), c, bc1, bc2_sqrt));
    st.exp_avg = Some(m);
    st.exp_avg_sq = Some(v);
    st.max_exp_avg_sq = vmax;
    r
}

/// Algorithm 2 on one chunk: `m ← lerp(m, g, 1−β₁)`, `v ← β₂v + (1−β₂)g²`,
/// `θ ← θ(1−γλ) − γ/bc₁ · m / (√v̂ / √bc₂ + ε)`, each written back in place. One statement per
/// step, so at most 3 chunk-sized temporaries are alive at once (the memory model of
/// `ferrite mem --measure` counts them).
#[allow(clippy::too_many_arguments)]
fn update_chunk(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, vmax: Option<&Tensor>, c: &AdamWConfig, bc1: f64, bc2_sqrt: f64) -> Result<()> {
    let g = if c.maximize { g.neg()? } else { g.clone() };
    m.copy_(&lerp(m, &g, 1.0 - c.betas.0)?)?;
    // Blocks, not shadowing: a shadowed binding would stay alive to the end of the function.
    {
        let decayed = v.mul_scalar(c.betas.1)?;
        let g2 = {
            let sq = g.mul(&g)?;
            sq.mul_scalar(1.0 - c.betas.1)?
        };
        v.copy_(&decayed.add(&g2)?)?;
    }
    let v_used = match vmax {
        Some(prev) => {
            prev.copy_(&F::where_(&F::ge(prev, v)?, prev, v)?)?;
            prev
        }
        None => v,
    };
    let step = {
        let denom = {
            let root = v_used.sqrt()?;
            let scaled = root.div(&F::scalar_like(p, bc2_sqrt)?)?;
            drop(root);
            scaled.add_scalar(c.eps)?
        };
        let ratio = m.div(&denom)?;
        drop(denom);
        ratio.mul_scalar(-(c.lr / bc1))?
    };
    let theta = if c.weight_decay != 0.0 { p.mul_scalar(1.0 - c.lr * c.weight_decay)? } else { p.clone() };
    p.copy_(&theta.add(&step)?)
}

impl Optimizer for AdamW {
    fn step(&mut self) -> Result<()> {
        let c = self.config;
        for (p, st) in self.params.iter().zip(self.state.iter_mut()) {
            let Some(g) = p.grad() else { continue };
            p.host().no_grad(|| update(p, g, st, &c))?;
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
        let mut out = Vec::new();
        for (i, (p, st)) in self.params.iter().zip(&self.state).enumerate() {
            if st.step == 0 {
                continue;
            }
            if let Ok(step) = p.host().scalar(st.step as f64, crate::DType::I64) {
                out.push((format!("state.{i}.step"), step));
            }
            for (name, t) in [("exp_avg", &st.exp_avg), ("exp_avg_sq", &st.exp_avg_sq), ("max_exp_avg_sq", &st.max_exp_avg_sq)] {
                if let Some(t) = t {
                    out.push((format!("state.{i}.{name}"), t.detach()));
                }
            }
        }
        out
    }

    fn load_state_dict(&mut self, sd: &[(String, Tensor)]) -> Result<()> {
        const FIELDS: [&str; 4] = ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"];
        let mut new = vec![State::default(); self.params.len()];
        for (key, t) in sd {
            let (i, field) = check_state_entry(&self.params, key, t, &FIELDS)?;
            let p = &self.params[i];
            let st = &mut new[i];
            if field == "step" {
                let s = t.item()?;
                if !((0.0..2f64.powi(53)).contains(&s) && s.fract() == 0.0) {
                    crate::bail!("AdamW load_state_dict: {key:?} is not a step count: {s}");
                }
                st.step = s as u64;
                continue;
            }
            let copy = p.host().no_grad(|| fresh_copy(&t.to_dtype(p.dtype())?))?;
            match field {
                "exp_avg" => st.exp_avg = Some(copy),
                "exp_avg_sq" => st.exp_avg_sq = Some(copy),
                _ => st.max_exp_avg_sq = Some(copy),
            }
        }
        if let Some(i) = new.iter().position(|s| (s.exp_avg.is_some() || s.exp_avg_sq.is_some()) && s.step == 0) {
            crate::bail!("AdamW load_state_dict: parameter {i} has moments but no state.{i}.step");
        }
        self.state = new;
        Ok(())
    }
}
