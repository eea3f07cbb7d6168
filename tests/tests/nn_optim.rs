//! sdk `nn` modules and optimizers against the real core and ops-ref.

use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::nn::{BatchNorm2d, Conv2d, Conv2dConfig, Linear, Module, PoolMode, ReLU, Sequential, SpatialPyramidPool};
use ferrite_sdk::optim::{AdamW, AdamWConfig, Optimizer, Sgd, SgdConfig};
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::with_ops_ref;

/// y = 3a - 2b + 1 with a little structure; returns (x [64, 2], y [64, 1]).
fn regression_data(host: &Host) -> (Tensor, Tensor) {
    let xs: Vec<f64> = (0..128).map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0).collect();
    let ys: Vec<f64> = xs.chunks(2).map(|p| 3.0 * p[0] - 2.0 * p[1] + 1.0).collect();
    (host.from_f64(&xs, &[64, 2], DType::F32).unwrap(), host.from_f64(&ys, &[64, 1], DType::F32).unwrap())
}

fn fit(host: &Host, opt: &mut dyn Optimizer, model: &Linear, steps: usize) -> f64 {
    let (x, y) = regression_data(host);
    let mut last = f64::MAX;
    for _ in 0..steps {
        let loss = F::mse_loss(&model.forward(&x).unwrap(), &y, Reduction::Mean).unwrap();
        opt.zero_grad();
        loss.backward().unwrap();
        opt.step().unwrap();
        last = loss.item().unwrap();
    }
    last
}

#[test]
fn sgd_and_adamw_fit_a_linear_model() {
    let host = with_ops_ref();
    host.manual_seed(1);
    let m = Linear::new(&host, 2, 1, true, DType::F32).unwrap();
    let mut sgd = Sgd::new(m.parameters(), SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() }).unwrap();
    assert!(fit(&host, &mut sgd, &m, 150) < 1e-4);
    let w = m.named_parameters();
    let wv = w.iter().find(|(n, _)| n == "weight").unwrap().1.to_vec_f64().unwrap();
    assert!((wv[0] - 3.0).abs() < 0.02 && (wv[1] + 2.0).abs() < 0.02, "{wv:?}");

    let m = Linear::new(&host, 2, 1, true, DType::F32).unwrap();
    let mut adam = AdamW::new(m.parameters(), AdamWConfig { lr: 0.05, weight_decay: 0.0, ..Default::default() }).unwrap();
    assert!(fit(&host, &mut adam, &m, 400) < 1e-3);
}

#[test]
fn batch_norm_updates_running_stats_in_place_and_eval_uses_them() {
    let host = with_ops_ref();
    let mut bn = BatchNorm2d::new(&host, 2, DType::F32).unwrap();
    let held: Vec<Tensor> = bn.named_buffers().into_iter().map(|(_, t)| t).collect();
    let x = host.randn(&[4, 2, 3, 3], 5.0, 2.0, DType::F32).unwrap();
    bn.train(true);
    let y = bn.forward(&x).unwrap();
    // training output is normalised per channel
    let m = F::mean(&y, &[0, 2, 3], false).unwrap().to_vec_f64().unwrap();
    assert!(m.iter().all(|v| v.abs() < 1e-5), "{m:?}");
    let rm = held[0].to_vec_f64().unwrap();
    assert!(rm.iter().all(|v| (v - 0.5).abs() < 0.3), "running mean moved 10% toward ~5: {rm:?}");
    bn.eval();
    let y2 = bn.forward(&x).unwrap();
    assert!(!y2.requires_grad() || y2.shape() == x.shape());
    assert_ne!(y.to_vec_f64().unwrap(), y2.to_vec_f64().unwrap(), "eval uses running statistics");
}

#[test]
fn module_state_round_trips_through_safetensors() {
    let host = with_ops_ref();
    let build = || {
        Sequential::new()
            .with(Conv2d::new(&host, 1, 4, [3, 3], Conv2dConfig { padding: [1, 1], ..Default::default() }, DType::F32).unwrap())
            .with(BatchNorm2d::new(&host, 4, DType::F32).unwrap())
            .with(ReLU::new())
            .with(SpatialPyramidPool::new(&[1, 2], PoolMode::Max).unwrap())
            .with(Linear::new(&host, 20, 3, true, DType::F32).unwrap())
    };
    let mut a = build();
    let b = build();
    let x = host.randn(&[2, 1, 7, 5], 0.0, 1.0, DType::F32).unwrap();
    a.train(true);
    a.forward(&x).unwrap(); // moves the running stats
    a.eval();
    let dir = std::env::temp_dir().join(format!("ferrite-nn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    a.save_safetensors(&path).unwrap();
    let mut b = b;
    b.load_safetensors(&host, &path, true).unwrap();
    b.eval();
    assert_eq!(a.forward(&x).unwrap().to_vec_f64().unwrap(), b.forward(&x).unwrap().to_vec_f64().unwrap());
    // a checkpoint of another architecture is refused and changes nothing
    let other = Sequential::new().with(Linear::new(&host, 20, 3, true, DType::F32).unwrap());
    let before: Vec<Vec<f64>> = other.state_dict().iter().map(|(_, t)| t.to_vec_f64().unwrap()).collect();
    assert!(other.load_safetensors(&host, &path, true).is_err());
    let after: Vec<Vec<f64>> = other.state_dict().iter().map(|(_, t)| t.to_vec_f64().unwrap()).collect();
    assert_eq!(before, after);
    let _ = std::fs::remove_dir_all(&dir);
}
