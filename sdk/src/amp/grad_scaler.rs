//! [`GradScaler`]: dynamic loss scaling (`torch.amp.GradScaler`, Micikevicius et al. 2018,
//! "Mixed Precision Training", §3.2), so small f16 gradients do not flush to zero.
//!
//! # Examples
//!
//! ```
//! use ferrite_sdk::amp::{GradScaler, GradScalerConfig};
//! // Growth after 2 clean steps instead of PyTorch's 2000, e.g. for a short fine-tune.
//! let scaler = GradScaler::new(GradScalerConfig { growth_interval: 2, ..Default::default() }).unwrap();
//! assert_eq!(scaler.state_dict().growth_interval, 2);
//! ```

use crate::error::Result;
use crate::optim::Optimizer;
use crate::tensor::Tensor;
use std::collections::HashMap;

/// Settings of a [`GradScaler`]; the defaults are PyTorch's.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::amp::{GradScaler, GradScalerConfig};
/// let cfg = GradScalerConfig { init_scale: 1024.0, growth_interval: 100, ..Default::default() };
/// assert_eq!(GradScaler::new(cfg).unwrap().get_scale(), 1024.0);
/// assert_eq!(GradScalerConfig::default().init_scale, 65536.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradScalerConfig {
    /// Initial scale factor (default 2^16 = 65536).
    pub init_scale: f64,
    /// Factor the scale grows by after `growth_interval` consecutive steps without inf/NaN
    /// gradients (default 2).
    pub growth_factor: f64,
    /// Factor the scale shrinks by when a step finds inf/NaN gradients (default 0.5).
    pub backoff_factor: f64,
    /// Consecutive clean steps before the scale grows (default 2000).
    pub growth_interval: u64,
    /// When false every method is a pass-through (`scale` returns the loss unchanged, `step`
    /// always steps), like `GradScaler(enabled=False)`.
    pub enabled: bool,
}

impl Default for GradScalerConfig {
    fn default() -> Self {
        GradScalerConfig { init_scale: 65536.0, growth_factor: 2.0, backoff_factor: 0.5, growth_interval: 2000, enabled: true }
    }
}

/// Serialisable state of a [`GradScaler`] (PyTorch's `scaler.state_dict()` keys: `scale`,
/// `growth_factor`, `backoff_factor`, `growth_interval`, `_growth_tracker`).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::amp::{GradScaler, GradScalerState};
/// let sd = GradScaler::new(Default::default()).unwrap().state_dict();
/// let json = serde_json::to_string(&sd).unwrap(); // saved with a checkpoint
/// let back: GradScalerState = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, sd);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GradScalerState {
    /// Current scale.
    pub scale: f64,
    /// Growth factor.
    pub growth_factor: f64,
    /// Backoff factor.
    pub backoff_factor: f64,
    /// Growth interval (steps).
    pub growth_interval: u64,
    /// Consecutive clean steps since the last change of scale.
    pub growth_tracker: u64,
}

/// Where an optimizer is in the current iteration (PyTorch's `OptState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Unscaled,
    Stepped,
}

#[derive(Clone, Copy, Debug)]
struct OptState {
    stage: Stage,
    found_inf: bool,
}

/// Dynamic loss scaler (`torch.amp.GradScaler`). Per iteration: `scaler.scale(&loss)?.backward()`,
/// optionally `scaler.unscale_(&opt)` (e.g. before gradient clipping), `scaler.step(&mut opt)`,
/// `scaler.update()`. A step whose gradients hold an inf or NaN is skipped and the scale is
/// multiplied by `backoff_factor`; after `growth_interval` clean steps in a row it is
/// multiplied by `growth_factor`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::amp::GradScaler;
/// use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
/// let w = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
/// let mut opt = Sgd::new(vec![w.clone()], SgdConfig { lr: 0.1, ..Default::default() })?;
/// let mut scaler = GradScaler::new(Default::default())?;
/// let loss = w.mul(&w)?.sum_all()?;
/// scaler.scale(&loss)?.backward()?;
/// let stepped = scaler.step(&mut opt)?;
/// scaler.update()?;
/// assert!(stepped);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GradScaler {
    cfg: GradScalerConfig,
    scale: f64,
    growth_tracker: u64,
    /// Per optimizer (keyed by address) since the last `update`.
    per_opt: HashMap<usize, OptState>,
}

fn key(opt: &dyn Optimizer) -> usize {
    opt as *const dyn Optimizer as *const () as usize
}

impl GradScaler {
    /// A scaler with the given settings.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if `init_scale` is not finite and positive, `growth_factor <= 1`,
    /// `backoff_factor` is not in `(0, 1)`, or `growth_interval == 0` (PyTorch's checks).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::amp::{GradScaler, GradScalerConfig};
    /// let scaler = GradScaler::new(GradScalerConfig::default()).unwrap();
    /// assert_eq!(scaler.get_scale(), 65536.0);
    /// let bad = GradScalerConfig { backoff_factor: 1.5, ..Default::default() };
    /// assert!(GradScaler::new(bad).is_err());
    /// ```
    pub fn new(cfg: GradScalerConfig) -> Result<GradScaler> {
        if !(cfg.init_scale.is_finite() && cfg.init_scale > 0.0) {
            crate::bail!("GradScaler: init_scale must be finite and positive, got {}", cfg.init_scale);
        }
        if cfg.growth_factor.is_nan() || cfg.growth_factor <= 1.0 {
            crate::bail!("GradScaler: growth_factor must be > 1, got {}", cfg.growth_factor);
        }
        if !(cfg.backoff_factor > 0.0 && cfg.backoff_factor < 1.0) {
            crate::bail!("GradScaler: backoff_factor must be in (0, 1), got {}", cfg.backoff_factor);
        }
        if cfg.growth_interval == 0 {
            crate::bail!("GradScaler: growth_interval must be positive");
        }
        Ok(GradScaler { cfg, scale: cfg.init_scale, growth_tracker: 0, per_opt: HashMap::new() })
    }

    /// Whether scaling is on.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::amp::{GradScaler, GradScalerConfig};
    /// let off = GradScaler::new(GradScalerConfig { enabled: false, ..Default::default() }).unwrap();
    /// assert!(!off.is_enabled());
    /// assert!(GradScaler::new(Default::default()).unwrap().is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.cfg.enabled
    }

    /// The current scale (1.0 when disabled), `scaler.get_scale()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::amp::{GradScaler, GradScalerConfig};
    /// let cfg = GradScalerConfig { init_scale: 8.0, ..Default::default() };
    /// assert_eq!(GradScaler::new(cfg).unwrap().get_scale(), 8.0);
    /// let off = GradScaler::new(GradScalerConfig { enabled: false, ..cfg }).unwrap();
    /// assert_eq!(off.get_scale(), 1.0);
    /// ```
    pub fn get_scale(&self) -> f64 {
        if self.cfg.enabled {
            self.scale
        } else {
            1.0
        }
    }

    /// `loss * scale` (a recorded op, so backward gives scaled gradients); the loss itself when
    /// disabled.
    ///
    /// # Errors
    /// [`crate::Error::Host`] if the multiplication fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::amp::{GradScaler, GradScalerConfig};
    /// let scaler = GradScaler::new(GradScalerConfig { init_scale: 4.0, ..Default::default() })?;
    /// let loss = host.scalar(0.5, DType::F32)?;
    /// assert_eq!(scaler.scale(&loss)?.item()?, 2.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn scale(&self, loss: &Tensor) -> Result<Tensor> {
        if !self.cfg.enabled {
            return Ok(loss.clone());
        }
        loss.mul_scalar(self.scale)
    }

    /// Divides every gradient of `opt`'s parameters by the scale, in place of `.grad`, and
    /// records whether any is inf or NaN (`scaler.unscale_(optimizer)`). Call at most once per
    /// optimizer between `update`s, before `step`.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if already called since the last `update`, or called after
    /// `step`; [`crate::Error::Host`] if an op fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host, w: Tensor, loss: Tensor) -> Result<()> {
    /// use ferrite_sdk::amp::GradScaler;
    /// use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
    /// let mut opt = Sgd::new(vec![w.clone()], SgdConfig { lr: 0.1, ..Default::default() })?;
    /// let mut scaler = GradScaler::new(Default::default())?;
    /// scaler.scale(&loss)?.backward()?;
    /// scaler.unscale_(&opt)?; // true gradients now, e.g. to clip them
    /// let _norm = w.grad().unwrap().mul(&w.grad().unwrap())?.sum_all()?.item()?.sqrt();
    /// assert!(scaler.unscale_(&opt).is_err()); // once per iteration
    /// scaler.step(&mut opt)?; // does not unscale again
    /// scaler.update()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn unscale_(&mut self, opt: &dyn Optimizer) -> Result<()> {
        if !self.cfg.enabled {
            return Ok(());
        }
        match self.per_opt.get(&key(opt)).map(|s| s.stage) {
            Some(Stage::Unscaled) => crate::bail!("unscale_() has already been called on this optimizer since the last update()"),
            Some(Stage::Stepped) => crate::bail!("unscale_() is being called after step()"),
            None => {}
        }
        let inv = 1.0 / self.scale;
        let mut found_inf = false;
        for p in opt.params() {
            let Some(g) = p.grad() else { continue };
            let host = g.host();
            let unscaled = host.no_grad(|| g.mul_scalar(inv))?;
            found_inf |= unscaled.to_vec_f64()?.iter().any(|v| !v.is_finite());
            p.set_grad(Some(&unscaled))?;
        }
        self.per_opt.insert(key(opt), OptState { stage: Stage::Unscaled, found_inf });
        Ok(())
    }

    /// Unscales the gradients if `unscale_` was not called, then runs `opt.step()` unless a
    /// gradient is inf or NaN (`scaler.step(optimizer)`). Returns whether the step ran.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if `step` was already called for this optimizer since the
    /// last `update`; errors of `unscale_` and of the optimizer's step.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::amp::GradScaler;
    /// use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
    /// let w = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// let mut opt = Sgd::new(vec![w.clone()], SgdConfig { lr: 0.1, ..Default::default() })?;
    /// let mut scaler = GradScaler::new(Default::default())?;
    /// // An overflowing loss: inf gradients, so the step is skipped and w is unchanged.
    /// let loss = w.mul_scalar(f64::MAX)?.sum_all()?;
    /// scaler.scale(&loss)?.backward()?;
    /// assert!(!scaler.step(&mut opt)?);
    /// assert_eq!(w.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn step(&mut self, opt: &mut dyn Optimizer) -> Result<bool> {
        if !self.cfg.enabled {
            opt.step()?;
            return Ok(true);
        }
        match self.per_opt.get(&key(opt)).map(|s| s.stage) {
            Some(Stage::Stepped) => crate::bail!("step() has already been called since the last update()"),
            Some(Stage::Unscaled) => {}
            None => self.unscale_(opt)?,
        }
        let st = self.per_opt.get_mut(&key(opt)).expect("recorded by unscale_");
        st.stage = Stage::Stepped;
        if st.found_inf {
            return Ok(false);
        }
        opt.step()?;
        Ok(true)
    }

    /// Updates the scale after the iteration's steps (`scaler.update()`): backoff if any
    /// optimizer found inf/NaN gradients, growth after `growth_interval` clean iterations.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if no `unscale_`/`step` ran since the last `update` ("No inf
    /// checks were recorded prior to update.").
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host, w: Tensor, loss: Tensor) -> Result<()> {
    /// use ferrite_sdk::amp::GradScaler;
    /// use ferrite_sdk::optim::{Sgd, SgdConfig};
    /// let mut opt = Sgd::new(vec![w.clone()], SgdConfig { lr: 0.1, ..Default::default() })?;
    /// let mut scaler = GradScaler::new(Default::default())?;
    /// assert!(scaler.update().is_err()); // no step recorded yet
    /// scaler.scale(&loss)?.backward()?;
    /// if !scaler.step(&mut opt)? {
    ///     println!("skipped an overflowing step");
    /// }
    /// scaler.update()?; // halves the scale after an overflow
    /// # Ok(())
    /// # }
    /// ```
    pub fn update(&mut self) -> Result<()> {
        if !self.cfg.enabled {
            return Ok(());
        }
        if self.per_opt.is_empty() {
            crate::bail!("No inf checks were recorded prior to update.");
        }
        let found_inf = self.per_opt.values().any(|s| s.found_inf);
        self.per_opt.clear();
        if found_inf {
            self.scale *= self.cfg.backoff_factor;
            self.growth_tracker = 0;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker == self.cfg.growth_interval {
                self.scale *= self.cfg.growth_factor;
                self.growth_tracker = 0;
            }
        }
        Ok(())
    }

    /// Sets the scale directly (`scaler.update(new_scale)`), resetting the per-iteration state.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if `new_scale` is not finite and positive.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::amp::GradScaler;
    /// let mut scaler = GradScaler::new(Default::default()).unwrap();
    /// scaler.update_to(128.0).unwrap();
    /// assert_eq!(scaler.get_scale(), 128.0);
    /// assert!(scaler.update_to(f64::INFINITY).is_err());
    /// ```
    pub fn update_to(&mut self, new_scale: f64) -> Result<()> {
        if !(new_scale.is_finite() && new_scale > 0.0) {
            crate::bail!("GradScaler: new scale must be finite and positive, got {new_scale}");
        }
        self.per_opt.clear();
        self.scale = new_scale;
        Ok(())
    }

    /// The scaler's state (`scaler.state_dict()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::amp::GradScaler;
    /// let mut scaler = GradScaler::new(Default::default()).unwrap();
    /// scaler.update_to(512.0).unwrap();
    /// let sd = scaler.state_dict();
    /// assert_eq!((sd.scale, sd.growth_interval, sd.growth_tracker), (512.0, 2000, 0));
    /// ```
    pub fn state_dict(&self) -> GradScalerState {
        GradScalerState {
            scale: self.scale,
            growth_factor: self.cfg.growth_factor,
            backoff_factor: self.cfg.backoff_factor,
            growth_interval: self.cfg.growth_interval,
            growth_tracker: self.growth_tracker,
        }
    }

    /// Restores a saved state (`scaler.load_state_dict(sd)`).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if the saved factors or scale are out of range (the same checks
    /// as [`GradScaler::new`]); nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::amp::GradScaler;
    /// let mut saved = GradScaler::new(Default::default()).unwrap();
    /// saved.update_to(256.0).unwrap();
    /// let mut resumed = GradScaler::new(Default::default()).unwrap();
    /// resumed.load_state_dict(&saved.state_dict()).unwrap();
    /// assert_eq!(resumed.get_scale(), 256.0);
    /// let bad = ferrite_sdk::amp::GradScalerState { scale: -1.0, ..saved.state_dict() };
    /// assert!(resumed.load_state_dict(&bad).is_err());
    /// assert_eq!(resumed.get_scale(), 256.0); // unchanged
    /// ```
    pub fn load_state_dict(&mut self, sd: &GradScalerState) -> Result<()> {
        let cfg = GradScalerConfig {
            init_scale: sd.scale,
            growth_factor: sd.growth_factor,
            backoff_factor: sd.backoff_factor,
            growth_interval: sd.growth_interval,
            enabled: self.cfg.enabled,
        };
        let fresh = GradScaler::new(cfg)?;
        *self = GradScaler { growth_tracker: sd.growth_tracker, ..fresh };
        Ok(())
    }
}
