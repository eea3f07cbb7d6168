//! Releasing and restoring a tensor's memory (sharded parameters between uses).

use super::{check, Tensor};
use crate::abi::host::FetchHook;
use abi_stable::std_types::{RResult, RString};
use std::ffi::c_void;
use crate::error::Result;

impl Tensor {
    /// Frees the memory behind this tensor's storage (shared with all its views), keeping its
    /// shape and dtype — PyTorch's `t.untyped_storage().resize_(0)`, which FSDP / ZeRO-3 use
    /// for parameters between gathers. Until [`restore_storage_`](Tensor::restore_storage_),
    /// every op on the tensor fails with an error saying the storage was released — unless a
    /// fetch hook is installed ([`set_fetch_hook`](Tensor::set_fetch_hook)), which then restores it
    /// on demand. Returns `false`, freeing nothing, when a running kernel has the storage pinned
    /// (an input of the op whose fetch hook is calling this).
    ///
    /// # Safety
    /// Nothing may use the storage meanwhile (no op running on another thread, no pointer
    /// into it kept by a kernel).
    ///
    /// # Errors
    /// [`crate::Error::Host`] for an invalid handle.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.ones(&[1024], DType::F32)?;
    /// unsafe { w.release_storage_()? };
    /// assert!(w.is_storage_released());
    /// assert!(w.to_vec::<f32>().is_err());
    /// unsafe { w.restore_storage_()? }; // zeroed memory again
    /// assert_eq!(w.to_vec::<f32>()?[0], 0.0);
    /// # Ok(())
    /// # }
    /// ```
    pub unsafe fn release_storage_(&self) -> Result<bool> {
        let code = (self.api.storage_release)(self.h);
        if code == crate::abi::host::STORAGE_IN_USE {
            return Ok(false);
        }
        check(self.api, code).map(|_| true)
    }

    /// Gives a released storage fresh zeroed memory (no-op when not released).
    ///
    /// # Safety
    /// As for [`release_storage_`](Tensor::release_storage_).
    ///
    /// # Errors
    /// [`crate::Error::Host`] when memory is exhausted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.full(&[8], 2.0, DType::F32)?;
    /// unsafe { w.restore_storage_()? }; // not released: no-op, values kept
    /// assert_eq!(w.to_vec::<f32>()?[0], 2.0);
    /// unsafe { w.release_storage_()? };
    /// unsafe { w.restore_storage_()? }; // fresh zeroed memory, same shape and dtype
    /// assert_eq!(w.to_vec::<f32>()?, vec![0.0; 8]);
    /// # Ok(())
    /// # }
    /// ```
    pub unsafe fn restore_storage_(&self) -> Result<()> {
        check(self.api, (self.api.storage_restore)(self.h))
    }

    /// Whether the storage is released.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.ones(&[4], DType::F32)?;
    /// let view = w.reshape(&[2, 2])?;
    /// assert!(!w.is_storage_released());
    /// unsafe { w.release_storage_()? };
    /// assert!(view.is_storage_released()); // views share the storage
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_storage_released(&self) -> bool {
        (self.api.storage_is_released)(self.h)
    }

    /// Installs the fetch hook of this tensor's storage: when an op (forward or backward) reads
    /// the storage while it is released, the core first calls `fetch`, which must restore it
    /// ([`restore_storage_`](Tensor::restore_storage_)) and write back the values it had when
    /// released — how ZeRO-3 (DeepSpeed) and FSDP gather a sharded parameter on demand. The
    /// storage version is unchanged by a fetch, so tensors saved for backward stay valid. While
    /// the op runs, the storages of its hooked inputs are pinned
    /// ([`release_storage_`](Tensor::release_storage_) returns `false` on them). Replaces any
    /// previous hook; the closure is dropped with the storage or the next hook.
    ///
    /// # Errors
    /// [`crate::Error::Host`] for an invalid handle, or a core older than ABI 1.2.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.full(&[4], 3.0, DType::F32)?;
    /// let me = w.clone();
    /// w.set_fetch_hook(move || {
    ///     unsafe { me.restore_storage_()? };
    ///     me.copy_(&me.host().full(&[4], 3.0, DType::F32)?)
    /// })?;
    /// unsafe { w.release_storage_()? };
    /// // The op fetches the values back before it reads them.
    /// assert_eq!(w.mul_scalar(2.0)?.to_vec::<f32>()?, vec![6.0; 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_fetch_hook<F>(&self, fetch: F) -> Result<()>
    where
        F: Fn() -> Result<()> + Send + Sync + 'static,
    {
        if self.api.abi_minor < 2 {
            crate::bail!("set_fetch_hook needs a core of ABI 1.2 or newer (this one is {}.{})", self.api.abi_major, self.api.abi_minor);
        }
        extern "C" fn call<F: Fn() -> Result<()>>(user: *mut c_void) -> RResult<(), RString> {
            // SAFETY: `user` is the Box<F> leaked below, alive until `drop_user`.
            let f = unsafe { &*(user as *const F) };
            // A panicking hook must not unwind into the core.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(Ok(())) => RResult::ROk(()),
                Ok(Err(e)) => RResult::RErr(e.to_string().into()),
                Err(_) => RResult::RErr("the fetch hook panicked".into()),
            }
        }
        extern "C" fn drop_user<F>(user: *mut c_void) {
            // SAFETY: called once by the core when the hook is dropped.
            drop(unsafe { Box::from_raw(user as *mut F) });
        }
        let user = Box::into_raw(Box::new(fetch)) as *mut c_void;
        check(self.api, (self.api.storage_set_fetch)(self.h, FetchHook { user, call: Some(call::<F>), drop_user: drop_user::<F> }))
    }

    /// Removes this storage's fetch hook (a released storage then fails every use again).
    ///
    /// # Errors
    /// As [`set_fetch_hook`](Tensor::set_fetch_hook).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.ones(&[2], DType::F32)?;
    /// w.set_fetch_hook(|| Ok(()))?;
    /// w.clear_fetch_hook()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn clear_fetch_hook(&self) -> Result<()> {
        if self.api.abi_minor < 2 {
            crate::bail!("clear_fetch_hook needs a core of ABI 1.2 or newer (this one is {}.{})", self.api.abi_major, self.api.abi_minor);
        }
        extern "C" fn nothing(_: *mut c_void) {}
        check(self.api, (self.api.storage_set_fetch)(self.h, FetchHook { user: std::ptr::null_mut(), call: None, drop_user: nothing }))
    }
}
