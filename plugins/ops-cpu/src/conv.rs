//! `ferrite::conv2d` forward and backward (input, weight and bias gradients) by im2col + GEMM,
//! with stride, padding, dilation and groups. A 1×1, stride-1, unpadded kernel skips im2col.
//! Work is split over (image, group, output-column block) for the forward, (image, group,
//! input-channel block) for the input gradient and image blocks (with per-block partial sums)
//! for the weight gradient. f32/f64 natively; f16/bf16 computed in f32, rounded once on store.

use crate::common::shape;
use crate::cpu_op;
use crate::gemm::{chunk_len, gemm_st, num_threads, with_output, Mat, MatMut, Scalar};
use crate::register::{compute_in_f64, Call};
use crate::im2col::{col2im, im2col, Plan};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::parallel::parallel_for_ctx;
use ferrite_sdk::shape::conv::{conv2d_geom, conv2d_shape};
use std::sync::Mutex;

fn check_numel(what: &str, v: &TensorView, want: usize) -> Result<(), String> {
    // SAFETY: views are valid during the call.
    let got = unsafe { v.numel() };
    if got != want {
        return Err(format!("conv2d: {what} has {got} elements, expected {want}"));
    }
    Ok(())
}

fn plan_of(c: &Call<'_>, base: usize) -> Result<Plan, String> {
    let (x, w) = (shape(c.input(base)?), shape(c.input(base + 1)?));
    let b = c.opt_input(base + 2).map(shape);
    Ok(Plan::new(conv2d_geom(&x, &w, b.as_deref(), &c.attrs)?))
}

/// A raw pointer that may be shared with pool threads (each writes a disjoint region).
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: see the type's doc; every use documents its disjointness.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    fn get(&self) -> *mut T {
        self.0
    }
}

/// Tasks per `parallel_for` chunk: about four chunks per thread (scratch buffers are reused
/// within a chunk).
fn grain(tasks: usize, threads: usize) -> usize {
    (tasks / (4 * threads.max(1))).max(1)
}

fn forward_t<T: Scalar>(c: &Call<'_>) -> Result<(), String> {
    let pl = plan_of(c, 0)?;
    let g = &pl.g;
    let out = c.output(0).ok_or("conv2d: output missing")?;
    check_numel("output", out, g.n * g.o * pl.p)?;
    // SAFETY: views are valid for the call; the output is exclusively ours.
    unsafe {
        let (x, w) = (T::read(c.input(0)?), T::read(c.input(1)?));
        let bias = c.opt_input(2).map(|b| T::read(b));
        with_output::<T>(out, |y| {
            let blocks = g.n * g.groups;
            let t = num_threads(c.ctx);
            let parts = if blocks >= t { 1 } else { t.div_ceil(blocks.max(1)) };
            let qchunk = chunk_len(pl.p, parts, 16);
            let per = pl.p.div_ceil(qchunk).max(1);
            let yp = Shared(y.as_mut_ptr());
            parallel_for_ctx(c.ctx, blocks * per, grain(blocks * per, t), |s, e| {
                let mut col = Vec::new();
                for task in s..e {
                    let (blk, qc) = (task / per, task % per);
                    let (n, gi) = (blk / g.groups, blk % g.groups);
                    let (q0, q1) = (qc * qchunk, ((qc + 1) * qchunk).min(pl.p));
                    if q0 >= q1 {
                        continue;
                    }
                    let cols = q1 - q0;
                    let xoff = (n * g.c + gi * pl.cg) * pl.hw;
                    let b = if pl.direct {
                        Mat::rows(x.as_ptr().add(xoff + q0), pl.hw)
                    } else {
                        col.resize(pl.rows * cols, T::ZERO);
                        im2col(&pl, &x[xoff..xoff + pl.cg * pl.hw], q0, q1, &mut col);
                        Mat::rows(col.as_ptr(), cols)
                    };
                    // SAFETY: (image, group, column block) tasks write disjoint output blocks.
                    let dst = MatMut::rows(yp.get().add((n * g.o + gi * pl.og) * pl.p + q0), pl.p);
                    if let Some(bias) = &bias {
                        for o in 0..pl.og {
                            std::slice::from_raw_parts_mut(dst.at(o, 0).ptr, cols).fill(bias[gi * pl.og + o]);
                        }
                    }
                    let wg = Mat::rows(w.as_ptr().add(gi * pl.og * pl.rows), pl.rows);
                    gemm_st(pl.og, cols, pl.rows, dst, bias.is_some(), wg, b);
                }
            });
            Ok(())
        })
    }
}

/// `dx`: per (image, group, input-channel block) `dcol = W_gᵀ · dY`, then col2im.
unsafe fn grad_input<T: Scalar>(c: &Call<'_>, pl: &Plan, w: &[T], dy: &[T], dx: &mut [T]) {
    let g = &pl.g;
    let kk = g.k[0] * g.k[1];
    let blocks = g.n * g.groups;
    let t = num_threads(c.ctx);
    let parts = if blocks >= t { 1 } else { t.div_ceil(blocks.max(1)) };
    let cchunk = chunk_len(pl.cg, parts, 1);
    let per = pl.cg.div_ceil(cchunk).max(1);
    let dxp = Shared(dx.as_mut_ptr());
    parallel_for_ctx(c.ctx, blocks * per, grain(blocks * per, t), |s, e| {
        let mut dcol = Vec::new();
        for task in s..e {
            let (blk, cc) = (task / per, task % per);
            let (n, gi) = (blk / g.groups, blk % g.groups);
            let (c0, c1) = (cc * cchunk, ((cc + 1) * cchunk).min(pl.cg));
            if c0 >= c1 {
                continue;
            }
            let wt = Mat::rows_t(w.as_ptr().add(gi * pl.og * pl.rows), pl.rows).at(c0 * kk, 0);
            let dyg = Mat::rows(dy.as_ptr().add((n * g.o + gi * pl.og) * pl.p), pl.p);
            // SAFETY: tasks own disjoint channel ranges of dx.
            let xoff = (n * g.c + gi * pl.cg + c0) * pl.hw;
            let dxs = std::slice::from_raw_parts_mut(dxp.get().add(xoff), (c1 - c0) * pl.hw);
            if pl.direct {
                gemm_st(c1 - c0, pl.p, pl.og, MatMut::rows(dxs.as_mut_ptr(), pl.hw), false, wt, dyg);
            } else {
                let rows = (c1 - c0) * kk;
                dcol.resize(rows * pl.p, T::ZERO);
                gemm_st(rows, pl.p, pl.og, MatMut::rows(dcol.as_mut_ptr(), pl.p), false, wt, dyg);
                dxs.fill(T::ZERO);
                col2im(pl, &dcol, c1 - c0, dxs);
            }
        }
    });
}

/// `dW_g = Σ_n dY[n, g] · col[n, g]ᵀ`, per block of images into a partial sum, then reduced.
unsafe fn grad_weight<T: Scalar>(c: &Call<'_>, pl: &Plan, x: &[T], dy: &[T], dw: &mut [T]) {
    let g = &pl.g;
    let t = num_threads(c.ctx);
    let grain = g.n.div_ceil(t).max(1);
    let partials: Mutex<Vec<Vec<T>>> = Mutex::new(Vec::new());
    parallel_for_ctx(c.ctx, g.n, grain, |s, e| {
        let mut acc = vec![T::ZERO; g.o * pl.rows];
        let mut col = Vec::new();
        for n in s..e {
            for gi in 0..g.groups {
                let xoff = (n * g.c + gi * pl.cg) * pl.hw;
                let colt = if pl.direct {
                    Mat::rows_t(x.as_ptr().add(xoff), pl.hw)
                } else {
                    col.resize(pl.rows * pl.p, T::ZERO);
                    im2col(pl, &x[xoff..xoff + pl.cg * pl.hw], 0, pl.p, &mut col);
                    Mat::rows_t(col.as_ptr(), pl.p)
                };
                let dyg = Mat::rows(dy.as_ptr().add((n * g.o + gi * pl.og) * pl.p), pl.p);
                let dst = MatMut::rows(acc.as_mut_ptr().add(gi * pl.og * pl.rows), pl.rows);
                gemm_st(pl.og, pl.rows, pl.p, dst, true, dyg, colt);
            }
        }
        partials.lock().unwrap_or_else(|e| e.into_inner()).push(acc);
    });
    dw.fill(T::ZERO);
    for part in partials.into_inner().unwrap_or_else(|e| e.into_inner()) {
        for (d, v) in dw.iter_mut().zip(part) {
            *d += v;
        }
    }
}

fn backward_t<T: Scalar>(c: &Call<'_>) -> Result<(), String> {
    let base = c.fwd_input_base(1)?;
    let pl = plan_of(c, base)?;
    let g = &pl.g;
    let gv = c.input(0)?;
    check_numel("grad", gv, g.n * g.o * pl.p)?;
    // SAFETY: views are valid for the call; gradient outputs are exclusively ours.
    unsafe {
        let dy = T::read(gv);
        if let Some(dx) = c.output(0) {
            check_numel("grad of input", dx, g.n * g.c * pl.hw)?;
            let w = T::read(c.input(base + 1)?);
            with_output::<T>(dx, |o| {
                grad_input(c, &pl, &w, &dy, o);
                Ok(())
            })?;
        }
        if let Some(dw) = c.output(1) {
            check_numel("grad of weight", dw, g.o * pl.rows)?;
            let x = T::read(c.input(base)?);
            with_output::<T>(dw, |o| {
                grad_weight(c, &pl, &x, &dy, o);
                Ok(())
            })?;
        }
        if let Some(db) = c.output(2) {
            check_numel("grad of bias", db, g.o)?;
            let mut acc = vec![0f64; g.o];
            for (i, plane) in dy.chunks_exact(pl.p.max(1)).enumerate() {
                acc[i % g.o.max(1)] += plane.iter().map(|v| v.to_f64()).sum::<f64>();
            }
            let acc: Vec<T> = acc.into_iter().map(T::from_f64).collect();
            with_output::<T>(db, |o| {
                o.copy_from_slice(&acc);
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Forward kernel of `ferrite::conv2d`: input `[N, C, H, W]`, weight `[O, C/groups, kH, kW]`,
/// optional bias `[O]` → `[N, O, H', W']` (attrs stride, padding, dilation, groups); dtypes f32,
/// f64, f16, bf16. Errors as `ferrite_sdk::shape::conv::conv2d_geom`.
pub fn conv2d_forward(c: &Call<'_>) -> Result<(), String> {
    if compute_in_f64("conv2d", c.input(0)?.dtype)? {
        forward_t::<f64>(c)
    } else {
        forward_t::<f32>(c)
    }
}

/// Backward kernel of `ferrite::conv2d`: `dx` (GEMM + col2im), `dW` (im2col + GEMM, summed over
/// images), `db = Σ_{n,y,x} dy` (f64 accumulation); only the requested gradients are computed.
pub fn conv2d_backward(c: &Call<'_>) -> Result<(), String> {
    if compute_in_f64("conv2d", c.input(0)?.dtype)? {
        backward_t::<f64>(c)
    } else {
        backward_t::<f32>(c)
    }
}

cpu_op! {
    CONV2D {
        name: "ferrite::conv2d",
        version: 1,
        api_names: ["nn.functional.conv2d", "conv2d"],
        aliases: ["aten::conv2d"],
        doc: "2-D cross-correlation [N, C, H, W] * [O, C/groups, kH, kW] (+ bias [O]) with stride, padding, dilation, groups.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("weight"), ArgDesc::tensor("bias").optional()],
        outputs: [ArgDesc::tensor("out")],
        attrs: [
            AttrDesc::ints("stride", &[1, 1]),
            AttrDesc::ints("padding", &[0, 0]),
            AttrDesc::ints("dilation", &[1, 1]),
            AttrDesc::int("groups", 1),
        ],
        dispatch_input: 0,
        shape: conv2d_shape,
        forward: conv2d_forward,
        backward: some(conv2d_backward),
    }
}

#[cfg(test)]
#[path = "conv_tests.rs"]
mod tests;
