//! Training through `BatchNorm2d` (forward, backward, step) while its running statistics are
//! updated in place after every forward, as PyTorch does with its buffers; eval mode keeps the
//! saved-tensor version check on the running statistics it normalises with.

use ferrite_sdk::functional as F;
use ferrite_sdk::nn::{BatchNorm2d, Conv2d, Conv2dConfig, Module, ReLU, Sequential};
use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::with_ops_ref;

/// `Σ relu(bn(conv(x))) · r`: a weighted sum, so the BN gradient is not trivially zero.
fn loss_of(net: &Sequential, x: &Tensor, r: &Tensor) -> Tensor {
    F::sum(&net.forward(x).unwrap().mul(r).unwrap(), &[0, 1, 2, 3], false).unwrap()
}

/// conv(1→3, 3×3) → BatchNorm2d(3) → ReLU in f64, input [6, 1, 5, 5], weights r [6, 3, 3, 3].
fn setup(host: &Host) -> (Sequential, Tensor, Tensor) {
    host.manual_seed(7);
    let net = Sequential::new()
        .with(Conv2d::new(host, 1, 3, [3, 3], Conv2dConfig::default(), DType::F64).unwrap())
        .with(BatchNorm2d::new(host, 3, DType::F64).unwrap())
        .with(ReLU::new());
    let x = host.randn(&[6, 1, 5, 5], 2.0, 1.5, DType::F64).unwrap();
    let r = host.randn(&[6, 3, 3, 3], 0.0, 1.0, DType::F64).unwrap();
    (net, x, r)
}

fn buffer(net: &Sequential, suffix: &str) -> Tensor {
    net.named_buffers().into_iter().find(|(n, _)| n.ends_with(suffix)).unwrap().1
}

#[test]
fn batch_norm_net_trains_with_running_stats_updated_in_place() {
    let host = with_ops_ref();
    let (mut net, x, r) = setup(&host);
    net.train(true);
    let mut sgd = Sgd::new(net.parameters(), SgdConfig { lr: 0.01, ..Default::default() }).unwrap();
    let mut losses = Vec::new();
    let mut means = vec![buffer(&net, "running_mean").to_vec_f64().unwrap()];
    for _ in 0..3 {
        let loss = loss_of(&net, &x, &r);
        sgd.zero_grad();
        loss.backward().expect("backward after the in-place running-stat update");
        sgd.step().unwrap();
        losses.push(loss.item().unwrap());
        means.push(buffer(&net, "running_mean").to_vec_f64().unwrap());
    }
    assert!(losses[2] < losses[0], "SGD lowers the loss: {losses:?}");
    for w in means.windows(2) {
        assert_ne!(w[0], w[1], "running_mean moves every training step");
    }
    assert_eq!(buffer(&net, "num_batches_tracked").item().unwrap(), 3.0);
    let rv = buffer(&net, "running_var").to_vec_f64().unwrap();
    assert!(rv.iter().all(|v| (v - 1.0).abs() > 1e-6), "running_var moved off its init: {rv:?}");
}

#[test]
fn batch_norm_training_gradients_match_finite_differences() {
    let host = with_ops_ref();
    let (mut net, x, r) = setup(&host);
    net.train(true);
    let loss = loss_of(&net, &x, &r);
    loss.backward().unwrap();
    let h = 1e-6;
    // Every parameter (conv weight/bias, BN weight/bias); the BN forward in each probe also
    // updates the running stats, which training-mode outputs do not depend on.
    for (name, p) in net.named_parameters() {
        let grad = p.grad().unwrap().to_vec_f64().unwrap();
        let base = p.to_vec_f64().unwrap();
        for i in (0..base.len()).step_by(2) {
            let probe = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                host.no_grad(|| p.copy_(&host.from_f64(&v, &p.shape(), DType::F64).unwrap()).unwrap());
                host.no_grad(|| loss_of(&net, &x, &r).item().unwrap())
            };
            let fd = (probe(h) - probe(-h)) / (2.0 * h);
            host.no_grad(|| p.copy_(&host.from_f64(&base, &p.shape(), DType::F64).unwrap()).unwrap());
            assert!((fd - grad[i]).abs() <= 1e-5 * (1.0 + fd.abs()), "{name}[{i}]: autograd {} vs finite difference {fd}", grad[i]);
        }
    }
}

#[test]
fn functional_batch_norm_training_blends_running_stats_outside_the_graph() {
    let host = with_ops_ref();
    host.manual_seed(3);
    let x = host.randn(&[4, 2, 3, 3], 1.0, 2.0, DType::F64).unwrap().requires_grad_(true).unwrap();
    let w = host.randn(&[2], 1.0, 0.2, DType::F64).unwrap().requires_grad_(true).unwrap();
    let (rm, rv) = (host.from_f64(&[0.5, -1.0], &[2], DType::F64).unwrap(), host.from_f64(&[2.0, 0.5], &[2], DType::F64).unwrap());
    let out = F::batch_norm(&x, Some(&rm), Some(&rv), Some(&w), None, true, 0.25, 1e-5).unwrap();
    // The documented caller pattern: write the new stats into the buffers, then backward.
    rm.copy_(&out.new_running_mean).unwrap();
    rv.copy_(&out.new_running_var).unwrap();
    let g = host.randn(&[4, 2, 3, 3], 0.0, 1.0, DType::F64).unwrap();
    F::sum(&out.output.mul(&g).unwrap(), &[0, 1, 2, 3], false).unwrap().backward().unwrap();
    // Reference without running stats: same output and same gradients.
    let (x2, w2) = (x.detach().requires_grad_(true).unwrap(), w.detach().requires_grad_(true).unwrap());
    let reference = F::batch_norm(&x2, None, None, Some(&w2), None, true, 0.25, 1e-5).unwrap();
    F::sum(&reference.output.mul(&g).unwrap(), &[0, 1, 2, 3], false).unwrap().backward().unwrap();
    assert_eq!(out.output.to_vec_f64().unwrap(), reference.output.to_vec_f64().unwrap());
    assert_eq!(x.grad().unwrap().to_vec_f64().unwrap(), x2.grad().unwrap().to_vec_f64().unwrap());
    assert_eq!(w.grad().unwrap().to_vec_f64().unwrap(), w2.grad().unwrap().to_vec_f64().unwrap());
    // (1 − m)·old + m·batch, with the unbiased batch variance (PyTorch).
    let xs = x.to_vec_f64().unwrap();
    for (c, (old_m, old_v)) in [(0.5, 2.0), (-1.0, 0.5)].into_iter().enumerate() {
        let vals: Vec<f64> = (0..4).flat_map(|n| xs[(n * 2 + c) * 9..(n * 2 + c + 1) * 9].to_vec()).collect();
        let mu = vals.iter().sum::<f64>() / 36.0;
        let unbiased = vals.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / 35.0;
        let (got_m, got_v) = (rm.to_vec_f64().unwrap()[c], rv.to_vec_f64().unwrap()[c]);
        assert!((got_m - (0.75 * old_m + 0.25 * mu)).abs() < 1e-12, "running_mean[{c}] {got_m}");
        assert!((got_v - (0.75 * old_v + 0.25 * unbiased)).abs() < 1e-12, "running_var[{c}] {got_v}");
    }
}

#[test]
fn batch_norm_eval_still_rejects_in_place_writes_to_saved_running_stats() {
    let host = with_ops_ref();
    let mut bn = BatchNorm2d::new(&host, 2, DType::F64).unwrap();
    bn.eval();
    let x = host.randn(&[3, 2, 2, 2], 0.0, 1.0, DType::F64).unwrap().requires_grad_(true).unwrap();
    let y = bn.forward(&x).unwrap();
    // Eval normalises with the running stats, so backward needs them as they were.
    host.no_grad(|| bn.running_var.copy_(&host.scalar(4.0, DType::F64).unwrap()).unwrap());
    let err = F::sum(&y, &[0, 1, 2, 3], false).unwrap().backward().unwrap_err().to_string();
    assert!(err.contains("modified by an inplace operation"), "{err}");
}
