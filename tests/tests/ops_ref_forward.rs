//! Forward values of ops-ref ops through the whole stack (sdk functional → host table → core
//! dispatcher → ops-ref kernel), in f64 on proptest-generated inputs with non-contiguous layouts:
//! matmul, softmax/log_softmax, conv2d, scaled dot-product attention and layer_norm against
//! independent naive computations, conv2d also on hand-worked examples. Then
//! `f32_kernels_agree_with_f64_for_every_forward_op` runs every exported op in both precisions
//! (and fails when an exported op has no case). Gradients are checked in `ops_ref_gradcheck.rs`;
//! both suites share the harness in `gradcheck_common/`.

mod gradcheck_common;

use ferrite_conformance::gen::{numel, Rng};
use ferrite_core::Runtime;
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::with_ops_ref;
use gradcheck_common::{config, layout, make, shape, Res};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Forward values against independent computations
// ---------------------------------------------------------------------------------------------

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: got {g}, want {w}\n got {got:?}\nwant {want:?}");
    }
}

/// Naive cross-correlation with the conv2d contract (NCHW, groups, stride, padding, dilation).
#[allow(clippy::too_many_arguments)]
fn naive_conv2d(x: &[f64], xs: [usize; 4], wt: &[f64], ws: [usize; 4], b: Option<&[f64]>, s: [usize; 2], p: [usize; 2], d: [usize; 2], g: usize) -> (Vec<f64>, [usize; 4]) {
    let [n, c, h, w] = xs;
    let [o, cg, kh, kw] = ws;
    let oh = (h + 2 * p[0] - d[0] * (kh - 1) - 1) / s[0] + 1;
    let ow = (w + 2 * p[1] - d[1] * (kw - 1) - 1) / s[1] + 1;
    let og = o / g;
    assert_eq!(cg * g, c);
    let mut out = vec![0.0; n * o * oh * ow];
    for ni in 0..n {
        for oc in 0..o {
            let grp = oc / og;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[oc]);
                    for ic in 0..cg {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (y * s[0] + ky * d[0]) as isize - p[0] as isize;
                                let ix = (xo * s[1] + kx * d[1]) as isize - p[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let ci = grp * cg + ic;
                                acc += x[((ni * c + ci) * h + iy as usize) * w + ix as usize] * wt[((oc * cg + ic) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    out[((ni * o + oc) * oh + y) * ow + xo] = acc;
                }
            }
        }
    }
    (out, [n, o, oh, ow])
}

#[test]
fn conv2d_forward_hand_examples() {
    let host = with_ops_ref();
    // 3x3 input 1..9, 2x2 kernel [[1, 0], [0, -1]]: x[i][j] - x[i+1][j+1] = -4 everywhere.
    let x = host.from_slice(&(1..=9).map(|v| v as f64).collect::<Vec<_>>(), &[1, 1, 3, 3]).unwrap();
    let w = host.from_slice(&[1.0, 0.0, 0.0, -1.0], &[1, 1, 2, 2]).unwrap();
    let y = F::conv2d(&x, &w, None, [1, 1], [0, 0], [1, 1], 1).unwrap();
    assert_eq!(y.shape(), vec![1, 1, 2, 2]);
    assert_eq!(y.to_vec_f64().unwrap(), vec![-4.0; 4]);
    // Padding 1, stride 2, all-ones 3x3 kernel, bias 0.5: sums of the clipped 3x3 neighbourhoods
    // of the corners (0,0), (0,2), (2,0), (2,2): 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9.
    let w = host.ones(&[1, 1, 3, 3], DType::F64).unwrap();
    let b = host.from_slice(&[0.5], &[1]).unwrap();
    let y = F::conv2d(&x, &w, Some(&b), [2, 2], [1, 1], [1, 1], 1).unwrap();
    assert_eq!(y.shape(), vec![1, 1, 2, 2]);
    assert_eq!(y.to_vec_f64().unwrap(), vec![12.5, 16.5, 24.5, 28.5]);
    // Dilation 2 on a 5x5 input: the four corners of the centred 3x3 dilated window.
    let x5 = host.arange(25, DType::F64).unwrap().reshape(&[1, 1, 5, 5]).unwrap();
    let w = host.from_slice(&[1.0, 10.0, 100.0, 1000.0], &[1, 1, 2, 2]).unwrap();
    let y = F::conv2d(&x5, &w, None, [1, 1], [0, 0], [2, 2], 1).unwrap();
    assert_eq!(y.shape(), vec![1, 1, 3, 3]);
    let want: Vec<f64> = (0..3).flat_map(|i| (0..3).map(move |j| {
        let v = |r: usize, c: usize| (r * 5 + c) as f64;
        v(i, j) + 10.0 * v(i, j + 2) + 100.0 * v(i + 2, j) + 1000.0 * v(i + 2, j + 2)
    })).collect();
    assert_eq!(y.to_vec_f64().unwrap(), want);
    // Two groups: each output channel sees only its own input channel.
    let x2 = host.from_slice(&[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0], &[1, 2, 2, 2]).unwrap();
    let w2 = host.from_slice(&[1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0], &[2, 1, 2, 2]).unwrap();
    let y = F::conv2d(&x2, &w2, None, [1, 1], [0, 0], [1, 1], 2).unwrap();
    assert_eq!(y.to_vec_f64().unwrap(), vec![10.0, 10.0]);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matmul_forward_matches_triple_loop((bt, n, k, m) in (1usize..=3, 1usize..=5, 1usize..=5, 1usize..=5), (la, lb) in (layout(), layout()), seed in any::<u64>()) {
        let host = with_ops_ref();
        let mut r = Rng::new(seed);
        let (a, b) = (r.vals(bt * n * k, -2.0, 2.0), r.vals(k * m, -2.0, 2.0));
        // [bt, n, k] @ [k, m], the right operand broadcast over the batch.
        let y = F::matmul(&make(&host, &a, &[bt, n, k], la), &make(&host, &b, &[k, m], lb)).unwrap();
        prop_assert_eq!(y.shape(), vec![bt, n, m]);
        let mut want = vec![0.0; bt * n * m];
        for bi in 0..bt {
            for i in 0..n {
                for j in 0..m {
                    for t in 0..k {
                        want[(bi * n + i) * m + j] += a[(bi * n + i) * k + t] * b[t * m + j];
                    }
                }
            }
        }
        assert_close(&y.to_vec_f64().unwrap(), &want, 1e-12, "matmul");
    }

    #[test]
    fn softmax_forward_matches_exp_over_sum(s in shape(1, 3), lay in layout(), seed in any::<u64>()) {
        let host = with_ops_ref();
        let mut r = Rng::new(seed);
        let x = r.vals(numel(&s), -5.0, 5.0);
        let t = make(&host, &x, &s, lay);
        // Along the last dim: rows of length `last`.
        let last = *s.last().unwrap();
        let mut want = vec![0.0; x.len()];
        let mut want_log = vec![0.0; x.len()];
        for row in 0..x.len() / last {
            let xs = &x[row * last..(row + 1) * last];
            let z: f64 = xs.iter().map(|v| v.exp()).sum();
            for j in 0..last {
                want[row * last + j] = xs[j].exp() / z;
                want_log[row * last + j] = xs[j] - z.ln();
            }
        }
        assert_close(&F::softmax(&t, -1).unwrap().to_vec_f64().unwrap(), &want, 1e-12, "softmax");
        assert_close(&F::log_softmax(&t, -1).unwrap().to_vec_f64().unwrap(), &want_log, 1e-12, "log_softmax");
        // Along dim 0 through a transposed view of the same tensor: compare with the transpose.
        if s.len() == 2 {
            let sm0 = F::softmax(&t.t().unwrap(), 0).unwrap().t().unwrap();
            assert_close(&sm0.to_vec_f64().unwrap(), &want, 1e-12, "softmax dim 0 of transpose");
        }
    }

    #[test]
    fn conv2d_forward_matches_naive_loop(
        (n, g, cg, og) in (1usize..=2, 1usize..=2, 1usize..=2, 1usize..=3),
        (kh, kw, eh, ew) in (1usize..=3, 1usize..=3, 0usize..=3, 0usize..=3),
        (s, p, d) in ((1usize..=3, 1usize..=2), (0usize..=2, 0usize..=1), (1usize..=2, 1usize..=2)),
        bias in any::<bool>(),
        (lx, lw) in (layout(), layout()),
        seed in any::<u64>(),
    ) {
        let host = with_ops_ref();
        let mut r = Rng::new(seed);
        let h = (d.0 * (kh - 1) + 1).saturating_sub(2 * p.0).max(1) + eh;
        let w = (d.1 * (kw - 1) + 1).saturating_sub(2 * p.1).max(1) + ew;
        let (c, o) = (g * cg, g * og);
        let (x, wt, b) = (r.vals(n * c * h * w, -1.0, 1.0), r.vals(o * cg * kh * kw, -1.0, 1.0), r.vals(o, -1.0, 1.0));
        let bt = host.from_slice(&b, &[o]).unwrap();
        let y = F::conv2d(&make(&host, &x, &[n, c, h, w], lx), &make(&host, &wt, &[o, cg, kh, kw], lw), bias.then_some(&bt), [s.0, s.1], [p.0, p.1], [d.0, d.1], g).unwrap();
        let (want, ws) = naive_conv2d(&x, [n, c, h, w], &wt, [o, cg, kh, kw], bias.then_some(&b[..]), [s.0, s.1], [p.0, p.1], [d.0, d.1], g);
        prop_assert_eq!(y.shape(), ws.to_vec());
        assert_close(&y.to_vec_f64().unwrap(), &want, 1e-12, "conv2d");
    }

    #[test]
    fn sdpa_and_layer_norm_forward_match_naive(
        (l, s, e, ev) in (1usize..=4, 1usize..=4, 1usize..=3, 1usize..=3),
        causal in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let host = with_ops_ref();
        let mut r = Rng::new(seed);
        let (q, k, v) = (r.vals(l * e, -2.0, 2.0), r.vals(s * e, -2.0, 2.0), r.vals(s * ev, -2.0, 2.0));
        let mk = |d: &[f64], sh: &[usize]| host.from_slice(d, sh).unwrap();
        let y = F::scaled_dot_product_attention(&mk(&q, &[1, l, e]), &mk(&k, &[1, s, e]), &mk(&v, &[1, s, ev]), None, causal, None).unwrap();
        let mut want = vec![0.0; l * ev];
        for i in 0..l {
            let keys: Vec<usize> = (0..s).filter(|&j| !causal || j <= i).collect();
            let sc: Vec<f64> = keys.iter().map(|&j| (0..e).map(|t| q[i * e + t] * k[j * e + t]).sum::<f64>() / (e as f64).sqrt()).collect();
            let mx = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = sc.iter().map(|v| (v - mx).exp()).sum();
            for (kk, &j) in keys.iter().enumerate() {
                for t in 0..ev {
                    want[i * ev + t] += (sc[kk] - mx).exp() / z * v[j * ev + t];
                }
            }
        }
        assert_close(&y.to_vec_f64().unwrap(), &want, 1e-12, "sdpa");

        // layer_norm over the last dim of [l, s] with weight and bias.
        let x = r.vals(l * s, -2.0, 2.0);
        let (wt, b) = (r.vals(s, 0.5, 1.5), r.vals(s, -1.0, 1.0));
        let y = F::layer_norm(&mk(&x, &[l, s]), &[s], Some(&mk(&wt, &[s])), Some(&mk(&b, &[s])), 1e-5).unwrap();
        let mut want = vec![0.0; l * s];
        for i in 0..l {
            let row = &x[i * s..(i + 1) * s];
            let mu = row.iter().sum::<f64>() / s as f64;
            let var = row.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / s as f64;
            for j in 0..s {
                want[i * s + j] = (row[j] - mu) / (var + 1e-5).sqrt() * wt[j] + b[j];
            }
        }
        assert_close(&y.to_vec_f64().unwrap(), &want, 1e-12, "layer_norm");
    }
}

// ---------------------------------------------------------------------------------------------
// f32 kernels against f64 kernels, every exported op
// ---------------------------------------------------------------------------------------------

type FwdCase = Box<dyn Fn(DType) -> Res<Vec<Tensor>>>;

/// One forward call per exported op, parameterised by the float dtype of its float inputs.
fn forward_cases(host: Host, r: &mut Rng) -> Vec<(&'static str, FwdCase)> {
    let mk = move |d: &[f64], s: &[usize], dt: DType| host.from_f64(d, s, dt);
    let v = |r: &mut Rng, s: &[usize]| r.vals(numel(s), -2.0, 2.0);
    let x23 = v(r, &[2, 3]);
    let y13 = v(r, &[1, 3]);
    let pos = r.vals(6, 0.2, 3.0);
    let nz = r.distinct_nonzero(6);
    let x4 = v(r, &[2, 3, 4, 4]);
    let i64t = |d: &[i64], s: &[usize]| host.from_slice(d, s).unwrap();
    let mut cases: Vec<(&'static str, FwdCase)> = Vec::new();
    macro_rules! unary {
        ($($name:literal => $f:expr, $data:expr;)*) => {$(
            let d = $data.clone();
            cases.push(($name, Box::new(move |dt| Ok(vec![$f(&mk(&d, &[2, 3], dt)?)?]))));
        )*};
    }
    unary! {
        "ferrite::abs" => F::abs, nz;
        "ferrite::neg" => F::neg, x23;
        "ferrite::exp" => F::exp, x23;
        "ferrite::log" => F::log, pos;
        "ferrite::sqrt" => F::sqrt, pos;
        "ferrite::relu" => F::relu, nz;
        "ferrite::tanh" => F::tanh, x23;
        "ferrite::sigmoid" => F::sigmoid, x23;
        "ferrite::gelu" => |t: &Tensor| F::gelu(t, "tanh"), x23;
        "ferrite::softmax" => |t: &Tensor| F::softmax(t, 1), x23;
        "ferrite::log_softmax" => |t: &Tensor| F::log_softmax(t, 0), x23;
        "ferrite::sum" => |t: &Tensor| F::sum(t, &[1], true), x23;
        "ferrite::mean" => |t: &Tensor| F::mean(t, &[], false), x23;
        "ferrite::logsumexp" => |t: &Tensor| F::logsumexp(t, &[-1], false), x23;
        "ferrite::argmax" => |t: &Tensor| F::argmax(t, 1, false), nz;
    }
    macro_rules! binary {
        ($($name:literal => $f:expr;)*) => {$(
            let (a, b) = (x23.clone(), y13.clone());
            cases.push(($name, Box::new(move |dt| Ok(vec![$f(&mk(&a, &[2, 3], dt)?, &mk(&b, &[1, 3], dt)?)?]))));
        )*};
    }
    binary! {
        "ferrite::add" => F::add;
        "ferrite::sub" => F::sub;
        "ferrite::mul" => F::mul;
        "ferrite::div" => F::div;
        "ferrite::eq" => F::eq;
        "ferrite::ne" => F::ne;
        "ferrite::lt" => F::lt;
        "ferrite::le" => F::le;
        "ferrite::gt" => F::gt;
        "ferrite::ge" => F::ge;
    }
    let (a, b) = (pos.clone(), y13.clone());
    cases.push(("ferrite::pow", Box::new(move |dt| Ok(vec![F::pow(&mk(&a, &[2, 3], dt)?, &mk(&b, &[1, 3], dt)?)?]))));
    let (a, b) = (x23.clone(), v(r, &[3, 4]));
    cases.push(("ferrite::matmul", Box::new(move |dt| Ok(vec![F::matmul(&mk(&a, &[2, 3], dt)?, &mk(&b, &[3, 4], dt)?)?]))));
    let (a, b) = (v(r, &[2, 2, 3]), v(r, &[2, 3, 2]));
    cases.push(("ferrite::bmm", Box::new(move |dt| Ok(vec![F::bmm(&mk(&a, &[2, 2, 3], dt)?, &mk(&b, &[2, 3, 2], dt)?)?]))));
    let (a, b, c) = (x23.clone(), y13.clone(), v(r, &[3]));
    cases.push(("ferrite::linear", Box::new(move |dt| Ok(vec![F::linear(&mk(&a, &[2, 3], dt)?, &mk(&[b.clone(), c.clone()].concat(), &[2, 3], dt)?, Some(&mk(&c[..2], &[2], dt)?))?]))));
    let (a, b) = (x23.clone(), y13.clone());
    let cond = host.from_slice(&[1u8, 0, 1, 0, 0, 1], &[2, 3]).unwrap().to_dtype(DType::BOOL).unwrap();
    cases.push(("ferrite::where", Box::new(move |dt| Ok(vec![F::where_(&cond, &mk(&a, &[2, 3], dt)?, &mk(&b, &[1, 3], dt)?)?]))));
    let a = nz.clone();
    cases.push(("ferrite::max", Box::new(move |dt| F::max_dim(&mk(&a, &[2, 3], dt)?, 1, false).map(|(v, i)| vec![v, i]))));
    let a = nz.clone();
    cases.push(("ferrite::min", Box::new(move |dt| F::min_dim(&mk(&a, &[2, 3], dt)?, 0, true).map(|(v, i)| vec![v, i]))));
    let (a, tgt, w) = (x23.clone(), i64t(&[2, 0], &[2]), r.vals(3, 0.5, 2.0));
    cases.push(("ferrite::cross_entropy", Box::new(move |dt| Ok(vec![F::cross_entropy(&mk(&a, &[2, 3], dt)?, &tgt, Some(&mk(&w, &[3], dt)?), -100, 0.1, Reduction::Mean)?]))));
    let (a, tgt) = (x23.clone(), i64t(&[1, 2], &[2]));
    cases.push(("ferrite::nll_loss", Box::new(move |dt| Ok(vec![F::nll_loss(&mk(&a, &[2, 3], dt)?, &tgt, None, -100, Reduction::Sum)?]))));
    let (a, b) = (x23.clone(), pos.clone());
    cases.push(("ferrite::mse_loss", Box::new(move |dt| Ok(vec![F::mse_loss(&mk(&a, &[2, 3], dt)?, &mk(&b, &[2, 3], dt)?, Reduction::Mean)?]))));
    let (a, b) = (x23.clone(), y13.clone());
    cases.push(("ferrite::cat", Box::new(move |dt| Ok(vec![F::cat(&[&mk(&a, &[2, 3], dt)?, &mk(&b, &[1, 3], dt)?], 0)?]))));
    let (a, b) = (x23.clone(), pos.clone());
    cases.push(("ferrite::stack", Box::new(move |dt| Ok(vec![F::stack(&[&mk(&a, &[2, 3], dt)?, &mk(&b, &[2, 3], dt)?], 1)?]))));
    let (a, idx) = (x23.clone(), i64t(&[2, 0, 2], &[3]));
    cases.push(("ferrite::index_select", Box::new(move |dt| Ok(vec![F::index_select(&mk(&a, &[2, 3], dt)?, 1, &idx)?]))));
    let (a, idx) = (x23.clone(), i64t(&[1, 0, 1, 1], &[2, 2]));
    cases.push(("ferrite::gather", Box::new(move |dt| Ok(vec![F::gather(&mk(&a, &[2, 3], dt)?, 0, &idx)?]))));
    let (a, idx) = (x23.clone(), i64t(&[1, 0, 1], &[3]));
    cases.push(("ferrite::embedding", Box::new(move |dt| Ok(vec![F::embedding(&idx, &mk(&a, &[2, 3], dt)?, Some(0))?]))));
    let (a, w, b) = (x4.clone(), v(r, &[4, 3, 2, 2]), v(r, &[4]));
    cases.push(("ferrite::conv2d", Box::new(move |dt| Ok(vec![F::conv2d(&mk(&a, &[2, 3, 4, 4], dt)?, &mk(&w, &[4, 3, 2, 2], dt)?, Some(&mk(&b, &[4], dt)?), [2, 1], [1, 0], [1, 1], 1)?]))));
    let a = r.distinct(96, -3.0, 3.0);
    cases.push(("ferrite::max_pool2d", Box::new(move |dt| F::max_pool2d_with_indices(&mk(&a, &[2, 3, 4, 4], dt)?, [3, 3], Some([2, 2]), [1, 1], [1, 1], true).map(|(v, i)| vec![v, i]))));
    let a = x4.clone();
    cases.push(("ferrite::avg_pool2d", Box::new(move |dt| Ok(vec![F::avg_pool2d(&mk(&a, &[2, 3, 4, 4], dt)?, [3, 3], Some([2, 2]), [1, 1], true, false)?]))));
    let a = r.distinct(96, -3.0, 3.0);
    cases.push(("ferrite::adaptive_max_pool2d", Box::new(move |dt| F::adaptive_max_pool2d(&mk(&a, &[2, 3, 4, 4], dt)?, [3, 5]).map(|(v, i)| vec![v, i]))));
    let a = x4.clone();
    cases.push(("ferrite::adaptive_avg_pool2d", Box::new(move |dt| Ok(vec![F::adaptive_avg_pool2d(&mk(&a, &[2, 3, 4, 4], dt)?, [3, 2])?]))));
    let a = r.distinct(96, -3.0, 3.0);
    cases.push(("ferrite::spatial_pyramid_pool", Box::new(move |dt| Ok(vec![F::spatial_pyramid_pool(&mk(&a, &[2, 3, 4, 4], dt)?, &[1, 2, 3], "max")?]))));
    let a = x4.clone();
    cases.push(("ferrite::upsample_nearest2d", Box::new(move |dt| Ok(vec![F::upsample_nearest2d(&mk(&a, &[2, 3, 4, 4], dt)?, [5, 7])?]))));
    let (a, w, b) = (x4.clone(), r.vals(16, 0.5, 1.5), v(r, &[16]));
    cases.push(("ferrite::layer_norm", Box::new(move |dt| Ok(vec![F::layer_norm(&mk(&a, &[2, 3, 4, 4], dt)?, &[4, 4], Some(&mk(&w, &[4, 4], dt)?), Some(&mk(&b, &[4, 4], dt)?), 1e-5)?]))));
    let (a, w, b, rm, rv) = (x4.clone(), r.vals(3, 0.5, 1.5), v(r, &[3]), v(r, &[3]), r.vals(3, 0.5, 2.0));
    cases.push(("ferrite::batch_norm", Box::new(move |dt| {
        let o = F::batch_norm(&mk(&a, &[2, 3, 4, 4], dt)?, Some(&mk(&rm, &[3], dt)?), Some(&mk(&rv, &[3], dt)?), Some(&mk(&w, &[3], dt)?), Some(&mk(&b, &[3], dt)?), true, 0.1, 1e-5)?;
        Ok(vec![o.output, o.new_running_mean, o.new_running_var])
    })));
    let (q, k, vv) = (v(r, &[2, 3, 4]), v(r, &[2, 5, 4]), v(r, &[2, 5, 2]));
    let mask = host.from_slice(&[1u8, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0], &[3, 5]).unwrap().to_dtype(DType::BOOL).unwrap();
    cases.push(("ferrite::scaled_dot_product_attention", Box::new(move |dt| {
        Ok(vec![F::scaled_dot_product_attention(&mk(&q, &[2, 3, 4], dt)?, &mk(&k, &[2, 5, 4], dt)?, &mk(&vv, &[2, 5, 2], dt)?, Some(&mask), true, None)?])
    })));
    let a = x4.clone();
    cases.push(("ferrite::dropout", Box::new(move |dt| Ok(ferrite_sdk::call!("ferrite::dropout", [Some(&mk(&a, &[2, 3, 4, 4], dt)?)], [0.3, true, 99i64], 2)?))));
    cases
}

#[test]
fn f32_kernels_agree_with_f64_for_every_forward_op() {
    let host = with_ops_ref();
    let mut r = Rng::new(2024);
    let cases = forward_cases(host, &mut r);
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let ops = Runtime::global().registry().summaries();
    let missing: Vec<&str> = ops.iter().map(|o| o.name.as_str()).filter(|n| !names.contains(n)).collect();
    assert!(missing.is_empty(), "ops without an f32/f64 forward case: {missing:?}");
    let mut failures = Vec::new();
    for (name, f) in &cases {
        let (o32, o64) = (f(DType::F32).unwrap_or_else(|e| panic!("{name} f32: {e}")), f(DType::F64).unwrap_or_else(|e| panic!("{name} f64: {e}")));
        assert_eq!(o32.len(), o64.len());
        for (i, (a, b)) in o32.iter().zip(&o64).enumerate() {
            assert_eq!(a.shape(), b.shape(), "{name} output {i} shape");
            if b.dtype().is_float() {
                assert_eq!((a.dtype(), b.dtype()), (DType::F32, DType::F64), "{name} output {i} dtype");
            } else {
                assert_eq!(a.dtype(), b.dtype(), "{name} output {i} dtype");
            }
            let (va, vb) = (a.to_vec_f64().unwrap(), b.to_vec_f64().unwrap());
            for (j, (x, y)) in va.iter().zip(&vb).enumerate() {
                let ok = x == y || (x - y).abs() <= 1e-5 * y.abs().max(1e-30) || (x.is_nan() && y.is_nan());
                if !ok {
                    failures.push(format!("{name} output {i}[{j}]: f32 {x}, f64 {y}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "f32 and f64 kernels disagree:\n{}", failures.join("\n"));
}
