//! Inverted dropout (Srivastava et al. 2014) with an explicit seed, so the reference and any
//! other kernel draw the same mask.

use crate::common::req;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs, Meta};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;
use ferrite_sdk::rng::Rng;

/// `(p, training, seed)` with defaults `(0.5, true, 0)`; `p` outside `[0, 1]` is an error.
fn dropout_attrs(attrs: &Attrs) -> Result<(f64, bool, i64), String> {
    let p = if attrs.is_none(0) { 0.5 } else { attrs.float(0).map_err(|e| format!("dropout: p: {e}"))? };
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("dropout: p must be in [0, 1], got {p}"));
    }
    let training = attrs.is_none(1) || attrs.bool(1).map_err(|e| format!("dropout: training: {e}"))?;
    let seed = if attrs.is_none(2) { 0 } else { attrs.int(2).map_err(|e| format!("dropout: seed: {e}"))? };
    Ok((p, training, seed))
}

/// Shape function of `ferrite::dropout`: `out` and `mask`, both with the input's shape and dtype.
pub fn dropout_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    dropout_attrs(attrs)?;
    let x = req(ins, 0)?;
    Ok(vec![x.clone(), x.clone()])
}

/// The per-element scale: `1` when not training; otherwise, drawing one
/// `Rng::new(seed as u64).uniform()` per element in row-major order, `1/(1-p)` where `u >= p`
/// and `0` elsewhere (`p = 1` gives all zeros).
pub fn dropout_mask(shape: &[usize], p: f64, training: bool, seed: i64) -> Array {
    if !training {
        return Array::full(shape, 1.0);
    }
    if p >= 1.0 {
        return Array::zeros(shape);
    }
    let mut rng = Rng::new(seed as u64);
    let scale = 1.0 / (1.0 - p);
    let mut m = Array::zeros(shape);
    for v in m.data.iter_mut() {
        if rng.uniform() >= p {
            *v = scale;
        }
    }
    m
}

/// Forward of `ferrite::dropout` (matches `F.dropout(input, p, training)` up to the random
/// stream): outputs `(out = input · mask, mask)`; the identity with a mask of ones when
/// `training` is false.
pub fn dropout_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (p, training, seed) = dropout_attrs(attrs)?;
    let x = req(ins, 0)?;
    let mask = dropout_mask(&x.shape, p, training, seed);
    let out = Array { shape: x.shape.clone(), data: x.data.iter().zip(&mask.data).map(|(a, m)| a * m).collect() };
    Ok(vec![out, mask])
}

/// Backward of `ferrite::dropout`: `dx = dy · mask` (the mask output gets no gradient).
pub fn dropout_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (g, mask) = (&a.grads[0], a.outputs.get(1).ok_or("dropout: backward needs the mask output")?);
    if g.shape != mask.shape {
        return Err(format!("dropout: gradient shape {:?} differs from mask {:?}", g.shape, mask.shape));
    }
    Ok(vec![Some(Array { shape: g.shape.clone(), data: g.data.iter().zip(&mask.data).map(|(g, m)| g * m).collect() })])
}

reference_op! {
    DROPOUT {
        name: "ferrite::dropout",
        version: 1,
        api_names: ["nn.functional.dropout", "dropout"],
        aliases: ["aten::dropout", "aten::native_dropout"],
        deprecated: [],
        doc: "Inverted dropout with an explicit seed; outputs (out, mask) where mask is 0 or 1/(1-p).",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out"), ArgDesc::tensor_nograd("mask")],
        attrs: [AttrDesc::float("p", 0.5), AttrDesc::bool("training", true), AttrDesc::int("seed", 0)],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: dropout_shape,
        forward: dropout_forward,
        backward: some(dropout_backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use ferrite_sdk::kernel::Attr;

    fn da(p: f64, training: bool, seed: i64) -> Attrs {
        attrs(vec![Attr::Float(p), Attr::Bool(training), Attr::Int(seed)])
    }

    const X: [f64; 8] = [1.0, -2.0, 3.0, 0.5, 4.0, -1.0, 2.0, 8.0];

    /// Field case C18: training=false and p=0 are the identity, p=1 gives zeros, each element in
    /// training is 0 or 2x (p = 0.5), and the mean over many seeds is close to x.
    #[test]
    fn c18_dropout_train_eval_and_expectation() {
        let x = vec1(&X);
        let ins = some(&[&x]);
        let eval = dropout_forward(&ins, &da(0.5, false, 3)).unwrap();
        assert_eq!(eval[0], x);
        assert_eq!(eval[1], Array::full(&[8], 1.0));
        check_shape(dropout_shape, &ins, &[], &da(0.5, false, 3), &eval);
        assert_eq!(dropout_forward(&ins, &da(0.0, true, 3)).unwrap()[0], x);
        assert_eq!(dropout_forward(&ins, &da(1.0, true, 3)).unwrap()[0], Array::zeros(&[8]));
        let t = dropout_forward(&ins, &da(0.5, true, 9)).unwrap();
        for (k, v) in t[0].data.iter().enumerate() {
            assert!(*v == 0.0 || *v == 2.0 * X[k], "element {k}: {v}");
        }
        // Deterministic in the seed; defaults are p=0.5, training, seed 0.
        assert_eq!(dropout_forward(&ins, &da(0.5, true, 9)).unwrap(), t);
        assert_eq!(dropout_forward(&ins, &attrs(vec![])).unwrap(), dropout_forward(&ins, &da(0.5, true, 0)).unwrap());
        let n = 10_000;
        let mut mean = [0.0; 8];
        for seed in 0..n {
            let y = dropout_forward(&ins, &da(0.5, true, seed)).unwrap().remove(0);
            mean.iter_mut().zip(&y.data).for_each(|(m, v)| *m += v / n as f64);
        }
        for (m, x) in mean.iter().zip(X) {
            assert!((m - x).abs() <= 0.05 * x.abs(), "mean {m} vs {x}");
        }
        // Gradient in eval mode is all ones.
        let args = BackwardArgs { grads: vec![Array::full(&[8], 1.0), Array::zeros(&[8])], inputs: ins, outputs: eval, attrs: da(0.5, false, 0), needs: vec![true] };
        assert_eq!(dropout_backward(&args).unwrap()[0].as_ref().unwrap().data, vec![1.0; 8]);
    }

    #[test]
    fn backward_matches_finite_differences_and_bad_p_errors() {
        let x = rand_array(&[3, 4], 1);
        check_grad(dropout_forward, dropout_backward, &some(&[&x]), &da(0.3, true, 42), &[0], 2);
        check_grad(dropout_forward, dropout_backward, &some(&[&x]), &da(0.3, false, 42), &[0], 3);
        for p in [-0.1, 1.5, f64::NAN] {
            assert!(dropout_forward(&some(&[&x]), &da(p, true, 0)).unwrap_err().starts_with("dropout: p"));
        }
    }
}
