//! Releasing and restoring a tensor's memory (sharded parameters between uses).

use super::{check, Tensor};
use crate::error::Result;

impl Tensor {
    /// Frees the memory behind this tensor's storage (shared with all its views), keeping its
    /// shape and dtype — PyTorch's `t.untyped_storage().resize_(0)`, which FSDP / ZeRO-3 use
    /// for parameters between gathers. Until [`restore_storage_`](Tensor::restore_storage_),
    /// every op on the tensor fails with an error saying the storage was released.
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
    pub unsafe fn release_storage_(&self) -> Result<()> {
        check(self.api, (self.api.storage_release)(self.h))
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
}
