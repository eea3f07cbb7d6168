//! Tests for `norm.rs`: hand examples, independent formulas, finite differences.

use super::*;
use crate::fd::{assert_close, check_grads, Rng};
use ferrite_sdk::kernel::Attr;
use proptest::prelude::*;

fn ln_attrs(ns: &[usize], eps: f64) -> Attrs {
    Attrs(vec![Attr::Ints(ns.iter().map(|&d| d as i64).collect()), Attr::Float(eps)])
}

fn bn_attrs(training: bool, momentum: f64, eps: f64) -> Attrs {
    Attrs(vec![Attr::Bool(training), Attr::Float(momentum), Attr::Float(eps)])
}

#[test]
fn layer_norm_hand_example() {
    let x = Array::new(vec![2, 3], vec![1., 2., 3., -1., 0., 4.]).unwrap();
    let w = Array::new(vec![3], vec![1., 2., 3.]).unwrap();
    let b = Array::new(vec![3], vec![0., 1., 0.]).unwrap();
    let o = layer_norm_forward(&[Some(x), Some(w), Some(b)], &ln_attrs(&[3], 0.0)).unwrap();
    let r = (1.5f64).sqrt(); // var of [1,2,3] is 2/3
    assert_close("out row 0", &o[0].data[..3], &[-r, 1.0, 3.0 * r], 1e-14);
    // Row 1: mean 1, var (4 + 1 + 9)/3 = 14/3 (E[x^2] - E[x]^2 = 17/3 - 1).
    let rs = 1.0 / (14.0f64 / 3.0).sqrt();
    assert_close("mean", &o[1].data, &[2.0, 1.0], 1e-15);
    assert_close("rstd", &o[2].data, &[r, rs], 1e-14);
    assert_eq!(o[1].shape, vec![2]);
}

#[test]
fn layer_norm_errors() {
    let x = Some(Array::zeros(&[2, 3]));
    assert!(layer_norm_forward(std::slice::from_ref(&x), &ln_attrs(&[2], 1e-5)).is_err());
    assert!(layer_norm_forward(std::slice::from_ref(&x), &ln_attrs(&[], 1e-5)).is_err());
    assert!(layer_norm_forward(std::slice::from_ref(&x), &ln_attrs(&[2, 2, 3], 1e-5)).is_err());
    assert!(layer_norm_forward(&[x.clone(), Some(Array::zeros(&[2]))], &ln_attrs(&[3], 1e-5)).is_err());
    assert!(layer_norm_forward(&[x, None, Some(Array::zeros(&[1, 3]))], &ln_attrs(&[3], 1e-5)).is_err());
}

#[test]
fn batch_norm_training_running_stats() {
    // One channel holding 1,2,3,4 (N=2, L=2): mean 2.5, biased var 1.25, unbiased 5/3.
    let x = Array::new(vec![2, 1, 2], vec![1., 2., 3., 4.]).unwrap();
    let rm = Array::new(vec![1], vec![0.0]).unwrap();
    let rv = Array::new(vec![1], vec![1.0]).unwrap();
    let o = batch_norm_forward(&[Some(x.clone()), None, None, Some(rm.clone()), Some(rv.clone())], &bn_attrs(true, 0.1, 0.0)).unwrap();
    let inv = 1.0 / 1.25f64.sqrt();
    assert_close("out", &o[0].data, &[-1.5 * inv, -0.5 * inv, 0.5 * inv, 1.5 * inv], 1e-14);
    assert_close("save", &[o[1].data[0], o[2].data[0]], &[2.5, inv], 1e-14);
    assert_close("running", &[o[3].data[0], o[4].data[0]], &[0.25, 0.9 + 0.1 * 5.0 / 3.0], 1e-14);
    // No running stats: the new running outputs are the batch stats.
    let o = batch_norm_forward(&[Some(x.clone())], &bn_attrs(true, 0.1, 0.0)).unwrap();
    assert_close("batch stats", &[o[3].data[0], o[4].data[0]], &[2.5, 5.0 / 3.0], 1e-14);
    // Eval: running stats used and passed through.
    let o = batch_norm_forward(&[Some(x.clone()), None, None, Some(rm), Some(rv)], &bn_attrs(false, 0.1, 0.0)).unwrap();
    assert_eq!(o[0].data, x.data);
    assert_eq!((o[3].data[0], o[4].data[0]), (0.0, 1.0));
}

#[test]
fn batch_norm_errors() {
    let x = Some(Array::zeros(&[2, 3, 2]));
    assert!(batch_norm_forward(std::slice::from_ref(&x), &bn_attrs(false, 0.1, 1e-5)).is_err(), "eval needs running stats");
    assert!(batch_norm_forward(&[x.clone(), Some(Array::zeros(&[2]))], &bn_attrs(true, 0.1, 1e-5)).is_err());
    assert!(batch_norm_forward(&[Some(Array::zeros(&[3]))], &bn_attrs(true, 0.1, 1e-5)).is_err());
    assert!(batch_norm_forward(&[Some(Array::zeros(&[1, 3]))], &bn_attrs(true, 0.1, 1e-5)).is_err(), "one value per channel");
    let e = batch_norm_forward(&[x, None, None, Some(Array::zeros(&[4]))], &bn_attrs(true, 0.1, 1e-5)).unwrap_err();
    assert!(e.starts_with("batch_norm:"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn layer_norm_matches_formula_and_fd(lead in prop::collection::vec(1usize..4, 0..3), ns in prop::collection::vec(1usize..4, 1..3),
                                         affine in any::<bool>(), seed in 0u64..10_000) {
        prop_assume!(ns.iter().product::<usize>() > 1);
        let mut r = Rng::new(seed);
        let shape = [lead.clone(), ns.clone()].concat();
        let x = r.array(&shape);
        let (w, b) = if affine { (Some(r.array(&ns)), Some(r.array(&ns))) } else { (None, None) };
        let at = ln_attrs(&ns, 1e-5);
        let ins = [Some(x.clone()), w.clone(), b.clone()];
        let o = layer_norm_forward(&ins, &at).unwrap();
        // Independent: E[x^2] - E[x]^2 variance.
        let m: usize = ns.iter().product();
        for row in 0..x.numel() / m {
            let s = &x.data[row * m..(row + 1) * m];
            let mu = s.iter().sum::<f64>() / m as f64;
            let var = s.iter().map(|v| v * v).sum::<f64>() / m as f64 - mu * mu;
            let exp: Vec<f64> = (0..m)
                .map(|j| (s[j] - mu) / (var + 1e-5).sqrt() * w.as_ref().map_or(1.0, |w| w.data[j]) + b.as_ref().map_or(0.0, |b| b.data[j]))
                .collect();
            assert_close("layer_norm", &o[0].data[row * m..(row + 1) * m], &exp, 1e-10);
        }
        let wrt: Vec<usize> = if affine { vec![0, 1, 2] } else { vec![0] };
        check_grads(layer_norm_forward, layer_norm_backward, &ins, &at, &wrt, &[0], seed);
    }

    #[test]
    fn batch_norm_fd(n in 1usize..4, c in 1usize..4, sp in prop::collection::vec(1usize..4, 0..3), training in any::<bool>(),
                     affine in any::<bool>(), running in any::<bool>(), seed in 0u64..10_000) {
        let count = n * sp.iter().product::<usize>();
        prop_assume!(!training || count > 1);
        let mut r = Rng::new(seed);
        let shape = [vec![n, c], sp.clone()].concat();
        let x = r.array(&shape);
        let (w, b) = if affine { (Some(r.array(&[c])), Some(r.array(&[c]))) } else { (None, None) };
        let running = running || !training;
        let (rm, rv) = if running {
            (Some(r.array(&[c])), Some(Array::new(vec![c], (0..c).map(|_| 0.5 + r.unit()).collect()).unwrap()))
        } else {
            (None, None)
        };
        let at = bn_attrs(training, 0.1, 1e-5);
        let ins = [Some(x.clone()), w.clone(), b.clone(), rm.clone(), rv.clone()];
        let o = batch_norm_forward(&ins, &at).unwrap();
        // Independent: per channel, gather values and standardise.
        let sps: usize = sp.iter().product();
        for ch in 0..c {
            let vals: Vec<f64> = (0..n).flat_map(|i| x.data[(i * c + ch) * sps..(i * c + ch + 1) * sps].to_vec()).collect();
            let (mu, var) = if training {
                let mu = vals.iter().sum::<f64>() / count as f64;
                (mu, vals.iter().map(|v| v * v).sum::<f64>() / count as f64 - mu * mu)
            } else {
                (rm.as_ref().unwrap().data[ch], rv.as_ref().unwrap().data[ch])
            };
            for i in 0..n {
                for k in 0..sps {
                    let idx = (i * c + ch) * sps + k;
                    let e = (x.data[idx] - mu) / (var + 1e-5).sqrt() * w.as_ref().map_or(1.0, |w| w.data[ch]) + b.as_ref().map_or(0.0, |b| b.data[ch]);
                    prop_assert!((o[0].data[idx] - e).abs() < 1e-10);
                }
            }
        }
        let wrt: Vec<usize> = if affine { vec![0, 1, 2] } else { vec![0] };
        check_grads(batch_norm_forward, batch_norm_backward, &ins, &at, &wrt, &[0], seed);
    }
}
