//! FlashAttention on the CPU: the fast kernels of `ferrite::scaled_dot_product_attention`.
//!
//! Source: Dao, Fu, Ermon, Rudra, Ré, "FlashAttention: Fast and Memory-Efficient Exact Attention
//! with IO-Awareness", NeurIPS 2022 (arXiv:2205.14135).
//!
//! * Forward = Algorithm 1: the queries are cut into tiles of [`BLOCK_Q`] rows and the keys into
//!   tiles of [`BLOCK_K`]; for each (query tile, key tile) the score tile
//!   `S = scale·Q_i·K_jᵀ (+ mask)` is formed in a small buffer (lines 9–10), the running row max
//!   `m` and normaliser `l` are updated (online softmax, lines 11–13) and the output accumulator
//!   is rescaled and advanced by `P̃·V_j` (line 12). The `L×S` score matrix never exists.
//! * Backward = Algorithm 2 / Appendix B.4: `D = rowsum(dO ∘ O)` (eq. in B.4), then for each tile
//!   pair `P = exp(S − LSE)` is recomputed, `dV_j += Pᵀ·dO_i`, `dP = dO_i·V_jᵀ`,
//!   `dS = P ∘ (dP − D_i)`, `dK_j += scale·dSᵀ·Q_i`, `dQ_i += scale·dS·K_j` (lines 11–21).
//!
//! **LSE in backward.** The kernel ABI hands a backward kernel only (grads, inputs, outputs),
//! not extra saved tensors, so the forward saves nothing. The backward *recomputes* the per-row
//! log-sum-exp `LSE_i = m_i + ln l_i` with one tiled pass of the forward's online softmax
//! (the same tiles, without the `P·V` product): `O(L)` memory per head, no `S×S` buffer, one
//! extra `Q·Kᵀ` product (≈ 1/6 of the backward's work).
//!
//! **Threads.** Every loop runs on the host's pool through
//! [`ferrite_sdk::kernel::parallel::parallel_for_ctx`]: the forward and the LSE pass over
//! (batch·heads × query tiles). The backward runs Algorithm 2 per head (outer loop over key
//! tiles, inner over query tiles, so `dK_j`/`dV_j` stay in tile buffers and `dQ` is owned by the
//! head's task) when there are enough heads for the threads; otherwise it splits into a pass over
//! (heads × key tiles) for `dK`, `dV` and a pass over (heads × query tiles) for `dQ` (two more
//! tile products, but no two tasks ever write the same element).
//!
//! **Memory.** Besides the inputs converted to contiguous buffers when they are not already
//! contiguous in the compute type, each task holds a few `BLOCK_Q×BLOCK_K` and
//! `BLOCK×E` tiles (≈ 100 KiB in f32 for E = 64); the backward adds `LSE` and `D`
//! (`2·B·L` numbers). Nothing is `O(L·S)`.
//!
//! **Numerics.** f32 and f64 compute natively; f16/bf16 are read to f32, computed in f32 and
//! rounded once on output. Tile products go through the `gemm` crate (runtime-dispatched SIMD,
//! single-threaded inside a task); `exp` in f32 is a branch-free Cephes polynomial (≈ 2 ulp)
//! that vectorises. A query row with no attendable key (bool mask all false, causal, or every
//! score `-inf`) gets output 0 and zero gradients, never NaN, as in ops-ref.

use crate::common::{f32_data, f64_data, shape, store_f32, views, CPU_FLOATS};
use ferrite_sdk::abi::dtype::device_type;
use ferrite_sdk::abi::kernel::{AttrValue, KernelCtx};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc, KernelEntry, OpDesc};
use ferrite_sdk::abi::view::{TensorMeta, TensorView};
use ferrite_sdk::abi_stable::std_types::{RSlice, RStr};
use ferrite_sdk::kernel::io::{guarded, load_f64, write_f64};
use ferrite_sdk::kernel::parallel::parallel_for_ctx;
use ferrite_sdk::kernel::reference::run_shape;
use ferrite_sdk::kernel::Attrs;
use ferrite_sdk::shape::attention::{sdpa_geom, sdpa_shape, SdpaGeom};
use ferrite_sdk::shape::{bool_or, float_or};
use ferrite_sdk::DType;
use std::borrow::Cow;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Sub};

/// Query rows per tile (`B_r` of Algorithm 1). 64×64 f32 score tiles (16 KiB) plus the `Q_i`,
/// `K_j`, `V_j` tiles at E = 64 stay within L1+L2.
pub const BLOCK_Q: usize = 64;
/// Key columns per tile (`B_c` of Algorithm 1).
pub const BLOCK_K: usize = 64;

const OP: &str = "scaled_dot_product_attention";

// ------------------------------------------------------------------------------------------
// Compute types
// ------------------------------------------------------------------------------------------

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
fn fmax<T: Real>(a: T, b: T) -> T {
    if b > a {
        b
    } else {
        a
    }
}

/// Max of a slice (−∞ when empty), with 8 independent lanes so it vectorises.
#[inline(always)]
fn row_max<T: Real>(row: &[T]) -> T {
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
fn row_sum<T: Real>(row: &[T]) -> T {
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
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
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
unsafe fn mm<T: Real>(
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

// ------------------------------------------------------------------------------------------
// Problem description
// ------------------------------------------------------------------------------------------

/// A raw pointer that may be shared by the tasks of one parallel loop (each task touches a
/// disjoint region).
#[derive(Clone, Copy)]
struct SyncPtr<T>(*mut T);
// SAFETY: tasks write disjoint regions; the loop joins before the buffer is read.
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

/// The attention mask read in place through broadcast strides (never copied: a full
/// `[B, L, S]` mask would otherwise cost `O(L·S)` extra memory).
struct MaskView {
    ptr: *const u8,
    dtype: DType,
    /// Element offset of each batch·head's `[L, S]` plane.
    batch_off: Vec<isize>,
    /// Element strides along L and S (0 where broadcast).
    rs: isize,
    cs: isize,
}
// SAFETY: read-only access to the caller's mask during the call.
unsafe impl Sync for MaskView {}

impl MaskView {
    /// # Safety
    /// `m` must be a valid present view broadcastable to `g.score_shape()`.
    unsafe fn new(m: &TensorView, g: &SdpaGeom) -> MaskView {
        let target = g.score_shape();
        let r = target.len();
        let ms = shape(m);
        let mst = m.strides();
        let off = r - ms.len();
        let mut st = vec![0isize; r];
        for d in 0..ms.len() {
            st[off + d] = if ms[d] == 1 { 0 } else { mst[d] as isize };
        }
        let nb = g.batch_numel();
        let mut batch_off = Vec::with_capacity(nb);
        let mut idx = vec![0usize; r - 2];
        for _ in 0..nb {
            batch_off.push(idx.iter().zip(&st).map(|(&i, &s)| i as isize * s).sum());
            for d in (0..r - 2).rev() {
                idx[d] += 1;
                if idx[d] < target[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        MaskView { ptr: m.ptr(), dtype: m.dtype, batch_off, rs: st[r - 2], cs: st[r - 1] }
    }

    /// Adds the mask tile `[i0.., j0..]` (`br×bc`) of plane `b` to `s` (row stride `bc`): a bool
    /// mask adds 0 (attend) or −∞; a float mask adds its value.
    #[inline(always)]
    unsafe fn apply<T: Real>(&self, b: usize, i0: usize, br: usize, j0: usize, bc: usize, s: &mut [T]) {
        let base = self.batch_off[b] + i0 as isize * self.rs + j0 as isize * self.cs;
        let (rs, cs) = (self.rs, self.cs);
        match self.dtype {
            DType::BOOL | DType::U8 => {
                let p = self.ptr;
                for r in 0..br {
                    let row = &mut s[r * bc..(r + 1) * bc];
                    let rp = base + r as isize * rs;
                    for (c, x) in row.iter_mut().enumerate() {
                        if *p.offset(rp + c as isize * cs) == 0 {
                            *x = T::NEG_INF;
                        }
                    }
                }
            }
            DType::F32 => {
                let p = self.ptr as *const f32;
                for r in 0..br {
                    let row = &mut s[r * bc..(r + 1) * bc];
                    let rp = base + r as isize * rs;
                    for (c, x) in row.iter_mut().enumerate() {
                        *x += T::from_f64(p.offset(rp + c as isize * cs).read_unaligned() as f64);
                    }
                }
            }
            dt => {
                let esz = dt.size() as isize;
                let is_float = dt.is_float();
                for r in 0..br {
                    let row = &mut s[r * bc..(r + 1) * bc];
                    let rp = base + r as isize * rs;
                    for (c, x) in row.iter_mut().enumerate() {
                        let v = load_f64(self.ptr.offset((rp + c as isize * cs) * esz), dt);
                        if is_float {
                            *x += T::from_f64(v);
                        } else if v == 0.0 {
                            *x = T::NEG_INF;
                        }
                    }
                }
            }
        }
    }
}

/// Everything a tile needs: contiguous `[B, L, E]` query, `[B, S, E]` key, `[B, S, Ev]` value.
struct Problem<'a, T> {
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    nb: usize,
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
    scale: T,
    causal: bool,
    mask: Option<MaskView>,
}

impl<T: Real> Problem<'_, T> {
    fn q_tiles(&self) -> usize {
        self.l.div_ceil(BLOCK_Q)
    }
    fn k_tiles(&self) -> usize {
        self.s.div_ceil(BLOCK_K)
    }
    /// Whether every entry of tile (query rows from `i0`, keys from `j0`) is removed by
    /// `is_causal` (key `j > i` for every query `i` of the tile).
    fn causal_skip(&self, i0: usize, br: usize, j0: usize) -> bool {
        self.causal && j0 > i0 + br - 1
    }
    /// Score tile `s = scale·Q[b, i0..i0+br]·K[b, j0..j0+bc]ᵀ + mask`, −∞ where masked
    /// (Algorithm 1 line 9; row stride `bc`).
    #[inline(always)]
    unsafe fn scores(&self, b: usize, i0: usize, br: usize, j0: usize, bc: usize, s: &mut [T]) {
        let e = self.e;
        let qp = self.q.as_ptr().add((b * self.l + i0) * e);
        let kp = self.k.as_ptr().add((b * self.s + j0) * e);
        // rhs = K_jᵀ (E×bc): element (t, c) at kp[c·E + t].
        mm(br, bc, e, s.as_mut_ptr(), bc, false, qp, e, 1, kp, 1, e, self.scale);
        if let Some(m) = &self.mask {
            m.apply(b, i0, br, j0, bc, s);
        }
        if self.causal && j0 + bc > i0 + 1 {
            for r in 0..br {
                let first = (i0 + r + 1).saturating_sub(j0).min(bc);
                s[r * bc + first..(r + 1) * bc].fill(T::NEG_INF);
            }
        }
    }
}

/// Per-task tile buffers (`O(BLOCK·(BLOCK + E + Ev))` elements).
struct Scratch<T> {
    s: Vec<T>,
    dp: Vec<T>,
    acc: Vec<T>,
    m: Vec<T>,
    l: Vec<T>,
    dk: Vec<T>,
    dv: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(e: usize, ev: usize, backward: bool) -> Scratch<T> {
        let bb = BLOCK_Q * BLOCK_K;
        Scratch {
            s: vec![T::ZERO; bb],
            dp: if backward { vec![T::ZERO; bb] } else { Vec::new() },
            acc: if backward { Vec::new() } else { vec![T::ZERO; BLOCK_Q * ev] },
            m: vec![T::NEG_INF; BLOCK_Q],
            l: vec![T::ZERO; BLOCK_Q],
            dk: if backward { vec![T::ZERO; BLOCK_K * e] } else { Vec::new() },
            dv: if backward { vec![T::ZERO; BLOCK_K * ev] } else { Vec::new() },
        }
    }
}

// ------------------------------------------------------------------------------------------
// Forward (Algorithm 1) and the LSE pass
// ------------------------------------------------------------------------------------------

/// One query tile of Algorithm 1 (lines 5–16) for plane `b`, query tile `it`: writes the output
/// rows to `out` (`[B, L, Ev]`, when given) and `LSE = m + ln l` to `lse` (`[B, L]`, when given;
/// −∞ for a fully masked row, whose output is 0).
#[inline(always)]
unsafe fn forward_tile<T: Real>(p: &Problem<T>, b: usize, it: usize, sc: &mut Scratch<T>, out: Option<SyncPtr<T>>, lse: Option<SyncPtr<T>>) {
    let i0 = it * BLOCK_Q;
    let br = BLOCK_Q.min(p.l - i0);
    let ev = p.ev;
    sc.m[..br].fill(T::NEG_INF);
    sc.l[..br].fill(T::ZERO);
    if out.is_some() {
        sc.acc[..br * ev].fill(T::ZERO);
    }
    // With is_causal no key past the tile's last query is attended.
    let s_end = if p.causal { p.s.min(i0 + br) } else { p.s };
    let mut j0 = 0;
    while j0 < s_end {
        let bc = BLOCK_K.min(s_end - j0);
        let s = &mut sc.s[..br * bc];
        p.scores(b, i0, br, j0, bc, s);
        for r in 0..br {
            let row = &mut s[r * bc..(r + 1) * bc];
            let m_old = sc.m[r];
            let m_new = fmax(m_old, row_max(row));
            if m_new == T::NEG_INF {
                row.fill(T::ZERO); // nothing attendable yet in this row
                continue;
            }
            for x in row.iter_mut() {
                *x = (*x - m_new).exp();
            }
            let alpha = (m_old - m_new).exp();
            sc.l[r] = sc.l[r] * alpha + row_sum(row);
            sc.m[r] = m_new;
            if out.is_some() && alpha != T::ONE {
                for o in &mut sc.acc[r * ev..(r + 1) * ev] {
                    *o *= alpha;
                }
            }
        }
        if out.is_some() {
            // acc += P̃_ij · V_j (line 12)
            let vp = p.v.as_ptr().add((b * p.s + j0) * ev);
            mm(br, ev, bc, sc.acc.as_mut_ptr(), ev, true, s.as_ptr(), bc, 1, vp, ev, 1, T::ONE);
        }
        j0 += bc;
    }
    let row0 = b * p.l + i0;
    for r in 0..br {
        let l = sc.l[r];
        if let Some(o) = out {
            let dst = std::slice::from_raw_parts_mut(o.0.add((row0 + r) * ev), ev);
            if l > T::ZERO {
                let inv = T::ONE / l;
                for (d, &a) in dst.iter_mut().zip(&sc.acc[r * ev..(r + 1) * ev]) {
                    *d = a * inv;
                }
            } else {
                dst.fill(T::ZERO);
            }
        }
        if let Some(lse) = lse {
            *lse.0.add(row0 + r) = if l > T::ZERO { sc.m[r] + l.ln() } else { T::NEG_INF };
        }
    }
}

#[inline(always)]
unsafe fn forward_chunk<T: Real>(p: &Problem<T>, start: usize, end: usize, out: Option<SyncPtr<T>>, lse: Option<SyncPtr<T>>) {
    let mut sc = Scratch::new(p.e, p.ev, false);
    let nq = p.q_tiles();
    for item in start..end {
        forward_tile(p, item / nq, item % nq, &mut sc, out, lse);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_chunk_avx2<T: Real>(p: &Problem<T>, start: usize, end: usize, out: Option<SyncPtr<T>>, lse: Option<SyncPtr<T>>) {
    forward_chunk(p, start, end, out, lse)
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Runs the forward (or the LSE-only pass when `out` is `None`) over (batch·heads × query
/// tiles) on the host pool.
fn run_forward_tiles<T: Real>(ctx: *const KernelCtx, p: &Problem<T>, out: Option<SyncPtr<T>>, lse: Option<SyncPtr<T>>) {
    let n = p.nb * p.q_tiles();
    let avx2 = has_avx2();
    parallel_for_ctx(ctx, n, 1, |start, end| unsafe {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            return forward_chunk_avx2(p, start, end, out, lse);
        }
        let _ = avx2;
        forward_chunk(p, start, end, out, lse)
    });
}

// ------------------------------------------------------------------------------------------
// Backward (Algorithm 2 / Appendix B.4)
// ------------------------------------------------------------------------------------------

/// What the backward tiles read besides the problem: `dO` (`[B, L, Ev]`), and per row the
/// recomputed `LSE` and `D = rowsum(dO ∘ O)` (`[B, L]`).
struct BwdData<'a, T> {
    d_o: &'a [T],
    lse: &'a [T],
    d: &'a [T],
}

/// One tile pair of Algorithm 2 (lines 11–20): recomputes `P_ij = exp(S_ij − LSE_i)`, then
/// `dV_j += P_ijᵀ·dO_i` and `dK_j += scale·dS_ijᵀ·Q_i` into the tile buffers `sc.dk`, `sc.dv`
/// (when `dkdv`), and `dQ_i += scale·dS_ij·K_j` into `dq` (`br×E`, row stride E, when given).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn backward_tile<T: Real>(
    p: &Problem<T>,
    g: &BwdData<T>,
    b: usize,
    i0: usize,
    br: usize,
    j0: usize,
    bc: usize,
    sc: &mut Scratch<T>,
    dq: Option<*mut T>,
    dkdv: bool,
) {
    let (e, ev) = (p.e, p.ev);
    let row0 = b * p.l + i0;
    let s = &mut sc.s[..br * bc];
    p.scores(b, i0, br, j0, bc, s);
    for r in 0..br {
        let row = &mut s[r * bc..(r + 1) * bc];
        let lse = g.lse[row0 + r];
        if lse == T::NEG_INF {
            row.fill(T::ZERO); // fully masked row: P = 0, zero gradient
        } else {
            for x in row.iter_mut() {
                *x = (*x - lse).exp();
            }
        }
    }
    let dop = g.d_o.as_ptr().add(row0 * ev);
    let vp = p.v.as_ptr().add((b * p.s + j0) * ev);
    let dp = &mut sc.dp[..br * bc];
    // dP = dO_i · V_jᵀ (line 14)
    mm(br, bc, ev, dp.as_mut_ptr(), bc, false, dop, ev, 1, vp, 1, ev, T::ONE);
    if dkdv {
        // dV_j += P_ijᵀ · dO_i (line 13)
        mm(bc, ev, br, sc.dv.as_mut_ptr(), ev, true, s.as_ptr(), 1, bc, dop, ev, 1, T::ONE);
    }
    // dS = P ∘ (dP − D_i) (line 16); the scale is folded into the products below.
    for r in 0..br {
        let d = g.d[row0 + r];
        for (x, &pp) in dp[r * bc..(r + 1) * bc].iter_mut().zip(&s[r * bc..(r + 1) * bc]) {
            *x = pp * (*x - d);
        }
    }
    if let Some(dq) = dq {
        // dQ_i += scale · dS · K_j (line 17)
        let kp = p.k.as_ptr().add((b * p.s + j0) * e);
        mm(br, e, bc, dq, e, true, dp.as_ptr(), bc, 1, kp, e, 1, p.scale);
    }
    if dkdv {
        // dK_j += scale · dSᵀ · Q_i (line 19)
        let qp = p.q.as_ptr().add(row0 * e);
        mm(bc, e, br, sc.dk.as_mut_ptr(), e, true, dp.as_ptr(), 1, bc, qp, e, 1, p.scale);
    }
}

/// Where the backward writes: `[B, L, E]`, `[B, S, E]`, `[B, S, Ev]` buffers (absent when that
/// gradient is not wanted).
#[derive(Clone, Copy)]
struct GradPtrs<T> {
    dq: Option<SyncPtr<T>>,
    dk: Option<SyncPtr<T>>,
    dv: Option<SyncPtr<T>>,
}

/// How the backward is parallelised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackwardMode {
    /// One task per batch·head runs Algorithm 2 (outer key tiles, inner query tiles).
    PerHead,
    /// A pass over (heads × key tiles) for dK, dV, then one over (heads × query tiles) for dQ.
    Split,
}

/// The mode used for `nb` batch·heads on `threads` threads: per head when the heads keep every
/// thread busy, split otherwise.
pub fn backward_mode(nb: usize, threads: usize) -> BackwardMode {
    let t = threads.max(1);
    if t == 1 || nb >= 4 * t || (nb >= t && nb % t == 0) {
        BackwardMode::PerHead
    } else {
        BackwardMode::Split
    }
}

/// Key tile `jt` of plane `b`: `dK_j`, `dV_j` accumulated over all query tiles, then written;
/// with `dq`, also `dQ_i += …` straight into the plane's rows (per-head mode).
#[inline(always)]
unsafe fn backward_key_tile<T: Real>(p: &Problem<T>, g: &BwdData<T>, b: usize, jt: usize, sc: &mut Scratch<T>, out: GradPtrs<T>, with_dq: bool) {
    let (e, ev) = (p.e, p.ev);
    let j0 = jt * BLOCK_K;
    let bc = BLOCK_K.min(p.s - j0);
    let dkdv = out.dk.is_some() || out.dv.is_some();
    sc.dk[..bc * e].fill(T::ZERO);
    sc.dv[..bc * ev].fill(T::ZERO);
    for it in 0..p.q_tiles() {
        let i0 = it * BLOCK_Q;
        let br = BLOCK_Q.min(p.l - i0);
        if p.causal_skip(i0, br, j0) {
            continue;
        }
        let dq = if with_dq { out.dq.map(|d| d.0.add((b * p.l + i0) * e)) } else { None };
        backward_tile(p, g, b, i0, br, j0, bc, sc, dq, dkdv);
    }
    let row = b * p.s + j0;
    if let Some(dk) = out.dk {
        std::slice::from_raw_parts_mut(dk.0.add(row * e), bc * e).copy_from_slice(&sc.dk[..bc * e]);
    }
    if let Some(dv) = out.dv {
        std::slice::from_raw_parts_mut(dv.0.add(row * ev), bc * ev).copy_from_slice(&sc.dv[..bc * ev]);
    }
}

#[inline(always)]
unsafe fn backward_chunk<T: Real>(p: &Problem<T>, g: &BwdData<T>, start: usize, end: usize, out: GradPtrs<T>, mode: BackwardMode, pass: u8) {
    let mut sc = Scratch::new(p.e, p.ev, true);
    let e = p.e;
    for item in start..end {
        match (mode, pass) {
            (BackwardMode::PerHead, _) => {
                let b = item;
                if let Some(dq) = out.dq {
                    std::slice::from_raw_parts_mut(dq.0.add(b * p.l * e), p.l * e).fill(T::ZERO);
                }
                for jt in 0..p.k_tiles() {
                    backward_key_tile(p, g, b, jt, &mut sc, out, true);
                }
            }
            (BackwardMode::Split, 0) => {
                let (b, jt) = (item / p.k_tiles(), item % p.k_tiles());
                backward_key_tile(p, g, b, jt, &mut sc, out, false);
            }
            (BackwardMode::Split, _) => {
                let (b, it) = (item / p.q_tiles(), item % p.q_tiles());
                let i0 = it * BLOCK_Q;
                let br = BLOCK_Q.min(p.l - i0);
                let Some(dq) = out.dq else { continue };
                let dq = dq.0.add((b * p.l + i0) * e);
                std::slice::from_raw_parts_mut(dq, br * e).fill(T::ZERO);
                let mut j0 = 0;
                while j0 < p.s {
                    let bc = BLOCK_K.min(p.s - j0);
                    if !p.causal_skip(i0, br, j0) {
                        backward_tile(p, g, b, i0, br, j0, bc, &mut sc, Some(dq), false);
                    }
                    j0 += bc;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_chunk_avx2<T: Real>(p: &Problem<T>, g: &BwdData<T>, start: usize, end: usize, out: GradPtrs<T>, mode: BackwardMode, pass: u8) {
    backward_chunk(p, g, start, end, out, mode, pass)
}

fn run_backward_tiles<T: Real>(ctx: *const KernelCtx, p: &Problem<T>, g: &BwdData<T>, out: GradPtrs<T>, mode: BackwardMode) {
    let avx2 = has_avx2();
    let body = |pass: u8| {
        move |start: usize, end: usize| unsafe {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                return backward_chunk_avx2(p, g, start, end, out, mode, pass);
            }
            let _ = avx2;
            backward_chunk(p, g, start, end, out, mode, pass)
        }
    };
    match mode {
        BackwardMode::PerHead => parallel_for_ctx(ctx, p.nb, 1, body(0)),
        BackwardMode::Split => {
            if out.dk.is_some() || out.dv.is_some() {
                parallel_for_ctx(ctx, p.nb * p.k_tiles(), 1, body(0));
            }
            if out.dq.is_some() {
                parallel_for_ctx(ctx, p.nb * p.q_tiles(), 1, body(1));
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// ABI glue
// ------------------------------------------------------------------------------------------

/// An output buffer: the output's own memory when it already has the compute type, otherwise
/// a staging buffer written back (rounded once) at the end.
enum OutBuf<'a, T> {
    Direct(&'a mut [T]),
    Staged(Vec<T>),
}

impl<T: Real> OutBuf<'_, T> {
    unsafe fn new(v: &TensorView) -> Self {
        if v.dtype == T::NATIVE && v.is_contiguous() {
            OutBuf::Direct(std::slice::from_raw_parts_mut(v.ptr() as *mut T, v.numel()))
        } else {
            OutBuf::Staged(vec![T::ZERO; v.numel()])
        }
    }
    fn ptr(&mut self) -> SyncPtr<T> {
        match self {
            OutBuf::Direct(s) => SyncPtr(s.as_mut_ptr()),
            OutBuf::Staged(v) => SyncPtr(v.as_mut_ptr()),
        }
    }
    unsafe fn finish(self, v: &TensorView) {
        if let OutBuf::Staged(buf) = self {
            T::write(v, &buf);
        }
    }
}

/// Validated call arguments: geometry, `is_causal`, scale (NaN → 1/√E) and the mask view.
struct Call {
    g: SdpaGeom,
    causal: bool,
    scale: f64,
}

unsafe fn parse(ins: &[TensorView], attrs: &Attrs) -> Result<Call, String> {
    if ins.len() < 3 || ins[..3].iter().any(|v| !v.is_present()) {
        return Err(format!("{OP}: query, key and value are required"));
    }
    let (q, k, v) = (&ins[0], &ins[1], &ins[2]);
    if k.dtype != q.dtype || v.dtype != q.dtype {
        return Err(format!(
            "{OP}: key ({}) and value ({}) must have the query's dtype {}",
            k.dtype.name(),
            v.dtype.name(),
            q.dtype.name()
        ));
    }
    let m = ins.get(3).filter(|m| m.is_present());
    if let Some(m) = m {
        if !m.dtype.is_float() && m.dtype != DType::BOOL && m.dtype != DType::U8 {
            return Err(format!("{OP}: attn_mask must be bool or floating, got {}", m.dtype.name()));
        }
    }
    let ms = m.map(shape);
    let g = sdpa_geom(&shape(q), &shape(k), &shape(v), ms.as_deref())?;
    let causal = bool_or(attrs, 0, false)?;
    let scale = float_or(attrs, 1, f64::NAN)?;
    let scale = if scale.is_nan() { 1.0 / (g.e as f64).sqrt() } else { scale };
    Ok(Call { g, causal, scale })
}

unsafe fn problem<'a, T: Real>(call: &Call, q: &'a [T], k: &'a [T], v: &'a [T], mask: Option<&TensorView>) -> Problem<'a, T> {
    let g = &call.g;
    Problem {
        q,
        k,
        v,
        nb: g.batch_numel(),
        l: g.l,
        s: g.s,
        e: g.e,
        ev: g.ev,
        scale: T::from_f64(call.scale),
        causal: call.causal,
        mask: mask.map(|m| MaskView::new(m, g)),
    }
}

/// Forward in compute type `T`.
unsafe fn forward_typed<T: Real>(ctx: *const KernelCtx, ins: &[TensorView], outs: &[TensorView], attrs: &Attrs) -> Result<(), String> {
    let call = parse(ins, attrs)?;
    let out = outs.first().filter(|o| o.is_present()).ok_or_else(|| format!("{OP}: missing output"))?;
    let g = &call.g;
    if out.numel() != g.batch_numel() * g.l * g.ev {
        return Err(format!("{OP}: output has {} elements, expected {}", out.numel(), g.batch_numel() * g.l * g.ev));
    }
    let (q, k, v) = (T::read(&ins[0]), T::read(&ins[1]), T::read(&ins[2]));
    let p = problem(&call, &q, &k, &v, ins.get(3).filter(|m| m.is_present()));
    let mut o = OutBuf::<T>::new(out);
    run_forward_tiles(ctx, &p, Some(o.ptr()), None);
    o.finish(out);
    Ok(())
}

/// Backward in compute type `T`; inputs `[dO, query, key, value, attn_mask, out]`, outputs
/// `[dQ, dK, dV, (d attn_mask: never)]`.
unsafe fn backward_typed<T: Real>(ctx: *const KernelCtx, ins: &[TensorView], outs: &[TensorView], attrs: &Attrs, mode: Option<BackwardMode>) -> Result<(), String> {
    if ins.len() < 6 {
        return Err(format!("{OP} backward: expected 6 inputs (grad, query, key, value, attn_mask, out), got {}", ins.len()));
    }
    let fwd = &ins[1..5];
    let call = parse(fwd, attrs)?;
    let g = &call.g;
    let nb = g.batch_numel();
    let want = |i: usize| outs.get(i).filter(|o| o.is_present());
    let (wq, wk, wv) = (want(0), want(1), want(2));
    if wq.is_none() && wk.is_none() && wv.is_none() {
        return Ok(());
    }
    let (gv, ov) = (&ins[0], &ins[5]);
    if !gv.is_present() || !ov.is_present() || gv.numel() != nb * g.l * g.ev || ov.numel() != nb * g.l * g.ev {
        return Err(format!("{OP} backward: grad and out must have shape [..., {}, {}]", g.l, g.ev));
    }
    for (w, n, name) in [(wq, nb * g.l * g.e, "query"), (wk, nb * g.s * g.e, "key"), (wv, nb * g.s * g.ev, "value")] {
        if let Some(w) = w {
            if w.numel() != n {
                return Err(format!("{OP} backward: gradient of {name} has {} elements, expected {n}", w.numel()));
            }
        }
    }
    let (q, k, v) = (T::read(&fwd[0]), T::read(&fwd[1]), T::read(&fwd[2]));
    let (d_o, o) = (T::read(gv), T::read(ov));
    let p = problem(&call, &q, &k, &v, fwd.get(3).filter(|m| m.is_present()));
    // LSE recomputed with one tiled pass of the forward's online softmax (no P·V); see the
    // module docs.
    let mut lse = vec![T::ZERO; nb * g.l];
    run_forward_tiles(ctx, &p, None, Some(SyncPtr(lse.as_mut_ptr())));
    // D_i = rowsum(dO_i ∘ O_i) (Appendix B.4).
    let d: Vec<T> = (0..nb * g.l).map(|r| dot(&d_o[r * g.ev..(r + 1) * g.ev], &o[r * g.ev..(r + 1) * g.ev])).collect();
    let mut bq = wq.map(|w| OutBuf::<T>::new(w));
    let mut bk = wk.map(|w| OutBuf::<T>::new(w));
    let mut bv = wv.map(|w| OutBuf::<T>::new(w));
    let ptrs = GradPtrs { dq: bq.as_mut().map(|b| b.ptr()), dk: bk.as_mut().map(|b| b.ptr()), dv: bv.as_mut().map(|b| b.ptr()) };
    let mode = mode.unwrap_or_else(|| backward_mode(nb, num_threads(ctx)));
    let data = BwdData { d_o: &d_o, lse: &lse, d: &d };
    run_backward_tiles(ctx, &p, &data, ptrs, mode);
    for (b, w) in [(bq, wq), (bk, wk), (bv, wv)] {
        if let (Some(b), Some(w)) = (b, w) {
            b.finish(w);
        }
    }
    Ok(())
}

/// Threads of the host pool (1 without a host).
fn num_threads(ctx: *const KernelCtx) -> usize {
    // SAFETY: ctx and its host table are valid during the call (or null).
    unsafe { ctx.as_ref().and_then(|c| c.host.as_ref()).map_or(1, |h| (h.num_threads)()) }.max(1)
}

/// Forward kernel of `ferrite::scaled_dot_product_attention` for every dtype of
/// [`CPU_FLOATS`]: inputs `(query [..., L, E], key [..., S, E], value [..., S, Ev],
/// attn_mask? broadcastable to [..., L, S])` (any strides), attrs `(is_causal, scale)`, output
/// `[..., L, Ev]` (contiguous, the query's dtype). f64 computes in f64, f32/f16/bf16 in f32.
/// Errors (`BAD_ARGS`): shapes (as [`sdpa_shape`]), key/value dtype unlike the query's, mask
/// neither bool nor float. Source: Dao et al. 2022, Algorithm 1.
///
/// # Safety
/// The [`ferrite_sdk::abi::kernel::KernelFn`] contract.
pub unsafe extern "C" fn forward(
    ctx: *const KernelCtx,
    i: *const TensorView,
    ni: usize,
    o: *const TensorView,
    no: usize,
    a: *const AttrValue,
    na: usize,
) -> i32 {
    guarded(ctx, || {
        let (ins, outs) = (views(i, ni), views(o, no));
        let attrs = Attrs::from_raw(a, na);
        match ins.first().map(|q| q.dtype) {
            Some(DType::F64) => forward_typed::<f64>(ctx, ins, outs, &attrs),
            Some(DType::F32 | DType::F16 | DType::BF16) => forward_typed::<f32>(ctx, ins, outs, &attrs),
            Some(dt) => Err(format!("{OP}: unsupported dtype {}", dt.name())),
            None => Err(format!("{OP}: query is required")),
        }
    })
}

/// Backward kernel: inputs `(dO [..., L, Ev], query, key, value, attn_mask?, out)`, outputs
/// `(dQ, dK, dV, d attn_mask)` (each absent when not wanted; the mask never gets one). Recomputes
/// the row log-sum-exp with one tiled pass, then runs Dao et al. 2022, Algorithm 2 (per head, or
/// split into a dK/dV pass and a dQ pass when there are fewer heads than threads). Fully masked
/// rows get zero gradient. Errors as [`forward`], plus grad/out/gradient shapes.
///
/// # Safety
/// The [`ferrite_sdk::abi::kernel::KernelFn`] contract.
pub unsafe extern "C" fn backward(
    ctx: *const KernelCtx,
    i: *const TensorView,
    ni: usize,
    o: *const TensorView,
    no: usize,
    a: *const AttrValue,
    na: usize,
) -> i32 {
    guarded(ctx, || backward_dispatch(ctx, views(i, ni), views(o, no), &Attrs::from_raw(a, na), None))
}

/// [`backward`] with the parallel mode forced (`None` = chosen from the head and thread counts).
///
/// # Safety
/// As [`backward`], with the views already sliced.
pub unsafe fn backward_with_mode(ctx: *const KernelCtx, ins: &[TensorView], outs: &[TensorView], attrs: &Attrs, mode: Option<BackwardMode>) -> i32 {
    guarded(ctx, || backward_dispatch(ctx, ins, outs, attrs, mode))
}

unsafe fn backward_dispatch(ctx: *const KernelCtx, ins: &[TensorView], outs: &[TensorView], attrs: &Attrs, mode: Option<BackwardMode>) -> Result<(), String> {
    match ins.get(1).map(|q| q.dtype) {
        Some(DType::F64) => backward_typed::<f64>(ctx, ins, outs, attrs, mode),
        Some(DType::F32 | DType::F16 | DType::BF16) => backward_typed::<f32>(ctx, ins, outs, attrs, mode),
        Some(dt) => Err(format!("{OP}: unsupported dtype {}", dt.name())),
        None => Err(format!("{OP} backward: query is required")),
    }
}

/// Shape function: the sdk's [`sdpa_shape`] (shared with ops-ref).
///
/// # Safety
/// The [`ferrite_sdk::abi::kernel::ShapeFn`] contract.
pub unsafe extern "C" fn shape_fn(
    ctx: *const KernelCtx,
    i: *const TensorView,
    ni: usize,
    a: *const AttrValue,
    na: usize,
    o: *mut TensorMeta,
    no: usize,
) -> i32 {
    run_shape(ctx, i, ni, a, na, o, no, sdpa_shape)
}

const fn entry(dtype: DType) -> KernelEntry {
    KernelEntry { device_type: device_type::CPU, dtype, forward, has_backward: true, backward }
}

/// The op descriptor: exactly ops-ref's schema of `ferrite::scaled_dot_product_attention`
/// (inputs `query, key, value, attn_mask?` (no grad), attrs `is_causal: bool = false`,
/// `scale: float = NaN` (→ 1/√E), one output), with FlashAttention kernels for f32, f64, f16,
/// bf16 on the CPU.
#[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::OPS)]
#[linkme(crate = ferrite_sdk::linkme)]
pub static SDPA_DESC: OpDesc = OpDesc {
    name: RStr::from_str("ferrite::scaled_dot_product_attention"),
    api_names: RSlice::from_slice(&[
        RStr::from_str("nn.functional.scaled_dot_product_attention"),
        RStr::from_str("scaled_dot_product_attention"),
    ]),
    aliases: RSlice::from_slice(&[RStr::from_str("aten::scaled_dot_product_attention")]),
    deprecated: RSlice::from_slice(&[]),
    version: 1,
    doc: RStr::from_str(
        "softmax(Q K^T * scale + mask) V with bool (true = attend) or additive float mask, is_causal (top-left); fully masked rows give 0. FlashAttention (Dao et al. 2022).",
    ),
    inputs: RSlice::from_slice(&[
        ArgDesc::tensor("query"),
        ArgDesc::tensor("key"),
        ArgDesc::tensor("value"),
        ArgDesc::tensor_nograd("attn_mask").optional(),
    ]),
    outputs: RSlice::from_slice(&[ArgDesc::tensor("out")]),
    attrs: RSlice::from_slice(&[AttrDesc::bool("is_causal", false), AttrDesc::float("scale", f64::NAN)]),
    dispatch_input: 0,
    shape_fn,
    kernels: RSlice::from_slice(&[entry(CPU_FLOATS[0]), entry(CPU_FLOATS[1]), entry(CPU_FLOATS[2]), entry(CPU_FLOATS[3])]),
};

#[cfg(test)]
#[path = "flash_attention_tests.rs"]
mod tests;
