//! Tests for `adaptive.rs`: field case C01 (exact), brute force, finite differences.

use super::*;
#[allow(unused_imports)]
use ferrite_sdk::{abi::dtype::DType, kernel::Meta};
use crate::fd::{assert_close, check_grads, Rng};
use ferrite_sdk::kernel::Attr;
use proptest::prelude::*;

fn os(h: usize, w: usize) -> Attrs {
    Attrs(vec![Attr::Ints(vec![h as i64, w as i64])])
}

fn spp_attrs(levels: &[usize], mode: &str) -> Attrs {
    Attrs(vec![Attr::Ints(levels.iter().map(|&l| l as i64).collect()), Attr::Str(mode.into())])
}

fn flat(rows: &[&[f64]]) -> Vec<f64> {
    rows.iter().flat_map(|r| r.iter().copied()).collect()
}

#[test]
fn c01_a_adaptive_max_5x5_to_3x3() {
    assert_eq!((0..3).map(|i| adaptive_bin(i, 5, 3)).collect::<Vec<_>>(), vec![(0, 2), (1, 4), (3, 5)]);
    let x = Array::new(vec![1, 1, 5, 5], (0..25).map(f64::from).collect()).unwrap();
    let o = adaptive_max_pool2d_forward(&[Some(x)], &os(3, 3)).unwrap();
    assert_eq!(o[0].shape, vec![1, 1, 3, 3]);
    let exp = flat(&[&[6., 8., 9.], &[16., 18., 19.], &[21., 23., 24.]]);
    assert_eq!(o[0].data, exp);
    assert_eq!(o[1].data, exp, "flat indices equal the values for arange");
}

#[test]
fn c01_b_adaptive_max_2x2_to_4x4() {
    assert_eq!((0..4).map(|i| adaptive_bin(i, 2, 4)).collect::<Vec<_>>(), vec![(0, 1), (0, 1), (1, 2), (1, 2)]);
    let x = Array::new(vec![1, 1, 2, 2], vec![1., 2., 3., 4.]).unwrap();
    let o = adaptive_max_pool2d_forward(&[Some(x)], &os(4, 4)).unwrap();
    assert_eq!(o[0].shape, vec![1, 1, 4, 4]);
    let r = |a: f64, b: f64| [a, a, b, b];
    assert_eq!(o[0].data, flat(&[&r(1., 2.), &r(1., 2.), &r(3., 4.), &r(3., 4.)]));
    assert_eq!(o[1].data, flat(&[&r(0., 1.), &r(0., 1.), &r(2., 3.), &r(2., 3.)]));
}

fn c01_c_input() -> Array {
    Array::new(vec![1, 1, 3, 3], vec![1., 9., 2., 8., 3., 7., 4., 6., 5.]).unwrap()
}

#[test]
fn c01_c_spp_values_argmax_and_grad() {
    assert_eq!((0..2).map(|i| adaptive_bin(i, 3, 2)).collect::<Vec<_>>(), vec![(0, 2), (1, 3)]);
    assert_eq!((0..4).map(|i| adaptive_bin(i, 3, 4)).collect::<Vec<_>>(), vec![(0, 1), (0, 2), (1, 3), (2, 3)]);
    let x = c01_c_input();
    let at = spp_attrs(&[1, 2, 4], "max");
    let o = spatial_pyramid_pool_forward(&[Some(x.clone())], &at).unwrap();
    assert_eq!(o[0].shape, vec![1, 21]);
    let spp = [9., 9., 9., 8., 7., 1., 9., 9., 2., 8., 9., 9., 7., 8., 8., 7., 7., 4., 6., 6., 5.];
    assert_eq!(o[0].data, spp.to_vec());
    let argmax: Vec<usize> =
        [1, 2, 4].iter().flat_map(|&l| adaptive_max_plane(&x.data, 3, 3, l, l).into_iter().map(|(_, i)| i)).collect();
    assert_eq!(argmax, vec![1, 1, 1, 3, 5, 0, 1, 1, 2, 3, 1, 1, 5, 3, 3, 5, 5, 6, 7, 7, 8]);
    let args = BackwardArgs {
        grads: vec![Array::full(&[1, 21], 1.0)],
        inputs: vec![Some(x)],
        outputs: o,
        attrs: at,
        needs: vec![true],
    };
    let g = spatial_pyramid_pool_backward(&args).unwrap();
    assert_eq!(g[0].as_ref().unwrap().data, vec![1., 7., 1., 4., 0., 4., 1., 2., 1.]);
}

#[test]
fn c01_default_attrs_are_levels_1_2_4_max() {
    let o = spatial_pyramid_pool_forward(&[Some(c01_c_input())], &Attrs::default()).unwrap();
    assert_eq!(o[0].shape, vec![1, 21]);
    assert_eq!(o[0].data[..5], [9., 9., 9., 8., 7.]);
}

#[test]
fn adaptive_errors() {
    let x = Some(Array::zeros(&[1, 1, 3, 3]));
    assert!(adaptive_max_pool2d_forward(std::slice::from_ref(&x), &Attrs(vec![Attr::Ints(vec![1, 2, 3])])).is_err());
    assert!(adaptive_avg_pool2d_forward(std::slice::from_ref(&x), &Attrs(vec![Attr::Ints(vec![-1, 2])])).is_err());
    assert!(adaptive_avg_pool2d_forward(std::slice::from_ref(&x), &Attrs::default()).is_err());
    assert!(adaptive_avg_pool2d_forward(&[Some(Array::zeros(&[1, 0, 3]))], &os(2, 2)).is_err());
    assert!(spatial_pyramid_pool_forward(std::slice::from_ref(&x), &spp_attrs(&[1, 2], "min")).is_err());
    assert!(spatial_pyramid_pool_forward(std::slice::from_ref(&x), &spp_attrs(&[], "max")).is_err());
    assert!(spatial_pyramid_pool_forward(&[x], &Attrs(vec![Attr::Ints(vec![0])])).is_err());
    assert!(spatial_pyramid_pool_forward(&[Some(Array::zeros(&[1, 3, 3]))], &Attrs::default()).is_err());
}

/// Brute force with float bin edges and slices.
fn brute(x: &[f64], h: usize, w: usize, oh: usize, ow: usize, max: bool) -> Vec<f64> {
    let edge = |i: usize, n: usize, m: usize| ((i * n) as f64 / m as f64).floor() as usize..(((i + 1) * n) as f64 / m as f64).ceil() as usize;
    let mut out = vec![];
    for oy in 0..oh {
        for ox in 0..ow {
            let vals: Vec<f64> = edge(oy, h, oh).flat_map(|y| edge(ox, w, ow).map(move |xx| x[y * w + xx])).collect();
            out.push(if max { vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max) } else { vals.iter().sum::<f64>() / vals.len() as f64 });
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn adaptive_pools_match_brute_force_and_fd(h in 1usize..7, w in 1usize..7, oh in 1usize..8, ow in 1usize..8, seed in 0u64..10_000) {
        let x = Rng::new(seed).distinct(&[2, 1, h, w]);
        let at = os(oh, ow);
        let mx = adaptive_max_pool2d_forward(&[Some(x.clone())], &at).unwrap();
        let av = adaptive_avg_pool2d_forward(&[Some(x.clone())], &at).unwrap();
        prop_assert_eq!(&mx[0].shape, &vec![2, 1, oh, ow]);
        for pl in 0..2 {
            let xs = &x.data[pl * h * w..(pl + 1) * h * w];
            prop_assert_eq!(&mx[0].data[pl * oh * ow..(pl + 1) * oh * ow], &brute(xs, h, w, oh, ow, true)[..]);
            for (o, &i) in mx[1].data[pl * oh * ow..(pl + 1) * oh * ow].iter().enumerate() {
                prop_assert_eq!(xs[i as usize], mx[0].data[pl * oh * ow + o]);
            }
            assert_close("avg", &av[0].data[pl * oh * ow..(pl + 1) * oh * ow], &brute(xs, h, w, oh, ow, false), 1e-12);
        }
        check_grads(adaptive_max_pool2d_forward, adaptive_max_pool2d_backward, &[Some(x.clone())], &at, &[0], &[0], seed);
        check_grads(adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward, &[Some(x)], &at, &[0], &[0], seed + 1);
    }

    #[test]
    fn spp_matches_adaptive_concat_and_fd(
        n in 1usize..3, c in 1usize..3, h in 1usize..6, w in 1usize..6,
        levels in prop::collection::vec(1usize..5, 1..4), max in any::<bool>(), seed in 0u64..10_000,
    ) {
        let x = Rng::new(seed).distinct(&[n, c, h, w]);
        let mode = if max { "max" } else { "avg" };
        let at = spp_attrs(&levels, mode);
        let o = spatial_pyramid_pool_forward(&[Some(x.clone())], &at).unwrap();
        let total: usize = levels.iter().map(|l| l * l).sum();
        prop_assert_eq!(&o[0].shape, &vec![n, c * total]);
        // Independent layout: per sample, concat of each level's [C, l, l] adaptive result.
        let mut exp = vec![];
        let per_level: Vec<Array> = levels
            .iter()
            .map(|&l| {
                let ins = [Some(x.clone())];
                if max { adaptive_max_pool2d_forward(&ins, &os(l, l)).unwrap().remove(0) } else { adaptive_avg_pool2d_forward(&ins, &os(l, l)).unwrap().remove(0) }
            })
            .collect();
        for ni in 0..n {
            for (a, &l) in per_level.iter().zip(&levels) {
                exp.extend_from_slice(&a.data[ni * c * l * l..(ni + 1) * c * l * l]);
            }
        }
        assert_close("spp", &o[0].data, &exp, 1e-12);
        check_grads(spatial_pyramid_pool_forward, spatial_pyramid_pool_backward, &[Some(x)], &at, &[0], &[0], seed);
    }
}
