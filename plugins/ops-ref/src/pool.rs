//! Fixed-window 2-D pooling: `max_pool2d` (with PyTorch-convention indices) and `avg_pool2d`.

use crate::common::req;
use crate::nn_common::bool_or;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;
pub use ferrite_sdk::shape::pool::{avg_pool2d_shape, max_pool2d_shape, pool_out_len};
use ferrite_sdk::shape::pool::{avg_pool_geom as avg_geom, max_pool_geom as max_geom, PoolGeom as Geom};

/// Max and flat in-plane index of every window; index -1 (value -inf) for a window that covers
/// only padding (possible only with dilation).
fn max_windows(x: &Array, g: &Geom) -> (Vec<f64>, Vec<i64>) {
    let n = g.planes * g.out[0] * g.out[1];
    let (mut vals, mut idx) = (vec![f64::NEG_INFINITY; n], vec![-1i64; n]);
    for pl in 0..g.planes {
        let base = pl * g.h * g.w;
        for oy in 0..g.out[0] {
            for ox in 0..g.out[1] {
                let oi = (pl * g.out[0] + oy) * g.out[1] + ox;
                for ky in 0..g.k[0] {
                    let iy = (oy * g.s[0] + ky * g.d[0]) as isize - g.p[0] as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    for kx in 0..g.k[1] {
                        let ix = (ox * g.s[1] + kx * g.d[1]) as isize - g.p[1] as isize;
                        if ix < 0 || ix >= g.w as isize {
                            continue;
                        }
                        let flat = iy as usize * g.w + ix as usize;
                        let v = x.data[base + flat];
                        // First maximum wins; NaN propagates (first NaN kept).
                        if idx[oi] < 0 || v > vals[oi] || (v.is_nan() && !vals[oi].is_nan()) {
                            vals[oi] = v;
                            idx[oi] = flat as i64;
                        }
                    }
                }
            }
        }
    }
    (vals, idx)
}

/// Max pooling of `[N, C, H, W]` (or `[C, H, W]`) with attrs `(kernel_size, stride = [] (=kernel),
/// padding = [0,0], dilation = [1,1], ceil_mode = false)`; padding acts as `-inf`. Returns the
/// maxima and their flat indices within each `H×W` plane (first maximum in window order wins;
/// NaN propagates). A window that covers only padding (possible only with dilation) gives `-inf`
/// and index -1, and passes no gradient.
/// Matches PyTorch's `max_pool2d_with_indices`, including the `ceil_mode` rule.
pub fn max_pool2d_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let g = max_geom(&x.shape, attrs)?;
    let (vals, idx) = max_windows(x, &g);
    let shape = g.out_shape();
    Ok(vec![Array::new(shape.clone(), vals)?, Array::new(shape, idx.into_iter().map(|i| i as f64).collect())?])
}

/// Backward of [`max_pool2d_forward`]: each output gradient is added to its argmax element
/// (accumulating where windows overlap); the indices output gets no gradient.
pub fn max_pool2d_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let g = max_geom(&x.shape, &a.attrs)?;
    let (_, idx) = max_windows(x, &g);
    let per = g.out[0] * g.out[1];
    let mut dx = Array::zeros(&x.shape);
    for (oi, &i) in idx.iter().enumerate() {
        if i >= 0 {
            dx.data[(oi / per) * g.h * g.w + i as usize] += a.grads[0].data[oi];
        }
    }
    Ok(vec![Some(dx)])
}

/// Calls `f(out_index, in_plane_offsets..., divisor)` per window of an average pool.
fn avg_windows(g: &Geom, count_include_pad: bool, mut f: impl FnMut(usize, usize, &[usize], f64)) {
    let mut cells = Vec::new();
    for pl in 0..g.planes {
        for oy in 0..g.out[0] {
            for ox in 0..g.out[1] {
                let oi = (pl * g.out[0] + oy) * g.out[1] + ox;
                let hs = (oy * g.s[0]) as i64 - g.p[0] as i64;
                let ws = (ox * g.s[1]) as i64 - g.p[1] as i64;
                let he = (hs + g.k[0] as i64).min((g.h + g.p[0]) as i64);
                let we = (ws + g.k[1] as i64).min((g.w + g.p[1]) as i64);
                let pool_size = ((he - hs) * (we - ws)) as f64;
                let (hs, ws, he, we) = (hs.max(0), ws.max(0), he.min(g.h as i64), we.min(g.w as i64));
                cells.clear();
                for y in hs..he {
                    for x in ws..we {
                        cells.push(y as usize * g.w + x as usize);
                    }
                }
                let div = if count_include_pad { pool_size } else { cells.len() as f64 };
                f(oi, pl * g.h * g.w, &cells, div);
            }
        }
    }
}

/// Average pooling of `[N, C, H, W]` (or `[C, H, W]`) with attrs `(kernel_size, stride = []
/// (=kernel), padding = [0,0], ceil_mode = false, count_include_pad = true)`. The divisor is the
/// window clipped to the padded input (`count_include_pad`) or to the input. Matches PyTorch's
/// `avg_pool2d` (no `divisor_override`).
pub fn avg_pool2d_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let g = avg_geom(&x.shape, attrs)?;
    let cip = bool_or(attrs, 4, true)?;
    let mut out = Array::zeros(&g.out_shape());
    avg_windows(&g, cip, |oi, base, cells, div| {
        if !cells.is_empty() {
            out.data[oi] = cells.iter().map(|&c| x.data[base + c]).sum::<f64>() / div;
        }
    });
    Ok(vec![out])
}

/// Backward of [`avg_pool2d_forward`]: each output gradient divided by its divisor is added to
/// every input element of its window.
pub fn avg_pool2d_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let g = avg_geom(&x.shape, &a.attrs)?;
    let cip = bool_or(&a.attrs, 4, true)?;
    let mut dx = Array::zeros(&x.shape);
    avg_windows(&g, cip, |oi, base, cells, div| {
        for &c in cells {
            dx.data[base + c] += a.grads[0].data[oi] / div;
        }
    });
    Ok(vec![Some(dx)])
}

reference_op! {
    MAX_POOL2D {
        name: "ferrite::max_pool2d",
        version: 1,
        api_names: ["nn.functional.max_pool2d_with_indices", "max_pool2d_with_indices", "nn.functional.max_pool2d", "max_pool2d"],
        aliases: ["aten::max_pool2d_with_indices"],
        deprecated: [],
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
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: max_pool2d_shape,
        forward: max_pool2d_forward,
        backward: some(max_pool2d_backward),
    }
}

reference_op! {
    AVG_POOL2D {
        name: "ferrite::avg_pool2d",
        version: 1,
        api_names: ["nn.functional.avg_pool2d", "avg_pool2d"],
        aliases: ["aten::avg_pool2d"],
        deprecated: [],
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
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: avg_pool2d_shape,
        forward: avg_pool2d_forward,
        backward: some(avg_pool2d_backward),
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
