//! Compute types and tile math of the FlashAttention kernels: the [`Real`] trait (f32/f64), the
//! vectorisable f32 `exp`, lane-split row reductions, the single-threaded tile product [`mm`]
//! and the AVX2 runtime check.

use crate::common::{f32_data, f64_data, store_f32};
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::io::write_f64;
use ferrite_sdk::DType;
use std::borrow::Cow;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Sub};

/// A compute type of the kernels: `f32` (also used for f16/bf16 storage) or `f64`.
pub trait Real:
    Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + AddAssign
    + MulAssign
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// −∞.
    const NEG_INF: Self;
    /// `eˣ`, exact 0 for `x = −∞` (a fast polynomial for f32, libm for f64).
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Conversion from f64 (rounding).
    fn from_f64(x: f64) -> Self;
    /// Conversion to f64 (exact).
    fn to_f64(self) -> f64;
    /// The elements of `v` as a contiguous row-major buffer of this type (borrowed when
    /// possible).
    ///
    /// # Safety
    /// `v` must be a valid, present view.
    unsafe fn read(v: &TensorView) -> Cow<'_, [Self]>;
    /// Writes a row-major buffer into an output view of any float dtype.
    ///
    /// # Safety
    /// `v` must be a valid, present, contiguous output view with `src.len()` elements.
    unsafe fn write(v: &TensorView, src: &[Self]);
    /// The output's storage dtype when it can be written in place.
    const NATIVE: DType;
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const NEG_INF: f32 = f32::NEG_INFINITY;
    #[inline(always)]
    fn exp(self) -> f32 {
        exp_f32(self)
    }
    #[inline(always)]
    fn ln(self) -> f32 {
        f32::ln(self)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    unsafe fn read(v: &TensorView) -> Cow<'_, [f32]> {
        f32_data(v)
    }
    unsafe fn write(v: &TensorView, src: &[f32]) {
        store_f32(v, src)
    }
    const NATIVE: DType = DType::F32;
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    const NEG_INF: f64 = f64::NEG_INFINITY;
    #[inline(always)]
    fn exp(self) -> f64 {
        f64::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> f64 {
        f64::ln(self)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    unsafe fn read(v: &TensorView) -> Cow<'_, [f64]> {
        f64_data(v)
    }
    unsafe fn write(v: &TensorView, src: &[f64]) {
        let _ = write_f64(v, src);
    }
    const NATIVE: DType = DType::F64;
}

/// `eˣ` in f32 without a libm call, so loops over it vectorise: Cephes `expf` (range reduction
/// `x = n·ln2 + r`, `|r| ≤ ln2/2`, degree-5 minimax polynomial, `2ⁿ` built in the exponent
/// bits; relative error ≈ 2 ulp). Returns exactly 0 for `x < −87` (so `exp(−∞) = 0`), and
/// saturates at `e⁸⁸` for large `x` (the kernels only call it with `x ≤ 0`). NaN in, NaN out.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer in the low bits
    let xc = x.clamp(-87.0, 88.0);
    let t = xc * LOG2E + MAGIC;
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    let pow2 = f32::from_bits((ni.wrapping_add(127) << 23) as u32); // wrapping: no overflow-check branch, so it vectorises
    let v = y * pow2;
    if x < -87.0 {
        0.0
    } else {
        v
    }
}

#[inline(always)]
pub(super) fn fmax<T: Real>(a: T, b: T) -> T {
    if b > a {
        b
    } else {
        a
    }
}

/// Max of a slice (−∞ when empty), with 8 independent lanes so it vectorises.
#[inline(always)]
pub(super) fn row_max<T: Real>(row: &[T]) -> T {
    let mut acc = [T::NEG_INF; 8];
    let mut ch = row.chunks_exact(8);
    for c in &mut ch {
        for t in 0..8 {
            acc[t] = fmax(acc[t], c[t]);
        }
    }
    let mut m = T::NEG_INF;
    for &x in ch.remainder().iter().chain(acc.iter()) {
        m = fmax(m, x);
    }
    m
}

/// Sum of a slice with 8 independent lanes.
#[inline(always)]
pub(super) fn row_sum<T: Real>(row: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let mut ch = row.chunks_exact(8);
    for c in &mut ch {
        for t in 0..8 {
            acc[t] += c[t];
        }
    }
    let mut s = T::ZERO;
    for &x in ch.remainder() {
        s += x;
    }
    for x in acc {
        s += x;
    }
    s
}

/// Dot product with 8 independent lanes.
#[inline(always)]
pub(super) fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for t in 0..8 {
            acc[t] += x[t] * y[t];
        }
    }
    let mut s = T::ZERO;
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    for x in acc {
        s += x;
    }
    s
}

/// `dst(m×n) = alpha·dst + beta·lhs(m×k)·rhs(k×n)` (or `beta·lhs·rhs` when `!read_dst`) with
/// element strides (row stride, column stride) for each matrix; single-threaded.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) unsafe fn mm<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: usize,
    read_dst: bool,
    lhs: *const T,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const T,
    rhs_rs: usize,
    rhs_cs: usize,
    beta: T,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !read_dst {
            for r in 0..m {
                std::slice::from_raw_parts_mut(dst.add(r * dst_rs), n).fill(T::ZERO);
            }
        }
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        read_dst,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        T::ONE,
        beta,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

pub(super) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
