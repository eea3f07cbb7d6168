//! Adaptive pooling (`adaptive_max_pool2d`, `adaptive_avg_pool2d`) and spatial pyramid pooling
//! with PyTorch's bin rule `[floor(i·n/m), ceil((i+1)·n/m))` (bins may overlap; field case C01).
//! One plane (or one sample for SPP) per work item; backwards accumulate overlapping bins.

use crate::register::Call;
use crate::typed::{bwd_views, load_i64, par_chunks, store, store_i64, with_out, Float};
use crate::{cpu_op, with_float};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::io::dims;
use ferrite_sdk::shape::adaptive::{
    adaptive_avg_pool2d_shape, adaptive_bin, adaptive_geom, adaptive_max_pool2d_shape, spatial_pyramid_pool_shape, spp_geom,
};

/// Max and first-argmax (row-major, NaN propagates) of every bin of an `h×w` plane pooled to
/// `oh×ow`; calls `f(out_index, value, flat_index)`.
fn max_bins<T: Float>(x: &[T], h: usize, w: usize, oh: usize, ow: usize, mut f: impl FnMut(usize, T, usize)) {
    for oy in 0..oh {
        let (y0, y1) = adaptive_bin(oy, h, oh);
        for ox in 0..ow {
            let (x0, x1) = adaptive_bin(ox, w, ow);
            let mut best = (x[y0 * w + x0], y0 * w + x0);
            for y in y0..y1 {
                for (k, &v) in x[y * w + x0..y * w + x1].iter().enumerate() {
                    if v > best.0 || (v.is_nan() && !best.0.is_nan()) {
                        best = (v, y * w + x0 + k);
                    }
                }
            }
            f(oy * ow + ox, best.0, best.1);
        }
    }
}

/// Calls `f(out_index, y0, y1, x0, x1, 1/count)` for every bin of an adaptive average.
fn avg_bins(h: usize, w: usize, oh: usize, ow: usize, mut f: impl FnMut(usize, usize, usize, usize, usize, f64)) {
    for oy in 0..oh {
        let (y0, y1) = adaptive_bin(oy, h, oh);
        for ox in 0..ow {
            let (x0, x1) = adaptive_bin(ox, w, ow);
            f(oy * ow + ox, y0, y1, x0, x1, 1.0 / ((y1 - y0) * (x1 - x0)) as f64);
        }
    }
}

/// Mean of a bin of plane `x` (row width `w`).
#[inline]
fn bin_mean<T: Float>(x: &[T], w: usize, y0: usize, y1: usize, x0: usize, x1: usize, inv: f64) -> T {
    let mut s = T::ZERO;
    for y in y0..y1 {
        for &v in &x[y * w + x0..y * w + x1] {
            s += v;
        }
    }
    s * T::of(inv)
}

/// Adds `v` to every element of a bin of plane `d`.
#[inline]
fn bin_add<T: Float>(d: &mut [T], w: usize, y0: usize, y1: usize, x0: usize, x1: usize, v: T) {
    for y in y0..y1 {
        d[y * w + x0..y * w + x1].iter_mut().for_each(|o| *o += v);
    }
}

/// Forward kernel of adaptive max (`is_max`, values + indices) or average pooling.
pub fn adaptive_forward<T: Float>(c: &Call<'_>, is_max: bool) -> Result<(), String> {
    let op = if is_max { "adaptive_max_pool2d" } else { "adaptive_avg_pool2d" };
    let xv = c.input(0)?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let (np, h, w, oh, ow, _) = adaptive_geom(op, &dims(xv), &c.attrs)?;
        let x = T::load(xv);
        let (plane, per) = (h * w, oh * ow);
        let mut res = vec![(T::ZERO, 0i64); np * per];
        par_chunks(ctx, &mut res, per.max(1), plane + per, |p0, chunk| {
            for (k, o) in chunk.chunks_mut(per.max(1)).enumerate() {
                let xp = &x[(p0 + k) * plane..(p0 + k + 1) * plane];
                if is_max {
                    max_bins(xp, h, w, oh, ow, |oi, v, i| o[oi] = (v, i as i64));
                } else {
                    avg_bins(h, w, oh, ow, |oi, y0, y1, x0, x1, inv| o[oi] = (bin_mean(xp, w, y0, y1, x0, x1, inv), 0));
                }
            }
        });
        let vals: Vec<T> = res.iter().map(|p| p.0).collect();
        store(c.output(0).ok_or("missing output")?, &vals)?;
        if is_max {
            let idx: Vec<i64> = res.iter().map(|p| p.1).collect();
            store_i64(c.output(1).ok_or("missing indices output")?, &idx)?;
        }
        Ok(())
    }
}

/// Backward kernel of adaptive pooling: max routes each gradient to its saved argmax, avg spreads
/// it over its bin; overlapping bins accumulate.
pub fn adaptive_backward<T: Float>(c: &Call<'_>, is_max: bool) -> Result<(), String> {
    let op = if is_max { "adaptive_max_pool2d" } else { "adaptive_avg_pool2d" };
    let b = bwd_views(c, if is_max { 2 } else { 1 })?;
    let Some(dxv) = b.dins[0] else { return Ok(()) };
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let (np, h, w, oh, ow, _) = adaptive_geom(op, &dims(&b.inputs[0]), &c.attrs)?;
        let (plane, per) = (h * w, oh * ow);
        let g = T::load(&b.grads[0]);
        let idx = if is_max { load_i64(&b.outputs[1]) } else { Vec::new() };
        if g.len() != np * per || (is_max && (idx.len() != g.len() || idx.iter().any(|&i| i < 0 || i as usize >= plane))) {
            return Err(format!("{op} backward: gradient or indices are inconsistent with the input"));
        }
        with_out::<T>(dxv, |dx| {
            par_chunks(ctx, dx, plane, plane + per, |p0, chunk| {
                chunk.iter_mut().for_each(|v| *v = T::ZERO);
                for (k, d) in chunk.chunks_mut(plane).enumerate() {
                    let o = (p0 + k) * per;
                    if is_max {
                        for (&i, &gv) in idx[o..o + per].iter().zip(&g[o..o + per]) {
                            d[i as usize] += gv;
                        }
                    } else {
                        avg_bins(h, w, oh, ow, |oi, y0, y1, x0, x1, inv| bin_add(d, w, y0, y1, x0, x1, g[o + oi] * T::of(inv)));
                    }
                }
            });
            Ok(())
        })
    }
}

/// Forward kernel of `spatial_pyramid_pool`: per sample, for each level `l`, the `[C, l, l]`
/// adaptive pool flattened and concatenated → `[N, C·Σl²]`.
pub fn spp_forward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let xv = c.input(0)?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let (n, ch, h, w, levels, is_max, total) = spp_geom(&dims(xv), &c.attrs)?;
        let x = T::load(xv);
        let (plane, cols) = (h * w, ch * total);
        with_out::<T>(c.output(0).ok_or("missing output")?, |y| {
            if y.len() != n * cols {
                return Err(format!("spatial_pyramid_pool: output has {} elements, expected {}", y.len(), n * cols));
            }
            par_chunks(ctx, y, cols.max(1), ch * plane * levels.len() + cols, |n0, chunk| {
                for (k, row) in chunk.chunks_mut(cols.max(1)).enumerate() {
                    let mut col0 = 0;
                    for &l in &levels {
                        for ci in 0..ch {
                            let xp = &x[((n0 + k) * ch + ci) * plane..((n0 + k) * ch + ci + 1) * plane];
                            let o = &mut row[col0 + ci * l * l..col0 + (ci + 1) * l * l];
                            if is_max {
                                max_bins(xp, h, w, l, l, |oi, v, _| o[oi] = v);
                            } else {
                                avg_bins(h, w, l, l, |oi, y0, y1, x0, x1, inv| o[oi] = bin_mean(xp, w, y0, y1, x0, x1, inv));
                            }
                        }
                        col0 += ch * l * l;
                    }
                }
            });
            Ok(())
        })
    }
}

/// Backward kernel of `spatial_pyramid_pool`: argmax recomputed per bin (max) or spread over the
/// bin (avg); contributions accumulate across levels and overlapping bins.
pub fn spp_backward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let b = bwd_views(c, 1)?;
    let Some(dxv) = b.dins[0] else { return Ok(()) };
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let (n, ch, h, w, levels, is_max, total) = spp_geom(&dims(&b.inputs[0]), &c.attrs)?;
        let (plane, cols) = (h * w, ch * total);
        let x = T::load(&b.inputs[0]);
        let g = T::load(&b.grads[0]);
        if g.len() != n * cols {
            return Err("spatial_pyramid_pool backward: gradient has the wrong size".into());
        }
        with_out::<T>(dxv, |dx| {
            par_chunks(ctx, dx, plane, total + plane * levels.len(), |p0, chunk| {
                chunk.iter_mut().for_each(|v| *v = T::ZERO);
                for (k, d) in chunk.chunks_mut(plane).enumerate() {
                    let (ni, ci) = ((p0 + k) / ch, (p0 + k) % ch);
                    let xp = &x[(p0 + k) * plane..(p0 + k + 1) * plane];
                    let mut col0 = 0;
                    for &l in &levels {
                        let go = &g[ni * cols + col0 + ci * l * l..ni * cols + col0 + (ci + 1) * l * l];
                        if is_max {
                            max_bins(xp, h, w, l, l, |oi, _, i| d[i] += go[oi]);
                        } else {
                            avg_bins(h, w, l, l, |oi, y0, y1, x0, x1, inv| bin_add(d, w, y0, y1, x0, x1, go[oi] * T::of(inv)));
                        }
                        col0 += ch * l * l;
                    }
                }
            });
            Ok(())
        })
    }
}

/// Kernels of the three ops.
pub mod adaptive_k {
    use super::*;
    /// `adaptive_max_pool2d` forward.
    pub fn max_forward(c: &Call<'_>) -> Result<(), String> {
        with_float!("adaptive_max_pool2d", c.input(0)?.dtype, T => adaptive_forward::<T>(c, true))
    }
    /// `adaptive_max_pool2d` backward.
    pub fn max_backward(c: &Call<'_>) -> Result<(), String> {
        with_float!("adaptive_max_pool2d", c.input(2)?.dtype, T => adaptive_backward::<T>(c, true))
    }
    /// `adaptive_avg_pool2d` forward.
    pub fn avg_forward(c: &Call<'_>) -> Result<(), String> {
        with_float!("adaptive_avg_pool2d", c.input(0)?.dtype, T => adaptive_forward::<T>(c, false))
    }
    /// `adaptive_avg_pool2d` backward.
    pub fn avg_backward(c: &Call<'_>) -> Result<(), String> {
        with_float!("adaptive_avg_pool2d", c.input(1)?.dtype, T => adaptive_backward::<T>(c, false))
    }
    /// `spatial_pyramid_pool` forward.
    pub fn spp_fwd(c: &Call<'_>) -> Result<(), String> {
        with_float!("spatial_pyramid_pool", c.input(0)?.dtype, T => spp_forward::<T>(c))
    }
    /// `spatial_pyramid_pool` backward.
    pub fn spp_bwd(c: &Call<'_>) -> Result<(), String> {
        with_float!("spatial_pyramid_pool", c.input(1)?.dtype, T => spp_backward::<T>(c))
    }
}

cpu_op! {
    ADAPTIVE_MAX_POOL2D {
        name: "ferrite::adaptive_max_pool2d",
        version: 1,
        api_names: ["nn.functional.adaptive_max_pool2d_with_indices", "nn.functional.adaptive_max_pool2d", "adaptive_max_pool2d"],
        aliases: ["aten::adaptive_max_pool2d"],
        doc: "Adaptive max pooling [N, C, H, W] -> [N, C, oh, ow] (PyTorch bins) with flat per-plane i64 indices.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out"), ArgDesc::tensor_nograd("indices")],
        attrs: [AttrDesc::ints_required("output_size")],
        dispatch_input: 0,
        shape: adaptive_max_pool2d_shape,
        forward: adaptive_k::max_forward,
        backward: some(adaptive_k::max_backward),
    }
}

cpu_op! {
    ADAPTIVE_AVG_POOL2D {
        name: "ferrite::adaptive_avg_pool2d",
        version: 1,
        api_names: ["nn.functional.adaptive_avg_pool2d", "adaptive_avg_pool2d"],
        aliases: ["aten::adaptive_avg_pool2d", "aten::_adaptive_avg_pool2d"],
        doc: "Adaptive average pooling [N, C, H, W] -> [N, C, oh, ow] with PyTorch's floor/ceil bins.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::ints_required("output_size")],
        dispatch_input: 0,
        shape: adaptive_avg_pool2d_shape,
        forward: adaptive_k::avg_forward,
        backward: some(adaptive_k::avg_backward),
    }
}

cpu_op! {
    SPATIAL_PYRAMID_POOL {
        name: "ferrite::spatial_pyramid_pool",
        version: 1,
        api_names: ["nn.functional.spatial_pyramid_pool", "spp"],
        aliases: [],
        doc: "Spatial pyramid pooling (SPP-net): adaptive max/avg pooling to l x l per level, flattened and concatenated to [N, C*sum(l^2)].",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::ints("levels", &[1, 2, 4]), AttrDesc::str("mode", "max")],
        dispatch_input: 0,
        shape: spatial_pyramid_pool_shape,
        forward: adaptive_k::spp_fwd,
        backward: some(adaptive_k::spp_bwd),
    }
}
