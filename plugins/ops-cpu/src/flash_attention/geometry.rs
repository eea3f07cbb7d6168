//! Problem geometry of the FlashAttention kernels: the shared output pointer, the in-place
//! broadcast mask view, the per-call [`Problem`] (tile counts, causal skipping, score tiles) and
//! the per-task tile buffers.

use super::tile_math::{mm, Real};
use super::{BLOCK_K, BLOCK_Q};
use crate::common::shape;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::io::load_f64;
use ferrite_sdk::shape::attention::SdpaGeom;
use ferrite_sdk::DType;

/// A raw pointer that may be shared by the tasks of one parallel loop (each task touches a
/// disjoint region).
#[derive(Clone, Copy)]
pub(super) struct SyncPtr<T>(pub(super) *mut T);
// SAFETY: tasks write disjoint regions; the loop joins before the buffer is read.
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

/// The attention mask read in place through broadcast strides (never copied: a full
/// `[B, L, S]` mask would otherwise cost `O(L·S)` extra memory).
pub(super) struct MaskView {
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
    pub(super) unsafe fn new(m: &TensorView, g: &SdpaGeom) -> MaskView {
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
pub(super) struct Problem<'a, T> {
    pub(super) q: &'a [T],
    pub(super) k: &'a [T],
    pub(super) v: &'a [T],
    pub(super) nb: usize,
    pub(super) l: usize,
    pub(super) s: usize,
    pub(super) e: usize,
    pub(super) ev: usize,
    pub(super) scale: T,
    pub(super) causal: bool,
    pub(super) mask: Option<MaskView>,
}

impl<T: Real> Problem<'_, T> {
    pub(super) fn q_tiles(&self) -> usize {
        self.l.div_ceil(BLOCK_Q)
    }
    pub(super) fn k_tiles(&self) -> usize {
        self.s.div_ceil(BLOCK_K)
    }
    /// Whether every entry of tile (query rows from `i0`, keys from `j0`) is removed by
    /// `is_causal` (key `j > i` for every query `i` of the tile).
    pub(super) fn causal_skip(&self, i0: usize, br: usize, j0: usize) -> bool {
        self.causal && j0 > i0 + br - 1
    }
    /// Score tile `s = scale·Q[b, i0..i0+br]·K[b, j0..j0+bc]ᵀ + mask`, −∞ where masked
    /// (Algorithm 1 line 9; row stride `bc`).
    #[inline(always)]
    pub(super) unsafe fn scores(&self, b: usize, i0: usize, br: usize, j0: usize, bc: usize, s: &mut [T]) {
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
pub(super) struct Scratch<T> {
    pub(super) s: Vec<T>,
    pub(super) dp: Vec<T>,
    pub(super) acc: Vec<T>,
    pub(super) m: Vec<T>,
    pub(super) l: Vec<T>,
    pub(super) dk: Vec<T>,
    pub(super) dv: Vec<T>,
}

impl<T: Real> Scratch<T> {
    pub(super) fn new(e: usize, ev: usize, backward: bool) -> Scratch<T> {
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
