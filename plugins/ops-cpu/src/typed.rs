//! Generic typed kernels for the elementwise / reduction / norm / loss / pooling families: the
//! [`Float`] compute type (f32 for f32/f16/bf16, f64 for f64), contiguous typed input buffers,
//! output writing with one rounding, backward argument splitting and thread-pool helpers.

use crate::register::Call;
use ferrite_sdk::abi::kernel::KernelCtx;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::io::{for_each_element, load_f64, store_f64};
use ferrite_sdk::kernel::parallel::parallel_for_ctx;
use ferrite_sdk::DType;
use half::{bf16, f16};
use std::borrow::Cow;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// A compute type of fast kernels: `f32` (for f32, f16 and bf16 tensors) or `f64`.
pub trait Float:
    Copy + Send + Sync + PartialOrd + Default + std::fmt::Debug + 'static
    + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self> + AddAssign
{
    /// The native tensor dtype of this type.
    const DTYPE: DType;
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// -inf.
    const NEG_INF: Self;
    /// Converts from f64 (rounding).
    fn of(v: f64) -> Self;
    /// Widens to f64.
    fn f64(self) -> f64;
    /// e^x.
    fn exp(self) -> Self;
    /// ln x.
    fn ln(self) -> Self;
    /// √x.
    fn sqrt(self) -> Self;
    /// tanh x.
    fn tanh(self) -> Self;
    /// |x|.
    fn abs(self) -> Self;
    /// erfc x (accurate in both tails).
    fn erfc(self) -> Self;
    /// NaN test.
    fn is_nan(self) -> bool;
    /// Larger of two (NaN-ignoring like `f64::max`).
    fn max(self, o: Self) -> Self;
    /// Reads a view into a contiguous row-major buffer of this type (borrowed when possible).
    ///
    /// # Safety
    /// `v` must be a valid, present view.
    unsafe fn load(v: &TensorView) -> Cow<'_, [Self]>;
}

macro_rules! impl_float {
    ($t:ty, $dt:expr, $erf:path, $load:path) => {
        impl Float for $t {
            const DTYPE: DType = $dt;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INF: Self = <$t>::NEG_INFINITY;
            #[inline(always)]
            fn of(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn erfc(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn max(self, o: Self) -> Self {
                <$t>::max(self, o)
            }
            unsafe fn load(v: &TensorView) -> Cow<'_, [Self]> {
                $load(v)
            }
        }
    };
}

impl_float!(f32, DType::F32, libm::erfcf, crate::common::f32_data);
impl_float!(f64, DType::F64, libm::erfc, crate::common::f64_data);

/// Runs `$body` with `$T` bound to the compute type of dtype `$dt` (`f64` for f64, `f32` for
/// f32/f16/bf16); other dtypes give an error naming `$op`.
#[macro_export]
macro_rules! with_float {
    ($op:expr, $dt:expr, $T:ident => $body:expr) => {
        match $dt {
            ferrite_sdk::DType::F64 => {
                #[allow(dead_code)]
                type $T = f64;
                $body
            }
            ferrite_sdk::DType::F32 | ferrite_sdk::DType::F16 | ferrite_sdk::DType::BF16 => {
                #[allow(dead_code)]
                type $T = f32;
                $body
            }
            other => Err(format!("{}: unsupported dtype {} (ops-cpu computes f32, f64, f16, bf16)", $op, other.name())),
        }
    };
}

/// Writes `src` into output view `v` of any float dtype, rounding once (f16/bf16) and honouring
/// strides (outputs from the core are contiguous; anything else takes the slow path).
///
/// # Safety
/// `v` must be a valid, present, writable view with `src.len()` elements.
pub unsafe fn store<T: Float>(v: &TensorView, src: &[T]) -> Result<(), String> {
    let n = v.numel();
    if n != src.len() {
        return Err(format!("output has {n} elements, kernel produced {}", src.len()));
    }
    if n == 0 {
        return Ok(());
    }
    if v.is_contiguous() {
        let p = v.ptr();
        match v.dtype {
            dt if dt == T::DTYPE => std::slice::from_raw_parts_mut(p as *mut T, n).copy_from_slice(src),
            DType::F32 => std::slice::from_raw_parts_mut(p as *mut f32, n).iter_mut().zip(src).for_each(|(o, x)| *o = x.f64() as f32),
            DType::F64 => std::slice::from_raw_parts_mut(p as *mut f64, n).iter_mut().zip(src).for_each(|(o, x)| *o = x.f64()),
            DType::F16 => std::slice::from_raw_parts_mut(p as *mut f16, n).iter_mut().zip(src).for_each(|(o, x)| *o = f16::from_f64(x.f64())),
            DType::BF16 => std::slice::from_raw_parts_mut(p as *mut bf16, n).iter_mut().zip(src).for_each(|(o, x)| *o = bf16::from_f64(x.f64())),
            dt => for_each_element(v, |i, p| store_f64(p, dt, src[i].f64())),
        }
    } else {
        let dt = v.dtype;
        for_each_element(v, |i, p| store_f64(p, dt, src[i].f64()));
    }
    Ok(())
}

/// Runs `f` on a mutable buffer for output `v`: the output's own memory when it is a contiguous
/// tensor of type `T`, else a scratch buffer stored (rounded once) afterwards.
///
/// # Safety
/// `v` must be a valid, present, writable view not aliased during the call.
pub unsafe fn with_out<T: Float>(v: &TensorView, f: impl FnOnce(&mut [T]) -> Result<(), String>) -> Result<(), String> {
    let n = v.numel();
    if v.dtype == T::DTYPE && v.is_contiguous() && n > 0 {
        return f(std::slice::from_raw_parts_mut(v.ptr() as *mut T, n));
    }
    let mut buf = vec![T::ZERO; n];
    f(&mut buf)?;
    store(v, &buf)
}

/// Writes i64 values (indices) into an output view of any integer or float dtype.
///
/// # Safety
/// `v` must be a valid, present, writable view with `src.len()` elements.
pub unsafe fn store_i64(v: &TensorView, src: &[i64]) -> Result<(), String> {
    if v.numel() != src.len() {
        return Err(format!("index output has {} elements, kernel produced {}", v.numel(), src.len()));
    }
    if v.dtype == DType::I64 && v.is_contiguous() && !src.is_empty() {
        std::slice::from_raw_parts_mut(v.ptr() as *mut i64, src.len()).copy_from_slice(src);
    } else {
        let dt = v.dtype;
        for_each_element(v, |i, p| store_f64(p, dt, src[i] as f64));
    }
    Ok(())
}

/// Reads an integer (or any) view as row-major i64 values (float values truncated).
///
/// # Safety
/// `v` must be a valid, present view.
pub unsafe fn load_i64(v: &TensorView) -> Vec<i64> {
    let mut out = vec![0i64; v.numel()];
    let dt = v.dtype;
    if dt == DType::I64 {
        for_each_element(v, |i, p| out[i] = (p as *const i64).read_unaligned());
    } else {
        for_each_element(v, |i, p| out[i] = load_f64(p, dt) as i64);
    }
    out
}

/// A backward call split into its parts (see `KernelFn`): upstream gradients, forward inputs,
/// forward outputs, and the gradient outputs (one per forward input, `None` when not wanted).
pub struct BwdViews<'a> {
    /// Gradient of each forward output.
    pub grads: &'a [TensorView],
    /// Forward inputs (absent optional ones have null data).
    pub inputs: &'a [TensorView],
    /// Forward outputs.
    pub outputs: &'a [TensorView],
    /// Gradient outputs.
    pub dins: Vec<Option<&'a TensorView>>,
}

/// Splits a backward call of an op with `n_fwd_out` outputs.
pub fn bwd_views<'a>(c: &Call<'a>, n_fwd_out: usize) -> Result<BwdViews<'a>, String> {
    let base = c.fwd_input_base(n_fwd_out)?;
    let n_in = c.outputs.len();
    let present = |v: &'a TensorView| v.is_present().then_some(v);
    Ok(BwdViews {
        grads: &c.inputs[..base],
        inputs: &c.inputs[base..base + n_in],
        outputs: &c.inputs[base + n_in..],
        dins: c.outputs.iter().map(present).collect(),
    })
}

/// Work (elements touched) below which a loop runs inline on the calling thread.
pub const PAR_MIN_WORK: usize = 1 << 15;

/// Runs `f(start, end)` over `0..n` items, each costing about `work_per_item` elements: inline
/// for small problems, else on the host's thread pool with a grain of ~[`PAR_MIN_WORK`] elements.
pub fn par_for<F: Fn(usize, usize) + Sync>(ctx: *const KernelCtx, n: usize, work_per_item: usize, f: F) {
    let w = work_per_item.max(1);
    if n == 0 {
        return;
    }
    if n.saturating_mul(w) <= PAR_MIN_WORK || n == 1 {
        f(0, n);
    } else {
        parallel_for_ctx(ctx, n, (PAR_MIN_WORK / w).max(1), f);
    }
}

/// A raw pointer that parallel chunks use to write disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub struct SyncPtr<T>(pub *mut T);
// SAFETY: users only write disjoint ranges from different threads.
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    /// Wraps a buffer.
    pub fn new(s: &mut [T]) -> Self {
        SyncPtr(s.as_mut_ptr())
    }
    /// The sub-slice `[start, start + len)`.
    ///
    /// # Safety
    /// The range must be in bounds and not accessed by any other thread at the same time.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}

/// Runs `f(item_range_start, chunk)` over `out` split into items of `item_len` elements, in
/// parallel when large; each call gets the slice of whole items `[s, e)`.
pub fn par_chunks<T: Send + Sync, F: Fn(usize, &mut [T]) + Sync>(ctx: *const KernelCtx, out: &mut [T], item_len: usize, work_per_item: usize, f: F) {
    if item_len == 0 {
        return;
    }
    let n = out.len() / item_len;
    let p = SyncPtr::new(out);
    // SAFETY: chunks [s, e) of different calls are disjoint.
    par_for(ctx, n, work_per_item, |s, e| f(s, unsafe { p.slice(s * item_len, (e - s) * item_len) }));
}

/// Gathers `x` viewed as `[outer, len, inner]` into rows `[outer·inner, len]` (the reduced axis
/// last and contiguous); borrowed when `inner == 1`.
pub fn to_rows<T: Float>(x: &[T], outer: usize, len: usize, inner: usize) -> Cow<'_, [T]> {
    if inner == 1 {
        return Cow::Borrowed(x);
    }
    let mut out = vec![T::ZERO; x.len()];
    for o in 0..outer {
        for k in 0..len {
            let src = &x[(o * len + k) * inner..(o * len + k + 1) * inner];
            for (i, &v) in src.iter().enumerate() {
                out[(o * inner + i) * len + k] = v;
            }
        }
    }
    Cow::Owned(out)
}

/// Inverse of [`to_rows`]: scatters rows `[outer·inner, len]` back to `[outer, len, inner]`.
pub fn from_rows<T: Float>(rows: &[T], out: &mut [T], outer: usize, len: usize, inner: usize) {
    if inner == 1 {
        out.copy_from_slice(rows);
        return;
    }
    for o in 0..outer {
        for k in 0..len {
            let dst = &mut out[(o * len + k) * inner..(o * len + k + 1) * inner];
            for (i, d) in dst.iter_mut().enumerate() {
                *d = rows[(o * inner + i) * len + k];
            }
        }
    }
}

/// Sum of a slice with 8 independent accumulators (vectorisable, more accurate than a chain).
#[inline]
pub fn sum<T: Float>(x: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in rest {
        s += v;
    }
    s
}

/// Maximum of a slice (`-inf` when empty); NaN propagates.
#[inline]
pub fn max_nan<T: Float>(x: &[T]) -> T {
    let mut m = T::NEG_INF;
    let mut nan = false;
    for &v in x {
        m = m.max(v);
        nan |= v.is_nan();
    }
    if nan {
        T::of(f64::NAN)
    } else {
        m
    }
}
