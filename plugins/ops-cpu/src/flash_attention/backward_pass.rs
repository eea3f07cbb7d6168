//! Backward = Algorithm 2 / Appendix B.4 of Dao et al. 2022, with the row log-sum-exp recomputed
//! by one tiled LSE pass of the forward, per head or split into dK/dV and dQ passes.

use super::call::{parse, problem, OutBuf};
use super::forward_pass::run_forward_tiles;
use super::geometry::{Problem, Scratch, SyncPtr};
use super::tile_math::{dot, has_avx2, mm, Real};
use super::{BLOCK_K, BLOCK_Q, OP};
use ferrite_sdk::abi::kernel::KernelCtx;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::parallel::parallel_for_ctx;
use ferrite_sdk::kernel::Attrs;

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

/// Backward in compute type `T`; inputs `[dO, query, key, value, attn_mask, out]`, outputs
/// `[dQ, dK, dV, (d attn_mask: never)]`.
pub(super) unsafe fn backward_typed<T: Real>(ctx: *const KernelCtx, ins: &[TensorView], outs: &[TensorView], attrs: &Attrs, mode: Option<BackwardMode>) -> Result<(), String> {
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
