//! Data movement: contiguous copies, dtype conversion, in-place copy with broadcasting.

use super::Tensor;
use crate::error::Result;
use ferrite_sdk::kernel::io::{for_each_element, load_f64, store_f64};
use ferrite_sdk::DType;

impl Tensor {
    /// A contiguous copy with the same dtype (always copies).
    pub fn contiguous_copy(&self) -> Result<Tensor> {
        let out = Tensor::zeros(self.shape(), self.dtype())?;
        let e = self.dtype().size();
        let dst = out.data_ptr();
        // SAFETY: both layouts are valid; out is fresh and contiguous with numel elements.
        unsafe {
            for_each_element(&self.view(), |i, p| std::ptr::copy_nonoverlapping(p, dst.add(i * e), e));
        }
        Ok(out)
    }

    /// Self if contiguous, else a contiguous copy (no autograd).
    pub fn contiguous_data(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            Ok(self.clone())
        } else {
            self.contiguous_copy()
        }
    }

    /// A contiguous copy converted to `dtype` (round to nearest even; float→int truncates).
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return self.contiguous_copy();
        }
        let out = Tensor::zeros(self.shape(), dtype)?;
        let (src_dt, e) = (self.dtype(), dtype.size());
        let dst = out.data_ptr();
        // SAFETY: valid layouts; out is fresh.
        unsafe {
            for_each_element(&self.view(), |i, p| store_f64(dst.add(i * e), dtype, load_f64(p, src_dt)));
        }
        Ok(out)
    }

    /// Row-major bytes of every element (the tensor's own dtype).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let c = self.contiguous_data()?;
        let n = c.numel() * c.dtype().size();
        let mut v = vec![0u8; n];
        // SAFETY: c is contiguous with n bytes from data_ptr.
        unsafe { std::ptr::copy_nonoverlapping(c.data_ptr(), v.as_mut_ptr(), n) };
        Ok(v)
    }

    /// Writes `src` (broadcast to this shape, converted to this dtype) into this tensor's memory
    /// and bumps the version counter. No autograd.
    pub fn copy_from(&self, src: &Tensor) -> Result<()> {
        // Several elements sharing one memory location (an expanded view): the result would
        // depend on write order. PyTorch refuses this too.
        if self.shape().iter().zip(self.strides()).any(|(&d, &s)| d > 1 && s == 0) {
            return crate::error::invalid!(
                "copy_: the destination is an expanded view whose elements share memory; make it contiguous first"
            );
        }
        let shape: Vec<isize> = self.shape().iter().map(|&d| d as isize).collect();
        let src = src.expand_view(&shape)?;
        // Read first, so overlapping memory (src aliasing dst) behaves like a copy.
        let values = src.to_f64_vec();
        let dt = self.dtype();
        // SAFETY: writing through our own valid layout.
        unsafe { for_each_element(&self.view(), |i, p| store_f64(p, dt, values[i])) };
        self.0.storage.bump_version();
        Ok(())
    }
}
