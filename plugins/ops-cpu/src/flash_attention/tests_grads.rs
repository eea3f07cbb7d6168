//! Tests of the FlashAttention backward: both parallel modes, central finite differences and
//! absent gradient outputs.

use super::testhost::{ctx, set_threads};
use super::tests_common::*;
use super::{backward_mode, backward_with_mode, BackwardMode};
use ferrite_sdk::abi::kernel::status;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::Attrs;
use ferrite_sdk::DType;

/// Both backward parallelisations (per head; split dK/dV + dQ passes) give the naive gradients.
#[test]
fn backward_modes_agree() {
    let mut rng = Rng(9);
    set_threads(3);
    for n in 0..8 {
        let c = random_case(&mut rng);
        for mode in [BackwardMode::PerHead, BackwardMode::Split] {
            check_case(&c, if n % 2 == 0 { DType::F64 } else { DType::F32 }, false, true, Some(mode), &mut rng);
        }
    }
    assert_eq!(backward_mode(8, 2), BackwardMode::PerHead);
    assert_eq!(backward_mode(1, 2), BackwardMode::Split);
    assert_eq!(backward_mode(3, 2), BackwardMode::Split);
    assert_eq!(backward_mode(3, 1), BackwardMode::PerHead);
}

/// The backward kernel against central finite differences of the forward kernel (f64), with a
/// float mask, causal masking and a fully masked row.
#[test]
fn backward_matches_finite_differences() {
    let mut rng = Rng(13);
    let mut c = Case { batch: vec![2], l: 5, s: 7, e: 3, ev: 4, causal: true, scale: Some(0.8), mask: None };
    let mut mv: Vec<f64> = (0..2 * c.l * c.s).map(|i| if i % 5 == 1 { f64::NEG_INFINITY } else { rng.sym() }).collect();
    mv[c.s * 2..c.s * 3].fill(f64::NEG_INFINITY); // row 2 of batch 0 fully masked
    c.mask = Some((Kind::Float, c.shp(c.l, c.s), mv));
    let dt = DType::F64;
    let (nb, l, s, e, ev) = (c.nb(), c.l, c.s, c.e, c.ev);
    let q = rng.vec(nb * l * e);
    let k = rng.vec(nb * s * e);
    let v = rng.vec(nb * s * ev);
    let d_o = rng.vec(nb * l * ev);
    let loss = |q: &[f64], k: &[f64], v: &[f64]| -> f64 {
        let ins = inputs(&c, dt, false, q, k, v, &d_o);
        let r = run(&c, dt, &ins, false, None);
        r.out.iter().zip(&d_o).map(|(a, b)| a * b).sum()
    };
    let ins = inputs(&c, dt, false, &q, &k, &v, &d_o);
    let g = run(&c, dt, &ins, false, None);
    let h = 1e-6;
    let fd = |which: usize| -> Vec<f64> {
        let base = [&q, &k, &v][which];
        (0..base.len())
            .map(|i| {
                let (mut a, mut b) = (base.clone(), base.clone());
                a[i] += h;
                b[i] -= h;
                let (fa, fb) = match which {
                    0 => (loss(&a, &k, &v), loss(&b, &k, &v)),
                    1 => (loss(&q, &a, &v), loss(&q, &b, &v)),
                    _ => (loss(&q, &k, &a), loss(&q, &k, &b)),
                };
                (fa - fb) / (2.0 * h)
            })
            .collect()
    };
    assert_close("dq vs fd", &g.dq, &fd(0), 1e-7, 1e-6);
    assert_close("dk vs fd", &g.dk, &fd(1), 1e-7, 1e-6);
    assert_close("dv vs fd", &g.dv, &fd(2), 1e-7, 1e-6);
    // the fully masked row: zero output and zero dq
    assert!(g.out[2 * ev..3 * ev].iter().all(|&x| x == 0.0));
    assert!(g.dq[2 * e..3 * e].iter().all(|&x| x == 0.0));
}

/// Gradients the core does not ask for are absent; the others are still right.
#[test]
fn absent_gradient_outputs() {
    let mut rng = Rng(17);
    let c = Case { batch: vec![3], l: 70, s: 65, e: 6, ev: 7, causal: false, scale: None, mask: None };
    let (nb, l, s, e, ev) = (c.nb(), c.l, c.s, c.e, c.ev);
    let (q, k, v, d_o) = (rng.vec(nb * l * e), rng.vec(nb * s * e), rng.vec(nb * s * ev), rng.vec(nb * l * ev));
    let ins = inputs(&c, DType::F64, false, &q, &k, &v, &d_o);
    let full = run(&c, DType::F64, &ins, false, None);
    let out = Tens::new(DType::F64, &c.shp(l, ev), &full.out);
    let a = attrs(false, None);
    let av = unsafe { Attrs::from_raw(a.as_ptr(), 2) };
    let bin = [ins.d_o.view(), ins.q.view(), ins.k.view(), ins.v.view(), TensorView::ABSENT, out.view()];
    for mode in [BackwardMode::PerHead, BackwardMode::Split] {
        let dk = Tens::zeros(DType::F64, &c.shp(s, e));
        let bout = [TensorView::ABSENT, dk.view(), TensorView::ABSENT, TensorView::ABSENT];
        assert_eq!(unsafe { backward_with_mode(&ctx(false), &bin, &bout, &av, Some(mode)) }, status::OK);
        assert_close("dk only", &dk.values(), &full.dk, 1e-12, 1e-12);
        let dq = Tens::zeros(DType::F64, &c.shp(l, e));
        let bout = [dq.view(), TensorView::ABSENT, TensorView::ABSENT, TensorView::ABSENT];
        assert_eq!(unsafe { backward_with_mode(&ctx(false), &bin, &bout, &av, Some(mode)) }, status::OK);
        assert_close("dq only", &dq.values(), &full.dq, 1e-12, 1e-12);
    }
}
