//! Fused `softmax` / `log_softmax` along one dim: one max pass, one exp-sum pass, one write, per
//! row in parallel (the dim is gathered last when it is not already). A fully `-inf` row gives
//! softmax 0 / log_softmax `-inf` with zero gradient. Backwards recompute from the input.

use crate::register::Call;
use crate::typed::{bwd_views, from_rows, par_chunks, sum, to_rows, with_out, Float};
use crate::{cpu_op, with_float};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::io::dims;
use ferrite_sdk::shape::softmax::{softmax_layout, softmax_shape};

/// Max of a row ignoring NaN (`-inf` for an empty or all `-inf` row).
#[inline]
fn row_max<T: Float>(x: &[T]) -> T {
    x.iter().fold(T::NEG_INF, |m, &v| m.max(v))
}

/// Softmax (`log = false`) or log-softmax of one row into `y`.
#[inline]
pub fn softmax_row<T: Float>(x: &[T], y: &mut [T], log: bool) {
    let m = row_max(x);
    if m == T::NEG_INF {
        let fill = if log { T::NEG_INF } else { T::ZERO };
        y.iter_mut().for_each(|v| *v = fill);
        return;
    }
    for (o, &v) in y.iter_mut().zip(x) {
        *o = (v - m).exp();
    }
    let s = sum(y);
    if log {
        let l = m + s.ln();
        y.iter_mut().zip(x).for_each(|(o, &v)| *o = v - l);
    } else {
        let inv = T::ONE / s;
        y.iter_mut().for_each(|o| *o = *o * inv);
    }
}

/// Runs `f(x_row, g_row?, out_row)` over every row along attr `dim` and writes the result to
/// `outv` (in the input's layout).
fn rowwise<T: Float, F: Fn(&[T], &[T], &mut [T]) + Sync>(
    c: &Call<'_>,
    op: &str,
    xv: &ferrite_sdk::abi::view::TensorView,
    gv: Option<&ferrite_sdk::abi::view::TensorView>,
    outv: &ferrite_sdk::abi::view::TensorView,
    f: F,
) -> Result<(), String> {
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let shape = dims(xv);
        let (outer, len, inner) = softmax_layout(op, &shape, &c.attrs)?;
        if dims(outv) != shape {
            return Err(format!("{op}: output shape {:?}, expected {shape:?}", dims(outv)));
        }
        let x = T::load(xv);
        let xr = to_rows(&x, outer, len, inner);
        let g = match gv {
            Some(g) => Some(T::load(g)),
            None => None,
        };
        let gr = g.as_ref().map(|g| to_rows(g, outer, len, inner));
        if gr.as_ref().is_some_and(|g| g.len() != x.len()) {
            return Err(format!("{op} backward: gradient size differs from the input's"));
        }
        let empty: &[T] = &[];
        let ctx = c.ctx;
        let run = |yr: &mut [T]| {
            par_chunks(ctx, yr, len, 3 * len, |r0, chunk| {
                for (k, row) in chunk.chunks_mut(len).enumerate() {
                    let r = r0 + k;
                    let g = gr.as_ref().map_or(empty, |g| &g[r * len..(r + 1) * len]);
                    f(&xr[r * len..(r + 1) * len], g, row);
                }
            })
        };
        with_out::<T>(outv, |y| {
            if inner == 1 {
                run(y);
            } else {
                let mut yr = vec![T::ZERO; y.len()];
                run(&mut yr);
                from_rows(&yr, y, outer, len, inner);
            }
            Ok(())
        })
    }
}

/// Forward kernel of softmax / log_softmax.
pub fn softmax_forward<T: Float>(c: &Call<'_>, log: bool) -> Result<(), String> {
    let op = if log { "log_softmax" } else { "softmax" };
    let y = c.output(0).ok_or("missing output")?;
    rowwise::<T, _>(c, op, c.input(0)?, None, y, |x, _, y| softmax_row(x, y, log))
}

/// Backward kernel: softmax `dx = y·(dy - Σ dy·y)`; log_softmax `dx = dy - e^y·Σ dy` (zero for a
/// fully `-inf` row); `y` recomputed from `x`.
pub fn softmax_backward<T: Float>(c: &Call<'_>, log: bool) -> Result<(), String> {
    let op = if log { "log_softmax" } else { "softmax" };
    let b = bwd_views(c, 1)?;
    let Some(dx) = b.dins[0] else { return Ok(()) };
    rowwise::<T, _>(c, op, &b.inputs[0], Some(&b.grads[0]), dx, |x, g, d| {
        softmax_row(x, d, false);
        if row_max(x) == T::NEG_INF {
            d.iter_mut().for_each(|v| *v = T::ZERO);
            return;
        }
        if log {
            let total = sum(g);
            d.iter_mut().zip(g).for_each(|(o, &gv)| *o = gv - *o * total);
        } else {
            let dot = d.iter().zip(g).fold(T::ZERO, |a, (&y, &gv)| a + y * gv);
            d.iter_mut().zip(g).for_each(|(o, &gv)| *o = *o * (gv - dot));
        }
    })
}

/// Kernels of `ferrite::softmax`.
pub mod softmax_k {
    use super::*;
    /// Forward kernel.
    pub fn forward(c: &Call<'_>) -> Result<(), String> {
        with_float!("softmax", c.input(0)?.dtype, T => softmax_forward::<T>(c, false))
    }
    /// Backward kernel.
    pub fn backward(c: &Call<'_>) -> Result<(), String> {
        with_float!("softmax", c.input(1)?.dtype, T => softmax_backward::<T>(c, false))
    }
}

/// Kernels of `ferrite::log_softmax`.
pub mod log_softmax_k {
    use super::*;
    /// Forward kernel.
    pub fn forward(c: &Call<'_>) -> Result<(), String> {
        with_float!("log_softmax", c.input(0)?.dtype, T => softmax_forward::<T>(c, true))
    }
    /// Backward kernel.
    pub fn backward(c: &Call<'_>) -> Result<(), String> {
        with_float!("log_softmax", c.input(1)?.dtype, T => softmax_backward::<T>(c, true))
    }
}

cpu_op! {
    SOFTMAX {
        name: "ferrite::softmax",
        version: 1,
        api_names: ["nn.functional.softmax", "softmax", "Tensor.softmax"],
        aliases: ["aten::softmax", "aten::_softmax"],
        doc: "Softmax along dim (max-subtracted); an all -inf slice gives zeros.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int_required("dim")],
        dispatch_input: 0,
        shape: softmax_shape,
        forward: softmax_k::forward,
        backward: some(softmax_k::backward),
    }
}

cpu_op! {
    LOG_SOFTMAX {
        name: "ferrite::log_softmax",
        version: 1,
        api_names: ["nn.functional.log_softmax", "log_softmax", "Tensor.log_softmax"],
        aliases: ["aten::log_softmax", "aten::_log_softmax"],
        doc: "Log-softmax along dim (max-subtracted); an all -inf slice gives -inf.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int_required("dim")],
        dispatch_input: 0,
        shape: softmax_shape,
        forward: log_softmax_k::forward,
        backward: some(log_softmax_k::backward),
    }
}
