//! Tests for `pool.rs`: brute-force references, PyTorch hand examples, finite differences.

use super::*;
#[allow(unused_imports)]
use ferrite_sdk::{abi::dtype::DType, kernel::Meta};
use crate::fd::{assert_close, check_grads, Rng};
use ferrite_sdk::kernel::Attr;
use proptest::prelude::*;

fn ints(v: [usize; 2]) -> Attr {
    Attr::Ints(vec![v[0] as i64, v[1] as i64])
}

fn max_attrs(k: [usize; 2], s: Option<[usize; 2]>, p: [usize; 2], d: [usize; 2], ceil: bool) -> Attrs {
    Attrs(vec![ints(k), s.map_or(Attr::Ints(vec![]), ints), ints(p), ints(d), Attr::Bool(ceil)])
}

fn avg_attrs(k: [usize; 2], s: Option<[usize; 2]>, p: [usize; 2], ceil: bool, cip: bool) -> Attrs {
    Attrs(vec![ints(k), s.map_or(Attr::Ints(vec![]), ints), ints(p), Attr::Bool(ceil), Attr::Bool(cip)])
}

/// Window starts (in padded coordinates, i.e. start + p) restated from the rule: every window lies
/// in the padded input, or (ceil mode) overhangs it by less than a stride and starts before `n + p`.
fn brute_starts(n: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> Vec<i64> {
    let eff = d * (k - 1) + 1;
    (0..1000)
        .map(|i| i * s)
        .take_while(|&st| if ceil { st + eff < n + 2 * p + s && st < n + p } else { st + eff <= n + 2 * p })
        .map(|st| st as i64 - p as i64)
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn brute_max(x: &[f64], h: usize, w: usize, k: [usize; 2], s: [usize; 2], p: [usize; 2], d: [usize; 2], ceil: bool) -> (Vec<f64>, Vec<i64>) {
    let (ys, xs) = (brute_starts(h, k[0], s[0], p[0], d[0], ceil), brute_starts(w, k[1], s[1], p[1], d[1], ceil));
    let (mut v, mut ix) = (vec![], vec![]);
    for &y0 in &ys {
        for &x0 in &xs {
            let cells: Vec<(i64, i64)> =
                (0..k[0] as i64).flat_map(|a| (0..k[1] as i64).map(move |b| (y0 + a * d[0] as i64, x0 + b * d[1] as i64))).collect();
            let inside: Vec<usize> = cells
                .into_iter()
                .filter(|&(y, x)| y >= 0 && x >= 0 && y < h as i64 && x < w as i64)
                .map(|(y, x)| y as usize * w + x as usize)
                .collect();
            let best = inside.iter().copied().fold(None, |b: Option<usize>, c| match b {
                Some(b) if x[b] >= x[c] => Some(b),
                _ => Some(c),
            });
            v.push(best.map_or(f64::NEG_INFINITY, |b| x[b]));
            ix.push(best.map_or(-1, |b| b as i64));
        }
    }
    (v, ix)
}

#[test]
fn max_pool2d_ceil_mode_hand_example() {
    // PyTorch: MaxPool2d(2, 2, padding=1, ceil_mode=True) on a 3x3 plane gives 2x2 (the third
    // window would start in the right padding and is dropped).
    let x = Array::new(vec![1, 1, 3, 3], (1..=9).map(f64::from).collect()).unwrap();
    let o = max_pool2d_forward(&[Some(x)], &max_attrs([2, 2], None, [1, 1], [1, 1], true)).unwrap();
    assert_eq!(o[0].shape, vec![1, 1, 2, 2]);
    assert_eq!(o[0].data, vec![1., 3., 7., 9.]);
    assert_eq!(o[1].data, vec![0., 2., 6., 8.]);
    assert_eq!(pool_out_len(5, 2, 2, 0, 1, true), Some(3));
    assert_eq!(pool_out_len(5, 2, 2, 0, 1, false), Some(2));
    assert_eq!(pool_out_len(1, 3, 2, 0, 1, false), None);
}

#[test]
fn max_pool2d_first_max_wins_and_errors() {
    let x = Array::new(vec![1, 2, 2], vec![5., 5., 5., 5.]).unwrap();
    let o = max_pool2d_forward(&[Some(x.clone())], &max_attrs([2, 2], None, [0, 0], [1, 1], false)).unwrap();
    assert_eq!((o[0].shape.clone(), o[1].data.clone()), (vec![1, 1, 1], vec![0.]));
    let bad = [
        max_attrs([2, 2], None, [2, 0], [1, 1], false),
        max_attrs([0, 2], None, [0, 0], [1, 1], false),
        max_attrs([3, 3], None, [0, 0], [1, 1], false),
        max_attrs([2, 2], Some([0, 1]), [0, 0], [1, 1], false),
        Attrs(vec![Attr::None]),
    ];
    for a in bad {
        let e = max_pool2d_forward(&[Some(x.clone())], &a).unwrap_err();
        assert!(e.starts_with("max_pool2d:"), "{e}");
    }
    assert!(max_pool2d_forward(&[Some(Array::zeros(&[4, 4]))], &max_attrs([2, 2], None, [0, 0], [1, 1], false)).is_err());
}

#[test]
fn avg_pool2d_hand_examples() {
    // 4x4 of 1..16, kernel 3, stride 2, padding 1: top-left window holds 1,2,5,6.
    let x = Array::new(vec![1, 1, 4, 4], (1..=16).map(f64::from).collect()).unwrap();
    let o = avg_pool2d_forward(&[Some(x.clone())], &avg_attrs([3, 3], Some([2, 2]), [1, 1], false, true)).unwrap();
    assert_close("cip", &o[0].data, &[14. / 9., 30. / 9., 57. / 9., 99. / 9.], 1e-15);
    let o = avg_pool2d_forward(&[Some(x.clone())], &avg_attrs([3, 3], Some([2, 2]), [1, 1], false, false)).unwrap();
    assert_close("no cip", &o[0].data, &[14. / 4., 30. / 6., 57. / 6., 99. / 9.], 1e-15);
    // ceil mode: 3 wide, kernel 2, stride 2 -> last window holds one column, divisor 1 (clipped).
    let x = Array::new(vec![1, 1, 1, 3], vec![1., 2., 4.]).unwrap();
    let o = avg_pool2d_forward(&[Some(x)], &avg_attrs([1, 2], None, [0, 0], true, true)).unwrap();
    assert_eq!(o[0].data, vec![1.5, 4.]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn max_pool2d_matches_brute_force_and_fd(
        lead in (1usize..3, 1usize..3), h in 1usize..7, w in 1usize..7,
        k in (1usize..4, 1usize..4), s in prop::option::of((1usize..4, 1usize..4)),
        p in (0usize..2, 0usize..2), d in (1usize..3, 1usize..3), ceil in any::<bool>(), seed in 0u64..10_000,
    ) {
        let (k, p, d) = ([k.0, k.1], [p.0.min(k.0 / 2), p.1.min(k.1 / 2)], [d.0, d.1]);
        let s = s.map(|s| [s.0, s.1]);
        let at = max_attrs(k, s, p, d, ceil);
        let shape = [lead.0, lead.1, h, w];
        let x = Rng::new(seed).distinct(&shape);
        let ss = s.unwrap_or(k);
        let (bh, bw) = (brute_starts(h, k[0], ss[0], p[0], d[0], ceil).len(), brute_starts(w, k[1], ss[1], p[1], d[1], ceil).len());
        match max_pool2d_forward(&[Some(x.clone())], &at) {
            Err(e) => prop_assert!(bh == 0 || bw == 0, "unexpected error {}", e),
            Ok(o) => {
                prop_assert_eq!(&o[0].shape, &vec![lead.0, lead.1, bh, bw]);
                let mut ev = vec![];
                let mut ei = vec![];
                for pl in 0..lead.0 * lead.1 {
                    let (v, i) = brute_max(&x.data[pl * h * w..(pl + 1) * h * w], h, w, k, ss, p, d, ceil);
                    ev.extend(v);
                    ei.extend(i.into_iter().map(|i| i as f64));
                }
                prop_assert_eq!(&o[0].data, &ev);
                prop_assert_eq!(&o[1].data, &ei);
                check_grads(max_pool2d_forward, max_pool2d_backward, &[Some(x)], &at, &[0], &[0], seed);
            }
        }
    }

    #[test]
    fn avg_pool2d_matches_brute_force_and_fd(
        h in 1usize..7, w in 1usize..7, k in (1usize..4, 1usize..4), s in prop::option::of((1usize..4, 1usize..4)),
        p in (0usize..2, 0usize..2), ceil in any::<bool>(), cip in any::<bool>(), seed in 0u64..10_000,
    ) {
        let (k, p) = ([k.0, k.1], [p.0.min(k.0 / 2), p.1.min(k.1 / 2)]);
        let s = s.map(|s| [s.0, s.1]);
        let ss = s.unwrap_or(k);
        let at = avg_attrs(k, s, p, ceil, cip);
        let x = Rng::new(seed).array(&[2, h, w]);
        let (ys, xs) = (brute_starts(h, k[0], ss[0], p[0], 1, ceil), brute_starts(w, k[1], ss[1], p[1], 1, ceil));
        match avg_pool2d_forward(&[Some(x.clone())], &at) {
            Err(e) => prop_assert!(ys.is_empty() || xs.is_empty(), "unexpected error {}", e),
            Ok(o) => {
                let mut exp = vec![];
                for pl in 0..2 {
                    for &y0 in &ys {
                        for &x0 in &xs {
                            let (mut sum, mut inside, mut padded) = (0.0, 0.0, 0.0);
                            for y in y0..y0 + k[0] as i64 {
                                for xx in x0..x0 + k[1] as i64 {
                                    // counted by count_include_pad when inside the padded input
                                    if y < (h + p[0]) as i64 && xx < (w + p[1]) as i64 {
                                        padded += 1.0;
                                    }
                                    if y >= 0 && xx >= 0 && y < h as i64 && xx < w as i64 {
                                        inside += 1.0;
                                        sum += x.data[pl * h * w + y as usize * w + xx as usize];
                                    }
                                }
                            }
                            exp.push(sum / if cip { padded } else { inside });
                        }
                    }
                }
                prop_assert_eq!(&o[0].shape, &vec![2, ys.len(), xs.len()]);
                assert_close("avg", &o[0].data, &exp, 1e-12);
                check_grads(avg_pool2d_forward, avg_pool2d_backward, &[Some(x)], &at, &[0], &[0], seed);
            }
        }
    }
}
