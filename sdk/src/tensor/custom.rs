//! Custom autograd functions (`torch.autograd.Function`) over [`crate::abi::host::HostApi::custom_function`].

use super::{check, Host, Tensor};
use crate::abi::host::{CustomBackward, HostApi, TensorHandle};
use crate::abi::kernel::status;
use crate::error::Result;
use abi_stable::std_types::RString;
use std::ffi::c_void;

impl Host {
    /// Attaches a custom backward to `outputs` (computed by the caller from `inputs`, usually
    /// under [`Host::no_grad`]), like `torch.autograd.Function.apply`: returns tensors sharing
    /// the outputs' storage whose gradients are computed by `backward(grads)`, where `grads`
    /// holds one gradient per output (zeros where an output got none) and the result holds
    /// one gradient per input (`None`: no gradient), each of that input's shape. The node is
    /// recorded even when no input requires grad, so a backward that closes over parameters
    /// (checkpointing) still runs. With grad mode off, `outputs` are returned unchanged.
    /// `backward` may call [`Tensor::backward_with`] itself (reentrant).
    ///
    /// # Errors
    /// [`crate::Error::Host`] if a handle is invalid. Errors of `backward` surface from the
    /// outer `backward()` call as "backward of custom_function failed: ...".
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// // y = 2x with a hand-written backward.
    /// let x = host.ones(&[3], DType::F32)?.requires_grad_(true)?;
    /// let y0 = host.no_grad(|| x.mul_scalar(2.0))?;
    /// let y = host.custom_function(&[x.clone()], &[y0], |g| Ok(vec![Some(g[0].mul_scalar(2.0)?)]))?;
    /// y[0].sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![2.0; 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn custom_function<F>(&self, inputs: &[Tensor], outputs: &[Tensor], backward: F) -> Result<Vec<Tensor>>
    where
        F: Fn(&[Tensor]) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
    {
        struct State<F> {
            f: F,
            api: &'static HostApi,
        }
        extern "C" fn call<F: Fn(&[Tensor]) -> Result<Vec<Option<Tensor>>>>(
            user: *mut c_void,
            grads: *const TensorHandle,
            n_grads: usize,
            grad_inputs: *mut TensorHandle,
            n_inputs: usize,
            err: *mut RString,
        ) -> i32 {
            // SAFETY: `user` is the Box<State<F>> leaked below, alive until `drop_user`.
            let st = unsafe { &*(user as *const State<F>) };
            let hs = if n_grads == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(grads, n_grads) } };
            let gs: Vec<Tensor> = hs.iter().map(|&h| unsafe { Tensor::from_borrowed(st.api, h) }).collect();
            let fail = |msg: String| {
                // SAFETY: the core passes a writable RString.
                unsafe { *err = RString::from(msg) };
                status::FAILED
            };
            // A panicking backward must not unwind into the core.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (st.f)(&gs))) {
                Ok(Ok(v)) if v.len() == n_inputs => {
                    for (i, g) in v.into_iter().enumerate() {
                        // SAFETY: the core passes `n_inputs` writable slots.
                        unsafe { *grad_inputs.add(i) = g.map_or(TensorHandle::NULL, Tensor::into_raw) };
                    }
                    status::OK
                }
                Ok(Ok(v)) => fail(format!("returned {} gradients for {n_inputs} inputs", v.len())),
                Ok(Err(e)) => fail(e.to_string()),
                Err(_) => fail("the backward callback panicked".into()),
            }
        }
        extern "C" fn drop_user<F>(user: *mut c_void) {
            // SAFETY: called once by the core when the node is released.
            drop(unsafe { Box::from_raw(user as *mut State<F>) });
        }
        let user = Box::into_raw(Box::new(State { f: backward, api: self.api })) as *mut c_void;
        let bw = CustomBackward { user, call: call::<F>, drop_user: drop_user::<F> };
        let ins: Vec<TensorHandle> = inputs.iter().map(|t| t.handle()).collect();
        let outs: Vec<TensorHandle> = outputs.iter().map(|t| t.handle()).collect();
        let mut res = vec![TensorHandle::NULL; outs.len()];
        check(
            self.api,
            (self.api.custom_function)(ins.as_ptr(), ins.len(), outs.as_ptr(), outs.len(), bw, res.as_mut_ptr()),
        )?;
        Ok(res.into_iter().map(|h| unsafe { Tensor::from_raw(self.api, h) }).collect())
    }
}
