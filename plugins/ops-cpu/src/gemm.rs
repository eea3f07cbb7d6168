//! A thin layer over the `gemm` crate (0.18): strided row-major/column-major operands, f32 and
//! f64, always called single-threaded (`Parallelism::None`) inside chunks handed out by
//! [`ferrite_sdk::kernel::parallel::parallel_for_ctx`], so every thread comes from the core's pool.
//!
//! `gemm` 0.18 only has an AVX-512 microkernel behind its `nightly` feature, which needs
//! `#![feature(stdarch_x86_avx512)]` in `gemm-common`/`pulp` and fails to build on stable Rust
//! (E0554), so the AVX2+FMA (x86-v3) path is what runs here.

use crate::common::{f32_data, f64_data, store_f32};
use ferrite_sdk::abi::kernel::KernelCtx;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::io::write_f64;
use ferrite_sdk::kernel::parallel::parallel_for_ctx;
use ferrite_sdk::DType;
use std::borrow::Cow;

/// The element types GEMM kernels compute in: `f32` (for f32, f16 and bf16 tensors) and `f64`.
pub trait Scalar: Copy + Send + Sync + 'static + std::ops::Add<Output = Self> + std::ops::AddAssign + PartialEq + std::fmt::Debug {
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// The tensor dtype computed natively in this type.
    const NATIVE: DType;
    /// Widens to f64 (for accumulating reductions).
    fn to_f64(self) -> f64;
    /// Narrows from f64 (round to nearest).
    fn from_f64(v: f64) -> Self;
    /// The elements of a view as a contiguous row-major buffer of `Self` (borrowed when the view
    /// already is one; gathered from strided/broadcast views; converted from other dtypes).
    ///
    /// # Safety
    /// `v` must be a valid, present view.
    unsafe fn read(v: &TensorView) -> Cow<'_, [Self]>;
    /// Writes a row-major buffer into a view of any float dtype (rounding once when narrower).
    ///
    /// # Safety
    /// `v` must be a valid, present, writable view with `src.len()` elements.
    unsafe fn store(v: &TensorView, src: &[Self]) -> Result<(), String>;
}

impl Scalar for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const NATIVE: DType = DType::F32;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    unsafe fn read(v: &TensorView) -> Cow<'_, [f32]> {
        f32_data(v)
    }
    unsafe fn store(v: &TensorView, src: &[f32]) -> Result<(), String> {
        if v.is_contiguous() {
            store_f32(v, src);
            Ok(())
        } else {
            write_f64(v, &src.iter().map(|&x| x as f64).collect::<Vec<_>>())
        }
    }
}

impl Scalar for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    const NATIVE: DType = DType::F64;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
    unsafe fn read(v: &TensorView) -> Cow<'_, [f64]> {
        f64_data(v)
    }
    unsafe fn store(v: &TensorView, src: &[f64]) -> Result<(), String> {
        write_f64(v, src)
    }
}

/// Runs `f` on a mutable row-major buffer for output `v`: the output's own memory when it is a
/// contiguous tensor of `T`'s native dtype, otherwise a zeroed scratch buffer written back (and
/// rounded) afterwards. `f` must write every element; the direct buffer's prior contents are
/// unspecified.
///
/// # Safety
/// `v` must be a valid, present output view not aliased by any other buffer during the call.
pub unsafe fn with_output<T: Scalar>(v: &TensorView, f: impl FnOnce(&mut [T]) -> Result<(), String>) -> Result<(), String> {
    let n = v.numel();
    if v.dtype == T::NATIVE && v.is_contiguous() {
        return f(std::slice::from_raw_parts_mut(v.ptr() as *mut T, n));
    }
    let mut buf = vec![T::ZERO; n];
    f(&mut buf)?;
    T::store(v, &buf)
}

/// A read-only strided matrix: element `(i, j)` at `ptr + i·rs + j·cs` (elements).
#[derive(Clone, Copy, Debug)]
pub struct Mat<T> {
    /// Element `(0, 0)`.
    pub ptr: *const T,
    /// Row stride in elements.
    pub rs: isize,
    /// Column stride in elements.
    pub cs: isize,
}

/// A writable strided matrix (see [`Mat`]).
#[derive(Clone, Copy, Debug)]
pub struct MatMut<T> {
    /// Element `(0, 0)`.
    pub ptr: *mut T,
    /// Row stride in elements.
    pub rs: isize,
    /// Column stride in elements.
    pub cs: isize,
}

// SAFETY: these are plain addresses; the code that splits work hands disjoint destination
// regions to different threads, and sources are only read.
unsafe impl<T> Send for Mat<T> {}
unsafe impl<T> Sync for Mat<T> {}
unsafe impl<T> Send for MatMut<T> {}
unsafe impl<T> Sync for MatMut<T> {}

impl<T> Mat<T> {
    /// Row-major `[rows, cols]` matrix at `ptr` with leading dimension `ld` (row stride).
    pub fn rows(ptr: *const T, ld: usize) -> Mat<T> {
        Mat { ptr, rs: ld as isize, cs: 1 }
    }
    /// The transpose of a row-major matrix at `ptr` with row stride `ld`.
    pub fn rows_t(ptr: *const T, ld: usize) -> Mat<T> {
        Mat { ptr, rs: 1, cs: ld as isize }
    }
    /// The same matrix starting at element `(i, j)`.
    pub fn at(self, i: usize, j: usize) -> Mat<T> {
        Mat { ptr: self.ptr.wrapping_offset(i as isize * self.rs + j as isize * self.cs), ..self }
    }
    /// The same matrix moved by `off` elements.
    pub fn shift(self, off: usize) -> Mat<T> {
        Mat { ptr: self.ptr.wrapping_add(off), ..self }
    }
}

impl<T> MatMut<T> {
    /// Row-major matrix at `ptr` with row stride `ld`.
    pub fn rows(ptr: *mut T, ld: usize) -> MatMut<T> {
        MatMut { ptr, rs: ld as isize, cs: 1 }
    }
    /// The same matrix starting at element `(i, j)`.
    pub fn at(self, i: usize, j: usize) -> MatMut<T> {
        MatMut { ptr: self.ptr.wrapping_offset(i as isize * self.rs + j as isize * self.cs), ..self }
    }
    /// The same matrix moved by `off` elements.
    pub fn shift(self, off: usize) -> MatMut<T> {
        MatMut { ptr: self.ptr.wrapping_add(off), ..self }
    }
}

/// `dst[m, n] = (accumulate ? dst : 0) + a[m, k] · b[k, n]` on the calling thread.
///
/// # Safety
/// All three matrices must address valid memory for their extents; `dst` must not overlap `a`
/// or `b` and must not be written concurrently by anyone else.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_st<T: Scalar>(m: usize, n: usize, k: usize, dst: MatMut<T>, accumulate: bool, a: Mat<T>, b: Mat<T>) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            fill(m, n, dst, T::ZERO);
        }
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst.ptr,
        dst.cs,
        dst.rs,
        accumulate,
        a.ptr,
        a.cs,
        a.rs,
        b.ptr,
        b.cs,
        b.rs,
        T::ONE,
        T::ONE,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// Sets every element of `dst[m, n]` to `v`.
///
/// # Safety
/// `dst` must address valid, exclusively owned memory for its extent.
pub unsafe fn fill<T: Scalar>(m: usize, n: usize, dst: MatMut<T>, v: T) {
    for i in 0..m {
        for j in 0..n {
            *dst.ptr.offset(i as isize * dst.rs + j as isize * dst.cs) = v;
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Unit tests (no core, loops run inline) pretend to have this many threads, so the
    /// work-splitting paths run too.
    pub static TEST_THREADS: std::cell::Cell<usize> = const { std::cell::Cell::new(1) };
}

/// Threads the core lends kernels (1 without a core; unit tests may set `TEST_THREADS`).
pub fn num_threads(ctx: *const KernelCtx) -> usize {
    // SAFETY: ctx and its host table are valid during a kernel call (or null).
    let host = unsafe { ctx.as_ref().and_then(|c| c.host.as_ref()) };
    match host {
        Some(h) => (h.num_threads)().max(1),
        #[cfg(test)]
        None => TEST_THREADS.with(|t| t.get()),
        #[cfg(not(test))]
        None => 1,
    }
}

/// Below this many multiply-adds a product runs on one thread.
pub const PAR_MIN_WORK: usize = 1 << 17;

/// Whether `work` multiply-adds are too few to split (never in unit tests, so small shapes
/// exercise the split paths).
fn too_small_to_split(work: usize) -> bool {
    !cfg!(test) && work < PAR_MIN_WORK
}

/// Rows per chunk when splitting `len` into about `parts` pieces, rounded up to `align`.
pub fn chunk_len(len: usize, parts: usize, align: usize) -> usize {
    let c = len.div_ceil(parts.max(1)).max(1);
    c.div_ceil(align) * align
}

/// [`gemm_st`] split over the core's threads along the larger of `m` and `n` (disjoint
/// destination blocks, no reduction).
///
/// # Safety
/// As for [`gemm_st`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn par_gemm<T: Scalar>(
    ctx: *const KernelCtx,
    m: usize,
    n: usize,
    k: usize,
    dst: MatMut<T>,
    accumulate: bool,
    a: Mat<T>,
    b: Mat<T>,
) {
    let t = num_threads(ctx);
    if t <= 1 || too_small_to_split(m.saturating_mul(n).saturating_mul(k.max(1))) {
        return gemm_st(m, n, k, dst, accumulate, a, b);
    }
    let split_rows = m >= n;
    let len = if split_rows { m } else { n };
    let chunk = chunk_len(len, t, 16);
    let chunks = len.div_ceil(chunk);
    parallel_for_ctx(ctx, chunks, 1, |s, e| {
        for c in s..e {
            let (lo, hi) = (c * chunk, ((c + 1) * chunk).min(len));
            // SAFETY: chunks cover disjoint rows (or columns) of dst.
            unsafe {
                if split_rows {
                    gemm_st(hi - lo, n, k, dst.at(lo, 0), accumulate, a.at(lo, 0), b);
                } else {
                    gemm_st(m, hi - lo, k, dst.at(0, lo), accumulate, a, b.at(0, lo));
                }
            }
        }
    });
}

/// One destination block of a [`Batched`] product: `dst + dst_off ← Σ_terms a(+a_off) · b(+b_off)`.
#[derive(Clone, Debug, Default)]
pub struct BatchItem {
    /// Offset of this block's element `(0, 0)` from the batched destination base, in elements.
    pub dst_off: usize,
    /// `(a offset, b offset)` of each product summed into the block (none: the block is zeroed).
    pub terms: Vec<(usize, usize)>,
}

/// Many same-shaped products `[m, k] · [k, n]`, each destination block a sum of products —
/// batched matmul, and its gradients summed over broadcast batch dims. Destination blocks must
/// be disjoint; work is split over blocks and, when there are fewer blocks than threads, rows.
#[derive(Clone, Debug)]
pub struct Batched<T> {
    /// Rows of each product.
    pub m: usize,
    /// Columns of each product.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Destination base with the strides of every block.
    pub dst: MatMut<T>,
    /// Left operand base with strides.
    pub a: Mat<T>,
    /// Right operand base with strides.
    pub b: Mat<T>,
    /// The destination blocks.
    pub items: Vec<BatchItem>,
}

impl<T: Scalar> Batched<T> {
    /// Computes every block (overwriting the destination blocks).
    ///
    /// # Safety
    /// Every block and operand must address valid memory; destination blocks must be pairwise
    /// disjoint and not overlap the operands.
    pub unsafe fn run(&self, ctx: *const KernelCtx) {
        let (m, n, k) = (self.m, self.n, self.k);
        let nterms: usize = self.items.iter().map(|i| i.terms.len().max(1)).sum();
        let work = nterms.saturating_mul(m).saturating_mul(n).saturating_mul(k.max(1));
        let t = if too_small_to_split(work) { 1 } else { num_threads(ctx) };
        let items = self.items.len();
        if items == 0 {
            return;
        }
        let row_parts = if items >= t { 1 } else { t.div_ceil(items) };
        let chunk = chunk_len(m, row_parts, 16);
        let per_item = m.div_ceil(chunk).max(1);
        let tasks = items * per_item;
        let grain = if t == 1 { tasks } else { (tasks / (4 * t)).max(1) };
        parallel_for_ctx(ctx, tasks, grain, |s, e| {
            for task in s..e {
                let (item, rc) = (&self.items[task / per_item], task % per_item);
                let (lo, hi) = (rc * chunk, ((rc + 1) * chunk).min(m));
                if lo >= hi {
                    continue;
                }
                let dst = self.dst.shift(item.dst_off).at(lo, 0);
                // SAFETY: blocks are disjoint (caller) and row ranges within a block are disjoint.
                unsafe {
                    if item.terms.is_empty() {
                        fill(hi - lo, n, dst, T::ZERO);
                    }
                    for (j, &(ao, bo)) in item.terms.iter().enumerate() {
                        gemm_st(hi - lo, n, k, dst, j > 0, self.a.shift(ao).at(lo, 0), self.b.shift(bo));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn naive(m: usize, n: usize, k: usize, a: &[f64], ars: usize, acs: usize, b: &[f64], brs: usize, bcs: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|q| a[i * ars + q * acs] * b[q * brs + j * bcs]).sum();
            }
        }
        c
    }

    #[test]
    fn gemm_strided_and_transposed_matches_naive() {
        for &(m, n, k) in &[(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 1, 65), (1, 70, 3), (5, 4, 0)] {
            let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
            // a row-major, b given as its transpose stored row-major [n, k]
            let mut bt = vec![0.0; k * n];
            for q in 0..k {
                for j in 0..n {
                    bt[j * k + q] = b[q * n + j];
                }
            }
            let exp = naive(m, n, k, &a, k, 1, &b, n, 1);
            let mut c = vec![7.0; m * n];
            unsafe { gemm_st(m, n, k, MatMut::rows(c.as_mut_ptr(), n), false, Mat::rows(a.as_ptr(), k), Mat::rows_t(bt.as_ptr(), k)) };
            for (x, y) in c.iter().zip(&exp) {
                assert!((x - y).abs() < 1e-12, "{m}x{n}x{k}: {x} vs {y}");
            }
            // accumulate adds on top
            unsafe { gemm_st(m, n, k, MatMut::rows(c.as_mut_ptr(), n), true, Mat::rows(a.as_ptr(), k), Mat::rows(b.as_ptr(), n)) };
            for (x, y) in c.iter().zip(&exp) {
                assert!((x - 2.0 * y).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn batched_sums_terms_and_zeroes_empty_blocks() {
        let (m, n, k) = (3, 2, 4);
        let a: Vec<f32> = (0..2 * m * k).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..2 * k * n).map(|i| 1.0 - i as f32 * 0.25).collect();
        let mut c = vec![9.0f32; 2 * m * n];
        let bat = Batched {
            m,
            n,
            k,
            dst: MatMut::rows(c.as_mut_ptr(), n),
            a: Mat::rows(a.as_ptr(), k),
            b: Mat::rows(b.as_ptr(), n),
            items: vec![BatchItem { dst_off: 0, terms: vec![(0, 0), (m * k, k * n)] }, BatchItem { dst_off: m * n, terms: vec![] }],
        };
        unsafe { bat.run(std::ptr::null()) };
        let ad: Vec<f64> = a.iter().map(|&x| x as f64).collect();
        let bd: Vec<f64> = b.iter().map(|&x| x as f64).collect();
        let e0 = naive(m, n, k, &ad, k, 1, &bd, n, 1);
        let e1 = naive(m, n, k, &ad[m * k..], k, 1, &bd[k * n..], n, 1);
        for i in 0..m * n {
            assert!((c[i] as f64 - e0[i] - e1[i]).abs() < 1e-4);
            assert_eq!(c[m * n + i], 0.0);
        }
    }
}
