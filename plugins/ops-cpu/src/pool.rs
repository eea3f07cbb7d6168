//! Fixed-window 2-D pooling (`max_pool2d` with per-plane i64 indices, `avg_pool2d`), one `H×W`
//! plane per work item on the host's thread pool; backwards scatter into each plane's own
//! gradient (planes are disjoint, so no atomics).

use crate::register::Call;
use crate::typed::{bwd_views, load_i64, par_chunks, store_i64, with_out, Float};
use crate::{cpu_op, with_float};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::io::dims;
use ferrite_sdk::shape::bool_or;
use ferrite_sdk::shape::pool::{avg_pool2d_shape, avg_pool_geom, max_pool2d_shape, max_pool_geom, PoolGeom};

/// Max of every window of one plane: values and flat in-plane index (-1 for a window that
/// covers only padding). First maximum in window order wins; NaN propagates.
fn max_plane<T: Float>(x: &[T], g: &PoolGeom, vals: &mut [T], idx: &mut [i64]) {
    for oy in 0..g.out[0] {
        for ox in 0..g.out[1] {
            let (mut best, mut bi) = (T::NEG_INF, -1i64);
            for ky in 0..g.k[0] {
                let iy = (oy * g.s[0] + ky * g.d[0]) as isize - g.p[0] as isize;
                if iy < 0 || iy >= g.h as isize {
                    continue;
                }
                let row = &x[iy as usize * g.w..(iy as usize + 1) * g.w];
                for kx in 0..g.k[1] {
                    let ix = (ox * g.s[1] + kx * g.d[1]) as isize - g.p[1] as isize;
                    if ix < 0 || ix >= g.w as isize {
                        continue;
                    }
                    let v = row[ix as usize];
                    if bi < 0 || v > best || (v.is_nan() && !best.is_nan()) {
                        best = v;
                        bi = (iy as usize * g.w + ix as usize) as i64;
                    }
                }
            }
            vals[oy * g.out[1] + ox] = best;
            idx[oy * g.out[1] + ox] = bi;
        }
    }
}

/// Forward kernel of `max_pool2d`: `(values, indices)`.
pub fn max_pool2d_forward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let xv = c.input(0)?;
    let (yv, iv) = (c.output(0).ok_or("missing output")?, c.output(1).ok_or("missing indices output")?);
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let g = max_pool_geom(&dims(xv), &c.attrs)?;
        let x = T::load(xv);
        let (plane, per) = (g.h * g.w, g.out[0] * g.out[1]);
        let mut pairs = vec![(T::ZERO, 0i64); g.planes * per];
        par_chunks(ctx, &mut pairs, per, per * g.k[0] * g.k[1], |p0, chunk| {
            let (mut v, mut i) = (vec![T::ZERO; per], vec![0i64; per]);
            for (k, o) in chunk.chunks_mut(per).enumerate() {
                max_plane(&x[(p0 + k) * plane..(p0 + k + 1) * plane], &g, &mut v, &mut i);
                o.iter_mut().zip(v.iter().zip(&i)).for_each(|(o, (&v, &i))| *o = (v, i));
            }
        });
        let vals: Vec<T> = pairs.iter().map(|p| p.0).collect();
        let idx: Vec<i64> = pairs.iter().map(|p| p.1).collect();
        crate::typed::store(yv, &vals)?;
        store_i64(iv, &idx)
    }
}

/// Backward kernel of `max_pool2d`: each output gradient added to its argmax (saved indices),
/// accumulating where windows overlap.
pub fn max_pool2d_backward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let b = bwd_views(c, 2)?;
    let Some(dxv) = b.dins[0] else { return Ok(()) };
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let g = max_pool_geom(&dims(&b.inputs[0]), &c.attrs)?;
        let (plane, per) = (g.h * g.w, g.out[0] * g.out[1]);
        let gr = T::load(&b.grads[0]);
        let idx = load_i64(&b.outputs[1]);
        if gr.len() != g.planes * per || idx.len() != gr.len() {
            return Err("max_pool2d backward: gradient or indices have the wrong size".into());
        }
        if idx.iter().any(|&i| i >= plane as i64) {
            return Err("max_pool2d backward: index out of range".into());
        }
        with_out::<T>(dxv, |dx| {
            if plane == 0 {
                return Ok(());
            }
            par_chunks(ctx, dx, plane, plane + per, |p0, chunk| {
                chunk.iter_mut().for_each(|v| *v = T::ZERO);
                for (k, d) in chunk.chunks_mut(plane).enumerate() {
                    let o = (p0 + k) * per;
                    for (&i, &gv) in idx[o..o + per].iter().zip(&gr[o..o + per]) {
                        if i >= 0 {
                            d[i as usize] += gv;
                        }
                    }
                }
            });
            Ok(())
        })
    }
}

/// Calls `f(out_index, y0, y1, x0, x1, divisor)` per window of an average pool plane.
fn avg_windows(g: &PoolGeom, cip: bool, mut f: impl FnMut(usize, usize, usize, usize, usize, f64)) {
    for oy in 0..g.out[0] {
        for ox in 0..g.out[1] {
            let hs = (oy * g.s[0]) as i64 - g.p[0] as i64;
            let ws = (ox * g.s[1]) as i64 - g.p[1] as i64;
            let he = (hs + g.k[0] as i64).min((g.h + g.p[0]) as i64);
            let we = (ws + g.k[1] as i64).min((g.w + g.p[1]) as i64);
            let pool_size = ((he - hs) * (we - ws)) as f64;
            let (hs, ws, he, we) = (hs.max(0), ws.max(0), he.min(g.h as i64), we.min(g.w as i64));
            let cells = ((he - hs).max(0) * (we - ws).max(0)) as f64;
            let div = if cip { pool_size } else { cells };
            f(oy * g.out[1] + ox, hs as usize, he.max(hs) as usize, ws as usize, we.max(ws) as usize, div);
        }
    }
}

/// Forward kernel of `avg_pool2d`.
pub fn avg_pool2d_forward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let xv = c.input(0)?;
    let yv = c.output(0).ok_or("missing output")?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let g = avg_pool_geom(&dims(xv), &c.attrs)?;
        let cip = bool_or(&c.attrs, 4, true)?;
        let x = T::load(xv);
        let (plane, per) = (g.h * g.w, g.out[0] * g.out[1]);
        with_out::<T>(yv, |y| {
            par_chunks(ctx, y, per, per * g.k[0] * g.k[1], |p0, chunk| {
                for (k, o) in chunk.chunks_mut(per).enumerate() {
                    let xp = &x[(p0 + k) * plane..(p0 + k + 1) * plane];
                    avg_windows(&g, cip, |oi, y0, y1, x0, x1, div| {
                        let mut s = T::ZERO;
                        for yy in y0..y1 {
                            for &v in &xp[yy * g.w + x0..yy * g.w + x1] {
                                s += v;
                            }
                        }
                        o[oi] = if y1 > y0 && x1 > x0 { s / T::of(div) } else { T::ZERO };
                    });
                }
            });
            Ok(())
        })
    }
}

/// Backward kernel of `avg_pool2d`: each output gradient / divisor added over its window.
pub fn avg_pool2d_backward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let b = bwd_views(c, 1)?;
    let Some(dxv) = b.dins[0] else { return Ok(()) };
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let g = avg_pool_geom(&dims(&b.inputs[0]), &c.attrs)?;
        let cip = bool_or(&c.attrs, 4, true)?;
        let (plane, per) = (g.h * g.w, g.out[0] * g.out[1]);
        let gr = T::load(&b.grads[0]);
        if gr.len() != g.planes * per {
            return Err("avg_pool2d backward: gradient has the wrong size".into());
        }
        with_out::<T>(dxv, |dx| {
            if plane == 0 {
                return Ok(());
            }
            par_chunks(ctx, dx, plane, per * g.k[0] * g.k[1], |p0, chunk| {
                chunk.iter_mut().for_each(|v| *v = T::ZERO);
                for (k, d) in chunk.chunks_mut(plane).enumerate() {
                    let go = &gr[(p0 + k) * per..(p0 + k + 1) * per];
                    avg_windows(&g, cip, |oi, y0, y1, x0, x1, div| {
                        let v = go[oi] / T::of(div);
                        for yy in y0..y1 {
                            d[yy * g.w + x0..yy * g.w + x1].iter_mut().for_each(|o| *o += v);
                        }
                    });
                }
            });
            Ok(())
        })
    }
}

/// Kernels of `ferrite::max_pool2d`.
pub mod max_pool2d_k {
    use super::*;
    /// Forward kernel.
    pub fn forward(c: &Call<'_>) -> Result<(), String> {
        with_float!("max_pool2d", c.input(0)?.dtype, T => max_pool2d_forward::<T>(c))
    }
    /// Backward kernel.
    pub fn backward(c: &Call<'_>) -> Result<(), String> {
        with_float!("max_pool2d", c.input(2)?.dtype, T => max_pool2d_backward::<T>(c))
    }
}

/// Kernels of `ferrite::avg_pool2d`.
pub mod avg_pool2d_k {
    use super::*;
    /// Forward kernel.
    pub fn forward(c: &Call<'_>) -> Result<(), String> {
        with_float!("avg_pool2d", c.input(0)?.dtype, T => avg_pool2d_forward::<T>(c))
    }
    /// Backward kernel.
    pub fn backward(c: &Call<'_>) -> Result<(), String> {
        with_float!("avg_pool2d", c.input(1)?.dtype, T => avg_pool2d_backward::<T>(c))
    }
}

cpu_op! {
    MAX_POOL2D {
        name: "ferrite::max_pool2d",
        version: 1,
        api_names: ["nn.functional.max_pool2d_with_indices", "max_pool2d_with_indices", "nn.functional.max_pool2d", "max_pool2d"],
        aliases: ["aten::max_pool2d_with_indices"],
        doc: "2-D max pooling over [N, C, H, W] returning values and flat per-plane i64 indices.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out"), ArgDesc::tensor_nograd("indices")],
        attrs: [
            AttrDesc::ints_required("kernel_size"),
            AttrDesc::ints("stride", &[]),
            AttrDesc::ints("padding", &[0, 0]),
            AttrDesc::ints("dilation", &[1, 1]),
            AttrDesc::bool("ceil_mode", false),
        ],
        dispatch_input: 0,
        shape: max_pool2d_shape,
        forward: max_pool2d_k::forward,
        backward: some(max_pool2d_k::backward),
    }
}

cpu_op! {
    AVG_POOL2D {
        name: "ferrite::avg_pool2d",
        version: 1,
        api_names: ["nn.functional.avg_pool2d", "avg_pool2d"],
        aliases: ["aten::avg_pool2d"],
        doc: "2-D average pooling over [N, C, H, W] with padding, ceil_mode and count_include_pad.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [
            AttrDesc::ints_required("kernel_size"),
            AttrDesc::ints("stride", &[]),
            AttrDesc::ints("padding", &[0, 0]),
            AttrDesc::bool("ceil_mode", false),
            AttrDesc::bool("count_include_pad", true),
        ],
        dispatch_input: 0,
        shape: avg_pool2d_shape,
        forward: avg_pool2d_k::forward,
        backward: some(avg_pool2d_k::backward),
    }
}
