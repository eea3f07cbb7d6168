//! Adaptive pooling (`adaptive_max_pool2d`, `adaptive_avg_pool2d`) and spatial pyramid pooling
//! (He et al. 2014, SPP-net §2.3), all with PyTorch's adaptive bin rule.

use crate::common::req;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;
pub use ferrite_sdk::shape::adaptive::{adaptive_avg_pool2d_shape, adaptive_bin, adaptive_geom, adaptive_max_pool2d_shape, spatial_pyramid_pool_shape, spp_geom};

/// Max of every adaptive bin of one `h×w` plane pooled to `oh×ow`, with the flat in-plane index
/// of the first maximum in row-major order (NaN propagates).
pub fn adaptive_max_plane(x: &[f64], h: usize, w: usize, oh: usize, ow: usize) -> Vec<(f64, usize)> {
    let mut out = Vec::with_capacity(oh * ow);
    for oy in 0..oh {
        let (y0, y1) = adaptive_bin(oy, h, oh);
        for ox in 0..ow {
            let (x0, x1) = adaptive_bin(ox, w, ow);
            let mut best = (x[y0 * w + x0], y0 * w + x0);
            for y in y0..y1 {
                for xx in x0..x1 {
                    let v = x[y * w + xx];
                    if v > best.0 || (v.is_nan() && !best.0.is_nan()) {
                        best = (v, y * w + xx);
                    }
                }
            }
            out.push(best);
        }
    }
    out
}

/// Calls `f(out_index_in_plane, in_plane_offset, 1/count)` for every element of every adaptive
/// average bin of an `h×w` plane pooled to `oh×ow`.
fn for_each_avg_cell(h: usize, w: usize, oh: usize, ow: usize, mut f: impl FnMut(usize, usize, f64)) {
    for oy in 0..oh {
        let (y0, y1) = adaptive_bin(oy, h, oh);
        for ox in 0..ow {
            let (x0, x1) = adaptive_bin(ox, w, ow);
            let inv = 1.0 / ((y1 - y0) * (x1 - x0)) as f64;
            for y in y0..y1 {
                for xx in x0..x1 {
                    f(oy * ow + ox, y * w + xx, inv);
                }
            }
        }
    }
}

/// Adaptive max pooling `[N, C, H, W] -> [N, C, oh, ow]` (or 3-d) with attr `(output_size)`,
/// returning values and flat in-plane indices (first maximum in row-major order wins).
/// Matches PyTorch's `adaptive_max_pool2d(return_indices=True)`.
pub fn adaptive_max_pool2d_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (np, h, w, oh, ow, shape) = adaptive_geom("adaptive_max_pool2d", &x.shape, attrs)?;
    let (mut vals, mut idx) = (Vec::new(), Vec::new());
    for pl in 0..np {
        for (v, i) in adaptive_max_plane(&x.data[pl * h * w..(pl + 1) * h * w], h, w, oh, ow) {
            vals.push(v);
            idx.push(i as f64);
        }
    }
    Ok(vec![Array::new(shape.clone(), vals)?, Array::new(shape, idx)?])
}

/// Backward of [`adaptive_max_pool2d_forward`]: each output gradient is added to its argmax
/// element, accumulating where bins overlap.
pub fn adaptive_max_pool2d_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let (np, h, w, oh, ow, _) = adaptive_geom("adaptive_max_pool2d", &x.shape, &a.attrs)?;
    let mut dx = Array::zeros(&x.shape);
    for pl in 0..np {
        for (o, (_, i)) in adaptive_max_plane(&x.data[pl * h * w..(pl + 1) * h * w], h, w, oh, ow).into_iter().enumerate() {
            dx.data[pl * h * w + i] += a.grads[0].data[pl * oh * ow + o];
        }
    }
    Ok(vec![Some(dx)])
}

/// Adaptive average pooling `[N, C, H, W] -> [N, C, oh, ow]` (or 3-d), mean over each adaptive
/// bin. Matches PyTorch's `adaptive_avg_pool2d`.
pub fn adaptive_avg_pool2d_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (np, h, w, oh, ow, shape) = adaptive_geom("adaptive_avg_pool2d", &x.shape, attrs)?;
    let mut out = Array::zeros(&shape);
    for pl in 0..np {
        for_each_avg_cell(h, w, oh, ow, |o, i, inv| out.data[pl * oh * ow + o] += x.data[pl * h * w + i] * inv);
    }
    Ok(vec![out])
}

/// Backward of [`adaptive_avg_pool2d_forward`]: each output gradient divided by its bin size is
/// added to every element of the bin.
pub fn adaptive_avg_pool2d_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let (np, h, w, oh, ow, _) = adaptive_geom("adaptive_avg_pool2d", &x.shape, &a.attrs)?;
    let mut dx = Array::zeros(&x.shape);
    for pl in 0..np {
        for_each_avg_cell(h, w, oh, ow, |o, i, inv| dx.data[pl * h * w + i] += a.grads[0].data[pl * oh * ow + o] * inv);
    }
    Ok(vec![Some(dx)])
}

/// Calls `f(n, out_column, in_flat, weight)` for every (output, contributing input) pair of SPP:
/// weight 1 for the argmax (max mode) or `1/bin size` for every bin element (avg mode).
fn spp_terms(x: &Array, attrs: &Attrs, mut f: impl FnMut(usize, usize, usize, f64)) -> Result<(usize, usize), String> {
    let (n, c, h, w, levels, is_max, total) = spp_geom(&x.shape, attrs)?;
    for ni in 0..n {
        let mut col0 = 0;
        for &l in &levels {
            for ci in 0..c {
                let base = (ni * c + ci) * h * w;
                let col = col0 + ci * l * l;
                if is_max {
                    for (o, (_, i)) in adaptive_max_plane(&x.data[base..base + h * w], h, w, l, l).into_iter().enumerate() {
                        f(ni, col + o, base + i, 1.0);
                    }
                } else {
                    for_each_avg_cell(h, w, l, l, |o, i, inv| f(ni, col + o, base + i, inv));
                }
            }
            col0 += c * l * l;
        }
    }
    Ok((n, c * total))
}

/// Spatial pyramid pooling (He et al. 2014, SPP-net §2.3) of `[N, C, H, W]` with attrs
/// `(levels = [1,2,4], mode = "max" | "avg")`: for each level `l` in order, the `[N, C, l, l]`
/// adaptive pooling result flattened per sample to `C·l·l` values, concatenated along dim 1 →
/// `[N, C·Σl²]`. Works for any `H, W ≥ 1` (bins overlap or repeat when `H` or `W < l`).
pub fn spatial_pyramid_pool_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (n, _, _, _, _, is_max, total) = spp_geom(&x.shape, attrs)?;
    let cols = x.shape[1] * total;
    let mut out = Array::zeros(&[n, cols]);
    spp_terms(x, attrs, |ni, col, i, wt| {
        if is_max {
            out.data[ni * cols + col] = x.data[i];
        } else {
            out.data[ni * cols + col] += x.data[i] * wt;
        }
    })?;
    Ok(vec![out])
}

/// Backward of [`spatial_pyramid_pool_forward`]: max mode routes each output gradient to its
/// argmax element, avg mode spreads it over its bin; contributions ACCUMULATE across levels and
/// overlapping bins.
pub fn spatial_pyramid_pool_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let mut dx = Array::zeros(&x.shape);
    let g = &a.grads[0];
    let cols = g.shape.get(1).copied().unwrap_or(0);
    spp_terms(x, &a.attrs, |ni, col, i, wt| dx.data[i] += g.data[ni * cols + col] * wt)?;
    Ok(vec![Some(dx)])
}

reference_op! {
    ADAPTIVE_MAX_POOL2D {
        name: "ferrite::adaptive_max_pool2d",
        version: 1,
        api_names: ["nn.functional.adaptive_max_pool2d_with_indices", "nn.functional.adaptive_max_pool2d", "adaptive_max_pool2d"],
        aliases: ["aten::adaptive_max_pool2d"],
        deprecated: [],
        doc: "Adaptive max pooling [N, C, H, W] -> [N, C, oh, ow] (PyTorch bins) with flat per-plane i64 indices.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out"), ArgDesc::tensor_nograd("indices")],
        attrs: [AttrDesc::ints_required("output_size")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: adaptive_max_pool2d_shape,
        forward: adaptive_max_pool2d_forward,
        backward: some(adaptive_max_pool2d_backward),
    }
}

reference_op! {
    ADAPTIVE_AVG_POOL2D {
        name: "ferrite::adaptive_avg_pool2d",
        version: 1,
        api_names: ["nn.functional.adaptive_avg_pool2d", "adaptive_avg_pool2d"],
        aliases: ["aten::adaptive_avg_pool2d", "aten::_adaptive_avg_pool2d"],
        deprecated: [],
        doc: "Adaptive average pooling [N, C, H, W] -> [N, C, oh, ow] with PyTorch's floor/ceil bins.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::ints_required("output_size")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: adaptive_avg_pool2d_shape,
        forward: adaptive_avg_pool2d_forward,
        backward: some(adaptive_avg_pool2d_backward),
    }
}

reference_op! {
    SPATIAL_PYRAMID_POOL {
        name: "ferrite::spatial_pyramid_pool",
        version: 1,
        api_names: ["nn.functional.spatial_pyramid_pool", "spp"],
        aliases: [],
        deprecated: [],
        doc: "Spatial pyramid pooling (SPP-net): adaptive max/avg pooling to l x l per level, flattened and concatenated to [N, C*sum(l^2)].",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::ints("levels", &[1, 2, 4]), AttrDesc::str("mode", "max")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: spatial_pyramid_pool_shape,
        forward: spatial_pyramid_pool_forward,
        backward: some(spatial_pyramid_pool_backward),
    }
}

#[cfg(test)]
#[path = "adaptive_tests.rs"]
mod tests;
