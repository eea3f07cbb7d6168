//! GradScaler tests against the fake host (gradients set by hand; the backward side is
//! covered by `tests/tests/amp.rs` against the core).

use super::*;
use crate::optim::{Optimizer, Sgd, SgdConfig};
use crate::test_host::host;
use crate::Tensor;

fn param(v: &[f64]) -> Tensor {
    host().from_slice(v, &[v.len()]).expect("p").requires_grad_(true).expect("leaf")
}

fn set_grad(p: &Tensor, g: &[f64]) {
    p.set_grad(Some(&host().from_slice(g, &[g.len()]).expect("g"))).expect("grad");
}

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64().expect("values")
}

fn sgd(p: &Tensor) -> Sgd {
    Sgd::new(vec![p.clone()], SgdConfig { lr: 0.5, ..Default::default() }).expect("sgd")
}

#[test]
fn defaults_are_pytorchs() {
    let c = GradScalerConfig::default();
    assert_eq!((c.init_scale, c.growth_factor, c.backoff_factor, c.growth_interval, c.enabled), (65536.0, 2.0, 0.5, 2000, true));
    assert!(GradScaler::new(GradScalerConfig { growth_factor: 1.0, ..c }).is_err());
    assert!(GradScaler::new(GradScalerConfig { backoff_factor: 1.5, ..c }).is_err());
    assert!(GradScaler::new(GradScalerConfig { init_scale: f64::INFINITY, ..c }).is_err());
}

#[test]
fn inf_gradient_skips_the_step_and_halves_the_scale() {
    let p = param(&[1.0, 2.0]);
    let mut opt = sgd(&p);
    let mut s = GradScaler::new(GradScalerConfig { init_scale: 8.0, ..Default::default() }).unwrap();
    set_grad(&p, &[f64::INFINITY, 8.0]);
    assert!(!s.step(&mut opt).unwrap(), "the step is skipped");
    assert_eq!(vals(&p), vec![1.0, 2.0]);
    s.update().unwrap();
    assert_eq!(s.get_scale(), 4.0);
    // A clean step: gradients are unscaled (8 / 4 = 2) before the update.
    set_grad(&p, &[4.0, 8.0]);
    assert!(s.step(&mut opt).unwrap());
    assert_eq!(vals(&p), vec![0.5, 1.0]);
    s.update().unwrap();
    assert_eq!(s.get_scale(), 4.0, "one clean step is not enough to grow");
    set_grad(&p, &[f64::NAN, 0.0]);
    assert!(!s.step(&mut opt).unwrap(), "NaN also skips");
    s.update().unwrap();
    assert_eq!(s.get_scale(), 2.0);
}

#[test]
fn scale_grows_after_growth_interval_clean_steps() {
    let p = param(&[0.0]);
    let mut opt = sgd(&p);
    let mut s = GradScaler::new(GradScalerConfig { init_scale: 2.0, growth_interval: 3, ..Default::default() }).unwrap();
    let mut scales = vec![];
    for _ in 0..7 {
        set_grad(&p, &[1.0]);
        s.step(&mut opt).unwrap();
        s.update().unwrap();
        scales.push(s.get_scale());
    }
    assert_eq!(scales, vec![2.0, 2.0, 4.0, 4.0, 4.0, 8.0, 8.0]);
    assert_eq!(s.state_dict().growth_tracker, 1);
}

#[test]
fn scale_one_equals_plain_training() {
    let (a, b) = (param(&[1.0, -3.0]), param(&[1.0, -3.0]));
    let (mut oa, mut ob) = (sgd(&a), sgd(&b));
    let mut s = GradScaler::new(GradScalerConfig { init_scale: 1.0, ..Default::default() }).unwrap();
    for g in [[0.25, 1.0], [-2.0, 0.5], [3.0, 3.0]] {
        set_grad(&a, &g);
        set_grad(&b, &g);
        oa.step().unwrap();
        assert!(s.step(&mut ob).unwrap());
        s.update().unwrap();
        assert_eq!(vals(&a), vals(&b));
    }
}

#[test]
fn misuse_is_an_error_and_state_round_trips() {
    let p = param(&[1.0]);
    let mut opt = sgd(&p);
    let mut s = GradScaler::new(Default::default()).unwrap();
    assert!(s.update().is_err(), "update without an inf check");
    set_grad(&p, &[65536.0]);
    s.unscale_(&opt).unwrap();
    assert_eq!(vals(&p.grad().unwrap()), vec![1.0]);
    assert!(s.unscale_(&opt).is_err(), "unscale_ twice");
    assert!(s.step(&mut opt).unwrap(), "step after an explicit unscale_ does not unscale again");
    assert_eq!(vals(&p), vec![0.5]);
    assert!(s.step(&mut opt).is_err(), "step twice");
    assert!(s.unscale_(&opt).is_err(), "unscale_ after step");
    s.update().unwrap();
    let sd = s.state_dict();
    let mut t = GradScaler::new(GradScalerConfig { init_scale: 1.0, ..Default::default() }).unwrap();
    t.load_state_dict(&sd).unwrap();
    assert_eq!(t.state_dict(), sd);
    assert!(t.load_state_dict(&GradScalerState { backoff_factor: 2.0, ..sd }).is_err());
    assert_eq!(t.state_dict(), sd, "a rejected state changes nothing");
}

#[test]
fn disabled_scaler_passes_through() {
    let p = param(&[1.0]);
    let mut opt = sgd(&p);
    let mut s = GradScaler::new(GradScalerConfig { enabled: false, ..Default::default() }).unwrap();
    assert_eq!(s.get_scale(), 1.0);
    let loss = host().from_slice(&[3.0f64], &[1]).unwrap();
    assert_eq!(vals(&s.scale(&loss).unwrap()), vec![3.0]);
    set_grad(&p, &[f64::INFINITY]);
    assert!(s.step(&mut opt).unwrap());
    s.update().unwrap();
    assert_eq!(vals(&p), vec![f64::NEG_INFINITY], "the step ran despite the inf gradient");
}
