//! Conversions between core tensors and the ABI's opaque [`TensorHandle`]s.
//! A handle is `Arc::into_raw` of the tensor's `TensorImpl`: one handle, one strong reference.

use crate::tensor::{Tensor, TensorImpl};
use ferrite_sdk::abi::host::TensorHandle;
use std::sync::Arc;

/// Gives a tensor away as an owned handle.
pub fn into_handle(t: Tensor) -> TensorHandle {
    TensorHandle(Arc::into_raw(t.0) as *mut _)
}

/// A borrowed handle (no reference added): valid while `t` lives.
pub fn borrow_handle(t: &Tensor) -> TensorHandle {
    TensorHandle(Arc::as_ptr(&t.0) as *mut _)
}

/// Takes back ownership of a handle.
///
/// # Safety
/// `h` must come from [`into_handle`] (or a retain) and not be used again by the giver.
pub unsafe fn take_handle(h: TensorHandle) -> Tensor {
    Tensor(Arc::from_raw(h.0 as *const TensorImpl))
}

/// A new reference to the tensor behind a borrowed handle.
///
/// # Safety
/// `h` must be a live handle.
pub unsafe fn clone_handle(h: TensorHandle) -> Tensor {
    Arc::increment_strong_count(h.0 as *const TensorImpl);
    take_handle(h)
}
