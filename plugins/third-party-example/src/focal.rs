//! `contrib::focal_loss`: the focal loss of Lin et al. 2017 ("Focal Loss for Dense Object
//! Detection") in its softmax (multi-class) form, on logits `[N, C]` and int64 targets `[N]`:
//!
//! `p = softmax(logits)`, `p_t = p[i, y_i]`, `l_i = −α · (1 − p_t)^γ · log p_t`.
//!
//! Attributes: `gamma` (2.0), `alpha` (0.25; a negative value turns the α weighting off, as
//! torchvision's `alpha = -1`), `reduction` (`"mean"`, `"sum"` or `"none"`). With `γ = 0` and
//! α off it is cross-entropy.
//!
//! Backward: with `f(p_t) = −(1 − p_t)^γ log p_t` and `∂p_t/∂z_j = p_t (δ_{j,y} − p_j)`,
//! `∂l_i/∂z_j = α · [γ (1 − p_t)^{γ−1} p_t log p_t − (1 − p_t)^γ] · (δ_{j,y} − p_j)`.

use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs, Meta};
use ferrite_sdk::shape::loss::{class_loss_shape, reduction_attr, Reduction};
use ferrite_sdk::DType;

/// The op's canonical name.
pub const OP_NAME: &str = "contrib::focal_loss";

fn float_or(attrs: &Attrs, i: usize, default: f64) -> Result<f64, String> {
    if attrs.0.len() <= i || attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.float(i).map_err(|e| format!("contrib::focal_loss: {e}"))
    }
}

/// `(gamma, alpha or 1 when off, reduction)`.
fn params(attrs: &Attrs) -> Result<(f64, f64, Reduction), String> {
    let gamma = float_or(attrs, 0, 2.0)?;
    if !(gamma >= 0.0 && gamma.is_finite()) {
        return Err(format!("contrib::focal_loss: gamma must be a finite value >= 0, got {gamma}"));
    }
    let alpha = float_or(attrs, 1, 0.25)?;
    let alpha = if alpha < 0.0 { 1.0 } else { alpha };
    let red = if attrs.0.len() <= 2 { Reduction::Mean } else { reduction_attr("focal_loss", attrs, 2)? };
    Ok((gamma, alpha, red))
}

/// Logits `[N, C]` float, targets `[N]` int64; the loss is a scalar (`mean`, `sum`) or `[N]`.
pub fn shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    class_loss_shape("focal_loss", ins, params(attrs)?.2)
}

/// The inputs: logits `[N, C]` and targets checked to lie in `0..C`.
fn inputs(ins: &[Option<Array>]) -> Result<(&Array, Vec<usize>), String> {
    let x = ins.first().and_then(|a| a.as_ref()).ok_or("contrib::focal_loss: input required")?;
    let t = ins.get(1).and_then(|a| a.as_ref()).ok_or("contrib::focal_loss: target required")?;
    if x.shape.len() != 2 || t.shape.len() != 1 || t.shape[0] != x.shape[0] {
        return Err(format!("contrib::focal_loss: expected input [N, C] and target [N], got {:?} and {:?}", x.shape, t.shape));
    }
    let c = x.shape[1];
    let ys = t
        .data
        .iter()
        .map(|&y| if y >= 0.0 && (y as usize) < c && y.fract() == 0.0 { Ok(y as usize) } else { Err(format!("contrib::focal_loss: target {y} out of range 0..{c}")) })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((x, ys))
}

/// Row-wise log-softmax.
fn log_softmax_row(row: &[f64]) -> Vec<f64> {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + row.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
    row.iter().map(|&v| v - lse).collect()
}

fn reduce(l: Vec<f64>, red: Reduction) -> Array {
    let n = l.len();
    match red {
        Reduction::None => Array { shape: vec![n], data: l },
        Reduction::Sum => Array { shape: vec![], data: vec![l.iter().sum()] },
        Reduction::Mean => Array { shape: vec![], data: vec![l.iter().sum::<f64>() / n as f64] },
    }
}

/// The forward.
pub fn forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (gamma, alpha, red) = params(attrs)?;
    let (x, ys) = inputs(ins)?;
    let c = x.shape[1];
    let l = ys
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let lp = log_softmax_row(&x.data[i * c..(i + 1) * c])[y];
            -alpha * (1.0 - lp.exp()).powf(gamma) * lp
        })
        .collect();
    Ok(vec![reduce(l, red)])
}

/// The backward (gradient of the logits only; targets get none).
pub fn backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (gamma, alpha, red) = params(&a.attrs)?;
    let (x, ys) = inputs(&a.inputs)?;
    let (n, c) = (x.shape[0], x.shape[1]);
    let g = &a.grads[0];
    let mut dx = Array { shape: x.shape.clone(), data: vec![0.0; n * c] };
    for (i, &y) in ys.iter().enumerate() {
        let s = match red {
            Reduction::None => g.data[i],
            Reduction::Sum => g.data[0],
            Reduction::Mean => g.data[0] / n as f64,
        };
        let lp = log_softmax_row(&x.data[i * c..(i + 1) * c]);
        let pt = lp[y].exp();
        let q = 1.0 - pt;
        let focus = if gamma == 0.0 { 0.0 } else { gamma * q.powf(gamma - 1.0) * pt * lp[y] };
        let k = s * alpha * (focus - q.powf(gamma));
        for j in 0..c {
            let delta = if j == y { 1.0 } else { 0.0 };
            dx.data[i * c + j] = k * (delta - lp[j].exp());
        }
    }
    let mut out = vec![Some(dx)];
    out.resize(a.inputs.len(), None);
    Ok(out)
}

ferrite_sdk::reference_op! {
    FOCAL_LOSS {
        name: "contrib::focal_loss", version: 1,
        api_names: ["contrib.focal_loss"], aliases: [], deprecated: [],
        doc: "Focal loss (Lin et al. 2017) from logits [N, C] and int64 targets [N]; gamma, alpha (< 0: off), reduction (third-party example)",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor_nograd("target")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::float("gamma", 2.0), AttrDesc::float("alpha", 0.25), AttrDesc::str("reduction", "mean")],
        dispatch_input: 0, dtypes: [DType::F32, DType::F64, DType::BF16],
        shape: shape, forward: forward, backward: some(backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_sdk::kernel::Attr;

    fn attrs(gamma: f64, alpha: f64, red: &str) -> Attrs {
        Attrs(vec![Attr::Float(gamma), Attr::Float(alpha), Attr::Str(red.into())])
    }

    fn case() -> (Array, Array) {
        (
            Array { shape: vec![3, 4], data: vec![0.3, -1.2, 2.0, 0.1, 1.5, 0.2, -0.4, -2.2, -0.6, 0.0, 0.9, 3.1] },
            Array { shape: vec![3], data: vec![2.0, 1.0, 0.0] },
        )
    }

    #[test]
    fn gamma_zero_alpha_off_is_cross_entropy() {
        let (x, t) = case();
        let l = forward(&[Some(x.clone()), Some(t)], &attrs(0.0, -1.0, "none")).unwrap().remove(0).data;
        for (i, y) in [2usize, 1, 0].into_iter().enumerate() {
            let ce = -log_softmax_row(&x.data[i * 4..i * 4 + 4])[y];
            assert!((l[i] - ce).abs() < 1e-12);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (x, t) = case();
        for (gamma, alpha, red) in [(2.0, 0.25, "mean"), (0.5, -1.0, "sum"), (0.0, 0.25, "mean"), (3.0, 0.5, "none")] {
            let at = attrs(gamma, alpha, red);
            let out = forward(&[Some(x.clone()), Some(t.clone())], &at).unwrap();
            let g = Array { shape: out[0].shape.clone(), data: (0..out[0].data.len()).map(|i| 0.5 + i as f64).collect() };
            let loss = |x: &Array| -> f64 {
                let o = forward(&[Some(x.clone()), Some(t.clone())], &at).unwrap().remove(0);
                o.data.iter().zip(&g.data).map(|(a, b)| a * b).sum()
            };
            let args = BackwardArgs { grads: vec![g.clone()], inputs: vec![Some(x.clone()), Some(t.clone())], outputs: out, attrs: at.clone(), needs: vec![true, false] };
            let dx = backward(&args).unwrap().remove(0).unwrap().data;
            for j in 0..x.data.len() {
                let (mut p, mut m) = (x.clone(), x.clone());
                p.data[j] += 1e-6;
                m.data[j] -= 1e-6;
                let fd = (loss(&p) - loss(&m)) / 2e-6;
                assert!((dx[j] - fd).abs() < 1e-6, "{gamma} {alpha} {red} #{j}: {} vs {fd}", dx[j]);
            }
        }
    }

    #[test]
    fn rejects_out_of_range_targets() {
        let (x, _) = case();
        let t = Array { shape: vec![3], data: vec![0.0, 4.0, 1.0] };
        assert!(forward(&[Some(x), Some(t)], &attrs(2.0, 0.25, "mean")).unwrap_err().contains("out of range"));
    }
}
