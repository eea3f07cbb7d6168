//! The sdk optimizers update large tensors in chunks of `UPDATE_CHUNK` elements, in place:
//! parameters and state larger than a chunk (1-D, as a ZeRO master shard, and 2-D by rows)
//! must end where the textbook update computed element by element in f64 ends (Loshchilov &
//! Hutter, Algorithm 2; `torch.optim.SGD`), and the state must keep its handles.

use ferrite_sdk::optim::{AdamW, AdamWConfig, Optimizer, Sgd, SgdConfig, UPDATE_CHUNK};
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::with_ops_cpu;

fn values(n: usize, k: f64) -> Vec<f32> {
    (0..n).map(|i| ((i as f64 * 0.013 + k).sin() * 0.5) as f32).collect()
}

fn param(host: &Host, shape: &[usize], k: f64) -> Tensor {
    let n = shape.iter().product();
    host.from_slice(&values(n, k), shape).unwrap().requires_grad_(true).unwrap()
}

fn close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len());
    let worst = got.iter().zip(want).map(|(g, w)| (f64::from(*g) - w).abs() / (1.0 + w.abs())).fold(0.0, f64::max);
    assert!(worst < 1e-5, "{what}: off by {worst:e}");
}

#[test]
fn adamw_in_chunks_equals_the_element_wise_update() {
    let host = with_ops_cpu();
    let c = AdamWConfig { lr: 0.01, weight_decay: 0.1, ..Default::default() };
    // A 1-D tensor over two chunks and a 2-D one whose rows split into several chunks.
    for shape in [vec![2 * UPDATE_CHUNK + 3], vec![UPDATE_CHUNK / 300 + 7, 300]] {
        let p = param(&host, &shape, 0.3);
        let n = p.numel();
        let mut opt = AdamW::new(vec![p.clone()], c).unwrap();
        let (mut theta, mut m, mut v): (Vec<f64>, Vec<f64>, Vec<f64>) =
            (values(n, 0.3).into_iter().map(f64::from).collect(), vec![0.0; n], vec![0.0; n]);
        for step in 1..=2 {
            let g = values(n, 1.0 + step as f64);
            p.set_grad(Some(&host.from_slice(&g, &shape).unwrap())).unwrap();
            opt.step().unwrap();
            let (b1, b2) = c.betas;
            let (bc1, bc2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
            for i in 0..n {
                let gi = f64::from(g[i]);
                theta[i] *= 1.0 - c.lr * c.weight_decay;
                m[i] = b1 * m[i] + (1.0 - b1) * gi;
                v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                theta[i] -= c.lr / bc1 * m[i] / ((v[i] / bc2).sqrt() + c.eps);
            }
        }
        close(&p.to_vec::<f32>().unwrap(), &theta, &format!("AdamW parameter {shape:?}"));
        let sd = opt.state_dict();
        let exp_avg = sd.iter().find(|(k, _)| k == "state.0.exp_avg").unwrap();
        close(&exp_avg.1.to_vec::<f32>().unwrap(), &m, "exp_avg");
        assert_eq!(exp_avg.1.dtype(), DType::F32);
    }
}

#[test]
fn sgd_nesterov_in_chunks_equals_the_element_wise_update() {
    let host = with_ops_cpu();
    let c = SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 0.01, nesterov: true, ..Default::default() };
    let shape = [UPDATE_CHUNK + 11];
    let p = param(&host, &shape, 0.7);
    let n = p.numel();
    let mut opt = Sgd::new(vec![p.clone()], c).unwrap();
    let mut theta: Vec<f64> = values(n, 0.7).into_iter().map(f64::from).collect();
    let mut buf = vec![0.0; n];
    for step in 1..=3 {
        let g = values(n, 2.0 + step as f64);
        p.set_grad(Some(&host.from_slice(&g, &shape).unwrap())).unwrap();
        opt.step().unwrap();
        for i in 0..n {
            let d = f64::from(g[i]) + c.weight_decay * theta[i];
            buf[i] = if step == 1 { d } else { c.momentum * buf[i] + d };
            theta[i] -= c.lr * (d + c.momentum * buf[i]);
        }
    }
    close(&p.to_vec::<f32>().unwrap(), &theta, "SGD parameter");
}
