//! im2col / col2im for 2-D convolution (NCHW, zero padding, stride, dilation), with the valid
//! output range of every kernel offset precomputed so the inner loops have no bounds tests.

use crate::gemm::Scalar;
use ferrite_sdk::shape::conv::Conv2dGeom;

/// Geometry of a conv2d call with derived sizes and per-kernel-offset valid output ranges.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The validated call geometry.
    pub g: Conv2dGeom,
    /// Input channels per group.
    pub cg: usize,
    /// Output channels per group.
    pub og: usize,
    /// Rows of a column matrix: `cg · kH · kW`.
    pub rows: usize,
    /// Output positions per image: `H' · W'`.
    pub p: usize,
    /// Input positions per channel: `H · W`.
    pub hw: usize,
    /// 1×1 kernel, stride 1, no padding: the input planes already are the column matrix.
    pub direct: bool,
    /// For each `ky`, the output rows `[lo, hi)` whose input row is inside the image.
    pub yr: Vec<(usize, usize)>,
    /// For each `kx`, the output columns `[lo, hi)` whose input column is inside the image.
    pub xr: Vec<(usize, usize)>,
}

/// Output indices `o < out` with `0 <= o·s + k·d - p < size`, as `[lo, hi)`.
fn valid_range(out: usize, size: usize, s: usize, kd: usize, p: usize) -> (usize, usize) {
    let lo = p.saturating_sub(kd).div_ceil(s).min(out);
    let hi = if size + p > kd { ((size + p - kd - 1) / s + 1).min(out) } else { 0 };
    (lo, hi.max(lo))
}

impl Plan {
    /// Derives the plan of a validated geometry.
    pub fn new(g: Conv2dGeom) -> Plan {
        let (cg, og) = (g.c / g.groups, g.o / g.groups);
        let yr = (0..g.k[0]).map(|ky| valid_range(g.out[0], g.h, g.stride[0], ky * g.dilation[0], g.padding[0])).collect();
        let xr = (0..g.k[1]).map(|kx| valid_range(g.out[1], g.w, g.stride[1], kx * g.dilation[1], g.padding[1])).collect();
        let direct = g.k == [1, 1] && g.stride == [1, 1] && g.padding == [0, 0];
        Plan { cg, og, rows: cg * g.k[0] * g.k[1], p: g.out[0] * g.out[1], hw: g.h * g.w, direct, yr, xr, g }
    }

    /// Calls `f(row, column offset from q0, ox0, ox1, src)` for every segment (one output row's
    /// columns `[ox0, ox1)`) of the column matrix of output positions `[q0, q1)`: `src` says where
    /// the segment reads the image — `Some((offset of the input row, kx))`, valid only for `ox` in `xr[kx]` — and `None` when
    /// the whole segment lies in the vertical padding.
    fn segments(&self, q0: usize, q1: usize, mut f: impl FnMut(usize, usize, usize, usize, Option<(usize, usize)>)) {
        let g = &self.g;
        let ow = g.out[1];
        for ci in 0..self.cg {
            for ky in 0..g.k[0] {
                let (ylo, yhi) = self.yr[ky];
                for kx in 0..g.k[1] {
                    let r = (ci * g.k[0] + ky) * g.k[1] + kx;
                    let mut q = q0;
                    while q < q1 {
                        let (oy, ox0) = (q / ow, q % ow);
                        let ox1 = ow.min(ox0 + (q1 - q));
                        let src = (oy >= ylo && oy < yhi).then(|| {
                            let iy = oy * g.stride[0] + ky * g.dilation[0] - g.padding[0];
                            (ci * self.hw + iy * g.w, kx)
                        });
                        f(r, q - q0, ox0, ox1, src);
                        q += ox1 - ox0;
                    }
                }
            }
        }
    }
}

/// Fills `col` (`rows × (q1 - q0)`, row-major) with the input patches of output positions
/// `[q0, q1)` of one image and group; `x` holds that group's `cg` input planes.
pub fn im2col<T: Scalar>(pl: &Plan, x: &[T], q0: usize, q1: usize, col: &mut [T]) {
    let cols = q1 - q0;
    let (s, p) = (pl.g.stride[1], pl.g.padding[1]);
    pl.segments(q0, q1, |r, at, ox0, ox1, src| {
        let seg = &mut col[r * cols + at..r * cols + at + (ox1 - ox0)];
        let Some((row, kx)) = src else {
            seg.fill(T::ZERO);
            return;
        };
        let kd = kx * pl.g.dilation[1];
        let (lo, hi) = pl.xr[kx];
        let (lo, hi) = (lo.clamp(ox0, ox1), hi.clamp(ox0, ox1).max(lo.clamp(ox0, ox1)));
        seg[..lo - ox0].fill(T::ZERO);
        seg[hi - ox0..].fill(T::ZERO);
        if lo < hi {
            let ix0 = row + lo * s + kd - p;
            let mid = &mut seg[lo - ox0..hi - ox0];
            if s == 1 {
                mid.copy_from_slice(&x[ix0..ix0 + (hi - lo)]);
            } else {
                for (j, v) in mid.iter_mut().enumerate() {
                    *v = x[ix0 + j * s];
                }
            }
        }
    });
}

/// Adds the column-matrix gradient `dcol` (`nch·kH·kW` rows × all `H'·W'` positions) back onto
/// the `nch` input planes `dx` (the adjoint of [`im2col`]).
pub fn col2im<T: Scalar>(pl: &Plan, dcol: &[T], nch: usize, dx: &mut [T]) {
    let sub = Plan { cg: nch, ..pl.clone() };
    let p = pl.p;
    let (s, pad) = (pl.g.stride[1], pl.g.padding[1]);
    sub.segments(0, p, |r, at, ox0, ox1, src| {
        let Some((row, kx)) = src else { return };
        let kd = kx * pl.g.dilation[1];
        let (lo, hi) = pl.xr[kx];
        let (lo, hi) = (lo.max(ox0), hi.min(ox1));
        if lo >= hi {
            return;
        }
        let seg = &dcol[r * p + at + (lo - ox0)..r * p + at + (hi - ox0)];
        let ix0 = row + lo * s + kd - pad;
        if s == 1 {
            for (d, &v) in dx[ix0..ix0 + (hi - lo)].iter_mut().zip(seg) {
                *d += v;
            }
        } else {
            for (j, &v) in seg.iter().enumerate() {
                dx[ix0 + j * s] += v;
            }
        }
    });
}
