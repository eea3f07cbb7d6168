//! Tests of the FlashAttention kernels' values against a naive f64 attention: the C02 field
//! case, random cases, every dtype, strided views, degenerate sizes, argument errors, the
//! descriptor and the fast exp.

use super::testhost::{ctx, last_kernel_error, set_threads};
use super::tests_common::*;
use super::{exp_f32, forward, SDPA_DESC};
use crate::common::CPU_FLOATS;
use ferrite_sdk::abi::kernel::{attr_kind, status};
use ferrite_sdk::abi::view::{TensorMeta, TensorView};
use ferrite_sdk::DType;

/// Field case C02 (tests/cases/C02.json, burn#4694): a fully masked query row outputs 0 and
/// gets zero gradient, no NaN anywhere; every dtype.
#[test]
fn c02_fully_masked_row_gives_zero_output_and_gradient() {
    let c = Case {
        batch: vec![1, 1],
        l: 3,
        s: 3,
        e: 2,
        ev: 2,
        causal: false,
        scale: None,
        mask: Some((Kind::Bool, vec![3, 3], vec![1., 0., 1., 0., 0., 0., 1., 1., 0.])),
    };
    let q = [1.0, 0.0, 0.0, 1.0, 2.0, 1.0];
    let k = [1.0, 0.0, 0.0, 1.0, 2.0, -1.0];
    let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let ones = [1.0; 6];
    let out = [3.679046, 4.679046, 0.0, 0.0, 1.660477, 2.660477];
    let dq = [1.251189, -1.251189, 0.0, 0.0, -0.625594, 0.625594];
    let dk = [-2.502378, -0.625594, 1.251189, 0.625594, 1.251189, 0.0];
    let dv = [1.0, 1.0, 0.330238, 0.330238, 0.669762, 0.669762];
    for dt in CPU_FLOATS {
        let tol = if matches!(dt, DType::F16 | DType::BF16) { 1e-2 * 4.0 } else { 1e-5 };
        for threaded in [false, true] {
            set_threads(2);
            let ins = inputs(&c, dt, false, &q, &k, &v, &ones);
            let r = run(&c, dt, &ins, threaded, None);
            assert_close(&format!("C02 out {dt:?}"), &r.out, &out, tol, 0.0);
            assert_close(&format!("C02 dQ {dt:?}"), &r.dq, &dq, tol, 0.0);
            assert_close(&format!("C02 dK {dt:?}"), &r.dk, &dk, tol, 0.0);
            assert_close(&format!("C02 dV {dt:?}"), &r.dv, &dv, tol, 0.0);
            assert_eq!(&r.out[2..4], &[0.0, 0.0]);
            assert_eq!(&r.dq[2..4], &[0.0, 0.0]);
        }
    }
}

/// Random shapes (batch dims, L ≠ S across tile edges, E ≠ Ev), bool/float/no masks with fully
/// masked rows and `-inf` entries, causal, explicit scale: f64 and f32 against naive f64.
#[test]
fn matches_naive_attention_on_random_cases() {
    let mut rng = Rng(7);
    set_threads(3);
    for n in 0..60 {
        let c = random_case(&mut rng);
        let dt = if n % 2 == 0 { DType::F64 } else { DType::F32 };
        check_case(&c, dt, n % 3 == 0, n % 4 < 2, None, &mut rng);
    }
}

/// Causal attention with more queries than keys and fewer (top-left aligned, as ops-ref).
#[test]
fn causal_with_unequal_sequence_lengths() {
    let mut rng = Rng(11);
    for (l, s) in [(130, 70), (70, 130), (64, 129), (1, 200), (200, 1)] {
        for mask in [false, true] {
            let mut c = Case { batch: vec![2], l, s, e: 8, ev: 5, causal: true, scale: None, mask: None };
            if mask {
                c.mask = Some(random_mask(&mut rng, &c, Kind::Bool));
            }
            check_case(&c, DType::F64, false, false, None, &mut rng);
            check_case(&c, DType::F32, true, false, None, &mut rng);
        }
    }
}

/// Non-contiguous (permuted, byte-offset) query/key/value views and stride-0 broadcast masks.
#[test]
fn non_contiguous_views() {
    let mut rng = Rng(3);
    for kind in [Kind::Bool, Kind::Float] {
        let mut c = Case { batch: vec![2, 3], l: 70, s: 90, e: 12, ev: 9, causal: false, scale: None, mask: None };
        c.mask = Some((kind, vec![c.l, c.s], random_mask(&mut rng, &Case { batch: vec![], ..c.clone() }, kind).2));
        for dt in [DType::F64, DType::F32, DType::BF16] {
            check_case(&c, dt, true, true, None, &mut rng);
        }
    }
}

/// f16 and bf16 (stored narrow, computed in f32) against naive f64 on the rounded inputs.
#[test]
fn half_precision_dtypes() {
    let mut rng = Rng(5);
    for dt in [DType::F16, DType::BF16] {
        for n in 0..6 {
            let c = random_case(&mut rng);
            check_case(&c, dt, n % 2 == 0, true, None, &mut rng);
        }
    }
}

/// Empty key set (S = 0): every row is fully masked → zeros; E = 0 and L = 0 work too.
#[test]
fn degenerate_sizes() {
    let mut rng = Rng(19);
    for (l, s, e, ev) in [(4, 0, 3, 2), (0, 5, 3, 2), (4, 5, 0, 2), (4, 5, 3, 0)] {
        let c = Case { batch: vec![2], l, s, e, ev, causal: false, scale: Some(1.0), mask: None };
        check_case(&c, DType::F32, false, false, None, &mut rng);
    }
}

/// Bad arguments give BAD_ARGS with a one-line reason, never a panic.
#[test]
fn bad_arguments_are_reported() {
    let cx = ctx(false);
    let a = attrs(false, None);
    let q = Tens::zeros(DType::F32, &[2, 4, 3]);
    let k = Tens::zeros(DType::F32, &[2, 5, 4]); // E mismatch
    let v = Tens::zeros(DType::F32, &[2, 5, 3]);
    let out = Tens::zeros(DType::F32, &[2, 4, 3]);
    let ins = [q.view(), k.view(), v.view(), TensorView::ABSENT];
    let st = unsafe { forward(&cx, ins.as_ptr(), 4, [out.view()].as_ptr(), 1, a.as_ptr(), 2) };
    assert_eq!(st, status::BAD_ARGS);
    assert!(last_kernel_error().contains("key embedding size"), "{}", last_kernel_error());
    let k = Tens::zeros(DType::F32, &[2, 5, 3]);
    let m = Tens::zeros(DType::BOOL, &[3, 5]); // L mismatch
    let ins = [q.view(), k.view(), v.view(), m.view()];
    let st = unsafe { forward(&cx, ins.as_ptr(), 4, [out.view()].as_ptr(), 1, a.as_ptr(), 2) };
    assert_eq!(st, status::BAD_ARGS);
    assert!(last_kernel_error().contains("attn_mask"), "{}", last_kernel_error());
    let k64 = Tens::zeros(DType::F64, &[2, 5, 3]);
    let ins = [q.view(), k64.view(), v.view(), TensorView::ABSENT];
    let st = unsafe { forward(&cx, ins.as_ptr(), 4, [out.view()].as_ptr(), 1, a.as_ptr(), 2) };
    assert_eq!(st, status::BAD_ARGS);
}

/// The descriptor has exactly ops-ref's schema and a working shape function.
#[test]
fn descriptor_matches_reference_schema() {
    let d = &SDPA_DESC;
    assert_eq!(d.name.as_str(), "ferrite::scaled_dot_product_attention");
    let names: Vec<_> = d.inputs.iter().map(|a| (a.name.as_str(), a.optional, a.differentiable)).collect();
    assert_eq!(names, [("query", false, true), ("key", false, true), ("value", false, true), ("attn_mask", true, false)]);
    assert_eq!(d.outputs.len(), 1);
    assert_eq!(d.attrs.len(), 2);
    assert_eq!((d.attrs[0].name.as_str(), d.attrs[0].kind, d.attrs[0].default_int), ("is_causal", attr_kind::BOOL, 0));
    assert_eq!((d.attrs[1].name.as_str(), d.attrs[1].kind), ("scale", attr_kind::FLOAT));
    assert!(d.attrs[1].default_float.is_nan());
    let dts: Vec<_> = d.kernels.iter().map(|k| k.dtype).collect();
    assert_eq!(dts, CPU_FLOATS);
    assert!(ferrite_sdk::register::OPS.iter().any(|o| o.name.as_str() == d.name.as_str()));
    let (q, k, v) = (Tens::zeros(DType::BF16, &[2, 4, 3]), Tens::zeros(DType::BF16, &[2, 5, 3]), Tens::zeros(DType::BF16, &[2, 5, 7]));
    let ins = [q.view(), k.view(), v.view(), TensorView::ABSENT];
    let mut meta = [TensorMeta::new(DType::F32, &[]).unwrap()];
    let a = attrs(false, None);
    let st = unsafe { (d.shape_fn)(&ctx(false), ins.as_ptr(), 4, a.as_ptr(), 2, meta.as_mut_ptr(), 1) };
    assert_eq!(st, status::OK);
    assert_eq!((meta[0].dtype, meta[0].dims()), (DType::BF16, vec![2, 4, 7]));
}

/// The vectorisable f32 exp: ≤ 4 ulp-ish relative error over the range used, exact 0 at −∞.
#[test]
fn fast_exp_accuracy() {
    assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp_f32(-100.0), 0.0);
    assert_eq!(exp_f32(0.0), 1.0);
    let mut worst = 0f64;
    let mut x = -87.0f32;
    while x < 20.0 {
        let want = (x as f64).exp();
        worst = worst.max(((exp_f32(x) as f64) - want).abs() / want);
        x += 0.0137;
    }
    assert!(worst < 5e-7, "worst relative error {worst}");
}
