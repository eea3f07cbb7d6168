//! Tests of reduce.rs (included as its `tests` module).

use super::*;
#[allow(unused_imports)]
use ferrite_sdk::{abi::dtype::DType, kernel::Meta};
use crate::testing::*;
use ferrite_sdk::kernel::Attr;
use proptest::prelude::*;

fn dims(d: &[i64], keepdim: bool) -> Attrs {
    attrs(vec![Attr::Ints(d.to_vec()), Attr::Bool(keepdim)])
}

fn dim(d: i64, keepdim: bool) -> Attrs {
    attrs(vec![Attr::Int(d), Attr::Bool(keepdim)])
}

#[test]
fn sum_and_mean_hand_values() {
    let x = arr(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let ins = some(&[&x]);
    let s = sum_forward(&ins, &dims(&[1], false)).unwrap();
    assert_eq!(s[0], arr(&[2], &[6.0, 15.0]));
    check_shape(dims_reduce_shape, &ins, &[], &dims(&[1], false), &s);
    assert_eq!(sum_forward(&ins, &dims(&[-1], true)).unwrap()[0], arr(&[2, 1], &[6.0, 15.0]));
    assert_eq!(sum_forward(&ins, &dims(&[], false)).unwrap()[0], arr(&[], &[21.0]));
    assert_eq!(sum_forward(&ins, &attrs(vec![])).unwrap()[0], arr(&[], &[21.0]));
    assert_eq!(sum_forward(&ins, &dims(&[0, 1], true)).unwrap()[0], arr(&[1, 1], &[21.0]));
    assert_eq!(mean_forward(&ins, &dims(&[0], false)).unwrap()[0], arr(&[3], &[2.5, 3.5, 4.5]));
    // Zero-size reductions: sum 0, mean NaN (as PyTorch).
    let e = Array::zeros(&[0, 3]);
    assert_eq!(sum_forward(&some(&[&e]), &dims(&[0], false)).unwrap()[0], arr(&[3], &[0.0; 3]));
    assert!(mean_forward(&some(&[&e]), &dims(&[0], false)).unwrap()[0].data.iter().all(|v| v.is_nan()));
    // 0-d input.
    let z = arr(&[], &[4.0]);
    assert_eq!(sum_forward(&some(&[&z]), &dims(&[0], false)).unwrap()[0], z);
}

#[test]
fn bad_dims_are_errors() {
    let x = Array::zeros(&[2, 3]);
    for a in [dims(&[2], false), dims(&[-3], false), dims(&[1, -1], false)] {
        let e = sum_forward(&some(&[&x]), &a).unwrap_err();
        assert!(e.starts_with("sum: "), "{e}");
    }
    assert!(mean_forward(&some(&[&x]), &attrs(vec![Attr::Str("x".into())])).is_err());
    assert!(max_forward(&some(&[&x]), &dim(2, false)).is_err());
    assert!(max_forward(&some(&[&x]), &attrs(vec![])).is_err(), "dim is required");
    assert!(max_forward(&some(&[&Array::zeros(&[0, 2])]), &dim(0, false)).unwrap_err().contains("zero-size"));
    assert!(argmax_shape(&[Some(Meta::new(DType::F32, vec![2, 0]))], &dim(1, false)).is_err());
}

#[test]
fn reduction_backwards_match_finite_differences() {
    let x = rand_array(&[2, 3, 2], 7);
    let ins = some(&[&x]);
    for a in [dims(&[1], false), dims(&[0, 2], true), dims(&[], false)] {
        check_grad(sum_forward, sum_backward, &ins, &a, &[0], 1);
        check_grad(mean_forward, mean_backward, &ins, &a, &[0], 2);
        check_grad(logsumexp_forward, logsumexp_backward, &ins, &a, &[0], 3);
    }
    for a in [dim(1, false), dim(-1, true)] {
        check_grad(max_forward, max_min_backward, &ins, &a, &[0], 4);
        check_grad(min_forward, max_min_backward, &ins, &a, &[0], 5);
    }
}

/// Field case C04 (A, C, D): logsumexp of 65536 zeros, of an all -inf row, and of [-inf, 0, 1];
/// values and gradients (upstream 1), never NaN.
#[test]
fn c04_logsumexp_wide_and_infinite() {
    let run = |x: &Array| {
        let ins = some(&[x]);
        let a = dims(&[], false);
        let y = logsumexp_forward(&ins, &a).unwrap();
        let args = BackwardArgs { grads: vec![arr(&[], &[1.0])], inputs: ins, outputs: y.clone(), attrs: a, needs: vec![true] };
        (y[0].data[0], logsumexp_backward(&args).unwrap().remove(0).unwrap().data)
    };
    let (v, g) = run(&vec1(&[f64::NEG_INFINITY, f64::NEG_INFINITY]));
    assert_eq!(v, f64::NEG_INFINITY);
    assert_eq!(g, vec![0.0, 0.0]);
    let (v, g) = run(&vec1(&[f64::NEG_INFINITY, 0.0, 1.0]));
    assert!((v - 1.313261688).abs() < 1e-9, "{v}");
    assert_close(&g, &[0.0, 0.268941421, 0.731058579], 1e-9, "grad D");
    let (v, g) = run(&Array::zeros(&[65536]));
    assert!((v - 11.090354889).abs() < 1e-9, "{v}");
    assert!(g.iter().all(|&x| (x - 2f64.powi(-16)).abs() <= 1e-15 * 2f64.powi(-16)), "grad A");
    let (v, g) = run(&vec1(&[12.0, 12.0]));
    assert!((v - 12.693147181).abs() < 1e-9);
    assert_close(&g, &[0.5, 0.5], 1e-15, "grad B");
    // Row-wise: one masked row next to a normal one.
    let x = arr(&[2, 2], &[f64::NEG_INFINITY, f64::NEG_INFINITY, 0.0, 0.0]);
    let y = logsumexp_forward(&some(&[&x]), &dims(&[1], false)).unwrap();
    assert_eq!(y[0].data, vec![f64::NEG_INFINITY, 2f64.ln()]);
    assert!(logsumexp_forward(&some(&[&vec1(&[f64::NAN, 1.0])]), &dims(&[], false)).unwrap()[0].data[0].is_nan());
}

#[test]
fn max_min_argmax_pick_first_extreme() {
    let x = arr(&[2, 3], &[1.0, 3.0, 3.0, -1.0, -5.0, -5.0]);
    let ins = some(&[&x]);
    let m = max_forward(&ins, &dim(1, false)).unwrap();
    assert_eq!(m[0], arr(&[2], &[3.0, -1.0]));
    assert_eq!(m[1], arr(&[2], &[1.0, 0.0]));
    let metas = check_shape(max_min_shape, &ins, &[], &dim(1, false), &m);
    assert_eq!(metas[1].dtype, DType::I64);
    let n = min_forward(&ins, &dim(1, true)).unwrap();
    assert_eq!(n[0], arr(&[2, 1], &[1.0, -5.0]));
    assert_eq!(n[1], arr(&[2, 1], &[0.0, 1.0]));
    let am = argmax_forward(&ins, &dim(0, false)).unwrap();
    assert_eq!(am[0], arr(&[3], &[0.0, 0.0, 0.0]));
    assert_eq!(argmax_shape(&[Some(Meta::new(DType::F16, vec![2, 3]))], &dim(0, true)).unwrap()[0], Meta::new(DType::I64, vec![1, 3]));
    // Gradient of a tie goes to the first maximum only.
    let args = BackwardArgs { grads: vec![vec1(&[1.0, 2.0]), Array::zeros(&[2])], inputs: ins, outputs: m, attrs: dim(1, false), needs: vec![true] };
    assert_eq!(max_min_backward(&args).unwrap()[0].as_ref().unwrap().data, vec![0.0, 1.0, 0.0, 2.0, 0.0, 0.0]);
    // NaN propagates; 0-d input reduces to itself with index 0.
    let nan = max_forward(&some(&[&vec1(&[1.0, f64::NAN, 2.0])]), &dim(0, false)).unwrap();
    assert!(nan[0].data[0].is_nan());
    assert_eq!(nan[1].data, vec![1.0]);
    let z = max_forward(&some(&[&arr(&[], &[3.0])]), &dim(-1, false)).unwrap();
    assert_eq!((z[0].clone(), z[1].clone()), (arr(&[], &[3.0]), arr(&[], &[0.0])));
}

/// Reference reduction: for every output element, add every input element whose kept
/// coordinates match (quadratic, independent of the kernel's index mapping).
fn naive_sum(x: &Array, mask: &[bool]) -> Vec<f64> {
    let ks = keep_shape(&x.shape, mask);
    let n: usize = ks.iter().product();
    (0..n)
        .map(|o| {
            let oi = unravel(o, &ks);
            (0..x.numel())
                .filter(|&f| unravel(f, &x.shape).iter().zip(&oi).zip(mask).all(|((a, b), m)| *m || a == b))
                .map(|f| x.data[f])
                .sum()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn reductions_random_shapes(
        shape in prop::collection::vec(0usize..4, 0..4),
        pick in 0u32..16, keepdim: bool, seed in 0u64..1000,
    ) {
        let nd = shape.len();
        let dl: Vec<i64> = (0..nd).filter(|i| pick >> i & 1 == 1).map(|i| if seed % 2 == 0 { i as i64 } else { i as i64 - nd as i64 }).collect();
        let x = rand_array(&shape, seed);
        let a = dims(&dl, keepdim);
        let mask = reduced_mask("t", &dl, nd).unwrap();
        let s = sum_forward(&some(&[&x]), &a).unwrap();
        prop_assert_eq!(&s[0].shape, &reduced_shape(&shape, &mask, keepdim));
        check_shape(dims_reduce_shape, &some(&[&x]), &[], &a, &s);
        assert_close(&s[0].data, &naive_sum(&x, &mask), 1e-12, "sum");
        let l = logsumexp_forward(&some(&[&x]), &a).unwrap();
        let ex = Array { shape: x.shape.clone(), data: x.data.iter().map(|v| v.exp()).collect() };
        let want: Vec<f64> = naive_sum(&ex, &mask).iter().map(|v| v.ln()).collect();
        assert_close(&l[0].data, &want, 1e-12, "logsumexp");
        if x.numel() > 0 {
            check_grad(sum_forward, sum_backward, &some(&[&x]), &a, &[0], seed);
            check_grad(mean_forward, mean_backward, &some(&[&x]), &a, &[0], seed);
            check_grad(logsumexp_forward, logsumexp_backward, &some(&[&x]), &a, &[0], seed);
        }
        if nd > 0 && shape[(seed as usize) % nd] > 0 {
            let d = (seed as usize % nd) as i64;
            let m = max_forward(&some(&[&x]), &dim(d, keepdim)).unwrap();
            check_shape(max_min_shape, &some(&[&x]), &[], &dim(d, keepdim), &m);
            if x.numel() > 0 {
                check_grad(max_forward, max_min_backward, &some(&[&x]), &dim(d, keepdim), &[0], seed);
            }
        }
    }
}
