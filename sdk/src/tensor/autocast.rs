//! Autocast control on [`Host`] (`torch.autocast(device_type="cpu", dtype=...)`).
//!
//! The state lives in the core (per thread), not in this crate: every plugin has its own copy
//! of the sdk's statics, so only a core-side state is seen by a model plugin's forward.

use super::Host;
use crate::abi::dtype::DType;
pub use crate::abi::host::AutocastState;
use crate::error::Result;

impl Host {
    /// Runs `f` with autocast on in `dtype` (`with torch.autocast("cpu", dtype=dtype):`) and
    /// restores the previous state on exit, also if `f` panics. Inside, ops on PyTorch's
    /// lower-precision list (matmul, linear, conv2d, attention) run in `dtype`; ops on the fp32
    /// list (softmax, log_softmax, cross_entropy, nll_loss, mse_loss, layer/batch norm,
    /// exp/log/pow, sum) run in f32; other ops with mixed float inputs run in the widest.
    /// Casts are differentiable, so f32 parameters get f32 gradients. Backward needs no
    /// autocast (gradients follow the forward dtypes), as in PyTorch.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if `dtype` is not `BF16` or `F16` (nothing runs).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2, 3], DType::F32)?;
    /// let w = host.ones(&[3, 4], DType::F32)?.requires_grad_(true)?;
    /// let y = host.autocast(DType::BF16, || x.matmul(&w))??;
    /// assert_eq!(y.dtype(), DType::BF16);
    /// y.to_dtype(DType::F32)?.sum_all()?.backward()?;
    /// assert_eq!(w.grad().unwrap().dtype(), DType::F32);
    /// # Ok(())
    /// # }
    /// ```
    pub fn autocast<R>(&self, dtype: DType, f: impl FnOnce() -> R) -> Result<R> {
        self.with_autocast(AutocastState { enabled: true, dtype }, f)
    }

    /// Runs `f` under an explicit autocast state (`enabled: false` turns autocast off inside an
    /// autocast region, like `torch.autocast("cpu", enabled=False)`), restoring the previous
    /// state on exit, also on panic.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if `state.enabled` and `state.dtype` is not `BF16` or `F16`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::tensor::AutocastState;
    /// let off = AutocastState { enabled: false, dtype: DType::BF16 };
    /// let inner = host.autocast(DType::BF16, || host.with_autocast(off, || host.autocast_state()))??;
    /// assert!(!inner.enabled); // f32 again inside, e.g. for a numerically sensitive block
    /// assert!(!host.autocast_state().enabled);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_autocast<R>(&self, state: AutocastState, f: impl FnOnce() -> R) -> Result<R> {
        struct Restore(&'static crate::abi::host::HostApi, AutocastState);
        impl Drop for Restore {
            fn drop(&mut self) {
                (self.0.set_autocast)(self.1.enabled, self.1.dtype);
            }
        }
        let prev = self.set_autocast(state.enabled, state.dtype)?;
        let _restore = Restore(self.api, prev);
        Ok(f())
    }

    /// Sets this thread's autocast state and returns the previous one (for code that cannot
    /// use a closure, e.g. a training loop toggling it around the forward).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] if `enabled` and `dtype` is not `BF16` or `F16` (the state is
    /// left unchanged).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host, x: Tensor, w: Tensor) -> Result<()> {
    /// let prev = host.set_autocast(true, DType::F16)?;
    /// let y = x.matmul(&w);
    /// host.set_autocast(prev.enabled, prev.dtype)?; // restore before `?` can return early
    /// assert_eq!(y?.dtype(), DType::F16);
    /// assert!(host.set_autocast(true, DType::F32).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_autocast(&self, enabled: bool, dtype: DType) -> Result<AutocastState> {
        if enabled && dtype != DType::BF16 && dtype != DType::F16 {
            crate::bail!("autocast: dtype must be bf16 or f16, got {dtype}");
        }
        Ok((self.api.set_autocast)(enabled, dtype))
    }

    /// This thread's autocast state (`torch.is_autocast_enabled("cpu")` and
    /// `torch.get_autocast_dtype("cpu")`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// assert!(!host.autocast_state().enabled);
    /// let s = host.autocast(DType::F16, || host.autocast_state())?;
    /// assert!(s.enabled && s.dtype == DType::F16);
    /// # Ok(())
    /// # }
    /// ```
    pub fn autocast_state(&self) -> AutocastState {
        (self.api.autocast_state)()
    }
}

#[cfg(test)]
mod tests {
    use crate::test_host::host;
    use crate::DType;

    #[test]
    fn autocast_restores_state_also_on_panic_and_rejects_bad_dtypes() {
        let h = host();
        assert!(!h.autocast_state().enabled);
        let inside = h.autocast(DType::F16, || h.autocast_state()).unwrap();
        assert!(inside.enabled && inside.dtype == DType::F16);
        assert!(!h.autocast_state().enabled);
        let r = std::panic::catch_unwind(|| h.autocast(DType::BF16, || panic!("boom")));
        assert!(r.is_err());
        assert!(!h.autocast_state().enabled, "state restored after a panic");
        assert!(h.autocast(DType::F32, || ()).is_err());
        assert!(!h.autocast_state().enabled);
    }
}
