//! Reductions: `sum`, `mean`, `logsumexp` over a set of dims; `max`, `min` (values + indices) and
//! `argmax` along one dim.
//!
//! Reduced dims are removed from the output shape, or kept with size 1 when `keepdim`. Negative
//! dims wrap; an empty `dim` list means all dims. Gradients broadcast the upstream gradient back
//! over the reduced dims.

use crate::common::req;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::array::{broadcast_index, unravel};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;
pub use ferrite_sdk::shape::reduce::{argmax_shape, dim_attrs, dim_out_shape, dims_attrs, dims_reduce_shape, keep_shape, max_min_shape, reduced_mask, reduced_shape, split_at_dim};

/// For every input element, the flat index of the output element it reduces into.
fn out_index(shape: &[usize], mask: &[bool]) -> Vec<usize> {
    let ks = keep_shape(shape, mask);
    (0..shape.iter().product()).map(|f| broadcast_index(&unravel(f, shape), &ks)).collect()
}

/// Forward of `ferrite::sum` (matches `torch.sum(input, dim, keepdim)`): sums in f64 (so
/// f16/bf16 accumulate wider than their own precision); an empty reduction gives 0.
pub fn sum_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (mask, keepdim) = dims_attrs("sum", attrs, x.ndim())?;
    let mut out = Array::zeros(&reduced_shape(&x.shape, &mask, keepdim));
    for (v, o) in x.data.iter().zip(out_index(&x.shape, &mask)) {
        out.data[o] += v;
    }
    Ok(vec![out])
}

/// Upstream gradient broadcast back to the input shape, times `scale`.
fn spread(a: &BackwardArgs, scale: f64) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let (mask, _) = dims_attrs("reduction", &a.attrs, x.ndim())?;
    let g = &a.grads[0];
    let data = out_index(&x.shape, &mask).into_iter().map(|o| g.data[o] * scale).collect();
    Ok(vec![Some(Array { shape: x.shape.clone(), data })])
}

/// Number of elements reduced into each output element.
fn count(x: &Array, attrs: &Attrs) -> Result<usize, String> {
    let (mask, _) = dims_attrs("mean", attrs, x.ndim())?;
    Ok(x.shape.iter().zip(&mask).filter(|(_, &m)| m).map(|(&s, _)| s).product())
}

/// Backward of `ferrite::sum`: `dx = dy` broadcast over the reduced dims.
pub fn sum_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    spread(a, 1.0)
}

/// Forward of `ferrite::mean` (matches `torch.mean`): sum / count; an empty reduction gives NaN.
pub fn mean_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let n = count(req(ins, 0)?, attrs)? as f64;
    let mut out = sum_forward(ins, attrs)?;
    out[0].data.iter_mut().for_each(|v| *v /= n);
    Ok(out)
}

/// Backward of `ferrite::mean`: `dx = dy / count`.
pub fn mean_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let n = count(req(&a.inputs, 0)?, &a.attrs)? as f64;
    spread(a, 1.0 / n)
}

/// Forward of `ferrite::logsumexp` (matches `torch.logsumexp`): `m + ln Σ exp(x - m)` with `m` the
/// slice maximum, accumulated in f64. An all `-inf` (or empty) slice gives `-inf`; a `+inf`
/// element gives `+inf`; NaN propagates.
pub fn logsumexp_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (mask, keepdim) = dims_attrs("logsumexp", attrs, x.ndim())?;
    let oi = out_index(&x.shape, &mask);
    let shape = reduced_shape(&x.shape, &mask, keepdim);
    let mut m = Array::full(&shape, f64::NEG_INFINITY);
    for (v, &o) in x.data.iter().zip(&oi) {
        m.data[o] = m.data[o].max(*v);
    }
    let mut s = Array::zeros(&shape);
    for (v, &o) in x.data.iter().zip(&oi) {
        if m.data[o].is_finite() {
            s.data[o] += (v - m.data[o]).exp();
        } else if v.is_nan() {
            s.data[o] = f64::NAN;
        }
    }
    let data = m.data.iter().zip(&s.data).map(|(&m, &s)| if m.is_finite() || s.is_nan() { m + s.ln() } else { m }).collect();
    Ok(vec![Array { shape, data }])
}

/// Backward of `ferrite::logsumexp`: `dx = dy · exp(x - y)` (the softmax of the slice); zero for
/// an all `-inf` slice (field case C04: never NaN).
pub fn logsumexp_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let (mask, _) = dims_attrs("logsumexp", &a.attrs, x.ndim())?;
    // Recompute the result in f64: the saved output is rounded to the tensor's dtype, and in f16
    // that rounding alone moves every gradient by ~0.3% (field case C04).
    let y = &logsumexp_forward(&a.inputs, &a.attrs)?[0];
    let g = &a.grads[0];
    let data = x
        .data
        .iter()
        .zip(out_index(&x.shape, &mask))
        .map(|(&v, o)| if y.data[o] == f64::NEG_INFINITY { 0.0 } else { g.data[o] * (v - y.data[o]).exp() })
        .collect();
    Ok(vec![Some(Array { shape: x.shape.clone(), data })])
}

/// Declares a `(dim: ints = [], keepdim: bool = false)` reduction.
macro_rules! dims_op {
    ($STATIC:ident, $name:literal, [$($api:literal),*], $alias:literal, $doc:literal, $fwd:ident, $bwd:ident) => {
        reference_op! {
            $STATIC {
                name: $name,
                version: 1,
                api_names: [$($api),*],
                aliases: [$alias],
                deprecated: [],
                doc: $doc,
                inputs: [ArgDesc::tensor("input")],
                outputs: [ArgDesc::tensor("out")],
                attrs: [AttrDesc::ints("dim", &[]), AttrDesc::bool("keepdim", false)],
                dispatch_input: 0,
                dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
                shape: dims_reduce_shape,
                forward: $fwd,
                backward: some($bwd),
            }
        }
    };
}

dims_op!(SUM, "ferrite::sum", ["sum", "Tensor.sum"], "aten::sum", "Sum over dims (all when empty), f64 accumulation.", sum_forward, sum_backward);
dims_op!(MEAN, "ferrite::mean", ["mean", "Tensor.mean"], "aten::mean", "Mean over dims (all when empty).", mean_forward, mean_backward);
dims_op!(LOGSUMEXP, "ferrite::logsumexp", ["logsumexp", "Tensor.logsumexp"], "aten::logsumexp",
    "log(sum(exp(x))) over dims, max-subtracted; all -inf slice gives -inf with zero gradient.", logsumexp_forward, logsumexp_backward);

/// Values and indices of the extreme along `dim`: the first element that `better(candidate,
/// best)` never beats. NaN counts as the extreme (propagates, as PyTorch).
fn extreme(op: &str, x: &Array, attrs: &Attrs, better: fn(f64, f64) -> bool) -> Result<(Array, Array), String> {
    let (dim, keepdim) = dim_attrs(op, attrs, x.ndim())?;
    let shape = dim_out_shape(op, &x.shape, dim, keepdim)?;
    let (outer, len, inner) = split_at_dim(&x.shape, dim);
    let (mut vals, mut idx) = (Array::zeros(&shape), Array::zeros(&shape));
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| x.data[(o * len + k) * inner + i];
            let mut best = 0;
            for k in 1..len {
                if !at(best).is_nan() && (at(k).is_nan() || better(at(k), at(best))) {
                    best = k;
                }
            }
            vals.data[o * inner + i] = at(best);
            idx.data[o * inner + i] = best as f64;
        }
    }
    Ok((vals, idx))
}

/// Forward of `ferrite::max` (matches `torch.max(input, dim, keepdim)`): `(values, indices)`,
/// the index of the first maximum; a zero-size `dim` is an error.
pub fn max_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (v, i) = extreme("max", req(ins, 0)?, attrs, |a, b| a > b)?;
    Ok(vec![v, i])
}

/// Forward of `ferrite::min`: as [`max_forward`] with the first minimum.
pub fn min_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (v, i) = extreme("min", req(ins, 0)?, attrs, |a, b| a < b)?;
    Ok(vec![v, i])
}

/// Backward of `max`/`min`: the values' gradient goes to the selected element only.
pub fn max_min_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let (dim, _) = dim_attrs("max/min", &a.attrs, x.ndim())?;
    let (outer, len, inner) = split_at_dim(&x.shape, dim);
    let (g, idx) = (&a.grads[0], &a.outputs[1]);
    let mut dx = Array::zeros(&x.shape);
    for o in 0..outer {
        for i in 0..inner {
            let k = idx.data[o * inner + i] as usize;
            dx.data[(o * len + k) * inner + i] += g.data[o * inner + i];
        }
    }
    Ok(vec![Some(dx)])
}

/// Forward of `ferrite::argmax` (matches `torch.argmax(input, dim, keepdim)`): i64 index of the
/// first maximum along `dim`.
pub fn argmax_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    Ok(vec![extreme("argmax", req(ins, 0)?, attrs, |a, b| a > b)?.1])
}

/// Declares `max` / `min`.
macro_rules! extreme_op {
    ($STATIC:ident, $name:literal, [$($api:literal),*], $alias:literal, $doc:literal, $fwd:ident) => {
        reference_op! {
            $STATIC {
                name: $name,
                version: 1,
                api_names: [$($api),*],
                aliases: [$alias],
                deprecated: [],
                doc: $doc,
                inputs: [ArgDesc::tensor("input")],
                outputs: [ArgDesc::tensor("values"), ArgDesc::tensor_nograd("indices")],
                attrs: [AttrDesc::int_required("dim"), AttrDesc::bool("keepdim", false)],
                dispatch_input: 0,
                dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
                shape: max_min_shape,
                forward: $fwd,
                backward: some(max_min_backward),
            }
        }
    };
}

extreme_op!(MAX, "ferrite::max", ["max", "Tensor.max"], "aten::max.dim",
    "Maximum along dim with the index (i64) of the first maximum; gradient to that element.", max_forward);
extreme_op!(MIN, "ferrite::min", ["min", "Tensor.min"], "aten::min.dim",
    "Minimum along dim with the index (i64) of the first minimum; gradient to that element.", min_forward);

reference_op! {
    ARGMAX {
        name: "ferrite::argmax",
        version: 1,
        api_names: ["argmax", "Tensor.argmax"],
        aliases: ["aten::argmax"],
        deprecated: [],
        doc: "Index (i64) of the first maximum along dim.",
        inputs: [ArgDesc::tensor_nograd("input")],
        outputs: [ArgDesc::tensor_nograd("out")],
        attrs: [AttrDesc::int_required("dim"), AttrDesc::bool("keepdim", false)],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: argmax_shape,
        forward: argmax_forward,
        backward: none,
    }
}

#[cfg(test)]
#[path = "reduce_tests.rs"]
mod tests;
