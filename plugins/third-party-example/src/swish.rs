//! `contrib::swish`: `y = x · σ(x)` (SiLU, Ramachandran et al. 2017) in one pass, and its
//! backward `dx = g · (σ(x) + x·σ(x)·(1 − σ(x)))`.

use ferrite_sdk::abi::op::ArgDesc;
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs, Meta};
use ferrite_sdk::DType;

/// The op's canonical name.
pub const OP_NAME: &str = "contrib::swish";

fn sigmoid(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// Same shape and dtype as the input.
pub fn shape(ins: &[Option<Meta>], _: &Attrs) -> Result<Vec<Meta>, String> {
    let x = ins.first().and_then(|m| m.clone()).ok_or("contrib::swish: input required")?;
    if !x.dtype.is_float() {
        return Err(format!("contrib::swish: input must be floating point, got {}", x.dtype.name()));
    }
    Ok(vec![x])
}

/// `y = x · σ(x)` elementwise.
pub fn forward(ins: &[Option<Array>], _: &Attrs) -> Result<Vec<Array>, String> {
    let x = ins[0].as_ref().ok_or("contrib::swish: input required")?;
    Ok(vec![Array { shape: x.shape.clone(), data: x.data.iter().map(|&v| v * sigmoid(v)).collect() }])
}

/// `dx = g · (σ(x) + x·σ(x)·(1 − σ(x)))`.
pub fn backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = a.inputs[0].as_ref().ok_or("contrib::swish: input required")?;
    let g = &a.grads[0];
    let dx = x.data.iter().zip(&g.data).map(|(&v, &g)| {
        let s = sigmoid(v);
        g * (s + v * s * (1.0 - s))
    });
    Ok(vec![Some(Array { shape: x.shape.clone(), data: dx.collect() })])
}

ferrite_sdk::reference_op! {
    SWISH {
        name: "contrib::swish", version: 1,
        api_names: ["contrib.swish"], aliases: [], deprecated: [],
        doc: "Fused swish / SiLU x * sigmoid(x), any shape (third-party example)",
        inputs: [ArgDesc::tensor("input")], outputs: [ArgDesc::tensor("out")],
        attrs: [],
        dispatch_input: 0, dtypes: [DType::F32, DType::F64, DType::BF16],
        shape: shape, forward: forward, backward: some(backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(x: &[f64]) -> Vec<f64> {
        forward(&[Some(Array { shape: vec![x.len()], data: x.to_vec() })], &Attrs(vec![])).unwrap().remove(0).data
    }

    #[test]
    fn forward_matches_hand_values() {
        let y = fwd(&[0.0, 1.0, -2.0, -800.0]);
        assert_eq!(y[0], 0.0);
        assert!((y[1] - 0.731_058_578_630_004_9).abs() < 1e-12, "{y:?}");
        assert!((y[2] + 0.238_405_844_044_234).abs() < 1e-12, "{y:?}");
        assert!(y[3].abs() < 1e-300 && y[3].is_finite());
    }

    #[test]
    fn backward_matches_finite_differences() {
        let xs = [-3.0, -0.7, 0.0, 0.4, 2.5];
        let x = Array { shape: vec![xs.len()], data: xs.to_vec() };
        let g = Array { shape: vec![xs.len()], data: vec![1.0; xs.len()] };
        let args = BackwardArgs { grads: vec![g], inputs: vec![Some(x.clone())], outputs: forward(&[Some(x)], &Attrs(vec![])).unwrap(), attrs: Attrs(vec![]), needs: vec![true] };
        let dx = backward(&args).unwrap().remove(0).unwrap().data;
        for (i, &v) in xs.iter().enumerate() {
            let h = 1e-6;
            let fd = (fwd(&[v + h])[0] - fwd(&[v - h])[0]) / (2.0 * h);
            assert!((dx[i] - fd).abs() < 1e-6, "x {v}: {} vs {fd}", dx[i]);
        }
    }

    #[test]
    fn registered_for_f32_f64_bf16_with_backward() {
        let d = ferrite_sdk::register::OPS.iter().find(|d| d.name.as_str() == OP_NAME).expect("registered");
        assert_eq!(d.kernels.len(), 3);
        assert!(d.kernels.iter().all(|k| k.has_backward));
    }
}
