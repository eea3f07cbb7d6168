//! Optimizer tests against the fake host: trajectories checked against scalar re-statements of
//! PyTorch's update rules (`torch/optim/sgd.py`, `torch/optim/adam.py` single-tensor path).

use super::*;
use crate::test_host::host;
use crate::DType;

fn param(v: &[f64]) -> Tensor {
    host().from_slice(v, &[v.len()]).expect("p").requires_grad_(true).expect("leaf")
}

fn set_grad(p: &Tensor, g: &[f64]) {
    p.set_grad(Some(&host().from_slice(g, &[g.len()]).expect("g"))).expect("grad");
}

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64().expect("values")
}

/// Scalar SGD as torch.optim.SGD.
fn sgd_ref(c: &SgdConfig, p: f64, grads: &[f64]) -> Vec<f64> {
    let (mut p, mut buf, mut out) = (p, None::<f64>, vec![]);
    for &g in grads {
        let mut d = if c.maximize { -g } else { g };
        d += c.weight_decay * p;
        if c.momentum != 0.0 {
            let b = buf.map_or(d, |b| c.momentum * b + (1.0 - c.dampening) * d);
            buf = Some(b);
            d = if c.nesterov { d + c.momentum * b } else { b };
        }
        p -= c.lr * d;
        out.push(p);
    }
    out
}

#[test]
fn copy_into_leaf_needs_no_grad() {
    let p = param(&[1.0]);
    assert!(p.copy_(&param(&[2.0])).is_err(), "the fake host enforces PyTorch's leaf rule");
    host().no_grad(|| p.copy_(&param(&[2.0]))).expect("allowed under no_grad");
}

#[test]
fn sgd_known_values() {
    let p = param(&[1.0]);
    let mut opt = Sgd::new(vec![p.clone()], SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() }).expect("sgd");
    let mut seen = vec![];
    for _ in 0..3 {
        set_grad(&p, &[1.0]);
        opt.step().expect("step");
        seen.push(vals(&p)[0]);
    }
    let want = [0.9, 0.71, 0.439];
    assert!(seen.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{seen:?}");
    let p = param(&[1.0]);
    let mut opt = Sgd::new(vec![p.clone()], SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, ..Default::default() }).expect("sgd");
    for want in [0.81, 0.539] {
        set_grad(&p, &[1.0]);
        opt.step().expect("step");
        assert!((vals(&p)[0] - want).abs() < 1e-12);
    }
}

#[test]
fn sgd_matches_pytorch_rule_for_every_option() {
    let grads = [0.5, -1.25, 2.0, 0.75, -0.3];
    let configs = [
        SgdConfig { lr: 0.05, ..Default::default() },
        SgdConfig { lr: 0.05, weight_decay: 0.1, ..Default::default() },
        SgdConfig { lr: 0.05, momentum: 0.9, dampening: 0.3, weight_decay: 0.01, ..Default::default() },
        SgdConfig { lr: 0.05, momentum: 0.8, nesterov: true, weight_decay: 0.02, ..Default::default() },
        SgdConfig { lr: 0.05, momentum: 0.5, maximize: true, ..Default::default() },
    ];
    for c in configs {
        let p = param(&[1.5]);
        let mut opt = Sgd::new(vec![p.clone()], c).expect("sgd");
        let got: Vec<f64> = grads
            .iter()
            .map(|&g| {
                set_grad(&p, &[g]);
                opt.step().expect("step");
                vals(&p)[0]
            })
            .collect();
        let want = sgd_ref(&c, 1.5, &grads);
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-15 * b.abs().max(1.0)), "{c:?}: {got:?} vs {want:?}");
    }
    assert!(Sgd::new(vec![], SgdConfig { nesterov: true, ..Default::default() }).is_err());
    assert!(Sgd::new(vec![], SgdConfig { lr: -1.0, ..Default::default() }).is_err());
}

/// Scalar AdamW as torch.optim.AdamW.
fn adamw_ref(c: &AdamWConfig, p: f64, grads: &[f64]) -> Vec<f64> {
    let (mut p, mut m, mut v, mut vmax, mut out) = (p, 0.0f64, 0.0f64, 0.0f64, vec![]);
    for (t, &g) in grads.iter().enumerate() {
        let t = (t + 1) as f64;
        let g = if c.maximize { -g } else { g };
        p *= 1.0 - c.lr * c.weight_decay;
        m += (1.0 - c.betas.0) * (g - m);
        v = c.betas.1 * v + (1.0 - c.betas.1) * g * g;
        vmax = vmax.max(v);
        let vu = if c.amsgrad { vmax } else { v };
        let denom = vu.sqrt() / (1.0 - c.betas.1.powf(t)).sqrt() + c.eps;
        p += -(c.lr / (1.0 - c.betas.0.powf(t))) * (m / denom);
        out.push(p);
    }
    out
}

#[test]
fn adamw_defaults_are_pytorch_defaults() {
    let c = AdamWConfig::default();
    assert_eq!((c.lr, c.betas, c.eps, c.weight_decay, c.amsgrad), (1e-3, (0.9, 0.999), 1e-8, 1e-2, false));
}

#[test]
fn adamw_matches_pytorch_rule() {
    let grads = [0.5, -1.25, 2.0, 0.75, -0.3, 0.0, 1e-4];
    let configs = [
        AdamWConfig::default(),
        AdamWConfig { lr: 0.1, weight_decay: 0.0, ..Default::default() },
        AdamWConfig { lr: 0.05, amsgrad: true, ..Default::default() },
        AdamWConfig { lr: 0.05, betas: (0.5, 0.9), maximize: true, ..Default::default() },
    ];
    for c in configs {
        let p = param(&[1.5, -0.5]);
        let mut opt = AdamW::new(vec![p.clone()], c).expect("adamw");
        for (k, &g) in grads.iter().enumerate() {
            set_grad(&p, &[g, -g]);
            opt.step().expect("step");
            let got = vals(&p);
            let want = [adamw_ref(&c, 1.5, &grads[..=k])[k], adamw_ref(&c, -0.5, &grads.map(|g| -g)[..=k])[k]];
            for (a, b) in got.iter().zip(want) {
                assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{c:?} step {k}: {got:?} vs {want:?}");
            }
        }
    }
    assert!(AdamW::new(vec![], AdamWConfig { betas: (1.0, 0.9), ..Default::default() }).is_err());
}

#[test]
fn params_without_grad_are_skipped() {
    let (a, b) = (param(&[1.0]), param(&[2.0]));
    let mut opt = AdamW::new(vec![a.clone(), b.clone()], AdamWConfig { lr: 0.1, ..Default::default() }).expect("adamw");
    set_grad(&a, &[1.0]);
    opt.step().expect("step");
    assert_eq!(vals(&b), [2.0]);
    assert_ne!(vals(&a), [1.0]);
    assert_eq!(names(&opt.state_dict()), ["state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq"]);
    opt.zero_grad();
    assert!(a.grad().is_none());
}

fn names(v: &[(String, Tensor)]) -> Vec<&str> {
    v.iter().map(|(n, _)| n.as_str()).collect()
}

/// Saving the state after 3 steps and resuming in a fresh optimizer gives the same trajectory.
fn resume_is_exact<O: Optimizer>(make: impl Fn(Tensor) -> O) {
    let grads = [0.5, -1.25, 2.0, 0.75, -0.3];
    let p = param(&[1.5]);
    let mut opt = make(p.clone());
    let mut q = None;
    let mut resumed = None;
    for (k, &g) in grads.iter().enumerate() {
        if k == 3 {
            let q2 = param(&vals(&p));
            let mut o2 = make(q2.clone());
            let sd: Vec<(String, Tensor)> = opt.state_dict().into_iter().map(|(n, t)| (n, t.to_dtype(DType::F32).expect("f32"))).collect();
            o2.load_state_dict(&sd).expect("load");
            q = Some(q2);
            resumed = Some(o2);
        }
        set_grad(&p, &[g]);
        opt.step().expect("step");
        if let (Some(q), Some(o2)) = (&q, &mut resumed) {
            set_grad(q, &[g]);
            o2.step().expect("step");
        }
    }
    let (a, b) = (vals(&p)[0], vals(q.as_ref().expect("resumed"))[0]);
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
}

#[test]
fn optimizer_state_dict_resumes() {
    resume_is_exact(|p| Sgd::new(vec![p], SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() }).expect("sgd"));
    resume_is_exact(|p| AdamW::new(vec![p], AdamWConfig { lr: 0.1, ..Default::default() }).expect("adamw"));
    let p = param(&[1.0, 2.0]);
    let mut opt = AdamW::new(vec![p], AdamWConfig::default()).expect("adamw");
    let bad = host().zeros(&[3], DType::F64).expect("z");
    assert!(opt.load_state_dict(&[("state.0.exp_avg".into(), bad.clone())]).is_err(), "shape");
    assert!(opt.load_state_dict(&[("state.1.exp_avg".into(), bad.clone())]).is_err(), "index");
    assert!(opt.load_state_dict(&[("state.0.momentum".into(), bad)]).is_err(), "field");
    let ok = host().zeros(&[2], DType::F64).expect("z");
    assert!(opt.load_state_dict(&[("state.0.exp_avg".into(), ok)]).is_err(), "moments without step");
}
