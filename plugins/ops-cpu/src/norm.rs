//! Fused `layer_norm`: per-row mean and (biased) variance in one parallel pass, normalise + affine
//! in the same pass; backward recomputes the statistics, computes `dx` per row and `dw`/`db` as
//! column sums over rows (parallel over column blocks).

use crate::register::Call;
use crate::typed::{bwd_views, par_chunks, par_for, store, with_out, Float, SyncPtr};
use crate::{cpu_op, with_float};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::io::dims;
use ferrite_sdk::shape::float_or;
use ferrite_sdk::shape::norm::{layer_norm_shape, ln_geom};

/// `(rows, m, eps)` of a layer_norm call with input `x`, weight `w`, bias `b`.
unsafe fn geom(c: &Call<'_>, x: &TensorView, w: Option<&TensorView>, b: Option<&TensorView>) -> Result<(usize, usize, f64), String> {
    let (ws, bs) = (w.map(|v| dims(v)), b.map(|v| dims(v)));
    let (lead, m) = ln_geom(&dims(x), ws.as_deref(), bs.as_deref(), &c.attrs)?;
    Ok((lead.iter().product(), m, float_or(&c.attrs, 1, 1e-5)?))
}

/// Mean and `1/sqrt(var + eps)` of one row (two-pass, biased variance), accumulated in f64:
/// when a row's variance is near `eps`, `rstd` amplifies every rounding error of the statistics
/// (conformance found f32 gradients off by 4e-4 on such rows with f32 statistics).
#[inline]
/// Returned in f64 too: rounding the mean to f32 moves it by up to half an ulp of the values,
/// which is all of `x - mean` when a row's values differ by an ulp.
fn stats<T: Float>(x: &[T], eps: f64) -> (f64, f64) {
    let n = x.len() as f64;
    let mu = x.iter().map(|v| v.f64()).sum::<f64>() / n;
    let ss: f64 = x.iter().map(|v| (v.f64() - mu) * (v.f64() - mu)).sum();
    (mu, 1.0 / (ss / n + eps).sqrt())
}

/// `present(view)` for an optional input.
fn opt(v: Option<&TensorView>) -> Option<&TensorView> {
    v.filter(|v| v.is_present())
}

/// Forward kernel: `(out, mean, rstd)`.
pub fn layer_norm_forward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let xv = c.input(0)?;
    let (wv, bv) = (c.opt_input(1), c.opt_input(2));
    let outs: Vec<&TensorView> = (0..3).map(|i| c.output(i).ok_or("missing output")).collect::<Result<_, _>>()?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let (rows, m, eps) = geom(c, xv, wv, bv)?;
        let x = T::load(xv);
        let w = wv.map(|v| T::load(v));
        let b = bv.map(|v| T::load(v));
        let (mut mean, mut rstd) = (vec![T::ZERO; rows], vec![T::ZERO; rows]);
        let (pm, pr) = (SyncPtr::new(&mut mean), SyncPtr::new(&mut rstd));
        with_out::<T>(outs[0], |y| {
            if m == 0 {
                return Ok(());
            }
            par_chunks(ctx, y, m, 3 * m, |r0, chunk| {
                for (k, yr) in chunk.chunks_mut(m).enumerate() {
                    let r = r0 + k;
                    let xr = &x[r * m..(r + 1) * m];
                    let (mu, rs) = stats(xr, eps);
                    // SAFETY (enclosing block): row r belongs to this chunk only.
                    pm.slice(r, 1)[0] = T::of(mu);
                    pr.slice(r, 1)[0] = T::of(rs);
                    yr.iter_mut().zip(xr).for_each(|(o, &v)| *o = T::of((v.f64() - mu) * rs));
                    if let Some(w) = &w {
                        yr.iter_mut().zip(w.iter()).for_each(|(o, &wv)| *o = *o * wv);
                    }
                    if let Some(b) = &b {
                        yr.iter_mut().zip(b.iter()).for_each(|(o, &bv)| *o += bv);
                    }
                }
            });
            Ok(())
        })?;
        if m == 0 {
            // 0/0 statistics of an empty row, as ops-ref.
            rstd.iter_mut().for_each(|v| *v = T::of(f64::NAN));
            mean.iter_mut().for_each(|v| *v = T::of(f64::NAN));
        }
        store(outs[1], &mean)?;
        store(outs[2], &rstd)
    }
}

/// Backward kernel: `dx = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))` with `ĝ = dy·w`; `dw = Σ dy·x̂`,
/// `db = Σ dy` over rows.
pub fn layer_norm_backward<T: Float>(c: &Call<'_>) -> Result<(), String> {
    let bw = bwd_views(c, 3)?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let xv = &bw.inputs[0];
        let (wv, bv) = (opt(bw.inputs.get(1)), opt(bw.inputs.get(2)));
        let (rows, m, eps) = geom(c, xv, wv, bv)?;
        let x = T::load(xv);
        let g = T::load(&bw.grads[0]);
        let w = wv.map(|v| T::load(v));
        if g.len() != x.len() {
            return Err("layer_norm backward: gradient size differs from the input's".into());
        }
        let mut st = vec![(0f64, 0f64); rows];
        par_chunks(ctx, &mut st, 1, m, |r0, o| {
            for (k, s) in o.iter_mut().enumerate() {
                *s = stats(&x[(r0 + k) * m..(r0 + k + 1) * m], eps);
            }
        });
        if let Some(dxv) = bw.dins[0] {
            with_out::<T>(dxv, |dx| {
                if m == 0 {
                    return Ok(());
                }
                par_chunks(ctx, dx, m, 4 * m, |r0, chunk| {
                    let mut gh = vec![T::ZERO; m];
                    for (k, d) in chunk.chunks_mut(m).enumerate() {
                        let r = r0 + k;
                        let (mu, rs) = st[r];
                        let (xr, gr) = (&x[r * m..(r + 1) * m], &g[r * m..(r + 1) * m]);
                        match &w {
                            Some(w) => gh.iter_mut().zip(gr).zip(w.iter()).for_each(|((h, &gv), &wv)| *h = gv * wv),
                            None => gh.copy_from_slice(gr),
                        }
                        // Row terms in f64, for the same reason as in `stats`.
                        let inv_m = 1.0 / m as f64;
                        let mg = gh.iter().map(|h| h.f64()).sum::<f64>() * inv_m;
                        let mgx = gh.iter().zip(xr).map(|(&h, &v)| h.f64() * ((v.f64() - mu) * rs)).sum::<f64>() * inv_m;
                        for ((o, &h), &v) in d.iter_mut().zip(&gh).zip(xr) {
                            *o = T::of(rs * (h.f64() - mg - (v.f64() - mu) * rs * mgx));
                        }
                    }
                });
                Ok(())
            })?;
        }
        let (dwv, dbv) = (bw.dins.get(1).copied().flatten(), bw.dins.get(2).copied().flatten());
        if dwv.is_some() || dbv.is_some() {
            let (mut dw, mut db) = (vec![T::ZERO; m], vec![T::ZERO; m]);
            let (pw, pb) = (SyncPtr::new(&mut dw), SyncPtr::new(&mut db));
            par_for(ctx, m, rows, |j0, j1| {
                // SAFETY (enclosing block): disjoint column ranges.
                let (ow, ob) = (pw.slice(j0, j1 - j0), pb.slice(j0, j1 - j0));
                for (r, &(mu, rs)) in st.iter().enumerate() {
                    let (xr, gr) = (&x[r * m + j0..r * m + j1], &g[r * m + j0..r * m + j1]);
                    for (((a, b), &gv), &v) in ow.iter_mut().zip(ob.iter_mut()).zip(gr).zip(xr) {
                        *a += gv * T::of((v.f64() - mu) * rs);
                        *b += gv;
                    }
                }
            });
            if let Some(v) = dwv {
                store(v, &dw)?;
            }
            if let Some(v) = dbv {
                store(v, &db)?;
            }
        }
        Ok(())
    }
}

/// Kernels of `ferrite::layer_norm`.
pub mod layer_norm_k {
    use super::*;
    /// Forward kernel.
    pub fn forward(c: &Call<'_>) -> Result<(), String> {
        with_float!("layer_norm", c.input(0)?.dtype, T => layer_norm_forward::<T>(c))
    }
    /// Backward kernel.
    pub fn backward(c: &Call<'_>) -> Result<(), String> {
        with_float!("layer_norm", c.input(3)?.dtype, T => layer_norm_backward::<T>(c))
    }
}

cpu_op! {
    LAYER_NORM {
        name: "ferrite::layer_norm",
        version: 1,
        api_names: ["nn.functional.layer_norm", "layer_norm"],
        aliases: ["aten::layer_norm", "aten::native_layer_norm"],
        doc: "Layer normalisation over the trailing normalized_shape dims (biased variance), optional affine; outputs out, mean, rstd.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("weight").optional(), ArgDesc::tensor("bias").optional()],
        outputs: [ArgDesc::tensor("out"), ArgDesc::tensor_nograd("mean"), ArgDesc::tensor_nograd("rstd")],
        attrs: [AttrDesc::ints_required("normalized_shape"), AttrDesc::float("eps", 1e-5)],
        dispatch_input: 0,
        shape: layer_norm_shape,
        forward: layer_norm_k::forward,
        backward: some(layer_norm_k::backward),
    }
}
