//! Activation checkpointing (`ferrite_sdk::nn::checkpoint`) against the real core: the same
//! gradients as without it, the same dropout mask in the recompute, nested (reentrant)
//! checkpoints, and a lower peak of live tensor memory on a deep MLP.

use ferrite_core::tensor::storage::{peak_bytes, reset_peak_bytes};
use ferrite_sdk::functional as F;
use ferrite_sdk::nn::{checkpoint, Linear, Module};
use ferrite_sdk::{DType, Host, Result, Tensor};
use ferrite_tests::{with_ops_cpu, with_ops_ref};
use std::sync::Arc;

/// A stack of `Linear → tanh` blocks, shared with checkpointed closures through an `Arc`.
struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    fn new(host: &Host, width: usize, depth: usize, dtype: DType) -> Arc<Mlp> {
        Arc::new(Mlp { layers: (0..depth).map(|_| Linear::new(host, width, width, true, dtype).unwrap()).collect() })
    }

    fn run(&self, range: std::ops::Range<usize>, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for l in &self.layers[range] {
            h = l.forward(&h)?.tanh()?;
        }
        Ok(h)
    }

    fn params(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }

    /// Forward in segments of `seg` layers, each checkpointed when `ckpt`.
    fn forward(self: &Arc<Self>, x: &Tensor, seg: usize, ckpt: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for s in (0..self.layers.len()).step_by(seg) {
            let r = s..(s + seg).min(self.layers.len());
            h = if ckpt {
                let me = self.clone();
                checkpoint(move |xs| Ok(vec![me.run(r.clone(), &xs[0])?]), &[h])?.remove(0)
            } else {
                self.run(r, &h)?
            };
        }
        Ok(h)
    }
}

trait Tanh {
    fn tanh(&self) -> Result<Tensor>;
}
impl Tanh for Tensor {
    fn tanh(&self) -> Result<Tensor> {
        F::tanh(self)
    }
}

fn grads(ts: &[Tensor]) -> Vec<Vec<f64>> {
    ts.iter().map(|t| t.grad().expect("gradient").to_vec_f64().unwrap()).collect()
}

fn clear(ts: &[Tensor]) {
    ts.iter().for_each(|t| t.set_grad(None).unwrap());
}

fn max_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn checkpoint_gives_the_same_gradients_as_no_checkpoint() {
    let host = with_ops_ref();
    for (dt, tol) in [(DType::F32, 1e-6), (DType::F64, 1e-12)] {
        host.manual_seed(11);
        let mlp = Mlp::new(&host, 6, 5, dt);
        let x = host.randn(&[3, 6], 0.0, 1.0, dt).unwrap().requires_grad_(true).unwrap();
        let mut all = mlp.params();
        all.push(x.clone());
        let plain = mlp.forward(&x, 2, false).unwrap();
        plain.mul(&plain).unwrap().sum_all().unwrap().backward().unwrap();
        let want = grads(&all);
        clear(&all);
        let ck = mlp.forward(&x, 2, true).unwrap();
        assert_eq!(ck.to_vec_f64().unwrap(), plain.to_vec_f64().unwrap(), "{dt}: same forward values");
        ck.mul(&ck).unwrap().sum_all().unwrap().backward().unwrap();
        let got = grads(&all);
        assert!(max_diff(&got, &want) <= tol, "{dt}: max gradient difference {}", max_diff(&got, &want));
    }
}

#[test]
fn checkpoint_with_several_outputs_and_no_input_requiring_grad() {
    let host = with_ops_ref();
    host.manual_seed(12);
    let mlp = Mlp::new(&host, 4, 2, DType::F64);
    // The input needs no gradient: parameters still get theirs through the recompute.
    let x = host.randn(&[2, 4], 0.0, 1.0, DType::F64).unwrap();
    let two = |m: &Mlp, x: &Tensor| -> Result<Vec<Tensor>> {
        let a = m.run(0..1, x)?;
        let b = m.run(1..2, &a)?;
        Ok(vec![a, b])
    };
    let loss = |v: &[Tensor]| v[0].sum_all().unwrap().add(&v[1].mul(&v[1]).unwrap().sum_all().unwrap()).unwrap();
    loss(&two(&mlp, &x).unwrap()).backward().unwrap();
    let params = mlp.params();
    let want = grads(&params);
    clear(&params);
    let me = mlp.clone();
    let outs = checkpoint(move |xs| two(&me, &xs[0]), std::slice::from_ref(&x)).unwrap();
    loss(&outs).backward().unwrap();
    assert!(max_diff(&grads(&params), &want) <= 1e-12);
    assert!(x.grad().is_none());
}

#[test]
fn nested_checkpoints_run_reentrant_backward() {
    let host = with_ops_ref();
    host.manual_seed(13);
    let mlp = Mlp::new(&host, 5, 4, DType::F64);
    let x = host.randn(&[2, 5], 0.0, 1.0, DType::F64).unwrap().requires_grad_(true).unwrap();
    let mut all = mlp.params();
    all.push(x.clone());
    mlp.run(0..4, &x).unwrap().sum_all().unwrap().backward().unwrap();
    let want = grads(&all);
    clear(&all);
    let outer = mlp.clone();
    let y = checkpoint(
        move |xs| {
            // Inside the outer recompute, an inner checkpoint backward runs inside a backward.
            let inner = outer.clone();
            let h = checkpoint(move |hs| Ok(vec![inner.run(0..2, &hs[0])?]), &[xs[0].clone()])?.remove(0);
            Ok(vec![outer.run(2..4, &h)?])
        },
        std::slice::from_ref(&x),
    )
    .unwrap();
    y[0].sum_all().unwrap().backward().unwrap();
    assert!(max_diff(&grads(&all), &want) <= 1e-12);
}

#[test]
fn checkpoint_replays_the_dropout_mask() {
    let host = with_ops_ref();
    host.manual_seed(14);
    let x = host.rand(&[64], 1.0, 2.0, DType::F64).unwrap().requires_grad_(true).unwrap();
    let y = checkpoint(|xs| Ok(vec![F::dropout(&xs[0], 0.5, true)?]), std::slice::from_ref(&x)).unwrap().remove(0);
    y.sum_all().unwrap().backward().unwrap();
    let (xv, yv, gv) = (x.to_vec_f64().unwrap(), y.to_vec_f64().unwrap(), x.grad().unwrap().to_vec_f64().unwrap());
    let kept = yv.iter().filter(|v| **v != 0.0).count();
    assert!(kept > 8 && kept < 56, "a real mask: {kept} of 64 kept");
    for i in 0..64 {
        // y = x·m/(1-p) with m the forward's mask; the recompute must use the same m.
        let m = if yv[i] != 0.0 { 2.0 } else { 0.0 };
        assert_eq!(gv[i], m, "element {i}: x {} y {}", xv[i], yv[i]);
    }
}

#[test]
fn checkpoint_refuses_an_input_modified_in_place() {
    let host = with_ops_ref();
    let x = host.ones(&[3], DType::F64).unwrap().requires_grad_(true).unwrap();
    let h = x.mul_scalar(2.0).unwrap();
    let y = checkpoint(|xs| Ok(vec![xs[0].mul(&xs[0])?]), std::slice::from_ref(&h)).unwrap().remove(0);
    host.no_grad(|| h.copy_(&host.zeros(&[3], DType::F64).unwrap())).unwrap();
    let err = y.sum_all().unwrap().backward().unwrap_err().to_string();
    assert!(err.contains("modified by an inplace operation"), "{err}");
}

#[test]
fn checkpoint_lowers_peak_activation_memory() {
    let host = with_ops_cpu();
    host.manual_seed(15);
    // A tall batch, so activations (not parameters or their gradients) dominate memory.
    let mlp = Mlp::new(&host, 64, 16, DType::F32);
    let x = host.randn(&[512, 64], 0.0, 1.0, DType::F32).unwrap().requires_grad_(true).unwrap();
    let mut all = mlp.params();
    all.push(x.clone());
    let peak = |ckpt: bool| -> (usize, Vec<Vec<f64>>) {
        clear(&all);
        reset_peak_bytes();
        mlp.forward(&x, 4, ckpt).unwrap().sum_all().unwrap().backward().unwrap();
        (peak_bytes(), grads(&all))
    };
    let (plain, want) = peak(false);
    let (ck, got) = peak(true);
    assert!(max_diff(&got, &want) <= 1e-6);
    assert!(ck < plain, "checkpointed peak {ck} B is not below the plain peak {plain} B");
}

#[test]
fn checkpoint_recompute_uses_the_forwards_autocast_state() {
    let host = with_ops_cpu();
    host.manual_seed(16);
    let mlp = Mlp::new(&host, 8, 4, DType::F32);
    let x = host.randn(&[4, 8], 0.0, 1.0, DType::F32).unwrap().requires_grad_(true).unwrap();
    let mut all = mlp.params();
    all.push(x.clone());
    let run = |ckpt: bool| -> Vec<Vec<f64>> {
        clear(&all);
        let y = host.autocast(DType::BF16, || mlp.forward(&x, 2, ckpt)).unwrap().unwrap();
        assert_eq!(y.dtype(), DType::BF16);
        // Backward outside the autocast region, as in PyTorch.
        y.to_dtype(DType::F32).unwrap().sum_all().unwrap().backward().unwrap();
        grads(&all)
    };
    let (plain, ck) = (run(false), run(true));
    assert_eq!(ck, plain, "the recompute ran under the same autocast state");
}
