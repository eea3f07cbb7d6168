//! Typed access to kernel views for fast kernels: contiguous f32 working buffers for every
//! float dtype (f16/bf16 are stored narrow and computed in f32), and writing results back.

use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::io::{dims, for_each_element, load_f64};
use ferrite_sdk::DType;
use half::{bf16, f16};
use std::borrow::Cow;

/// The views of one kernel call.
///
/// # Safety
/// `ptr` must point to `n` views (or `n == 0`).
pub unsafe fn views<'a>(ptr: *const TensorView, n: usize) -> &'a [TensorView] {
    if n == 0 || ptr.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, n)
    }
}

/// Shape of a view as `usize`s.
pub fn shape(v: &TensorView) -> Vec<usize> {
    // SAFETY: views handed to kernels are valid for the call.
    unsafe { dims(v) }
}

/// The elements of `v` as a contiguous row-major f32 buffer: borrowed when `v` is already a
/// contiguous f32 tensor, converted (f16/bf16/f64/ints → f32) or gathered (strided) otherwise.
///
/// # Safety
/// `v` must be a valid, present view.
pub unsafe fn f32_data(v: &TensorView) -> Cow<'_, [f32]> {
    let n = v.numel();
    if v.dtype == DType::F32 && v.is_contiguous() {
        return Cow::Borrowed(std::slice::from_raw_parts(v.ptr() as *const f32, n));
    }
    let mut out = vec![0f32; n];
    match v.dtype {
        DType::BF16 if v.is_contiguous() => {
            for (o, x) in out.iter_mut().zip(std::slice::from_raw_parts(v.ptr() as *const bf16, n)) {
                *o = x.to_f32();
            }
        }
        DType::F16 if v.is_contiguous() => {
            for (o, x) in out.iter_mut().zip(std::slice::from_raw_parts(v.ptr() as *const f16, n)) {
                *o = x.to_f32();
            }
        }
        dt => for_each_element(v, |i, p| out[i] = load_f64(p, dt) as f32),
    }
    Cow::Owned(out)
}

/// The elements of `v` as a contiguous f64 buffer (for f64 kernels).
///
/// # Safety
/// `v` must be a valid, present view.
pub unsafe fn f64_data(v: &TensorView) -> Cow<'_, [f64]> {
    let n = v.numel();
    if v.dtype == DType::F64 && v.is_contiguous() {
        return Cow::Borrowed(std::slice::from_raw_parts(v.ptr() as *const f64, n));
    }
    Cow::Owned(ferrite_sdk::kernel::io::read_f64(v))
}

/// A mutable f32 slice over a contiguous f32 output.
///
/// # Safety
/// `v` must be a valid, present, contiguous f32 output view (outputs from the core always are
/// contiguous) not aliased by any other slice during the call.
pub unsafe fn f32_out<'a>(v: &TensorView) -> &'a mut [f32] {
    debug_assert!(v.dtype == DType::F32);
    std::slice::from_raw_parts_mut(v.ptr() as *mut f32, v.numel())
}

/// Writes f32 results into an output of any float dtype (rounding once for f16/bf16).
///
/// # Safety
/// `v` must be a valid, present, contiguous output view with `src.len()` elements.
pub unsafe fn store_f32(v: &TensorView, src: &[f32]) {
    let n = v.numel();
    debug_assert_eq!(n, src.len());
    match v.dtype {
        DType::F32 => std::slice::from_raw_parts_mut(v.ptr() as *mut f32, n).copy_from_slice(src),
        DType::BF16 => {
            for (o, &x) in std::slice::from_raw_parts_mut(v.ptr() as *mut bf16, n).iter_mut().zip(src) {
                *o = bf16::from_f32(x);
            }
        }
        DType::F16 => {
            for (o, &x) in std::slice::from_raw_parts_mut(v.ptr() as *mut f16, n).iter_mut().zip(src) {
                *o = f16::from_f32(x);
            }
        }
        dt => {
            let _ = ferrite_sdk::kernel::io::write_f64(v, &src.iter().map(|&x| x as f64).collect::<Vec<_>>());
            debug_assert!(dt.is_float() || dt == DType::I64 || dt == DType::BOOL);
        }
    }
}

/// Float dtypes ops-cpu registers: f32 and f64 computed natively, f16/bf16 stored narrow and
/// computed in f32.
pub const CPU_FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];
