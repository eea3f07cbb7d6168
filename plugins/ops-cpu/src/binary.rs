//! Broadcasting arithmetic (`add`, `sub`, `mul`, `div`): dims collapsed so the innermost loop is
//! a plain slice zip (same-shape, row-by-vector or vector-by-row), parallel over outer rows.
//! Gradients are reduced to each operand's own shape ([`sum_to`]).

use crate::layout::{bcast_strides, collapse, expand, row_offsets, sum_to};
use crate::register::Call;
use crate::typed::{bwd_views, par_chunks, store, with_out, Float};
use crate::{cpu_op, with_float};
use ferrite_sdk::abi::op::ArgDesc;
use ferrite_sdk::kernel::array::broadcast_shapes;
use ferrite_sdk::kernel::io::dims;
use ferrite_sdk::shape::binary::arith_shape;

/// `out = f(a, b)` over the broadcast shape, into `y` (row-major, `out` elements).
pub fn broadcast_apply<T: Float, F: Fn(T, T) -> T + Sync>(
    ctx: *const ferrite_sdk::abi::kernel::KernelCtx,
    a: &[T],
    sa: &[usize],
    b: &[T],
    sb: &[usize],
    out: &[usize],
    y: &mut [T],
    f: F,
) {
    let (dims, st) = collapse(out, &[bcast_strides(sa, out), bcast_strides(sb, out)]);
    let last = dims.len() - 1;
    let l = dims[last];
    let (ia, ib) = (st[0][last], st[1][last]);
    par_chunks(ctx, y, l, l, |r0, chunk| {
        let mut off = [0usize; 2];
        for (k, row) in chunk.chunks_mut(l).enumerate() {
            row_offsets(r0 + k, &dims, &st, &mut off);
            match (ia, ib) {
                (0, 0) => {
                    let v = f(a[off[0]], b[off[1]]);
                    row.iter_mut().for_each(|o| *o = v);
                }
                (0, _) => {
                    let av = a[off[0]];
                    row.iter_mut().zip(&b[off[1]..off[1] + l]).for_each(|(o, &bv)| *o = f(av, bv));
                }
                (_, 0) => {
                    let bv = b[off[1]];
                    row.iter_mut().zip(&a[off[0]..off[0] + l]).for_each(|(o, &av)| *o = f(av, bv));
                }
                _ => row
                    .iter_mut()
                    .zip(&a[off[0]..off[0] + l])
                    .zip(&b[off[1]..off[1] + l])
                    .for_each(|((o, &av), &bv)| *o = f(av, bv)),
            }
        }
    });
}

/// Forward driver of a broadcasting binary op.
pub fn binary_forward<T: Float, F: Fn(T, T) -> T + Sync>(c: &Call<'_>, op: &str, f: F) -> Result<(), String> {
    let (av, bv) = (c.input(0)?, c.input(1)?);
    let yv = c.output(0).ok_or("missing output")?;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        if av.dtype != bv.dtype {
            return Err(format!("{op}: dtypes differ ({} vs {})", av.dtype.name(), bv.dtype.name()));
        }
        let (sa, sb) = (dims(av), dims(bv));
        let out = broadcast_shapes(&sa, &sb).map_err(|e| format!("{op}: {e}"))?;
        if dims(yv) != out {
            return Err(format!("{op}: output shape {:?}, expected {out:?}", dims(yv)));
        }
        let (a, b) = (T::load(av), T::load(bv));
        with_out::<T>(yv, |y| {
            if !y.is_empty() {
                broadcast_apply(c.ctx, &a, &sa, &b, &sb, &out, y, f);
            }
            Ok(())
        })
    }
}

/// Which binary op a backward is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arith {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a · b`.
    Mul,
    /// `a / b`.
    Div,
}

/// Backward driver: elementwise partials times `dy`, summed back to each operand's shape.
pub fn binary_backward<T: Float>(c: &Call<'_>, op: Arith) -> Result<(), String> {
    let bw = bwd_views(c, 1)?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let (av, bv) = (&bw.inputs[0], &bw.inputs[1]);
        let (sa, sb) = (dims(av), dims(bv));
        let out = broadcast_shapes(&sa, &sb)?;
        let g = T::load(&bw.grads[0]);
        if g.len() != out.iter().product::<usize>() {
            return Err(format!("{op:?} backward: gradient has {} elements for shape {out:?}", g.len()));
        }
        let n = g.len();
        let mut tmp = vec![T::ZERO; n];
        if let Some(da) = bw.dins[0] {
            let ga: &[T] = match op {
                Arith::Add | Arith::Sub => &g,
                Arith::Mul | Arith::Div => {
                    let b = T::load(bv);
                    let be = expand(ctx, &b, &sb, &out);
                    let ge = g.iter().zip(be.iter());
                    if op == Arith::Mul {
                        tmp.iter_mut().zip(ge).for_each(|(t, (&g, &b))| *t = g * b);
                    } else {
                        tmp.iter_mut().zip(ge).for_each(|(t, (&g, &b))| *t = g / b);
                    }
                    &tmp
                }
            };
            store(da, &sum_to(ctx, ga, &out, &sa))?;
        }
        if let Some(db) = bw.dins[1] {
            let gb: &[T] = match op {
                Arith::Add => &g,
                Arith::Sub => {
                    tmp.iter_mut().zip(g.iter()).for_each(|(t, &g)| *t = -g);
                    &tmp
                }
                Arith::Mul | Arith::Div => {
                    let a = T::load(av);
                    let ae = expand(ctx, &a, &sa, &out);
                    if op == Arith::Mul {
                        tmp.iter_mut().zip(g.iter().zip(ae.iter())).for_each(|(t, (&g, &a))| *t = g * a);
                    } else {
                        let b = T::load(bv);
                        let be = expand(ctx, &b, &sb, &out);
                        tmp.iter_mut()
                            .zip(g.iter().zip(ae.iter()).zip(be.iter()))
                            .for_each(|(t, ((&g, &a), &b))| *t = -g * a / (b * b));
                    }
                    &tmp
                }
            };
            store(db, &sum_to(ctx, gb, &out, &sb))?;
        }
        Ok(())
    }
}

/// Declares one arithmetic op.
macro_rules! arith {
    ($STATIC:ident, $m:ident, $kind:ident, $name:literal, [$($api:literal),*], $alias:literal, $doc:literal, |$a:ident, $b:ident| $f:expr) => {
        #[doc = concat!("Kernels of `", $name, "`.")]
        pub mod $m {
            use super::*;
            /// Forward kernel.
            pub fn forward(c: &Call<'_>) -> Result<(), String> {
                with_float!($name, c.input(0)?.dtype, T => binary_forward::<T, _>(c, $name, |$a: T, $b: T| $f))
            }
            /// Backward kernel.
            pub fn backward(c: &Call<'_>) -> Result<(), String> {
                with_float!($name, c.input(1)?.dtype, T => binary_backward::<T>(c, Arith::$kind))
            }
        }
        cpu_op! {
            $STATIC {
                name: $name,
                version: 1,
                api_names: [$($api),*],
                aliases: [$alias],
                doc: $doc,
                inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("other")],
                outputs: [ArgDesc::tensor("out")],
                attrs: [],
                dispatch_input: 0,
                shape: arith_shape,
                forward: $m::forward,
                backward: some($m::backward),
            }
        }
    };
}

arith!(ADD, add, Add, "ferrite::add", ["add", "Tensor.add", "Tensor.__add__"], "aten::add",
    "Elementwise input + other with broadcasting.", |a, b| a + b);
arith!(SUB, sub, Sub, "ferrite::sub", ["sub", "Tensor.sub", "Tensor.__sub__", "subtract"], "aten::sub",
    "Elementwise input - other with broadcasting.", |a, b| a - b);
arith!(MUL, mul, Mul, "ferrite::mul", ["mul", "Tensor.mul", "Tensor.__mul__", "multiply"], "aten::mul",
    "Elementwise input * other with broadcasting.", |a, b| a * b);
arith!(DIV, div, Div, "ferrite::div", ["div", "Tensor.div", "Tensor.__truediv__", "divide", "true_divide"], "aten::div",
    "Elementwise true division input / other with broadcasting (IEEE: x/0 is +-inf or NaN).", |a, b| a / b);
