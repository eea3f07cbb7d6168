//! Custom autograd functions (`torch.autograd.Function`) whose backward is a callback into a
//! plugin or sdk user — the facility behind activation checkpointing.
//!
//! The caller computes the outputs itself (usually under no_grad); [`custom_function`] gives
//! back tensors sharing their storage with a graph node whose backward calls the callback. The
//! callback may run a whole backward of its own (reentrant, as `torch.utils.checkpoint`'s
//! reentrant variant): the engine keeps its state on the stack of each `backward` call and
//! holds no lock while a node's backward runs, so the inner pass is independent.

use super::node::{BackwardFn, Node, Saved};
use super::is_grad_enabled;
use crate::error::{CoreError, Result};
use crate::handles::{borrow_handle, take_handle};
use crate::tensor::Tensor;
use abi_stable::std_types::RString;
use ferrite_sdk::abi::host::{CustomBackward, TensorHandle};
use ferrite_sdk::abi::kernel::status;
use std::sync::{Arc, Mutex};

/// Owns a [`CustomBackward`]; frees its user state when dropped.
pub struct CustomFn(pub CustomBackward);

impl Drop for CustomFn {
    fn drop(&mut self) {
        (self.0.drop_user)(self.0.user)
    }
}

impl CustomFn {
    /// Calls the backward with `grads` (one per output) and returns one gradient per input,
    /// checked against `input_meta` (a gradient of another float dtype is converted, as
    /// PyTorch's `validate_outputs` does; a wrong shape is an error).
    pub fn call(&self, name: &str, grads: &[Tensor], input_meta: &[Option<(Vec<i64>, ferrite_sdk::DType)>]) -> Result<Vec<Option<Tensor>>> {
        let hs: Vec<TensorHandle> = grads.iter().map(borrow_handle).collect();
        let mut outs = vec![TensorHandle::NULL; input_meta.len()];
        let mut err = RString::new();
        let code = (self.0.call)(self.0.user, hs.as_ptr(), hs.len(), outs.as_mut_ptr(), outs.len(), &mut err);
        // SAFETY: the callback hands over one reference per non-null handle, even on failure.
        let outs: Vec<Option<Tensor>> = outs.into_iter().map(|h| (!h.is_null()).then(|| unsafe { take_handle(h) })).collect();
        if code != status::OK {
            let msg = if err.is_empty() { format!("status {code} without a message") } else { err.into_string() };
            return Err(CoreError::Autograd(format!("backward of {name} failed: {msg}")));
        }
        outs.into_iter()
            .zip(input_meta)
            .enumerate()
            .map(|(i, (g, m))| match (g, m) {
                (Some(g), Some((shape, dtype))) => {
                    if g.shape() != shape.as_slice() {
                        return Err(CoreError::Autograd(format!(
                            "backward of {name} returned a gradient of shape {:?} for input {i} of shape {shape:?}",
                            g.shape()
                        )));
                    }
                    if g.dtype() != *dtype { g.cast(*dtype).map(Some) } else { Ok(Some(g)) }
                }
                _ => Ok(None),
            })
            .collect()
    }
}

/// Attaches a custom backward to `outputs`: returns new tensors sharing their storage whose
/// gradient flows through `backward` into every input that requires grad. With grad mode off
/// the outputs are returned unchanged and `backward` is dropped. The node is recorded even
/// when no input requires grad (the backward may still accumulate into parameters it closes
/// over, as activation checkpointing does).
///
/// # Errors
/// A non-float output cannot carry a gradient and is returned detached; no error is raised.
pub fn custom_function(inputs: &[Tensor], outputs: &[Tensor], backward: CustomBackward) -> Result<Vec<Tensor>> {
    let f = CustomFn(backward);
    if !is_grad_enabled() {
        return Ok(outputs.to_vec());
    }
    let outs: Vec<Tensor> = outputs.iter().map(|t| t.detach()).collect();
    let node = Arc::new(Node {
        name: "custom_function".to_string(),
        backward: BackwardFn::Custom(Mutex::new(Some(Arc::new(f)))),
        saved: Mutex::new(Some(Saved { inputs: Vec::new(), outputs: Vec::new() })),
        next: inputs.iter().map(|t| t.grad_edge()).collect(),
        input_meta: inputs.iter().map(|t| Some((t.shape().to_vec(), t.dtype()))).collect(),
        output_meta: outs.iter().map(|t| (t.shape().to_vec(), t.dtype())).collect(),
        hooks: Mutex::new(Vec::new()),
    });
    for (j, o) in outs.iter().enumerate() {
        if o.dtype().is_float() {
            let mut m = o.meta();
            m.requires_grad = true;
            m.grad_fn = Some(node.clone());
            m.output_nr = j;
        }
    }
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handles::{clone_handle, into_handle};
    use ferrite_sdk::DType;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static DROPS: AtomicUsize = AtomicUsize::new(0);

    /// Backward of y = 3x.
    extern "C" fn triple(_: *mut std::ffi::c_void, g: *const TensorHandle, n: usize, out: *mut TensorHandle, n_in: usize, _: *mut RString) -> i32 {
        assert_eq!((n, n_in), (1, 1));
        let g = unsafe { clone_handle(*g) };
        let v: Vec<f64> = g.to_f64_vec().iter().map(|x| 3.0 * x).collect();
        unsafe { *out = into_handle(Tensor::from_f64(g.shape(), &v, g.dtype()).unwrap()) };
        status::OK
    }
    extern "C" fn count_drop(_: *mut std::ffi::c_void) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn custom_backward_runs_is_retained_then_freed() {
        let x = Tensor::from_f64(&[2], &[1.0, 2.0], DType::F64).unwrap();
        x.set_requires_grad(true).unwrap();
        let y0 = Tensor::from_f64(&[2], &[3.0, 6.0], DType::F64).unwrap();
        let bw = CustomBackward { user: std::ptr::null_mut(), call: triple, drop_user: count_drop };
        let y = custom_function(std::slice::from_ref(&x), &[y0], bw).unwrap().remove(0);
        assert!(y.requires_grad());
        let ones = || Some(Tensor::full(&[2], 1.0, DType::F64).unwrap());
        crate::autograd::backward(&y, ones(), true).unwrap();
        assert_eq!(x.meta().grad.as_ref().unwrap().to_f64_vec(), vec![3.0, 3.0]);
        assert_eq!(DROPS.load(Ordering::SeqCst), 0, "retained");
        crate::autograd::backward(&y, ones(), false).unwrap();
        assert_eq!(x.meta().grad.as_ref().unwrap().to_f64_vec(), vec![6.0, 6.0]);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1, "freed after a backward without retain_graph");
        let err = crate::autograd::backward(&y, ones(), false).unwrap_err().to_string();
        assert!(err.contains("a second time"), "{err}");
    }
}
