//! Normalisation layers: `layer_norm` (Ba et al. 2016) and `batch_norm` (Ioffe & Szegedy 2015).

use crate::common::req;
use crate::nn_common::{bool_or, check_float, check_same_dtype, float_or};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs, Meta};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;
use ferrite_sdk::shape::{norm::ln_geom, opt};
pub use ferrite_sdk::shape::norm::layer_norm_shape;

/// Per-row mean and `rstd = 1/sqrt(var + eps)` (biased variance) of `rows × m` data.
fn row_stats(x: &[f64], rows: usize, m: usize, eps: f64) -> (Vec<f64>, Vec<f64>) {
    let (mut mean, mut rstd) = (vec![0.0; rows], vec![0.0; rows]);
    for r in 0..rows {
        let s = &x[r * m..(r + 1) * m];
        let mu = s.iter().sum::<f64>() / m as f64;
        let var = s.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / m as f64;
        mean[r] = mu;
        rstd[r] = 1.0 / (var + eps).sqrt();
    }
    (mean, rstd)
}

/// Layer normalisation over the trailing `normalized_shape` dims (Ba et al. 2016, eq. 4):
/// `y = (x - μ)·rstd·w + b`, `rstd = 1/sqrt(var + eps)` with the biased variance. Inputs
/// `(input [*, ns], weight? [ns], bias? [ns])`, attrs `(normalized_shape, eps = 1e-5)`, outputs
/// `(out, mean [*], rstd [*])`. Matches PyTorch's `native_layer_norm` (whose mean/rstd keep
/// size-1 dims; here they have the leading shape).
pub fn layer_norm_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (w, b) = (opt(ins, 1), opt(ins, 2));
    let (lead, m) = ln_geom(&x.shape, w.map(|t| &t.shape[..]), b.map(|t| &t.shape[..]), attrs)?;
    let eps = float_or(attrs, 1, 1e-5)?;
    let rows: usize = lead.iter().product();
    let (mean, rstd) = row_stats(&x.data, rows, m, eps);
    let mut out = Array::zeros(&x.shape);
    for r in 0..rows {
        for j in 0..m {
            let xhat = (x.data[r * m + j] - mean[r]) * rstd[r];
            out.data[r * m + j] = xhat * w.map_or(1.0, |w| w.data[j]) + b.map_or(0.0, |b| b.data[j]);
        }
    }
    Ok(vec![out, Array::new(lead.clone(), mean)?, Array::new(lead, rstd)?])
}

/// Backward of [`layer_norm_forward`] (gradient of `out` only; mean/rstd are not differentiable):
/// with `ĝ = dy·w`, `dx = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))`, `dw = Σ_rows dy·x̂`, `db = Σ_rows dy`.
pub fn layer_norm_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let (w, b) = (opt(&a.inputs, 1), opt(&a.inputs, 2));
    let (lead, m) = ln_geom(&x.shape, w.map(|t| &t.shape[..]), b.map(|t| &t.shape[..]), &a.attrs)?;
    let eps = float_or(&a.attrs, 1, 1e-5)?;
    let rows: usize = lead.iter().product();
    let (mean, rstd) = row_stats(&x.data, rows, m, eps);
    let g = &a.grads[0].data;
    let (mut dx, mut dw, mut db) = (Array::zeros(&x.shape), vec![0.0; m], vec![0.0; m]);
    for r in 0..rows {
        let xhat: Vec<f64> = (0..m).map(|j| (x.data[r * m + j] - mean[r]) * rstd[r]).collect();
        let gh: Vec<f64> = (0..m).map(|j| g[r * m + j] * w.map_or(1.0, |w| w.data[j])).collect();
        let mg = gh.iter().sum::<f64>() / m as f64;
        let mgx = gh.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / m as f64;
        for j in 0..m {
            dx.data[r * m + j] = rstd[r] * (gh[j] - mg - xhat[j] * mgx);
            dw[j] += g[r * m + j] * xhat[j];
            db[j] += g[r * m + j];
        }
    }
    let ns = x.shape[lead.len()..].to_vec();
    Ok(vec![
        Some(dx),
        w.map(|_| Array::new(ns.clone(), dw)).transpose()?,
        b.map(|_| Array::new(ns, db)).transpose()?,
    ])
}

/// Validated batch-norm call: (N, C, spatial size); every per-channel input must be `[C]`.
fn bn_geom(x: &[usize], per_channel: [(&str, Option<&[usize]>); 4]) -> Result<(usize, usize, usize), String> {
    let op = "batch_norm";
    if x.len() < 2 {
        return Err(format!("{op}: input must be [N, C, *] (at least 2-d), got {x:?}"));
    }
    let c = x[1];
    for (name, t) in per_channel {
        if let Some(t) = t {
            if t != [c] {
                return Err(format!("{op}: {name} must have shape [{c}], got {t:?}"));
            }
        }
    }
    Ok((x[0], c, x[2..].iter().product()))
}

/// Per-channel statistics used to normalise: (mean, invstd, biased var) in training, or the
/// running statistics in eval; plus the new running statistics.
struct BnStats {
    mean: Vec<f64>,
    invstd: Vec<f64>,
    new_rm: Vec<f64>,
    new_rv: Vec<f64>,
}

fn bn_stats(x: &Array, ins: &[Option<Array>], attrs: &Attrs) -> Result<(usize, usize, usize, bool, BnStats), String> {
    let sh = |i: usize| opt(ins, i).map(|t| &t.shape[..]);
    let (n, c, sp) = bn_geom(&x.shape, [("weight", sh(1)), ("bias", sh(2)), ("running_mean", sh(3)), ("running_var", sh(4))])?;
    let training = bool_or(attrs, 0, false)?;
    let momentum = float_or(attrs, 1, 0.1)?;
    let eps = float_or(attrs, 2, 1e-5)?;
    let (rm, rv) = (opt(ins, 3), opt(ins, 4));
    let count = n * sp;
    let mut s = BnStats { mean: vec![0.0; c], invstd: vec![0.0; c], new_rm: vec![0.0; c], new_rv: vec![0.0; c] };
    if training {
        if count <= 1 {
            return Err(format!("batch_norm: expected more than 1 value per channel when training, got input {:?}", x.shape));
        }
        for ch in 0..c {
            let vals = || (0..n).flat_map(move |i| (0..sp).map(move |k| x.data[(i * c + ch) * sp + k]));
            let mu = vals().sum::<f64>() / count as f64;
            let var = vals().map(|v| (v - mu) * (v - mu)).sum::<f64>() / count as f64;
            let unbiased = var * count as f64 / (count - 1) as f64;
            s.mean[ch] = mu;
            s.invstd[ch] = 1.0 / (var + eps).sqrt();
            s.new_rm[ch] = rm.map_or(mu, |r| (1.0 - momentum) * r.data[ch] + momentum * mu);
            s.new_rv[ch] = rv.map_or(unbiased, |r| (1.0 - momentum) * r.data[ch] + momentum * unbiased);
        }
    } else {
        let (Some(rm), Some(rv)) = (rm, rv) else {
            return Err("batch_norm: running_mean and running_var are required in eval mode (training=false)".into());
        };
        for ch in 0..c {
            s.mean[ch] = rm.data[ch];
            s.invstd[ch] = 1.0 / (rv.data[ch] + eps).sqrt();
        }
        s.new_rm = rm.data.clone();
        s.new_rv = rv.data.clone();
    }
    Ok((n, c, sp, training, s))
}

/// Shape of `ferrite::batch_norm`: `(out = input shape, save_mean [C], save_invstd [C],
/// new_running_mean [C], new_running_var [C])`, input dtype. Errors on a < 2-d input, a
/// per-channel tensor not `[C]`, or mixed dtypes.
pub fn batch_norm_shape(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    check_float("batch_norm", "input", x)?;
    let names = ["weight", "bias", "running_mean", "running_var"];
    for (i, name) in names.iter().enumerate() {
        check_same_dtype("batch_norm", name, x.dtype, opt(ins, i + 1))?;
    }
    let sh = |i: usize| opt(ins, i).map(|t| &t.shape[..]);
    let (_, c, _) = bn_geom(&x.shape, [("weight", sh(1)), ("bias", sh(2)), ("running_mean", sh(3)), ("running_var", sh(4))])?;
    let v = Meta::new(x.dtype, vec![c]);
    Ok(vec![Meta::new(x.dtype, x.shape.clone()), v.clone(), v.clone(), v.clone(), v])
}

/// Batch normalisation over `[N, C, *]` per channel (Ioffe & Szegedy 2015, Alg. 1). Inputs
/// `(input, weight? [C], bias? [C], running_mean? [C], running_var? [C])`, attrs
/// `(training = false, momentum = 0.1, eps = 1e-5)`. Training normalises with the batch mean and
/// biased variance and returns running stats `(1-m)·old + m·batch` with the UNBIASED variance
/// (the batch stats themselves when no running stats are given); eval normalises with the running
/// stats (required) and returns them unchanged. Outputs `(out, save_mean, save_invstd,
/// new_running_mean, new_running_var)`; in eval `save_*` hold the running mean and
/// `1/sqrt(running_var + eps)`. Matches PyTorch's `F.batch_norm`.
pub fn batch_norm_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (w, b) = (opt(ins, 1), opt(ins, 2));
    let (_, c, sp, _, s) = bn_stats(x, ins, attrs)?;
    let mut out = Array::zeros(&x.shape);
    for (i, v) in x.data.iter().enumerate() {
        let ch = (i / sp.max(1)) % c;
        out.data[i] = (v - s.mean[ch]) * s.invstd[ch] * w.map_or(1.0, |w| w.data[ch]) + b.map_or(0.0, |b| b.data[ch]);
    }
    Ok(vec![out, Array::new(vec![c], s.mean)?, Array::new(vec![c], s.invstd)?, Array::new(vec![c], s.new_rm)?, Array::new(vec![c], s.new_rv)?])
}

/// Backward of [`batch_norm_forward`] (gradient of `out` only). Training: with `ĝ = dy·w`,
/// `dx = invstd·(ĝ - mean_c(ĝ) - x̂·mean_c(ĝ·x̂))` (the full batch-statistics gradient); eval:
/// `dx = dy·w·invstd`. Both: `dw = Σ dy·x̂`, `db = Σ dy` per channel. Running stats get none.
pub fn batch_norm_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let (w, b) = (opt(&a.inputs, 1), opt(&a.inputs, 2));
    let (_, c, sp, training, s) = bn_stats(x, &a.inputs, &a.attrs)?;
    let g = &a.grads[0].data;
    let ch_of = |i: usize| (i / sp.max(1)) % c;
    let xhat: Vec<f64> = x.data.iter().enumerate().map(|(i, v)| (v - s.mean[ch_of(i)]) * s.invstd[ch_of(i)]).collect();
    let gh: Vec<f64> = g.iter().enumerate().map(|(i, g)| g * w.map_or(1.0, |w| w.data[ch_of(i)])).collect();
    let (mut dw, mut db, mut mg, mut mgx) = (vec![0.0; c], vec![0.0; c], vec![0.0; c], vec![0.0; c]);
    for i in 0..x.numel() {
        let ch = ch_of(i);
        dw[ch] += g[i] * xhat[i];
        db[ch] += g[i];
        mg[ch] += gh[i];
        mgx[ch] += gh[i] * xhat[i];
    }
    let count = (x.numel() / c.max(1)).max(1) as f64;
    let mut dx = Array::zeros(&x.shape);
    for i in 0..x.numel() {
        let ch = ch_of(i);
        dx.data[i] = if training {
            s.invstd[ch] * (gh[i] - mg[ch] / count - xhat[i] * mgx[ch] / count)
        } else {
            gh[i] * s.invstd[ch]
        };
    }
    Ok(vec![
        Some(dx),
        w.map(|_| Array::new(vec![c], dw)).transpose()?,
        b.map(|_| Array::new(vec![c], db)).transpose()?,
        None,
        None,
    ])
}

reference_op! {
    LAYER_NORM {
        name: "ferrite::layer_norm",
        version: 1,
        api_names: ["nn.functional.layer_norm", "layer_norm"],
        aliases: ["aten::layer_norm", "aten::native_layer_norm"],
        deprecated: [],
        doc: "Layer normalisation over the trailing normalized_shape dims (biased variance), optional affine; outputs out, mean, rstd.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("weight").optional(), ArgDesc::tensor("bias").optional()],
        outputs: [ArgDesc::tensor("out"), ArgDesc::tensor_nograd("mean"), ArgDesc::tensor_nograd("rstd")],
        attrs: [AttrDesc::ints_required("normalized_shape"), AttrDesc::float("eps", 1e-5)],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: layer_norm_shape,
        forward: layer_norm_forward,
        backward: some(layer_norm_backward),
    }
}

reference_op! {
    BATCH_NORM {
        name: "ferrite::batch_norm",
        version: 1,
        api_names: ["nn.functional.batch_norm", "batch_norm"],
        aliases: ["aten::batch_norm", "aten::native_batch_norm"],
        deprecated: [],
        doc: "Batch normalisation over [N, C, *] per channel; training uses batch stats and updates running stats (unbiased var).",
        inputs: [
            ArgDesc::tensor("input"),
            ArgDesc::tensor("weight").optional(),
            ArgDesc::tensor("bias").optional(),
            ArgDesc::tensor_nograd("running_mean").optional(),
            ArgDesc::tensor_nograd("running_var").optional(),
        ],
        outputs: [
            ArgDesc::tensor("out"),
            ArgDesc::tensor_nograd("save_mean"),
            ArgDesc::tensor_nograd("save_invstd"),
            ArgDesc::tensor_nograd("new_running_mean"),
            ArgDesc::tensor_nograd("new_running_var"),
        ],
        attrs: [AttrDesc::bool("training", false), AttrDesc::float("momentum", 0.1), AttrDesc::float("eps", 1e-5)],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: batch_norm_shape,
        forward: batch_norm_forward,
        backward: some(batch_norm_backward),
    }
}

#[cfg(test)]
#[path = "norm_tests.rs"]
mod tests;
