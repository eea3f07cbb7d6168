//! `softmax` and `log_softmax` along one dim, max-subtracted, with fully masked (all `-inf`)
//! rows handled without NaN.

use crate::common::req;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;
use ferrite_sdk::shape::softmax::softmax_layout as layout;
pub use ferrite_sdk::shape::softmax::softmax_shape;

/// Calls `f(indices of one slice along dim)` for every slice.
fn for_each_slice(outer: usize, len: usize, inner: usize, mut f: impl FnMut(&[usize])) {
    let mut idx = vec![0; len];
    for o in 0..outer {
        for i in 0..inner {
            for (k, slot) in idx.iter_mut().enumerate() {
                *slot = (o * len + k) * inner + i;
            }
            f(&idx);
        }
    }
}

/// `(max, ln Σ exp(x - max))` of one slice; `max = -inf` for an all `-inf` or empty slice.
fn slice_lse(x: &Array, idx: &[usize]) -> (f64, f64) {
    let m = idx.iter().fold(f64::NEG_INFINITY, |m, &j| m.max(x.data[j]));
    if m == f64::NEG_INFINITY {
        return (m, 0.0);
    }
    (m, idx.iter().map(|&j| (x.data[j] - m).exp()).sum::<f64>().ln())
}

/// Forward of `ferrite::softmax` (matches `torch.softmax(input, dim)`): `exp(x - m) / Σ exp(x - m)`
/// with `m` the slice maximum; a slice that is all `-inf` gives zeros (not NaN).
pub fn softmax_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (outer, len, inner) = layout("softmax", &x.shape, attrs)?;
    let mut y = Array::zeros(&x.shape);
    for_each_slice(outer, len, inner, |idx| {
        let (m, l) = slice_lse(x, idx);
        if m > f64::NEG_INFINITY {
            for &j in idx {
                y.data[j] = (x.data[j] - m - l).exp();
            }
        }
    });
    Ok(vec![y])
}

/// Backward of `ferrite::softmax`: `dx = y · (dy - Σ dy·y)` per slice (zero for masked slices,
/// where `y = 0`).
pub fn softmax_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (y, g) = (&a.outputs[0], &a.grads[0]);
    let (outer, len, inner) = layout("softmax", &y.shape, &a.attrs)?;
    let mut dx = Array::zeros(&y.shape);
    for_each_slice(outer, len, inner, |idx| {
        let dot: f64 = idx.iter().map(|&j| g.data[j] * y.data[j]).sum();
        for &j in idx {
            dx.data[j] = y.data[j] * (g.data[j] - dot);
        }
    });
    Ok(vec![Some(dx)])
}

/// Forward of `ferrite::log_softmax` (matches `torch.log_softmax(input, dim)`):
/// `x - m - ln Σ exp(x - m)`; a slice that is all `-inf` gives all `-inf`.
pub fn log_softmax_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (outer, len, inner) = layout("log_softmax", &x.shape, attrs)?;
    let mut y = Array::full(&x.shape, f64::NEG_INFINITY);
    for_each_slice(outer, len, inner, |idx| {
        let (m, l) = slice_lse(x, idx);
        if m > f64::NEG_INFINITY {
            for &j in idx {
                y.data[j] = x.data[j] - m - l;
            }
        }
    });
    Ok(vec![y])
}

/// Backward of `ferrite::log_softmax`: `dx = dy - exp(y) · Σ dy` per slice; zero for a slice
/// whose outputs are all `-inf` (fully masked: no NaN, no gradient).
pub fn log_softmax_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (y, g) = (&a.outputs[0], &a.grads[0]);
    let (outer, len, inner) = layout("log_softmax", &y.shape, &a.attrs)?;
    let mut dx = Array::zeros(&y.shape);
    for_each_slice(outer, len, inner, |idx| {
        if idx.iter().all(|&j| y.data[j] == f64::NEG_INFINITY) {
            return;
        }
        let total: f64 = idx.iter().map(|&j| g.data[j]).sum();
        for &j in idx {
            dx.data[j] = g.data[j] - y.data[j].exp() * total;
        }
    });
    Ok(vec![Some(dx)])
}

reference_op! {
    SOFTMAX {
        name: "ferrite::softmax",
        version: 1,
        api_names: ["nn.functional.softmax", "softmax", "Tensor.softmax"],
        aliases: ["aten::softmax", "aten::_softmax"],
        deprecated: [],
        doc: "Softmax along dim (max-subtracted); an all -inf slice gives zeros.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int_required("dim")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: softmax_shape,
        forward: softmax_forward,
        backward: some(softmax_backward),
    }
}

reference_op! {
    LOG_SOFTMAX {
        name: "ferrite::log_softmax",
        version: 1,
        api_names: ["nn.functional.log_softmax", "log_softmax", "Tensor.log_softmax"],
        aliases: ["aten::log_softmax", "aten::_log_softmax"],
        deprecated: [],
        doc: "Log-softmax along dim (max-subtracted); an all -inf slice gives -inf.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int_required("dim")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: softmax_shape,
        forward: log_softmax_forward,
        backward: some(log_softmax_backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::norm_dim;
    use crate::testing::*;
    use ferrite_sdk::kernel::array::unravel;
    use ferrite_sdk::kernel::Attr;
    use proptest::prelude::*;

    fn dim(d: i64) -> Attrs {
        attrs(vec![Attr::Int(d)])
    }

    #[test]
    fn hand_values_and_masked_rows() {
        let ninf = f64::NEG_INFINITY;
        let x = arr(&[3, 3], &[1.0, 2.0, 3.0, ninf, ninf, ninf, 1000.0, 1000.0, ninf]);
        let ins = some(&[&x]);
        let s = softmax_forward(&ins, &dim(1)).unwrap();
        let e = [(-2f64).exp(), (-1f64).exp(), 1.0];
        let z: f64 = e.iter().sum();
        assert_close(&s[0].data, &[e[0] / z, e[1] / z, e[2] / z, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0], 1e-15, "softmax");
        check_shape(softmax_shape, &ins, &[], &dim(1), &s);
        let l = log_softmax_forward(&ins, &dim(-1)).unwrap();
        assert_close(&l[0].data[..3], &[-2.0 - z.ln(), -1.0 - z.ln(), -z.ln()], 1e-15, "log_softmax");
        assert!(l[0].data[3..6].iter().all(|&v| v == ninf));
        assert_close(&l[0].data[6..], &[-(2f64.ln()), -(2f64.ln()), ninf], 1e-15, "large logits");
        // Gradients of the masked row are zero, never NaN.
        let g = rand_array(&[3, 3], 1);
        let bs = softmax_backward(&BackwardArgs { grads: vec![g.clone()], inputs: ins.clone(), outputs: s, attrs: dim(1), needs: vec![true] }).unwrap();
        let bl = log_softmax_backward(&BackwardArgs { grads: vec![g], inputs: ins, outputs: l, attrs: dim(1), needs: vec![true] }).unwrap();
        for b in [bs, bl] {
            let d = b[0].as_ref().unwrap();
            assert!(d.data.iter().all(|v| !v.is_nan()));
            assert_eq!(&d.data[3..6], &[0.0, 0.0, 0.0]);
        }
        assert!(softmax_forward(&some(&[&x]), &dim(2)).unwrap_err().starts_with("softmax: "));
        assert!(softmax_forward(&some(&[&x]), &attrs(vec![])).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn random_shapes_match_definition_and_fd(
            shape in prop::collection::vec(1usize..4, 0..4), d in 0usize..4, seed in 0u64..1000,
        ) {
            let nd = shape.len().max(1);
            let d = (d % nd) as i64 - if seed % 2 == 0 { 0 } else { nd as i64 };
            let x = rand_array(&shape, seed);
            let ins = some(&[&x]);
            let s = softmax_forward(&ins, &dim(d)).unwrap().remove(0);
            let l = log_softmax_forward(&ins, &dim(d)).unwrap().remove(0);
            // Independent: direct exp / sum over elements sharing all other coordinates.
            let dd = if shape.is_empty() { 0 } else { norm_dim(d, shape.len()).unwrap() };
            for f in 0..x.numel() {
                let i = unravel(f, &shape);
                let z: f64 = (0..x.numel())
                    .filter(|&g| unravel(g, &shape).iter().enumerate().all(|(k, v)| k == dd || *v == i[k]))
                    .map(|g| x.data[g].exp())
                    .sum();
                prop_assert!((s.data[f] - x.data[f].exp() / z).abs() < 1e-12);
                prop_assert!((l.data[f] - (x.data[f] - z.ln())).abs() < 1e-12);
            }
            check_grad(softmax_forward, softmax_backward, &ins, &dim(d), &[0], seed);
            check_grad(log_softmax_forward, log_softmax_backward, &ins, &dim(d), &[0], seed);
        }
    }
}
