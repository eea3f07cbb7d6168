//! Losses: `cross_entropy` (logits, with class weights, `ignore_index` and label smoothing),
//! `nll_loss` (log-probabilities) and `mse_loss`.
//!
//! Classification losses take `input [N, C]` and an i64 `target [N]`; `reduction` is `"none"`
//! (per-sample losses `[N]`), `"mean"` or `"sum"` (0-d). `mean` divides by the sum of
//! `weight[target_i]` over non-ignored samples (PyTorch's rule; all samples ignored gives NaN,
//! 0/0, as PyTorch). Ignored samples contribute nothing to the loss, the normaliser or the
//! gradient (field case C06). A target outside `[0, C)` that is not `ignore_index` is an error.

use crate::common::req;
use crate::softmax::log_softmax_forward;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attr, Attrs, BackwardArgs, Meta};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;
pub use ferrite_sdk::shape::loss::{ce_attrs, check_class_shapes, class_loss_shape, cross_entropy_shape, nll_attrs, nll_loss_shape, reduction_attr, Reduction};

/// A validated class-loss input: `(input, per-sample class or None if ignored, class weights)`.
type ClassInputs<'a> = (&'a Array, Vec<Option<usize>>, Vec<f64>);

/// Inputs of a class loss, validated (shapes, targets in range unless ignored).
fn class_inputs<'a>(op: &str, ins: &'a [Option<Array>], ignore_index: i64) -> Result<ClassInputs<'a>, String> {
    let (x, t) = (req(ins, 0)?, req(ins, 1)?);
    let w = ins.get(2).and_then(|w| w.as_ref());
    let (_, c) = check_class_shapes(op, &x.shape, &t.shape, w.map(|w| &w.shape[..]))?;
    let mut ys = Vec::with_capacity(t.numel());
    for &v in &t.data {
        if v == ignore_index as f64 {
            ys.push(None);
        } else if v >= 0.0 && v < c as f64 && v.fract() == 0.0 {
            ys.push(Some(v as usize));
        } else {
            return Err(format!("{op}: target {v} out of range for {c} classes (ignore_index {ignore_index})"));
        }
    }
    Ok((x, ys, w.map_or_else(|| vec![1.0; c], |w| w.data.clone())))
}

/// Reduces per-sample losses `l` with normaliser `norm`.
fn reduce_loss(l: Vec<f64>, red: Reduction, norm: f64) -> Array {
    match red {
        Reduction::None => Array { shape: vec![l.len()], data: l },
        Reduction::Sum => Array::scalar(l.iter().sum()),
        Reduction::Mean => Array::scalar(l.iter().sum::<f64>() / norm),
    }
}

/// Upstream gradient of sample `i` given the reduction.
fn sample_scale(g: &Array, red: Reduction, norm: f64, i: usize) -> f64 {
    match red {
        Reduction::None => g.data[i],
        Reduction::Sum => g.data[0],
        Reduction::Mean => g.data[0] / norm,
    }
}

/// `[Some(dx), None, ...]`: one gradient per forward input (target and weight get none).
fn first_only(dx: Array, n_inputs: usize) -> Vec<Option<Array>> {
    let mut v = vec![None; n_inputs.max(1)];
    v[0] = Some(dx);
    v
}

/// Row-wise log-softmax of `[N, C]` logits.
fn log_probs(x: &Array) -> Result<Array, String> {
    Ok(log_softmax_forward(&[Some(x.clone())], &Attrs(vec![Attr::Int(1)]))?.remove(0))
}

/// Forward of `ferrite::cross_entropy` (matches `F.cross_entropy` for `[N, C]` logits):
/// `l_i = (1-ε)·w[y_i]·(-log p_i[y_i]) + (ε/C)·Σ_c w[c]·(-log p_i[c])`, `p = softmax(input)`.
pub fn cross_entropy_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (ii, eps, red) = ce_attrs(attrs)?;
    let (x, ys, w) = class_inputs("cross_entropy", ins, ii)?;
    let (n, c) = (x.shape[0], x.shape[1]);
    let lp = log_probs(x)?;
    let (mut l, mut norm) = (vec![0.0; n], 0.0);
    for (i, y) in ys.iter().enumerate() {
        let Some(y) = *y else { continue };
        let row = &lp.data[i * c..(i + 1) * c];
        let smooth: f64 = if eps > 0.0 { (0..c).map(|k| -w[k] * row[k]).sum() } else { 0.0 };
        l[i] = (1.0 - eps) * w[y] * -row[y] + eps / c as f64 * smooth;
        norm += w[y];
    }
    Ok(vec![reduce_loss(l, red, norm)])
}

/// Backward of `ferrite::cross_entropy`: for kept sample `i`,
/// `dz_ij = s_i·(p_ij·((1-ε)w[y_i] + (ε/C)Σw) - (1-ε)w[y_i]·[j = y_i] - (ε/C)w[j])`, with `s_i` the
/// reduction's scale; ignored rows get 0; `target` and `weight` get no gradient.
pub fn cross_entropy_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (ii, eps, red) = ce_attrs(&a.attrs)?;
    let (x, ys, w) = class_inputs("cross_entropy", &a.inputs, ii)?;
    let c = x.shape[1];
    let lp = log_probs(x)?;
    let norm: f64 = ys.iter().flatten().map(|&y| w[y]).sum();
    let wsum: f64 = w.iter().sum();
    let mut dx = Array::zeros(&x.shape);
    for (i, y) in ys.iter().enumerate() {
        let Some(y) = *y else { continue };
        let s = sample_scale(&a.grads[0], red, norm, i);
        let coef = (1.0 - eps) * w[y] + eps / c as f64 * wsum;
        for j in 0..c {
            let onehot = if j == y { (1.0 - eps) * w[y] } else { 0.0 };
            dx.data[i * c + j] = s * (lp.data[i * c + j].exp() * coef - onehot - eps / c as f64 * w[j]);
        }
    }
    Ok(first_only(dx, a.inputs.len()))
}

reference_op! {
    CROSS_ENTROPY {
        name: "ferrite::cross_entropy",
        version: 1,
        api_names: ["nn.functional.cross_entropy", "cross_entropy"],
        aliases: ["aten::cross_entropy_loss"],
        deprecated: [],
        doc: "Cross-entropy from logits [N, C] and int64 targets [N]; class weights, ignore_index, label smoothing.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor_nograd("target"), ArgDesc::tensor_nograd("weight").optional()],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int("ignore_index", -100), AttrDesc::float("label_smoothing", 0.0), AttrDesc::str("reduction", "mean")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: cross_entropy_shape,
        forward: cross_entropy_forward,
        backward: some(cross_entropy_backward),
    }
}

/// Forward of `ferrite::nll_loss` (matches `F.nll_loss` for `[N, C]` input):
/// `l_i = -w[y_i]·input[i, y_i]`.
pub fn nll_loss_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (ii, red) = nll_attrs(attrs)?;
    let (x, ys, w) = class_inputs("nll_loss", ins, ii)?;
    let c = x.shape[1];
    let (mut l, mut norm) = (vec![0.0; x.shape[0]], 0.0);
    for (i, y) in ys.iter().enumerate() {
        if let Some(y) = *y {
            l[i] = -w[y] * x.data[i * c + y];
            norm += w[y];
        }
    }
    Ok(vec![reduce_loss(l, red, norm)])
}

/// Backward of `ferrite::nll_loss`: `dx[i, y_i] = -w[y_i]·s_i`, zero elsewhere and for ignored rows.
pub fn nll_loss_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (ii, red) = nll_attrs(&a.attrs)?;
    let (x, ys, w) = class_inputs("nll_loss", &a.inputs, ii)?;
    let c = x.shape[1];
    let norm: f64 = ys.iter().flatten().map(|&y| w[y]).sum();
    let mut dx = Array::zeros(&x.shape);
    for (i, y) in ys.iter().enumerate() {
        if let Some(y) = *y {
            dx.data[i * c + y] = -w[y] * sample_scale(&a.grads[0], red, norm, i);
        }
    }
    Ok(first_only(dx, a.inputs.len()))
}

reference_op! {
    NLL_LOSS {
        name: "ferrite::nll_loss",
        version: 1,
        api_names: ["nn.functional.nll_loss", "nll_loss"],
        aliases: ["aten::nll_loss"],
        deprecated: [],
        doc: "Negative log-likelihood from log-probabilities [N, C] and int64 targets [N].",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor_nograd("target"), ArgDesc::tensor_nograd("weight").optional()],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int("ignore_index", -100), AttrDesc::str("reduction", "mean")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: nll_loss_shape,
        forward: nll_loss_forward,
        backward: some(nll_loss_backward),
    }
}

/// Shape function of `ferrite::mse_loss`: same shapes and dtypes required; output `[]` or, for
/// `"none"`, the input's shape.
pub fn mse_loss_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (x, t) = (req(ins, 0)?, req(ins, 1)?);
    if x.shape != t.shape || x.dtype != t.dtype {
        return Err(format!("mse_loss: input {:?} {} and target {:?} {} differ", x.shape, x.dtype.name(), t.shape, t.dtype.name()));
    }
    let none = reduction_attr("mse_loss", attrs, 0)? == Reduction::None;
    Ok(vec![Meta::new(x.dtype, if none { x.shape.clone() } else { vec![] })])
}

/// Forward of `ferrite::mse_loss` (matches `F.mse_loss` for equal shapes): `(input - target)²`,
/// reduced; `mean` over zero elements is NaN.
pub fn mse_loss_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (x, t) = (req(ins, 0)?, req(ins, 1)?);
    if x.shape != t.shape {
        return Err(format!("mse_loss: input {:?} and target {:?} shapes differ", x.shape, t.shape));
    }
    let l: Vec<f64> = x.data.iter().zip(&t.data).map(|(a, b)| (a - b) * (a - b)).collect();
    Ok(vec![match reduction_attr("mse_loss", attrs, 0)? {
        Reduction::None => Array { shape: x.shape.clone(), data: l },
        r => reduce_loss(l, r, x.numel() as f64),
    }])
}

/// Backward of `ferrite::mse_loss`: `dinput = 2(input - target)·s`, `dtarget = -dinput`.
pub fn mse_loss_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (x, t) = (req(&a.inputs, 0)?, req(&a.inputs, 1)?);
    let red = reduction_attr("mse_loss", &a.attrs, 0)?;
    let g = &a.grads[0];
    let n = x.numel() as f64;
    let dx: Vec<f64> = (0..x.numel()).map(|i| 2.0 * (x.data[i] - t.data[i]) * sample_scale(g, red, n, i)).collect();
    let dt = dx.iter().map(|v| -v).collect();
    Ok(vec![Some(Array { shape: x.shape.clone(), data: dx }), Some(Array { shape: x.shape.clone(), data: dt })])
}

reference_op! {
    MSE_LOSS {
        name: "ferrite::mse_loss",
        version: 1,
        api_names: ["nn.functional.mse_loss", "mse_loss"],
        aliases: ["aten::mse_loss"],
        deprecated: [],
        doc: "Mean squared error between equal-shaped input and target.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("target")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::str("reduction", "mean")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: mse_loss_shape,
        forward: mse_loss_forward,
        backward: some(mse_loss_backward),
    }
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
