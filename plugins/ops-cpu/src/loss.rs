//! Fused `cross_entropy`: row-wise log-softmax + weighted NLL + label smoothing in one pass over
//! each row (parallel over rows), `ignore_index` rows contributing nothing to the loss, the
//! normaliser or the gradient (field case C06); backward recomputes the softmax per row.

use crate::register::Call;
use crate::softmax::softmax_row;
use crate::typed::{bwd_views, load_i64, par_chunks, store, sum, with_out, Float};
use crate::{cpu_op, with_float};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::io::dims;
use ferrite_sdk::shape::loss::{ce_attrs, check_class_shapes, cross_entropy_shape, Reduction};

/// Validated inputs: `(N, C, logits, per-row class or None if ignored, class weights)`.
type Inputs<'a, T> = (usize, usize, std::borrow::Cow<'a, [T]>, Vec<Option<usize>>, Vec<T>);

/// Reads and validates `(input, target, weight?)` starting at view `base` of `c.inputs`.
unsafe fn inputs<'a, T: Float>(c: &Call<'a>, base: usize, ignore_index: i64) -> Result<Inputs<'a, T>, String> {
    let op = "cross_entropy";
    let xv = c.input(base)?;
    let tv = c.input(base + 1)?;
    let wv = c.opt_input(base + 2);
    let ws = wv.map(|w| dims(w));
    let (n, cls) = check_class_shapes(op, &dims(xv), &dims(tv), ws.as_deref())?;
    let mut ys = Vec::with_capacity(n);
    for v in load_i64(tv) {
        if v == ignore_index {
            ys.push(None);
        } else if v >= 0 && (v as usize) < cls {
            ys.push(Some(v as usize));
        } else {
            return Err(format!("{op}: target {v} out of range for {cls} classes (ignore_index {ignore_index})"));
        }
    }
    let w = match wv {
        Some(w) => T::load(w).into_owned(),
        None => vec![T::ONE; cls],
    };
    Ok((n, cls, T::load(xv), ys, w))
}

/// Forward kernel: per-sample `l_i = (1-ε)·w[y_i]·(-log p_i[y_i]) + (ε/C)·Σ_c w[c]·(-log p_i[c])`,
/// reduced (`mean` divides by `Σ w[y_i]` over kept samples).
pub fn cross_entropy_forward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let (ii, eps, red) = ce_attrs(&c.attrs)?;
    let yv = c.output(0).ok_or("missing output")?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let (n, cls, x, ys, w) = inputs::<T>(c, 0, ii)?;
        let (e, one_m) = (T::of(eps / cls as f64), T::of(1.0 - eps));
        let mut l = vec![T::ZERO; n];
        par_chunks(ctx, &mut l, 1, 3 * cls, |r0, o| {
            let mut lp = vec![T::ZERO; cls];
            for (k, li) in o.iter_mut().enumerate() {
                let r = r0 + k;
                let Some(y) = ys[r] else { continue };
                softmax_row(&x[r * cls..(r + 1) * cls], &mut lp, true);
                let mut v = one_m * w[y] * -lp[y];
                if eps > 0.0 {
                    v += e * lp.iter().zip(&w).fold(T::ZERO, |a, (&p, &wc)| a + -(wc * p));
                }
                *li = v;
            }
        });
        let norm = ys.iter().flatten().fold(T::ZERO, |a, &y| a + w[y]);
        match red {
            Reduction::None => store(yv, &l),
            Reduction::Sum => store(yv, &[sum(&l)]),
            Reduction::Mean => store(yv, &[sum(&l) / norm]),
        }
    }
}

/// Backward kernel: `dz_ij = s_i·(p_ij·((1-ε)w[y_i] + (ε/C)Σw) - (1-ε)w[y_i]·[j = y_i] - (ε/C)w[j])`,
/// `s_i` the reduction's scale; ignored rows get 0; target and weight get no gradient.
pub fn cross_entropy_backward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let (ii, eps, red) = ce_attrs(&c.attrs)?;
    let b = bwd_views(c, 1)?;
    let ctx = c.ctx;
    let Some(dxv) = b.dins[0] else { return Ok(()) };
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let (n, cls, x, ys, w) = inputs::<T>(c, 1, ii)?;
        let g = T::load(&b.grads[0]);
        let want = if red == Reduction::None { n } else { 1 };
        if g.len() != want {
            return Err(format!("cross_entropy backward: gradient has {} elements, expected {want}", g.len()));
        }
        let norm = ys.iter().flatten().fold(T::ZERO, |a, &y| a + w[y]);
        let wsum = sum(&w);
        let (e, one_m) = (T::of(eps / cls as f64), T::of(1.0 - eps));
        with_out::<T>(dxv, |dx| {
            if cls == 0 {
                return Ok(());
            }
            par_chunks(ctx, dx, cls, 3 * cls, |r0, chunk| {
                for (k, d) in chunk.chunks_mut(cls).enumerate() {
                    let r = r0 + k;
                    let Some(y) = ys[r] else {
                        d.iter_mut().for_each(|v| *v = T::ZERO);
                        continue;
                    };
                    let s = match red {
                        Reduction::None => g[r],
                        Reduction::Sum => g[0],
                        Reduction::Mean => g[0] / norm,
                    };
                    softmax_row(&x[r * cls..(r + 1) * cls], d, false);
                    let coef = one_m * w[y] + e * wsum;
                    for (o, &wj) in d.iter_mut().zip(&w) {
                        *o = s * (*o * coef - e * wj);
                    }
                    d[y] += -(s * one_m * w[y]);
                }
            });
            Ok(())
        })
    }
}

/// Kernels of `ferrite::cross_entropy`.
pub mod cross_entropy_k {
    use super::*;
    /// Forward kernel.
    pub fn forward(c: &Call<'_>) -> Result<(), String> {
        with_float!("cross_entropy", c.input(0)?.dtype, T => cross_entropy_forward::<T>(c))
    }
    /// Backward kernel.
    pub fn backward(c: &Call<'_>) -> Result<(), String> {
        with_float!("cross_entropy", c.input(1)?.dtype, T => cross_entropy_backward::<T>(c))
    }
}

cpu_op! {
    CROSS_ENTROPY {
        name: "ferrite::cross_entropy",
        version: 1,
        api_names: ["nn.functional.cross_entropy", "cross_entropy"],
        aliases: ["aten::cross_entropy_loss"],
        doc: "Cross-entropy from logits [N, C] and int64 targets [N]; class weights, ignore_index, label smoothing.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor_nograd("target"), ArgDesc::tensor_nograd("weight").optional()],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int("ignore_index", -100), AttrDesc::float("label_smoothing", 0.0), AttrDesc::str("reduction", "mean")],
        dispatch_input: 0,
        shape: cross_entropy_shape,
        forward: cross_entropy_k::forward,
        backward: some(cross_entropy_k::backward),
    }
}
