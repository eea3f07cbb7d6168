//! Tests of loss.rs (included as its `tests` module).

use super::*;
#[allow(unused_imports)]
use ferrite_sdk::{abi::dtype::DType, kernel::Meta};
use crate::testing::*;

fn ce(ii: i64, eps: f64, red: &str) -> Attrs {
    attrs(vec![Attr::Int(ii), Attr::Float(eps), Attr::from(red)])
}

fn c06_inputs() -> (Array, Array, Array) {
    (
        arr(&[3, 3], &[2.0, 1.0, 0.0, 0.0, 1.0, 3.0, 1.0, 1.0, 1.0]),
        vec1(&[0.0, -100.0, 2.0]),
        vec1(&[0.2, 0.3, 0.5]),
    )
}

fn backward(b: fn(&BackwardArgs) -> Result<Vec<Option<Array>>, String>, ins: Vec<Option<Array>>, a: Attrs, out: Vec<Array>) -> Vec<Option<Array>> {
    let g = Array::full(&out[0].shape, 1.0);
    let needs = vec![true; ins.len()];
    b(&BackwardArgs { grads: vec![g], inputs: ins, outputs: out, attrs: a, needs }).unwrap()
}

/// Field case C06 (pytorch/pytorch#73205): label smoothing 0.2 with an ignored sample; the
/// ignored row adds nothing to loss, normaliser or gradient, with and without class weights.
/// Expected values from /work/shared/cases/C06.json.
#[test]
fn c06_label_smoothing_with_ignored_samples() {
    let (x, t, w) = c06_inputs();
    let run = |ins: &[Option<Array>], red: &str| cross_entropy_forward(ins, &ce(-100, 0.2, red)).unwrap()[0].data[0];
    let plain = vec![Some(x.clone()), Some(t.clone()), None];
    assert_close(&[run(&plain, "mean")], &[0.8531091], 1e-7, "mean");
    assert_close(&[run(&plain, "sum")], &[1.7062183], 1e-7, "sum");
    let weighted = some(&[&x, &t, &w]);
    assert_close(&[run(&weighted, "mean")], &[0.9882044], 1e-7, "weighted_mean");
    assert_close(&[run(&weighted, "sum")], &[0.6917431], 1e-7, "weighted_sum");
    let a = ce(-100, 0.2, "mean");
    let out = cross_entropy_forward(&plain, &a).unwrap();
    let g = backward(cross_entropy_backward, plain.clone(), a.clone(), out);
    assert!(g[1].is_none() && g[2].is_none());
    let want = [-0.1007129, 0.0890309, 0.011682, 0.0, 0.0, 0.0, 0.1333333, 0.1333333, -0.2666667];
    assert_close(&g[0].as_ref().unwrap().data, &want, 1e-6, "grad_mean");
    assert_eq!(&g[0].as_ref().unwrap().data[3..6], &[0.0, 0.0, 0.0], "ignored_row_gradient");
    // Per-sample losses: the ignored sample is exactly 0.
    let none = cross_entropy_forward(&plain, &ce(-100, 0.2, "none")).unwrap().remove(0);
    assert_eq!(none.shape, vec![3]);
    assert_eq!(none.data[1], 0.0);
}

#[test]
fn cross_entropy_matches_nll_of_log_softmax() {
    let x = rand_array(&[4, 5], 11);
    let t = vec1(&[0.0, 4.0, 2.0, 2.0]);
    let w = Array { shape: vec![5], data: vec![0.5, 1.0, 2.0, 0.1, 3.0] };
    let lp = log_probs(&x).unwrap();
    for red in ["none", "mean", "sum"] {
        let a = ce(-100, 0.0, red);
        let c = cross_entropy_forward(&some(&[&x, &t, &w]), &a).unwrap();
        let n = nll_loss_forward(&some(&[&lp, &t, &w]), &attrs(vec![Attr::Int(-100), Attr::from(red)])).unwrap();
        assert_close(&c[0].data, &n[0].data, 1e-14, red);
        let metas = check_shape(cross_entropy_shape, &some(&[&x, &t, &w]), &[DType::F32, DType::I64, DType::F32], &a, &c);
        assert_eq!(metas[0].dtype, DType::F32);
    }
}

#[test]
fn nll_and_mse_hand_values() {
    let lp = arr(&[2, 2], &[-1.0, -2.0, -0.5, -3.0]);
    let t = vec1(&[1.0, 0.0]);
    let w = vec1(&[1.0, 3.0]);
    let nll = |ins: &[Option<Array>], red: &str| nll_loss_forward(ins, &attrs(vec![Attr::Int(-100), Attr::from(red)])).unwrap().remove(0);
    assert_eq!(nll(&some(&[&lp, &t]), "none"), vec1(&[2.0, 0.5]));
    assert_eq!(nll(&some(&[&lp, &t]), "mean"), Array::scalar(1.25));
    assert_eq!(nll(&some(&[&lp, &t, &w]), "none"), vec1(&[6.0, 0.5]));
    assert_eq!(nll(&some(&[&lp, &t, &w]), "mean"), Array::scalar(1.625));
    assert_eq!(nll_loss_forward(&some(&[&lp, &t]), &attrs(vec![])).unwrap()[0], Array::scalar(1.25), "defaults");
    // All samples ignored: mean is 0/0 = NaN (as PyTorch), sum is 0.
    let ign = vec1(&[-100.0, -100.0]);
    assert!(nll(&some(&[&lp, &ign]), "mean").data[0].is_nan());
    assert_eq!(nll(&some(&[&lp, &ign]), "sum").data[0], 0.0);
    let x = arr(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let y = arr(&[2, 2], &[0.0, 0.0, 1.0, 6.0]);
    let mse = |red: &str| mse_loss_forward(&some(&[&x, &y]), &attrs(vec![Attr::from(red)])).unwrap().remove(0);
    assert_eq!(mse("none"), arr(&[2, 2], &[1.0, 4.0, 4.0, 4.0]));
    assert_eq!(mse("sum"), Array::scalar(13.0));
    assert_eq!(mse("mean"), Array::scalar(3.25));
    check_shape(mse_loss_shape, &some(&[&x, &y]), &[], &attrs(vec![Attr::from("none")]), &[mse("none")]);
}

#[test]
fn loss_backwards_match_finite_differences() {
    let x = rand_array(&[4, 3], 21);
    let t = vec1(&[2.0, -100.0, 0.0, 1.0]);
    let w = vec1(&[0.7, 1.3, 0.4]);
    for red in ["none", "mean", "sum"] {
        for eps in [0.0, 0.1] {
            check_grad(cross_entropy_forward, cross_entropy_backward, &some(&[&x, &t, &w]), &ce(-100, eps, red), &[0], 1);
            check_grad(cross_entropy_forward, cross_entropy_backward, &[Some(x.clone()), Some(t.clone()), None], &ce(-100, eps, red), &[0], 2);
        }
        let na = attrs(vec![Attr::Int(-100), Attr::from(red)]);
        check_grad(nll_loss_forward, nll_loss_backward, &some(&[&x, &t, &w]), &na, &[0], 3);
        let y = rand_array(&[4, 3], 22);
        check_grad(mse_loss_forward, mse_loss_backward, &some(&[&x, &y]), &attrs(vec![Attr::from(red)]), &[0, 1], 4);
    }
    // A custom ignore_index that is a valid class id.
    check_grad(cross_entropy_forward, cross_entropy_backward, &some(&[&x, &vec1(&[2.0, 1.0, 0.0, 1.0])]), &ce(1, 0.3, "mean"), &[0], 5);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let x = rand_array(&[2, 3], 1);
    let t = vec1(&[0.0, 1.0]);
    for bad_t in [vec1(&[0.0, 3.0]), vec1(&[-1.0, 0.0]), vec1(&[0.5, 0.0])] {
        let e = cross_entropy_forward(&some(&[&x, &bad_t]), &ce(-100, 0.0, "mean")).unwrap_err();
        assert!(e.starts_with("cross_entropy: target"), "{e}");
        assert!(nll_loss_forward(&some(&[&x, &bad_t]), &attrs(vec![])).unwrap_err().starts_with("nll_loss: "));
    }
    assert!(cross_entropy_forward(&some(&[&x, &vec1(&[0.0])]), &ce(-100, 0.0, "mean")).is_err());
    assert!(cross_entropy_forward(&some(&[&x, &t, &vec1(&[1.0])]), &ce(-100, 0.0, "mean")).is_err());
    assert!(cross_entropy_forward(&some(&[&vec1(&[1.0]), &t]), &ce(-100, 0.0, "mean")).is_err());
    assert!(cross_entropy_forward(&some(&[&x, &t]), &ce(-100, 1.5, "mean")).unwrap_err().contains("label_smoothing"));
    assert!(cross_entropy_forward(&some(&[&x, &t]), &ce(-100, 0.0, "avg")).unwrap_err().contains("reduction"));
    let metas = [Some(Meta::new(DType::F32, vec![2, 3])), Some(Meta::new(DType::F32, vec![2]))];
    assert!(cross_entropy_shape(&metas, &ce(-100, 0.0, "mean")).unwrap_err().contains("int64"));
    assert!(mse_loss_forward(&some(&[&x, &t]), &attrs(vec![])).is_err());
    assert!(mse_loss_shape(&[Some(Meta::new(DType::F32, vec![2])), Some(Meta::new(DType::F64, vec![2]))], &attrs(vec![])).is_err());
}
