//! Field cases from `../shared/cases/*.json` (real bug reports from other frameworks), run
//! through the whole stack: sdk → host table → core dispatch and autograd → ops-ref plugin.
//! Expected values are read from the case files, not retyped.

use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::nn::{Dropout, Module, Sequential};
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::{field_case, provider_of, with_ops_cpu, with_ops_ref};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::String(s) if s == "-inf" => vec![f64::NEG_INFINITY],
        Value::String(s) if s == "inf" => vec![f64::INFINITY],
        other => panic!("not a number: {other}"),
    }
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g == w) || (g - w).abs() <= tol;
        assert!(ok, "{what}[{i}]: got {g}, want {w} (tol {tol})\n got {got:?}\nwant {want:?}");
    }
}

fn param(host: &Host, v: &[f64], shape: &[usize], dtype: DType) -> Tensor {
    host.from_f64(v, shape, dtype).unwrap().requires_grad_(true).unwrap()
}

/// Body of C01, run on ops-ref and on ops-cpu.
fn c01(host: Host) {
    let case = field_case("C01");
    let e = &case["expected"];
    // A: arange(25) 5x5 -> 3x3
    let x = host.arange(25, DType::F32).unwrap().reshape(&[1, 1, 5, 5]).unwrap();
    let (v, i) = F::adaptive_max_pool2d(&x, [3, 3]).unwrap();
    close(&v.to_vec_f64().unwrap(), &floats(&e["A"]["values"]), 0.0, "A values");
    close(&i.to_vec_f64().unwrap(), &floats(&e["A"]["flat_indices"]), 0.0, "A indices");
    // B: output larger than input
    let x = host.from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap();
    let (v, i) = F::adaptive_max_pool2d(&x, [4, 4]).unwrap();
    assert_eq!(v.shape(), vec![1, 1, 4, 4]);
    close(&v.to_vec_f64().unwrap(), &floats(&e["B"]["values"]), 0.0, "B values");
    close(&i.to_vec_f64().unwrap(), &floats(&e["B"]["flat_indices"]), 0.0, "B indices");
    // C: SPP {1,2,4} on 3x3 with overlapping bins; gradient accumulates
    let xv = floats(&case["input"]["C"]["x"]);
    let x = param(&host, &xv, &[1, 1, 3, 3], DType::F32);
    let y = F::spatial_pyramid_pool(&x, &[1, 2, 4], "max").unwrap();
    close(&y.to_vec_f64().unwrap(), &floats(&e["C"]["spp"]), 0.0, "C spp");
    y.sum_all().unwrap().backward().unwrap();
    close(&x.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["C"]["grad_wrt_x"]), 0.0, "C grad");
}

/// Body of C02, run on ops-ref and on ops-cpu.
fn c02(host: Host) {
    let case = field_case("C02");
    let (inp, e) = (&case["input"], &case["expected"]);
    let q = param(&host, &floats(&inp["q"]), &[1, 1, 3, 2], DType::F64);
    let k = param(&host, &floats(&inp["k"]), &[1, 1, 3, 2], DType::F64);
    let v = param(&host, &floats(&inp["v"]), &[1, 1, 3, 2], DType::F64);
    let mask_vals: Vec<u8> = inp["mask_true_means_attend"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|b| b.as_bool().unwrap() as u8))
        .collect();
    let mask = host.from_slice(&mask_vals, &[3, 3]).unwrap().to_dtype(DType::BOOL).unwrap();
    let out = F::scaled_dot_product_attention(&q, &k, &v, Some(&mask), false, None).unwrap();
    close(&out.to_vec_f64().unwrap(), &floats(&e["out"]), 1e-5, "out");
    out.sum_all().unwrap().backward().unwrap();
    close(&q.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["dQ"]), 1e-5, "dQ");
    close(&k.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["dK"]), 1e-5, "dK");
    close(&v.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["dV"]), 1e-5, "dV");
    for t in [&q, &k, &v] {
        assert!(t.grad().unwrap().to_vec_f64().unwrap().iter().all(|g| g.is_finite()));
    }
}

/// Body of C04, run on ops-ref and on ops-cpu.
fn c04(host: Host) {
    let case = field_case("C04");
    let e = &case["expected"];
    let tol = case["tolerance"]["f16_output_abs"].as_f64().unwrap();
    // A: 65536 zeros in f16 -> ln(65536), each grad 2^-16
    let x = host.zeros(&[65536], DType::F16).unwrap().requires_grad_(true).unwrap();
    let y = F::logsumexp(&x, &[], false).unwrap();
    assert_eq!(y.dtype(), DType::F16);
    close(&[y.item().unwrap()], &[e["A"]["f16"].as_f64().unwrap()], tol, "A value");
    y.backward().unwrap();
    let g = x.grad().unwrap().to_vec_f64().unwrap();
    assert!(g.iter().all(|&v| v == 1.0 / 65536.0), "A grad: {:?}", &g[..4]);
    // B: [12, 12]: exp(12) overflows f16 but the result does not
    let x = param(&host, &[12.0, 12.0], &[2], DType::F16);
    let y = F::logsumexp(&x, &[], false).unwrap();
    close(&[y.item().unwrap()], &[e["B"]["f16"].as_f64().unwrap()], tol, "B value");
    y.backward().unwrap();
    close(&x.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["B"]["grad"]), 1e-3, "B grad");
    // C: all -inf -> -inf, zero gradient, no NaN
    let x = param(&host, &[f64::NEG_INFINITY; 2], &[2], DType::F16);
    let y = F::logsumexp(&x, &[], false).unwrap();
    assert_eq!(y.item().unwrap(), f64::NEG_INFINITY);
    y.backward().unwrap();
    close(&x.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["C"]["grad"]), 0.0, "C grad");
    // D: [-inf, 0, 1]
    let x = param(&host, &[f64::NEG_INFINITY, 0.0, 1.0], &[3], DType::F16);
    let y = F::logsumexp(&x, &[], false).unwrap();
    close(&[y.item().unwrap()], &[e["D"]["f16"].as_f64().unwrap()], tol, "D value");
    y.backward().unwrap();
    close(&x.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["D"]["grad"]), 1e-3, "D grad");
}

/// Body of C05, run on ops-ref and on ops-cpu.
fn c05(host: Host) {
    let e = field_case("C05")["expected"].clone();
    let check = |dtype: DType, values: Vec<f64>, sum: f64, mean: f64, what: &str| {
        let n = values.len();
        let x = host.from_f64(&values, &[n], dtype).unwrap();
        let s = F::sum(&x, &[], false).unwrap();
        let m = F::mean(&x, &[], false).unwrap();
        assert_eq!(s.dtype(), dtype);
        assert_eq!(s.item().unwrap(), sum, "{what} sum");
        assert_eq!(m.item().unwrap(), mean, "{what} mean");
    };
    check(DType::BF16, vec![1.0; 512], e["A"]["sum"].as_f64().unwrap(), e["A"]["mean"].as_f64().unwrap(), "A");
    check(DType::BF16, vec![0.5; 1000], e["B"]["sum"].as_f64().unwrap(), e["B"]["mean"].as_f64().unwrap(), "B");
    check(DType::F16, vec![1.0; 4096], e["C"]["sum"].as_f64().unwrap(), e["C"]["mean"].as_f64().unwrap(), "C");
    let small = 2f64.powi(-11);
    let mut first = vec![1.0];
    first.extend([small; 7]);
    let mut last = vec![small; 7];
    last.push(1.0);
    let want = e["D"]["sum_both_orders"].as_f64().unwrap();
    for (order, v) in [("1.0 first", first), ("1.0 last", last)] {
        let x = host.from_f64(&v, &[8], DType::F16).unwrap();
        assert_eq!(F::sum(&x, &[], false).unwrap().item().unwrap(), want, "D {order}");
    }
}

/// Body of C06, run on ops-ref and on ops-cpu.
fn c06(host: Host) {
    let case = field_case("C06");
    let (inp, e) = (&case["input"], &case["expected"]);
    let logits = param(&host, &floats(&inp["logits"]), &[3, 3], DType::F64);
    let target: Vec<i64> = inp["target"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let target = host.from_slice(&target, &[3]).unwrap();
    let eps = inp["label_smoothing"].as_f64().unwrap();
    let ii = inp["ignore_index"].as_i64().unwrap();
    let mean = F::cross_entropy(&logits, &target, None, ii, eps, Reduction::Mean).unwrap();
    close(&[mean.item().unwrap()], &[e["mean"].as_f64().unwrap()], 1e-6, "mean");
    let sum = F::cross_entropy(&logits, &target, None, ii, eps, Reduction::Sum).unwrap();
    close(&[sum.item().unwrap()], &[e["sum"].as_f64().unwrap()], 1e-6, "sum");
    mean.backward().unwrap();
    close(&logits.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["grad_mean"]), 1e-6, "grad_mean");
    let w = host.from_f64(&floats(&inp["class_weights_variant"]), &[3], DType::F64).unwrap();
    let wm = F::cross_entropy(&logits, &target, Some(&w), ii, eps, Reduction::Mean).unwrap();
    close(&[wm.item().unwrap()], &[e["weighted_mean"].as_f64().unwrap()], 1e-6, "weighted mean");
    let ws = F::cross_entropy(&logits, &target, Some(&w), ii, eps, Reduction::Sum).unwrap();
    close(&[ws.item().unwrap()], &[e["weighted_sum"].as_f64().unwrap()], 1e-6, "weighted sum");
}

#[test]
fn c07_broadcast_add_gradients_have_each_operands_shape() {
    let host = with_ops_ref();
    let case = field_case("C07");
    let (inp, e) = (&case["input"], &case["expected"]);
    for rank1 in [false, true] {
        let x = param(&host, &floats(&inp["x"]), &[2, 3], DType::F32);
        let w = param(&host, &floats(&inp["w"]), &[3, 1], DType::F32);
        let bias_shape: &[usize] = if rank1 { &[3] } else { &[1, 3] };
        let bias = param(&host, &floats(&inp["bias"]), bias_shape, DType::F32);
        let label = param(&host, &floats(&inp["label"]), &[2, 1], DType::F32);
        let y = x.matmul(&w).unwrap().add(&bias).unwrap();
        close(&y.to_vec_f64().unwrap(), &floats(&e["y"]), 1e-5, "y");
        let d = y.sub(&label).unwrap();
        let loss = d.mul(&d).unwrap().sum_all().unwrap();
        close(&[loss.item().unwrap()], &[e["loss"].as_f64().unwrap()], 1e-4, "loss");
        loss.backward().unwrap();
        assert_eq!(bias.grad().unwrap().shape(), bias_shape.to_vec());
        assert_eq!(w.grad().unwrap().shape(), vec![3, 1]);
        assert_eq!(label.grad().unwrap().shape(), vec![2, 1]);
        close(&bias.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["d_bias"]), 1e-4, "d_bias");
        close(&w.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["d_w"]), 1e-4, "d_w");
        close(&x.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["d_x"]), 1e-4, "d_x");
        close(&label.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["d_label"]), 1e-4, "d_label");
    }
}

#[test]
fn c08_gradients_accumulate_across_fan_in_and_backward_calls() {
    let host = with_ops_ref();
    let e = field_case("C08")["expected"].clone();
    // A: upsample-nearest 1-D (as 2-D with H = 1) feeding one branch, 3x another.
    let x = param(&host, &[1.0, 2.0], &[2], DType::F32);
    let up = F::upsample_nearest2d(&x.reshape(&[1, 1, 1, 2]).unwrap(), [1, 4]).unwrap().reshape(&[4]).unwrap();
    let k = host.from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[4]).unwrap();
    let loss = up.mul(&k).unwrap().sum_all().unwrap().add(&x.mul_scalar(3.0).unwrap().sum_all().unwrap()).unwrap();
    close(&[loss.item().unwrap()], &[e["A"]["loss"].as_f64().unwrap()], 1e-5, "A loss");
    loss.backward().unwrap();
    close(&x.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["A"]["grad_x"]), 1e-5, "A grad");
    // A2: 2-D upsample plus x*x
    let x = param(&host, &[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2], DType::F32);
    let up = F::upsample_nearest2d(&x, [4, 4]).unwrap();
    let k = host.arange(16, DType::F32).unwrap().reshape(&[1, 1, 4, 4]).unwrap();
    let loss = up.mul(&k).unwrap().sum_all().unwrap().add(&x.mul(&x).unwrap().sum_all().unwrap()).unwrap();
    loss.backward().unwrap();
    close(&x.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["A2"]["grad_x"]), 1e-5, "A2 grad");
    // B: backward twice without zero_grad doubles .grad; zero_grad then once gives one copy.
    let w = param(&host, &[0.5], &[], DType::F32);
    let b = param(&host, &[0.1], &[], DType::F32);
    let x = host.scalar(2.0, DType::F32).unwrap();
    let step = || {
        let y = w.mul(&x).unwrap().add(&b).unwrap();
        y.mul(&y).unwrap().backward().unwrap();
    };
    step();
    step();
    close(&[w.grad().unwrap().item().unwrap()], &[e["B"]["after_two_backward"]["w"].as_f64().unwrap()], 1e-5, "B w x2");
    close(&[b.grad().unwrap().item().unwrap()], &[e["B"]["after_two_backward"]["b"].as_f64().unwrap()], 1e-5, "B b x2");
    w.set_grad(None).unwrap();
    b.set_grad(None).unwrap();
    step();
    close(&[w.grad().unwrap().item().unwrap()], &[e["B"]["after_zero_then_one"]["w"].as_f64().unwrap()], 1e-5, "B w");
    close(&[b.grad().unwrap().item().unwrap()], &[e["B"]["after_zero_then_one"]["b"].as_f64().unwrap()], 1e-5, "B b");
}

#[test]
fn c18_dropout_follows_module_mode_and_functional_flag() {
    let host = with_ops_ref();
    let case = field_case("C18");
    let (inp, e) = (&case["input"], &case["expected"]);
    let xv = floats(&inp["x"]);
    let x = host.from_f64(&xv, &[8], DType::F32).unwrap();
    let p = inp["p"].as_f64().unwrap();
    // module in eval mode, and nested in a parent switched to eval
    let mut d = Dropout::new(p).unwrap();
    d.eval();
    close(&d.forward(&x).unwrap().to_vec_f64().unwrap(), &floats(&e["module_eval"]), 0.0, "module eval");
    let mut parent = Sequential::new().with(Dropout::new(p).unwrap());
    parent.eval();
    close(&parent.forward(&x).unwrap().to_vec_f64().unwrap(), &xv, 0.0, "nested child eval");
    // functional
    close(&F::dropout(&x, p, false).unwrap().to_vec_f64().unwrap(), &floats(&e["functional_training_false"]), 0.0, "training=false");
    close(&F::dropout(&x, 0.0, true).unwrap().to_vec_f64().unwrap(), &floats(&e["functional_p0"]), 0.0, "p=0");
    close(&F::dropout(&x, 1.0, true).unwrap().to_vec_f64().unwrap(), &floats(&e["functional_p1"]), 0.0, "p=1");
    // train mode: each element is 0 or x/(1-p); the mean over many draws is x (within 5%)
    let mut d = Dropout::new(p).unwrap();
    d.train(true);
    let draws = 10_000;
    let mut acc = vec![0.0; 8];
    for _ in 0..draws {
        let y = d.forward(&x).unwrap().to_vec_f64().unwrap();
        for (i, (&yi, &xi)) in y.iter().zip(&xv).enumerate() {
            assert!(yi == 0.0 || (yi - xi / (1.0 - p)).abs() < 1e-6, "element {i}: {yi}");
            acc[i] += yi;
        }
    }
    for (i, (&a, &xi)) in acc.iter().zip(&xv).enumerate() {
        let m = a / draws as f64;
        assert!((m - xi).abs() <= 0.05 * xi.abs(), "mean of element {i}: {m} vs {xi}");
    }
    // gradient in eval mode is the identity's
    let xg = param(&host, &xv, &[8], DType::F32);
    let mut d = Dropout::new(p).unwrap();
    d.eval();
    d.forward(&xg).unwrap().sum_all().unwrap().backward().unwrap();
    close(&xg.grad().unwrap().to_vec_f64().unwrap(), &floats(&e["grad_in_eval_mode"]), 0.0, "eval grad");
}

#[test]
fn c01_adaptive_max_pool_bins_and_spp_gradient() {
    c01(with_ops_ref());
}

#[test]
fn c01_adaptive_max_pool_bins_and_spp_gradient_on_ops_cpu() {
    let host = with_ops_cpu();
    assert_eq!(provider_of("ferrite::spatial_pyramid_pool", DType::F32), "ops-cpu");
    c01(host);
}

#[test]
fn c02_fully_masked_attention_row_is_zero_with_zero_gradient() {
    c02(with_ops_ref());
}

#[test]
fn c02_fully_masked_attention_row_is_zero_with_zero_gradient_on_ops_cpu() {
    let host = with_ops_cpu();
    assert_eq!(provider_of("ferrite::scaled_dot_product_attention", DType::F64), "ops-cpu");
    c02(host);
}

#[test]
fn c04_fp16_logsumexp_accumulates_wide_and_handles_neg_inf() {
    c04(with_ops_ref());
}

#[test]
fn c04_fp16_logsumexp_accumulates_wide_and_handles_neg_inf_on_ops_cpu() {
    let host = with_ops_cpu();
    assert_eq!(provider_of("ferrite::logsumexp", DType::F16), "ops-cpu");
    c04(host);
}

#[test]
fn c05_low_precision_sum_and_mean_accumulate_in_f32_or_wider() {
    c05(with_ops_ref());
}

#[test]
fn c05_low_precision_sum_and_mean_accumulate_in_f32_or_wider_on_ops_cpu() {
    let host = with_ops_cpu();
    assert_eq!(provider_of("ferrite::sum", DType::BF16), "ops-cpu");
    c05(host);
}

#[test]
fn c06_cross_entropy_label_smoothing_ignores_ignored_samples() {
    c06(with_ops_ref());
}

#[test]
fn c06_cross_entropy_label_smoothing_ignores_ignored_samples_on_ops_cpu() {
    let host = with_ops_cpu();
    assert_eq!(provider_of("ferrite::cross_entropy", DType::F64), "ops-cpu");
    c06(host);
}
