//! Module tests against the fake host (`crate::test_host`).

use super::*;
use crate::error::{Error, StateDictError};
use crate::test_host::host;
use crate::{DType, Tensor};

fn mlp() -> Sequential {
    let h = host();
    let mut s = Sequential::new();
    s.push(Linear::new(&h, 3, 4, true, DType::F32).expect("linear"))
        .push(ReLU::new())
        .push(Dropout::new(0.5).expect("p"))
        .push(Linear::new(&h, 4, 2, false, DType::F32).expect("linear"));
    s
}

fn names(v: &[(String, Tensor)]) -> Vec<&str> {
    v.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn sequential_names_are_dotted_and_prefixed() {
    let m = mlp();
    assert_eq!(names(&m.named_parameters()), ["0.weight", "0.bias", "3.weight"]);
    assert_eq!(m.num_parameters(), 4 * 3 + 4 + 2 * 4);
    let outer = Sequential::new().with(mlp()).with(BatchNorm2d::new(&host(), 2, DType::F32).expect("bn"));
    let sd = outer.state_dict();
    assert_eq!(
        names(&sd),
        ["0.0.weight", "0.0.bias", "0.3.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    );
    assert!(sd.iter().all(|(_, t)| !t.requires_grad()), "state_dict is detached");
}

#[test]
fn linear_and_conv_init_follow_pytorch_bounds() {
    let h = host();
    let l = Linear::new(&h, 16, 5, true, DType::F32).expect("linear");
    assert_eq!((l.weight.shape(), l.bias.as_ref().map(Tensor::shape)), (vec![5, 16], Some(vec![5])));
    assert!(l.weight.requires_grad());
    let b = 1.0 / 4.0;
    assert!(l.weight.to_vec_f64().expect("w").iter().all(|v| v.abs() <= b));
    let cfg = Conv2dConfig { groups: 2, ..Default::default() };
    let c = Conv2d::new(&h, 4, 6, [3, 3], cfg, DType::F64).expect("conv");
    assert_eq!(c.weight.shape(), [6, 2, 3, 3]);
    let b = 1.0 / 18f64.sqrt();
    let w = c.weight.to_vec_f64().expect("w");
    assert!(w.iter().all(|v| v.abs() <= b) && w.iter().any(|v| v.abs() > b / 2.0));
    assert!(Conv2d::new(&h, 3, 6, [3, 3], cfg, DType::F32).is_err(), "3 channels in 2 groups");
    assert!(Linear::new(&h, 2, 2, true, DType::I64).is_err());
}

#[test]
fn batchnorm_embedding_layernorm_init() {
    let h = host();
    let bn = BatchNorm2d::new(&h, 3, DType::F32).expect("bn");
    assert_eq!(bn.running_var.to_vec_f64().expect("rv"), [1.0; 3]);
    assert_eq!(bn.running_mean.to_vec_f64().expect("rm"), [0.0; 3]);
    assert!(!bn.running_mean.requires_grad() && bn.weight.as_ref().is_some_and(Tensor::requires_grad));
    let e = Embedding::new(&h, 5, 4, Some(2), DType::F32).expect("emb");
    let w = e.weight.to_vec_f64().expect("w");
    assert_eq!(&w[8..12], &[0.0; 4]);
    assert!(w.iter().filter(|v| **v != 0.0).count() >= 15);
    assert!(Embedding::new(&h, 5, 4, Some(5), DType::F32).is_err());
    let ln = LayerNorm::new(&h, &[4], DType::F32).expect("ln");
    assert_eq!(names(&ln.named_parameters()), ["weight", "bias"]);
}

#[test]
fn c18_dropout_module_follows_eval_recursively() {
    let h = host();
    let x = h.from_slice(&[1.0f32, -2.0, 3.0, 0.5, 4.0, -1.0, 2.0, 8.0], &[8]).expect("x");
    let mut d = Dropout::new(0.5).expect("p");
    d.eval();
    assert_eq!(d.forward(&x).expect("eval").to_vec::<f32>().expect("v"), x.to_vec::<f32>().expect("v"));
    let mut inner = Sequential::new();
    inner.push(Dropout::new(0.5).expect("p"));
    let mut model = Sequential::new().with(ReLU::new()).with(inner);
    assert!(model.get(1).is_some_and(|m| m.is_training()));
    model.eval();
    assert!(!model.is_training() && model.get(1).is_some_and(|m| !m.is_training()));
    let y = model.forward(&x).expect("identity then relu");
    assert_eq!(y.to_vec::<f32>().expect("v"), [1.0, 0.0, 3.0, 0.5, 4.0, 0.0, 2.0, 8.0]);
    model.train(true);
    assert!(model.get(1).is_some_and(|m| m.is_training()));
    // A child pushed into an eval-mode container starts in eval mode too.
    let mut s = Sequential::new();
    s.eval();
    s.push(Dropout::new(0.3).expect("p"));
    assert!(s.get(0).is_some_and(|m| !m.is_training()));
}

#[test]
fn forward_through_linear_and_flatten() {
    let h = host();
    let mut l = Linear::new(&h, 2, 1, true, DType::F64).expect("linear");
    l.load_state_dict(&[("weight".into(), h.from_slice(&[2.0f64, -1.0], &[1, 2]).expect("w")), ("bias".into(), h.from_slice(&[0.5f64], &[1]).expect("b"))], true)
        .expect("load");
    l.eval();
    let x = h.from_slice(&[1.0f64, 3.0, 2.0, 2.0], &[2, 1, 2]).expect("x");
    let y = Sequential::new().with(Flatten::new()).with(l).forward(&x).expect("forward");
    assert_eq!((y.shape(), y.to_vec::<f64>().expect("y")), (vec![2, 1], vec![-0.5, 2.5]));
}

#[test]
fn load_state_dict_round_trip_in_place() {
    let (src, dst) = (mlp(), mlp());
    let before = dst.parameters()[0].clone();
    dst.load_state_dict(&src.state_dict(), true).expect("load");
    for ((_, a), (_, b)) in src.state_dict().iter().zip(dst.state_dict().iter()) {
        assert_eq!(a.to_vec_f64().expect("a"), b.to_vec_f64().expect("b"));
    }
    // Same handle, new values, version bumped: handles held elsewhere stay valid.
    assert_eq!(before.to_vec_f64().expect("v"), src.parameters()[0].to_vec_f64().expect("v"));
    assert!(before.version() > 0 && before.requires_grad());
}

fn state_err(r: crate::Result<()>) -> StateDictError {
    match r {
        Err(Error::StateDict(e)) => e,
        other => panic!("expected a state dict error, got {other:?}"),
    }
}

#[test]
fn load_state_dict_reports_everything_and_copies_nothing() {
    let h = host();
    let (src, dst) = (mlp(), mlp());
    let snapshot: Vec<Vec<f64>> = dst.parameters().iter().map(|p| p.to_vec_f64().expect("p")).collect();
    let mut sd = src.state_dict();
    sd.retain(|(n, _)| n != "0.bias");
    sd.push(("9.weight".into(), h.zeros(&[1], DType::F32).expect("z")));
    sd[1].1 = h.zeros(&[2, 5], DType::F32).expect("z"); // 3.weight with a wrong shape
    let e = state_err(dst.load_state_dict(&sd, true));
    assert_eq!(e.missing, ["0.bias"]);
    assert_eq!(e.unexpected, ["9.weight"]);
    assert_eq!((e.shape_mismatch[0].name.as_str(), e.shape_mismatch[0].expected.clone(), e.shape_mismatch[0].got.clone()), ("3.weight", vec![2, 4], vec![2, 5]));
    let msg = Error::StateDict(e).to_string();
    assert!(msg.contains("missing keys") && msg.contains("size mismatch for 3.weight") && !msg.contains('\n'), "{msg}");
    // Non-strict still refuses the shape mismatch, and nothing was copied either time.
    let e = state_err(dst.load_state_dict(&sd, false));
    assert!(e.missing.is_empty() && e.unexpected.is_empty() && e.shape_mismatch.len() == 1);
    let after: Vec<Vec<f64>> = dst.parameters().iter().map(|p| p.to_vec_f64().expect("p")).collect();
    assert_eq!(snapshot, after);
    // Non-strict with only missing/unexpected keys loads what matches.
    let mut sd = src.state_dict();
    sd.retain(|(n, _)| n == "0.weight");
    sd.push(("extra".into(), h.zeros(&[1], DType::F32).expect("z")));
    dst.load_state_dict(&sd, false).expect("partial non-strict");
    assert_eq!(dst.parameters()[0].to_vec_f64().expect("w"), src.parameters()[0].to_vec_f64().expect("w"));
    // Duplicates always fail.
    let dup = [src.state_dict(), src.state_dict()].concat();
    assert_eq!(state_err(dst.load_state_dict(&dup, false)).duplicate.len(), 3);
}

#[test]
fn zero_grad_clears_grads() {
    let h = host();
    let m = mlp();
    for p in m.parameters() {
        p.set_grad(Some(&h.ones(&p.shape(), DType::F32).expect("g"))).expect("set");
    }
    assert!(m.parameters().iter().all(|p| p.grad().is_some()));
    m.zero_grad();
    assert!(m.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn spp_and_pool_configs() {
    let spp = SpatialPyramidPool::new(&[1, 2, 4], PoolMode::Max).expect("spp");
    assert_eq!(spp.output_features(256), 256 * 21);
    assert!(SpatialPyramidPool::new(&[], PoolMode::Avg).is_err() && SpatialPyramidPool::new(&[0], PoolMode::Avg).is_err());
    assert_eq!(MaxPool2d::new([2, 2]).stride, [2, 2]);
    assert!(Dropout::new(1.5).is_err() && Dropout::new(-0.1).is_err());
}
