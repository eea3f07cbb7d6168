//! Mixed precision against the real core: autocast op classes and numerics, f32 gradients of
//! f32 parameters, autocast seen by a model plugin, GradScaler with real backward passes, and
//! f32 master weights for a bf16 model.

use ferrite_core::Runtime;
use ferrite_sdk::amp::{GradScaler, GradScalerConfig, MasterWeights};
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::nn::{Linear, Module};
use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::{plugin_path, with_ops_cpu};

const LOW: [DType; 2] = [DType::BF16, DType::F16];

/// An op under test on one or two tensors.
type BinOp<'a> = dyn Fn(&Tensor, &Tensor) -> ferrite_sdk::Result<Tensor> + 'a;

/// Relative tolerance of one rounding to `dt` plus accumulation over short dot products.
fn tol(dt: DType) -> f64 {
    if dt == DType::BF16 {
        2e-2
    } else {
        4e-3
    }
}

fn close(got: &Tensor, want: &Tensor, rel: f64) {
    let (g, w) = (got.to_vec_f64().unwrap(), want.to_vec_f64().unwrap());
    assert_eq!(g.len(), w.len());
    let scale = w.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!((a - b).abs() <= rel * scale, "element {i}: {a} vs {b} (scale {scale}, rel {rel})");
    }
}

fn randn(host: &Host, shape: &[usize]) -> Tensor {
    host.randn(shape, 0.0, 1.0, DType::F32).unwrap()
}

#[test]
fn amp_autocast_runs_lower_precision_ops_in_the_autocast_dtype() {
    let host = with_ops_cpu();
    host.manual_seed(1);
    let (x, w, b) = (randn(&host, &[4, 8]), randn(&host, &[5, 8]), randn(&host, &[5]));
    let (q, k, v) = (randn(&host, &[2, 3, 4]), randn(&host, &[2, 3, 4]), randn(&host, &[2, 3, 4]));
    let (img, ker) = (randn(&host, &[1, 2, 5, 5]), randn(&host, &[3, 2, 3, 3]));
    let lin = || F::linear(&x, &w, Some(&b));
    let mm = || x.matmul(&w.t().unwrap());
    let conv = || F::conv2d(&img, &ker, None, [1, 1], [1, 1], [1, 1], 1);
    let sdpa = || F::scaled_dot_product_attention(&q, &k, &v, None, false, None);
    let ops: [(&str, &dyn Fn() -> ferrite_sdk::Result<Tensor>); 4] = [("linear", &lin), ("matmul", &mm), ("conv2d", &conv), ("sdpa", &sdpa)];
    for dt in LOW {
        for (name, op) in ops {
            let want = op().unwrap();
            assert_eq!(want.dtype(), DType::F32, "{name} outside autocast");
            let got = host.autocast(dt, op).unwrap().unwrap();
            assert_eq!(got.dtype(), dt, "{name} under autocast({dt})");
            close(&got, &want, tol(dt));
        }
    }
    assert!(!host.autocast_state().enabled, "the state is restored");
}

#[test]
fn amp_autocast_runs_fp32_ops_in_f32() {
    let host = with_ops_cpu();
    host.manual_seed(2);
    for dt in LOW {
        let x = randn(&host, &[4, 6]).to_dtype(dt).unwrap();
        let x32 = x.to_dtype(DType::F32).unwrap();
        let target = host.from_slice(&[0i64, 5, 2, 1], &[4]).unwrap();
        let y = randn(&host, &[4, 6]).to_dtype(dt).unwrap();
        let y32 = y.to_dtype(DType::F32).unwrap();
        let cases: Vec<(&str, Box<BinOp>)> = vec![
            ("softmax", Box::new(|a, _| F::softmax(a, -1))),
            ("log_softmax", Box::new(|a, _| F::log_softmax(a, -1))),
            ("cross_entropy", Box::new(|a, _| F::cross_entropy(a, &target, None, -100, 0.0, Reduction::Mean))),
            ("mse_loss", Box::new(|a, b| F::mse_loss(a, b, Reduction::Mean))),
            ("layer_norm", Box::new(|a, _| F::layer_norm(a, &[6], None, None, 1e-5))),
            ("exp", Box::new(|a, _| a.exp())),
            ("sum", Box::new(|a, _| F::sum(a, &[1], false))),
        ];
        for (name, op) in &cases {
            let got = host.autocast(dt, || op(&x, &y)).unwrap().unwrap();
            assert_eq!(got.dtype(), DType::F32, "{name} under autocast({dt})");
            // The same f32 op on the up-cast inputs: identical values.
            let want = op(&x32, &y32).unwrap();
            assert_eq!(got.to_vec_f64().unwrap(), want.to_vec_f64().unwrap(), "{name}");
        }
        // Other ops: mixed float inputs run in the widest type; one dtype is left alone.
        let mixed = host.autocast(dt, || x.add(&y32)).unwrap().unwrap();
        assert_eq!(mixed.dtype(), DType::F32);
        assert_eq!(mixed.to_vec_f64().unwrap(), x32.add(&y32).unwrap().to_vec_f64().unwrap());
        assert_eq!(host.autocast(dt, || x.relu()).unwrap().unwrap().dtype(), dt);
    }
}

#[test]
fn amp_parameter_grads_are_f32_under_autocast_and_match_f32_grads() {
    let host = with_ops_cpu();
    host.manual_seed(3);
    let x = randn(&host, &[8, 6]);
    let target = host.from_slice(&[0i64, 1, 2, 3, 0, 1, 2, 3], &[8]).unwrap();
    let model = Linear::new(&host, 6, 4, true, DType::F32).unwrap();
    let loss_fn = || F::cross_entropy(&model.forward(&x)?, &target, None, -100, 0.0, Reduction::Mean);
    loss_fn().unwrap().backward().unwrap();
    let want: Vec<Tensor> = model.parameters().iter().map(|p| p.grad().unwrap()).collect();
    for p in model.parameters() {
        p.set_grad(None).unwrap();
    }
    let loss = host.autocast(DType::BF16, loss_fn).unwrap().unwrap();
    assert_eq!(loss.dtype(), DType::F32, "cross_entropy runs in f32");
    loss.backward().unwrap();
    for (p, w) in model.parameters().iter().zip(&want) {
        let g = p.grad().unwrap();
        assert_eq!(g.dtype(), DType::F32);
        close(&g, w, 3e-2);
    }
}

#[test]
fn amp_autocast_reaches_a_model_plugins_forward() {
    let host = with_ops_cpu();
    Runtime::global().load_plugin(&plugin_path("ferrite-model-spp-net")).expect("load spp-net");
    host.manual_seed(4);
    let cfg = "in_channels = 1\nnum_classes = 3\nchannels = [2, 4]\nlevels = [1, 2]\nhidden = 0\ndropout = 0.0\nbatch_norm = false\n";
    let mut model = Runtime::global().create_model("models.spp_net", cfg).expect("model");
    let x = randn(&host, &[2, 1, 6, 6]);
    let mut run = || -> Tensor {
        let h = model.forward(x.handle()).into_result().expect("forward");
        unsafe { Tensor::from_raw(host.api(), h) }
    };
    let want = run();
    assert_eq!(want.dtype(), DType::F32);
    let got = host.autocast(DType::BF16, &mut run).unwrap();
    assert_eq!(got.dtype(), DType::BF16, "the plugin's last linear ran under the core's autocast");
    close(&got, &want, 5e-2);
}

/// `Linear(3 → 1)` data: y = x·[1, -2, 0.5] + 0.25.
fn data(host: &Host) -> (Tensor, Tensor) {
    let xs: Vec<f64> = (0..48).map(|i| ((i * 29 % 41) as f64 / 20.0) - 1.0).collect();
    let ys: Vec<f64> = xs.chunks(3).map(|r| r[0] - 2.0 * r[1] + 0.5 * r[2] + 0.25).collect();
    (host.from_f64(&xs, &[16, 3], DType::F32).unwrap(), host.from_f64(&ys, &[16, 1], DType::F32).unwrap())
}

fn twin_models(host: &Host) -> (Linear, Linear) {
    let a = Linear::new(host, 3, 1, true, DType::F32).unwrap();
    let b = Linear::new(host, 3, 1, true, DType::F32).unwrap();
    for (p, q) in a.parameters().iter().zip(b.parameters()) {
        host.no_grad(|| q.copy_(p)).unwrap();
    }
    (a, b)
}

fn sgd(m: &Linear) -> Sgd {
    Sgd::new(m.parameters(), SgdConfig { lr: 0.05, momentum: 0.9, ..Default::default() }).unwrap()
}

fn values(m: &Linear) -> Vec<f64> {
    m.parameters().iter().flat_map(|p| p.to_vec_f64().unwrap()).collect()
}

#[test]
fn amp_grad_scaler_with_power_of_two_scale_equals_plain_training() {
    let host = with_ops_cpu();
    host.manual_seed(5);
    let (x, y) = data(&host);
    for init_scale in [1.0, 1024.0] {
        let (plain, scaled) = twin_models(&host);
        let (mut op, mut os) = (sgd(&plain), sgd(&scaled));
        let mut scaler = GradScaler::new(GradScalerConfig { init_scale, ..Default::default() }).unwrap();
        for _ in 0..5 {
            op.zero_grad();
            F::mse_loss(&plain.forward(&x).unwrap(), &y, Reduction::Mean).unwrap().backward().unwrap();
            op.step().unwrap();
            os.zero_grad();
            let loss = F::mse_loss(&scaled.forward(&x).unwrap(), &y, Reduction::Mean).unwrap();
            scaler.scale(&loss).unwrap().backward().unwrap();
            assert!(scaler.step(&mut os).unwrap());
            scaler.update().unwrap();
        }
        assert_eq!(values(&plain), values(&scaled), "scale {init_scale}");
    }
}

#[test]
fn amp_grad_scaler_skips_an_injected_inf_then_grows() {
    let host = with_ops_cpu();
    host.manual_seed(6);
    let (x, y) = data(&host);
    let model = Linear::new(&host, 3, 1, true, DType::F32).unwrap();
    let mut opt = sgd(&model);
    let mut scaler = GradScaler::new(GradScalerConfig { init_scale: 256.0, growth_interval: 3, ..Default::default() }).unwrap();
    let bad = x.mul_scalar(f64::INFINITY).unwrap();
    let mut stepped = vec![];
    let mut scales = vec![];
    for it in 0..5 {
        opt.zero_grad();
        let before = values(&model);
        let input = if it == 1 { &bad } else { &x };
        let loss = F::mse_loss(&model.forward(input).unwrap(), &y, Reduction::Mean).unwrap();
        scaler.scale(&loss).unwrap().backward().unwrap();
        let s = scaler.step(&mut opt).unwrap();
        if !s {
            assert_eq!(values(&model), before, "a skipped step leaves the parameters alone");
        }
        stepped.push(s);
        scaler.update().unwrap();
        scales.push(scaler.get_scale());
    }
    assert_eq!(stepped, vec![true, false, true, true, true]);
    assert_eq!(scales, vec![256.0, 128.0, 128.0, 128.0, 256.0]);
    assert!(values(&model).iter().all(|v| v.is_finite()));
}

/// Runs 300 SGD steps of y = x·w on `w` (any dtype) with `opt`; the forward is bf16/f32 by w.
fn regress(host: &Host, w: &Tensor, opt: &mut dyn Optimizer) -> Vec<f64> {
    let (x, y) = data(host);
    let x = x.to_dtype(w.dtype()).unwrap();
    for _ in 0..300 {
        opt.zero_grad();
        let pred = x.matmul(w).unwrap().to_dtype(DType::F32).unwrap();
        F::mse_loss(&pred, &y, Reduction::Mean).unwrap().backward().unwrap();
        opt.step().unwrap();
    }
    w.to_vec_f64().unwrap()
}

#[test]
fn amp_master_weights_track_an_f32_run_better_than_pure_bf16() {
    let host = with_ops_cpu();
    // A small learning rate: most updates are below half a bf16 ulp of the weights.
    let cfg = SgdConfig { lr: 2e-3, ..Default::default() };
    // Fresh storage per run (the optimizers write their parameters in place).
    let new = |dt| host.from_f64(&[0.3, 0.1, -0.2], &[3, 1], dt).unwrap().requires_grad_(true).unwrap();
    let w32 = new(DType::F32);
    let reference = regress(&host, &w32, &mut Sgd::new(vec![w32.clone()], cfg).unwrap());
    let wb = new(DType::BF16);
    let pure = regress(&host, &wb, &mut Sgd::new(vec![wb.clone()], cfg).unwrap());
    let wm = new(DType::BF16);
    let mut mw = MasterWeights::new(vec![wm.clone()], |m| Sgd::new(m, cfg)).unwrap();
    let mixed = regress(&host, &wm, &mut mw);
    let dist = |v: &[f64]| v.iter().zip(&reference).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    assert!(dist(&mixed) < dist(&pure) / 2.0, "master {} vs pure bf16 {} (ref {reference:?}, master {mixed:?}, pure {pure:?})", dist(&mixed), dist(&pure));
    // The master is f32 and the model is its rounding.
    let master = mw.params()[0].clone();
    assert_eq!(master.dtype(), DType::F32);
    assert_eq!(master.to_dtype(DType::BF16).unwrap().to_vec_f64().unwrap(), wm.to_vec_f64().unwrap());
    // The state dict carries the master; loading it restores both copies.
    let sd = mw.state_dict();
    let saved = sd.iter().find(|(k, _)| k == "master.0").expect("master in state dict").1.to_vec_f64().unwrap();
    let saved_t = host.from_f64(&saved, &[3, 1], DType::F32).unwrap();
    host.no_grad(|| master.copy_(&host.zeros(&[3, 1], DType::F32).unwrap())).unwrap();
    mw.load_state_dict(&[("master.0".to_string(), saved_t)]).unwrap();
    assert_eq!(master.to_vec_f64().unwrap(), saved);
    assert_eq!(wm.to_vec_f64().unwrap(), master.to_dtype(DType::BF16).unwrap().to_vec_f64().unwrap());
    assert!(mw.load_state_dict(&[("master.7".to_string(), host.zeros(&[3, 1], DType::F32).unwrap())]).is_err());
}
