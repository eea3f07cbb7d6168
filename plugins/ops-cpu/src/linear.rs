//! `ferrite::linear` (`y = x·Wᵀ + b`), forward and backward, over [`crate::gemm`]: one GEMM
//! over all leading rows of the input, split over the core's threads. f32/f64 natively;
//! f16/bf16 computed in f32 and rounded once on store; strided inputs are gathered first.

use crate::common::shape;
use crate::cpu_op;
use crate::gemm::{par_gemm, with_output, Mat, MatMut, Scalar};
use crate::register::{compute_in_f64, Call};
use ferrite_sdk::abi::op::ArgDesc;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::shape::matmul::{linear_check, linear_shape};

/// `(rows, in, out)` of a linear call (forward inputs starting at view `base`), validated.
fn dims_of(c: &Call<'_>, base: usize) -> Result<(usize, usize, usize), String> {
    let (x, w) = (shape(c.input(base)?), shape(c.input(base + 1)?));
    let b = c.opt_input(base + 2).map(shape);
    linear_check(&x, &w, b.as_deref())?;
    Ok((x[..x.len() - 1].iter().product(), w[1], w[0]))
}

fn check_numel(what: &str, v: &TensorView, want: usize) -> Result<(), String> {
    // SAFETY: views are valid during the call.
    let got = unsafe { v.numel() };
    if got != want {
        return Err(format!("linear: {what} has {got} elements, expected {want}"));
    }
    Ok(())
}

fn forward_t<T: Scalar>(c: &Call<'_>) -> Result<(), String> {
    let (rows, fin, fout) = dims_of(c, 0)?;
    let out = c.output(0).ok_or("linear: output missing")?;
    check_numel("output", out, rows * fout)?;
    // SAFETY: views are valid for the call; the output is exclusively ours.
    unsafe {
        let (x, w) = (T::read(c.input(0)?), T::read(c.input(1)?));
        let bias = c.opt_input(2).map(|b| T::read(b));
        with_output::<T>(out, |y| {
            if let Some(b) = &bias {
                for row in y.chunks_exact_mut(fout.max(1)) {
                    row.copy_from_slice(b);
                }
            }
            let dst = MatMut::rows(y.as_mut_ptr(), fout);
            par_gemm(c.ctx, rows, fout, fin, dst, bias.is_some(), Mat::rows(x.as_ptr(), fin), Mat::rows_t(w.as_ptr(), fin));
            Ok(())
        })
    }
}

fn backward_t<T: Scalar>(c: &Call<'_>) -> Result<(), String> {
    let base = c.fwd_input_base(1)?;
    let (rows, fin, fout) = dims_of(c, base)?;
    let gv = c.input(0)?;
    check_numel("grad", gv, rows * fout)?;
    // SAFETY: views are valid for the call; gradient outputs are exclusively ours.
    unsafe {
        let dy = T::read(gv);
        if let Some(dx) = c.output(0) {
            check_numel("grad of input", dx, rows * fin)?;
            let w = T::read(c.input(base + 1)?);
            with_output::<T>(dx, |o| {
                let dst = MatMut::rows(o.as_mut_ptr(), fin);
                par_gemm(c.ctx, rows, fin, fout, dst, false, Mat::rows(dy.as_ptr(), fout), Mat::rows(w.as_ptr(), fin));
                Ok(())
            })?;
        }
        if let Some(dw) = c.output(1) {
            check_numel("grad of weight", dw, fout * fin)?;
            let x = T::read(c.input(base)?);
            with_output::<T>(dw, |o| {
                let dst = MatMut::rows(o.as_mut_ptr(), fin);
                par_gemm(c.ctx, fout, fin, rows, dst, false, Mat::rows_t(dy.as_ptr(), fout), Mat::rows(x.as_ptr(), fin));
                Ok(())
            })?;
        }
        if let Some(db) = c.output(2) {
            check_numel("grad of bias", db, fout)?;
            let mut acc = vec![0f64; fout];
            for row in dy.chunks_exact(fout.max(1)) {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += v.to_f64();
                }
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

/// Forward kernel of `ferrite::linear`: input `[*, in]`, weight `[out, in]`, optional bias
/// `[out]` → `[*, out]`; dtypes f32, f64, f16, bf16. Errors on mismatched shapes or dtypes.
pub fn linear_forward(c: &Call<'_>) -> Result<(), String> {
    if compute_in_f64("linear", c.input(0)?.dtype)? {
        forward_t::<f64>(c)
    } else {
        forward_t::<f32>(c)
    }
}

/// Backward kernel of `ferrite::linear`: `dx = dy·W`, `dW = dyᵀ·x` (over all leading rows),
/// `db = Σ_rows dy` (accumulated in f64); only the requested gradients are computed.
pub fn linear_backward(c: &Call<'_>) -> Result<(), String> {
    if compute_in_f64("linear", c.input(0)?.dtype)? {
        backward_t::<f64>(c)
    } else {
        backward_t::<f32>(c)
    }
}

cpu_op! {
    LINEAR {
        name: "ferrite::linear",
        version: 1,
        api_names: ["nn.functional.linear", "linear"],
        aliases: ["aten::linear"],
        doc: "Affine map y = x W^T + b: input [*, in], weight [out, in], bias [out] -> [*, out].",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("weight"), ArgDesc::tensor("bias").optional()],
        outputs: [ArgDesc::tensor("out")],
        attrs: [],
        dispatch_input: 0,
        shape: linear_shape,
        forward: linear_forward,
        backward: some(linear_backward),
    }
}

#[cfg(test)]
#[path = "linear_tests.rs"]
mod tests;
