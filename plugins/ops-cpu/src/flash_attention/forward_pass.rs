//! Forward = Algorithm 1 of Dao et al. 2022 (online softmax over key tiles), also run as the
//! LSE-only pass of the backward, and the typed forward entry.

use super::call::{parse, problem, OutBuf};
use super::geometry::{Problem, Scratch, SyncPtr};
use super::tile_math::{fmax, has_avx2, mm, row_max, row_sum, Real};
use super::{BLOCK_K, BLOCK_Q, OP};
use ferrite_sdk::abi::kernel::KernelCtx;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::parallel::parallel_for_ctx;
use ferrite_sdk::kernel::Attrs;

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

/// Runs the forward (or the LSE-only pass when `out` is `None`) over (batch·heads × query
/// tiles) on the host pool.
pub(super) fn run_forward_tiles<T: Real>(ctx: *const KernelCtx, p: &Problem<T>, out: Option<SyncPtr<T>>, lse: Option<SyncPtr<T>>) {
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

/// Forward in compute type `T`.
pub(super) unsafe fn forward_typed<T: Real>(ctx: *const KernelCtx, ins: &[TensorView], outs: &[TensorView], attrs: &Attrs) -> Result<(), String> {
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
