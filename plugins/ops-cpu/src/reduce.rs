//! Reductions: `sum`, `mean`, `logsumexp` over a set of dims and `max`, `min` (values + i64
//! indices), `argmax` along one dim. Reduced dims are moved last (no copy when they already are;
//! column sums for leading dims), rows are reduced in parallel, f16/bf16 accumulate in f32.

use crate::layout::{expand, from_reduce_rows, sum_dims, to_reduce_rows};
use crate::register::Call;
use crate::typed::{bwd_views, load_i64, par_chunks, par_for, store_i64, to_rows, with_out, Float, SyncPtr};
use crate::{cpu_op, with_float};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::io::dims;
use ferrite_sdk::shape::reduce::{
    argmax_shape, dim_attrs, dim_out_shape, dims_attrs, dims_reduce_shape, keep_shape, max_min_shape, reduced_shape, split_at_dim,
};

/// Which dims-reduction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DimsOp {
    /// Sum.
    Sum,
    /// Mean.
    Mean,
    /// log Σ exp.
    LogSumExp,
}

impl DimsOp {
    fn name(self) -> &'static str {
        match self {
            DimsOp::Sum => "sum",
            DimsOp::Mean => "mean",
            DimsOp::LogSumExp => "logsumexp",
        }
    }
}

/// Max-subtracted log-sum-exp of one slice (rules of ops-ref: all `-inf` or empty gives `-inf`,
/// `+inf` gives `+inf`, NaN propagates).
#[inline]
pub fn lse<T: Float>(x: &[T]) -> T {
    let mut m = T::NEG_INF;
    let mut nan = false;
    for &v in x {
        m = m.max(v);
        nan |= v.is_nan();
    }
    if m.f64().is_finite() {
        let mut acc = [T::ZERO; 4];
        let ch = x.chunks_exact(4);
        let rest = ch.remainder();
        for c in ch {
            for k in 0..4 {
                acc[k] += (c[k] - m).exp();
            }
        }
        let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        for &v in rest {
            s += (v - m).exp();
        }
        m + s.ln()
    } else if nan {
        T::of(f64::NAN)
    } else {
        m
    }
}

/// Forward of the dims reductions.
pub fn dims_forward<T: Float>(c: &Call<'_>, op: DimsOp) -> Result<(), String> {
    let xv = c.input(0)?;
    let yv = c.output(0).ok_or("missing output")?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let shape = dims(xv);
        let (mask, keepdim) = dims_attrs(op.name(), &c.attrs, shape.len())?;
        if dims(yv) != reduced_shape(&shape, &mask, keepdim) {
            return Err(format!("{}: output shape {:?} does not match", op.name(), dims(yv)));
        }
        let x = T::load(xv);
        let count: usize = shape.iter().zip(&mask).filter(|(_, &m)| m).map(|(&s, _)| s).product();
        with_out::<T>(yv, |y| {
            match op {
                DimsOp::Sum | DimsOp::Mean => {
                    let s = sum_dims(ctx, &x, &shape, &mask);
                    if op == DimsOp::Sum {
                        y.copy_from_slice(&s);
                    } else {
                        let n = T::of(count as f64);
                        y.iter_mut().zip(&s).for_each(|(o, &v)| *o = v / n);
                    }
                }
                DimsOp::LogSumExp => {
                    let (_, len, rows) = to_reduce_rows(&x, &shape, &mask);
                    par_chunks(ctx, y, 1, len, |r0, o| {
                        for (k, v) in o.iter_mut().enumerate() {
                            *v = lse(&rows[(r0 + k) * len..(r0 + k + 1) * len]);
                        }
                    });
                }
            }
            Ok(())
        })
    }
}

/// Backward of the dims reductions: `dy` broadcast back (÷count for mean; ·softmax for
/// logsumexp, recomputed in the compute type; zero for an all `-inf` slice).
pub fn dims_backward<T: Float>(c: &Call<'_>, op: DimsOp) -> Result<(), String> {
    let b = bwd_views(c, 1)?;
    let Some(dxv) = b.dins[0] else { return Ok(()) };
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let shape = dims(&b.inputs[0]);
        let (mask, _) = dims_attrs(op.name(), &c.attrs, shape.len())?;
        let g = T::load(&b.grads[0]);
        let ks = keep_shape(&shape, &mask);
        if g.len() != ks.iter().product::<usize>() {
            return Err(format!("{} backward: gradient has {} elements", op.name(), g.len()));
        }
        with_out::<T>(dxv, |dx| {
            match op {
                DimsOp::Sum | DimsOp::Mean => {
                    let ge = expand(ctx, &g, &ks, &shape);
                    let count: usize = shape.iter().zip(&mask).filter(|(_, &m)| m).map(|(&s, _)| s).product();
                    let scale = if op == DimsOp::Sum { T::ONE } else { T::ONE / T::of(count as f64) };
                    dx.iter_mut().zip(ge.iter()).for_each(|(o, &v)| *o = v * scale);
                }
                DimsOp::LogSumExp => {
                    let x = T::load(&b.inputs[0]);
                    let (rows, len, xr) = to_reduce_rows(&x, &shape, &mask);
                    let mut dr = vec![T::ZERO; rows * len];
                    par_chunks(ctx, &mut dr, len.max(1), 2 * len, |r0, o| {
                        for (k, row) in o.chunks_mut(len.max(1)).enumerate() {
                            let r = r0 + k;
                            let xs = &xr[r * len..(r + 1) * len];
                            let y = lse(xs);
                            if y == T::NEG_INF {
                                continue;
                            }
                            row.iter_mut().zip(xs).for_each(|(o, &v)| *o = g[r] * (v - y).exp());
                        }
                    });
                    from_reduce_rows(&dr, dx, &shape, &mask);
                }
            }
            Ok(())
        })
    }
}

/// Declares a `(dim: ints = [], keepdim = false)` reduction.
macro_rules! dims_op {
    ($STATIC:ident, $m:ident, $kind:ident, $name:literal, [$($api:literal),*], $alias:literal, $doc:literal) => {
        #[doc = concat!("Kernels of `", $name, "`.")]
        pub mod $m {
            use super::*;
            /// Forward kernel.
            pub fn forward(c: &Call<'_>) -> Result<(), String> {
                with_float!($name, c.input(0)?.dtype, T => dims_forward::<T>(c, DimsOp::$kind))
            }
            /// Backward kernel.
            pub fn backward(c: &Call<'_>) -> Result<(), String> {
                with_float!($name, c.input(1)?.dtype, T => dims_backward::<T>(c, DimsOp::$kind))
            }
        }
        cpu_op! {
            $STATIC {
                name: $name,
                version: 1,
                api_names: [$($api),*],
                aliases: [$alias],
                doc: $doc,
                inputs: [ArgDesc::tensor("input")],
                outputs: [ArgDesc::tensor("out")],
                attrs: [AttrDesc::ints("dim", &[]), AttrDesc::bool("keepdim", false)],
                dispatch_input: 0,
                shape: dims_reduce_shape,
                forward: $m::forward,
                backward: some($m::backward),
            }
        }
    };
}

dims_op!(SUM, sum, Sum, "ferrite::sum", ["sum", "Tensor.sum"], "aten::sum", "Sum over dims (all when empty), f64 accumulation.");
dims_op!(MEAN, mean, Mean, "ferrite::mean", ["mean", "Tensor.mean"], "aten::mean", "Mean over dims (all when empty).");
dims_op!(LOGSUMEXP, logsumexp, LogSumExp, "ferrite::logsumexp", ["logsumexp", "Tensor.logsumexp"], "aten::logsumexp",
    "log(sum(exp(x))) over dims, max-subtracted; all -inf slice gives -inf with zero gradient.");

/// Index of the first extreme of a slice (`better(candidate, best)`); NaN counts as the extreme.
#[inline]
fn extreme_index<T: Float>(x: &[T], better: impl Fn(T, T) -> bool) -> usize {
    let mut best = 0;
    for k in 1..x.len() {
        if !x[best].is_nan() && (x[k].is_nan() || better(x[k], x[best])) {
            best = k;
        }
    }
    best
}

/// Values (when `values` is given) and indices of the extreme along attr `dim`.
pub fn extreme_forward<T: Float>(c: &Call<'_>, op: &str, is_max: bool, with_values: bool) -> Result<(), String> {
    let xv = c.input(0)?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let shape = dims(xv);
        let (dim, keepdim) = dim_attrs(op, &c.attrs, shape.len())?;
        let out_shape = dim_out_shape(op, &shape, dim, keepdim)?;
        let (outer, len, inner) = split_at_dim(&shape, dim);
        let x = T::load(xv);
        let rows = to_rows(&x, outer, len, inner);
        let n = outer * inner;
        let mut idx = vec![0i64; n];
        let p = SyncPtr::new(&mut idx);
        par_for(ctx, n, len, |s, e| {
            // SAFETY: disjoint ranges.
            let o = p.slice(s, e - s);
            for (k, v) in o.iter_mut().enumerate() {
                let r = &rows[(s + k) * len..(s + k + 1) * len];
                *v = if is_max { extreme_index(r, |a, b| a > b) } else { extreme_index(r, |a, b| a < b) } as i64;
            }
        });
        let outs: Vec<_> = (0..c.outputs.len()).map(|i| c.output(i).ok_or("missing output")).collect::<Result<_, _>>()?;
        for o in &outs {
            if dims(o) != out_shape {
                return Err(format!("{op}: output shape {:?}, expected {out_shape:?}", dims(o)));
            }
        }
        if with_values {
            let vals: Vec<T> = idx.iter().enumerate().map(|(r, &i)| rows[r * len + i as usize]).collect();
            crate::typed::store(outs[0], &vals)?;
            store_i64(outs[1], &idx)
        } else {
            store_i64(outs[0], &idx)
        }
    }
}

/// Backward of `max`/`min`: the values' gradient goes to the selected element (saved indices).
pub fn extreme_backward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let b = bwd_views(c, 2)?;
    let Some(dxv) = b.dins[0] else { return Ok(()) };
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let shape = dims(&b.inputs[0]);
        let (dim, _) = dim_attrs("max/min", &c.attrs, shape.len())?;
        let (outer, len, inner) = split_at_dim(&shape, dim);
        let g = T::load(&b.grads[0]);
        let idx = load_i64(&b.outputs[1]);
        if g.len() != outer * inner || idx.len() != outer * inner {
            return Err("max/min backward: gradient or indices have the wrong size".into());
        }
        with_out::<T>(dxv, |dx| {
            dx.iter_mut().for_each(|v| *v = T::ZERO);
            for o in 0..outer {
                for i in 0..inner {
                    let k = idx[o * inner + i];
                    if k < 0 || k as usize >= len {
                        return Err(format!("max/min backward: index {k} out of range {len}"));
                    }
                    dx[(o * len + k as usize) * inner + i] += g[o * inner + i];
                }
            }
            Ok(())
        })
    }
}

/// Declares `max` / `min`.
macro_rules! extreme_op {
    ($STATIC:ident, $m:ident, $is_max:expr, $name:literal, $short:literal, [$($api:literal),*], $alias:literal, $doc:literal) => {
        #[doc = concat!("Kernels of `", $name, "`.")]
        pub mod $m {
            use super::*;
            /// Forward kernel.
            pub fn forward(c: &Call<'_>) -> Result<(), String> {
                with_float!($name, c.input(0)?.dtype, T => extreme_forward::<T>(c, $short, $is_max, true))
            }
            /// Backward kernel.
            pub fn backward(c: &Call<'_>) -> Result<(), String> {
                with_float!($name, c.input(2)?.dtype, T => extreme_backward::<T>(c))
            }
        }
        cpu_op! {
            $STATIC {
                name: $name,
                version: 1,
                api_names: [$($api),*],
                aliases: [$alias],
                doc: $doc,
                inputs: [ArgDesc::tensor("input")],
                outputs: [ArgDesc::tensor("values"), ArgDesc::tensor_nograd("indices")],
                attrs: [AttrDesc::int_required("dim"), AttrDesc::bool("keepdim", false)],
                dispatch_input: 0,
                shape: max_min_shape,
                forward: $m::forward,
                backward: some($m::backward),
            }
        }
    };
}

extreme_op!(MAX, max, true, "ferrite::max", "max", ["max", "Tensor.max"], "aten::max.dim",
    "Maximum along dim with the index (i64) of the first maximum; gradient to that element.");
extreme_op!(MIN, min, false, "ferrite::min", "min", ["min", "Tensor.min"], "aten::min.dim",
    "Minimum along dim with the index (i64) of the first minimum; gradient to that element.");

/// Forward kernel of `argmax`.
pub fn argmax_forward(c: &Call<'_>) -> Result<(), String> {
    with_float!("argmax", c.input(0)?.dtype, T => extreme_forward::<T>(c, "argmax", true, false))
}

cpu_op! {
    ARGMAX {
        name: "ferrite::argmax",
        version: 1,
        api_names: ["argmax", "Tensor.argmax"],
        aliases: ["aten::argmax"],
        doc: "Index (i64) of the first maximum along dim.",
        inputs: [ArgDesc::tensor_nograd("input")],
        outputs: [ArgDesc::tensor_nograd("out")],
        attrs: [AttrDesc::int_required("dim"), AttrDesc::bool("keepdim", false)],
        dispatch_input: 0,
        shape: argmax_shape,
        forward: argmax_forward,
        backward: none,
    }
}
