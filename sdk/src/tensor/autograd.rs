//! Autograd and in-place state of [`Tensor`]: grads, backward, hooks, `copy_`, versions.

use super::{check, Tensor};
use crate::abi::host::{GradHook, HostApi, TensorHandle};
use crate::error::Result;
use std::ffi::c_void;

impl Tensor {
    /// Copies `src` into this tensor in place (broadcasting, converting dtype); bumps the
    /// version counter, so a pending backward that saved this tensor will refuse to run.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let dst = host.zeros(&[2, 2], DType::F32)?;
    /// let v = dst.version();
    /// dst.copy_(&host.scalar(3.0, DType::F64)?)?; // broadcasts and converts
    /// assert_eq!(dst.to_vec::<f32>()?, vec![3.0; 4]);
    /// assert!(dst.version() > v);
    /// # Ok(())
    /// # }
    /// ```
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        check(self.api, (self.api.copy_)(self.h, src.h))
    }

    /// Version counter of the storage (bumped by in-place writes).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[1], DType::F32)?;
    /// let v0 = t.version();
    /// t.copy_(&host.ones(&[1], DType::F32)?)?;
    /// assert!(t.version() > v0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn version(&self) -> u64 {
        (self.api.version)(self.h)
    }

    /// Sets `requires_grad` on a leaf (`requires_grad_`). Returns `self` for chaining.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.zeros(&[2], DType::F32)?.requires_grad_(true)?;
    /// assert!(w.requires_grad());
    /// # Ok(())
    /// # }
    /// ```
    pub fn requires_grad_(self, requires_grad: bool) -> Result<Tensor> {
        check(self.api, (self.api.set_requires_grad)(self.h, requires_grad))?;
        Ok(self)
    }

    /// Whether this tensor requires grad.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// assert!(!host.zeros(&[1], DType::F32)?.requires_grad());
    /// # Ok(())
    /// # }
    /// ```
    pub fn requires_grad(&self) -> bool {
        (self.api.requires_grad)(self.h)
    }

    /// The accumulated gradient (`.grad`), if any.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[3.0f32], &[1])?.requires_grad_(true)?;
    /// x.mul(&x)?.sum_all()?.backward()?; // d(x²)/dx = 2x
    /// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![6.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn grad(&self) -> Option<Tensor> {
        let g = (self.api.grad)(self.h);
        (!g.is_null()).then(|| unsafe { Tensor::from_raw(self.api, g) })
    }

    /// Replaces `.grad` (`None` clears it, like `zero_grad(set_to_none=True)`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// x.sum_all()?.backward()?;
    /// x.set_grad(None)?; // zero_grad(set_to_none=True)
    /// assert!(x.grad().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_grad(&self, grad: Option<&Tensor>) -> Result<()> {
        check(self.api, (self.api.set_grad)(self.h, grad.map_or(TensorHandle::NULL, |g| g.h)))
    }

    /// Backward from a scalar (`loss.backward()`); frees the graph.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.from_slice(&[1.0f32, 2.0], &[2])?.requires_grad_(true)?;
    /// let loss = w.pow_scalar(2.0)?.sum_all()?;
    /// loss.backward()?;
    /// assert_eq!(w.grad().unwrap().to_vec::<f32>()?, vec![2.0, 4.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn backward(&self) -> Result<()> {
        check(self.api, (self.api.backward)(self.h, TensorHandle::NULL, false))
    }

    /// Backward with an explicit upstream gradient and `retain_graph`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// let y = x.mul_scalar(3.0)?;
    /// let g = host.from_slice(&[1.0f32, 10.0], &[2])?;
    /// y.backward_with(Some(&g), true)?; // keep the graph for a second pass
    /// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![3.0, 30.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn backward_with(&self, grad: Option<&Tensor>, retain_graph: bool) -> Result<()> {
        check(self.api, (self.api.backward)(self.h, grad.map_or(TensorHandle::NULL, |g| g.h), retain_graph))
    }

    /// Same data, cut from the graph (`detach`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// assert!(!x.mul_scalar(2.0)?.detach().requires_grad());
    /// # Ok(())
    /// # }
    /// ```
    pub fn detach(&self) -> Tensor {
        unsafe { Tensor::from_raw(self.api, (self.api.detach)(self.h)) }
    }

    /// Registers a gradient hook: called with this tensor's gradient during backward; return
    /// `Some(g)` to replace the gradient, `None` to keep it (`Tensor.register_hook`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// // Double the incoming gradient.
    /// x.register_hook(|g| g.mul_scalar(2.0).ok())?;
    /// x.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![2.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn register_hook<F>(&self, hook: F) -> Result<()>
    where
        F: Fn(&Tensor) -> Option<Tensor> + Send + Sync + 'static,
    {
        struct State<F> {
            f: F,
            api: &'static HostApi,
        }
        extern "C" fn call<F: Fn(&Tensor) -> Option<Tensor>>(user: *mut c_void, grad: TensorHandle) -> TensorHandle {
            // SAFETY: `user` is the Box<State<F>> leaked below, alive until `drop_user`.
            let st = unsafe { &*(user as *const State<F>) };
            let g = unsafe { Tensor::from_borrowed(st.api, grad) };
            // A panicking hook must not unwind into the core.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (st.f)(&g))) {
                Ok(Some(t)) => t.into_raw(),
                Ok(None) => TensorHandle::NULL,
                Err(_) => {
                    (st.api.warn)(abi_stable::std_types::RStr::from_str(
                        "a gradient hook panicked; the gradient was left unchanged",
                    ));
                    TensorHandle::NULL
                }
            }
        }
        extern "C" fn drop_user<F>(user: *mut c_void) {
            // SAFETY: called once by the core when the hook is dropped.
            drop(unsafe { Box::from_raw(user as *mut State<F>) });
        }
        let user = Box::into_raw(Box::new(State { f: hook, api: self.api })) as *mut c_void;
        let hook = GradHook { user, call: call::<F>, drop_user: drop_user::<F> };
        check(self.api, (self.api.register_hook)(self.h, hook))
    }

    /// Registers a hook run on this leaf right after a backward pass has accumulated its
    /// gradient into `.grad` (PyTorch's `Tensor.register_post_accumulate_grad_hook`): the hook
    /// gets the leaf itself and may read or take its `.grad` — how ZeRO-2/3 reduce-scatter a
    /// gradient as soon as it is complete and free the full-size copy.
    ///
    /// # Errors
    /// [`crate::Error::Host`] when this tensor is not a leaf that requires grad, or the core is
    /// older than ABI 1.2.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// // Move the gradient somewhere else as soon as it is complete.
    /// w.register_post_accumulate_grad_hook(|p| {
    ///     let _ = p.set_grad(None);
    /// })?;
    /// w.sum_all()?.backward()?;
    /// assert!(w.grad().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn register_post_accumulate_grad_hook<F>(&self, hook: F) -> Result<()>
    where
        F: Fn(&Tensor) + Send + Sync + 'static,
    {
        if self.api.abi_minor < 2 {
            crate::bail!(
                "register_post_accumulate_grad_hook needs a core of ABI 1.2 or newer (this one is {}.{})",
                self.api.abi_major,
                self.api.abi_minor
            );
        }
        struct State<F> {
            f: F,
            api: &'static HostApi,
        }
        extern "C" fn call<F: Fn(&Tensor)>(user: *mut c_void, leaf: TensorHandle) -> TensorHandle {
            // SAFETY: `user` is the Box<State<F>> leaked below, alive until `drop_user`.
            let st = unsafe { &*(user as *const State<F>) };
            let t = unsafe { Tensor::from_borrowed(st.api, leaf) };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (st.f)(&t))).is_err() {
                (st.api.warn)(abi_stable::std_types::RStr::from_str("a post-accumulate gradient hook panicked"));
            }
            TensorHandle::NULL
        }
        extern "C" fn drop_user<F>(user: *mut c_void) {
            // SAFETY: called once by the core when the hook is dropped.
            drop(unsafe { Box::from_raw(user as *mut State<F>) });
        }
        let user = Box::into_raw(Box::new(State { f: hook, api: self.api })) as *mut c_void;
        let hook = GradHook { user, call: call::<F>, drop_user: drop_user::<F> };
        check(self.api, (self.api.register_post_accumulate_hook)(self.h, hook))
    }
}
