//! Tests of softmax, layer_norm, cross_entropy and the pooling kernels against straightforward
//! f64 computations, finite differences, and the field cases C01 / C06.

use crate::cpu_testing::*;
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::DType;

const DTYPES: [(DType, f64); 4] = [(DType::F64, 1e-12), (DType::F32, 1e-5), (DType::F16, 4e-3), (DType::BF16, 3e-2)];

fn rounded(d: DType, v: &[f64]) -> Vec<f64> {
    Buf::new(d, &[v.len()], v, false).read()
}

#[test]
fn softmax_and_log_softmax_match_f64_any_dim() {
    use crate::softmax::{log_softmax_k, softmax_k};
    for (shape, dim) in [(vec![3, 5], 1i64), (vec![3, 5], 0), (vec![2, 3, 4], -2), (vec![1], 0), (vec![], 0), (vec![4, 1, 7], 2)] {
        let x: Vec<f64> = rand(shape.iter().product(), 3).iter().map(|v| v * 4.0).collect();
        let nd = shape.len();
        let d = if nd == 0 { 0 } else { ((dim + nd as i64) % nd as i64) as usize };
        let (outer, len, inner) = ferrite_sdk::shape::reduce::split_at_dim(&shape, d);
        let naive = |x: &[f64], log: bool| -> Vec<f64> {
            let mut y = vec![0.0; x.len()];
            for o in 0..outer {
                for i in 0..inner {
                    let at = |k: usize| (o * len + k) * inner + i;
                    let z: f64 = (0..len).map(|k| x[at(k)].exp()).sum();
                    for k in 0..len {
                        y[at(k)] = if log { x[at(k)] - z.ln() } else { x[at(k)].exp() / z };
                    }
                }
            }
            y
        };
        let attrs = [Attr::Int(dim)];
        for (k, log) in [(softmax_k::forward as crate::register::CpuKernel, false), (log_softmax_k::forward, true)] {
            for (dt, tol) in DTYPES {
                let y = Buf::zeros(dt, &shape);
                call(k, &[Some(&Buf::new(dt, &shape, &x, true))], &[Some(&y)], &attrs).unwrap();
                close(&y.read(), &naive(&rounded(dt, &x), log), tol * 8.0, &format!("softmax log={log} {dt} {shape:?} {dim}"));
            }
        }
        let out = [(DType::F64, shape.clone())];
        check_fd(softmax_k::forward, softmax_k::backward, &x, &shape, &[], &out, &attrs, "softmax");
        check_fd(log_softmax_k::forward, log_softmax_k::backward, &x, &shape, &[], &out, &attrs, "log_softmax");
    }
    // Fully masked rows: softmax 0, log_softmax -inf, zero gradient.
    let ninf = f64::NEG_INFINITY;
    let x = [1.0, 2.0, ninf, ninf, 1000.0, 1000.0];
    for (dt, _) in DTYPES {
        let xb = Buf::new(dt, &[3, 2], &x, false);
        let (s, l) = (Buf::zeros(dt, &[3, 2]), Buf::zeros(dt, &[3, 2]));
        call(softmax_k::forward, &[Some(&xb)], &[Some(&s)], &[Attr::Int(1)]).unwrap();
        call(log_softmax_k::forward, &[Some(&xb)], &[Some(&l)], &[Attr::Int(1)]).unwrap();
        assert_eq!(&s.read()[2..], &[0.0, 0.0, 0.5, 0.5]);
        assert_eq!(&l.read()[2..4], &[ninf, ninf]);
        let g = Buf::new(dt, &[3, 2], &[1.0, -1.0, 2.0, 3.0, 1.0, 1.0], false);
        for (k, y) in [(softmax_k::backward as crate::register::CpuKernel, &s), (log_softmax_k::backward, &l)] {
            let dx = Buf::zeros(dt, &[3, 2]);
            call(k, &[Some(&g), Some(&xb), Some(y)], &[Some(&dx)], &[Attr::Int(1)]).unwrap();
            let d = dx.read();
            assert!(d.iter().all(|v| !v.is_nan()) && d[2] == 0.0 && d[3] == 0.0, "{d:?}");
        }
    }
}

#[test]
fn layer_norm_matches_f64_with_gradients() {
    use crate::norm::layer_norm_k;
    for (shape, ns) in [(vec![4, 6], vec![6i64]), (vec![2, 3, 5], vec![3, 5]), (vec![1, 1], vec![1]), (vec![7], vec![7])] {
        let x = rand(shape.iter().product(), 2);
        let m: usize = ns.iter().product::<i64>() as usize;
        let rows = x.len() / m;
        let w: Vec<f64> = rand(m, 4).iter().map(|v| v + 1.5).collect();
        let b = rand(m, 5);
        let nsu: Vec<usize> = ns.iter().map(|&d| d as usize).collect();
        let lead = shape[..shape.len() - ns.len()].to_vec();
        let attrs = [Attr::Ints(ns.clone()), Attr::Float(1e-5)];
        for (dt, tol) in DTYPES {
            let (xr, wr, br) = (rounded(dt, &x), rounded(dt, &w), rounded(dt, &b));
            let (y, mu, rs) = (Buf::zeros(dt, &shape), Buf::zeros(dt, &lead), Buf::zeros(dt, &lead));
            let ins = [Some(&Buf::new(dt, &shape, &x, true)), Some(&Buf::new(dt, &nsu, &w, false)), Some(&Buf::new(dt, &nsu, &b, false))];
            call(layer_norm_k::forward, &ins, &[Some(&y), Some(&mu), Some(&rs)], &attrs).unwrap();
            let mut want = vec![0.0; x.len()];
            for r in 0..rows {
                let s = &xr[r * m..(r + 1) * m];
                let mean = s.iter().sum::<f64>() / m as f64;
                let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64;
                for j in 0..m {
                    want[r * m + j] = (s[j] - mean) / (var + 1e-5).sqrt() * wr[j] + br[j];
                }
                assert!((mu.read()[r] - mean).abs() < tol * 4.0 + 1e-6);
            }
            close(&y.read(), &want, tol * 40.0, &format!("layer_norm {dt} {shape:?}"));
        }
        let (wb, bb) = (Buf::new(DType::F64, &nsu, &w, false), Buf::new(DType::F64, &nsu, &b, false));
        let outs = [(DType::F64, shape.clone()), (DType::F64, lead.clone()), (DType::F64, lead.clone())];
        if m > 1 {
            check_fd(layer_norm_k::forward, layer_norm_k::backward, &x, &shape, &[Some(&wb), Some(&bb)], &outs, &attrs, "layer_norm");
        }
        // dw, db against their closed forms
        let g = rand(x.len(), 8);
        let (gb, xb) = (Buf::new(DType::F64, &shape, &g, false), Buf::new(DType::F64, &shape, &x, false));
        let (z0, z1, z2) = (Buf::zeros(DType::F64, &shape), Buf::zeros(DType::F64, &lead), Buf::zeros(DType::F64, &lead));
        let (dw, db) = (Buf::zeros(DType::F64, &nsu), Buf::zeros(DType::F64, &nsu));
        let bins = [Some(&gb), Some(&z1), Some(&z2), Some(&xb), Some(&wb), Some(&bb), Some(&z0), Some(&z1), Some(&z2)];
        call(layer_norm_k::backward, &bins, &[None, Some(&dw), Some(&db)], &attrs).unwrap();
        let (mut ew, mut eb) = (vec![0.0; m], vec![0.0; m]);
        for r in 0..rows {
            let s = &x[r * m..(r + 1) * m];
            let mean = s.iter().sum::<f64>() / m as f64;
            let rstd = 1.0 / (s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64 + 1e-5).sqrt();
            for j in 0..m {
                ew[j] += g[r * m + j] * (s[j] - mean) * rstd;
                eb[j] += g[r * m + j];
            }
        }
        close(&dw.read(), &ew, 1e-12, "dw");
        close(&db.read(), &eb, 1e-12, "db");
    }
}

/// Field case C06: cross-entropy with ignore_index, label smoothing 0.2 and class weights.
#[test]
fn c06_cross_entropy_smoothing_ignore_weights() {
    use crate::loss::cross_entropy_k;
    let logits = [2.0, 1.0, 0.0, 0.0, 1.0, 3.0, 1.0, 1.0, 1.0];
    let t = Buf::new(DType::I64, &[3], &[0.0, -100.0, 2.0], false);
    let w = Buf::new(DType::F64, &[3], &[0.2, 0.3, 0.5], false);
    let run = |dt: DType, w: Option<&Buf>, red: &str| -> (f64, Vec<f64>) {
        let x = Buf::new(dt, &[3, 3], &logits, true);
        let attrs = [Attr::Int(-100), Attr::Float(0.2), Attr::from(red)];
        let y = Buf::zeros(dt, &[]);
        call(cross_entropy_k::forward, &[Some(&x), Some(&t), w], &[Some(&y)], &attrs).unwrap();
        let g = Buf::new(dt, &[], &[1.0], false);
        let dx = Buf::zeros(dt, &[3, 3]);
        call(cross_entropy_k::backward, &[Some(&g), Some(&x), Some(&t), w, Some(&y)], &[Some(&dx), None, None], &attrs).unwrap();
        (y.read()[0], dx.read())
    };
    let w64 = Buf::new(DType::F64, &[3], &[0.2, 0.3, 0.5], false);
    for (dt, tol) in [(DType::F64, 1e-6), (DType::F32, 1e-6), (DType::F16, 2e-3), (DType::BF16, 1e-2)] {
        let wd = Buf::new(dt, &[3], &[0.2, 0.3, 0.5], false);
        let (m, g) = run(dt, None, "mean");
        close(&[m], &[0.8531091], tol, "C06 mean");
        close(&g, &[-0.1007129, 0.0890309, 0.011682, 0.0, 0.0, 0.0, 0.1333333, 0.1333333, -0.2666667], tol.max(1e-6), "C06 grad");
        assert_eq!(&g[3..6], &[0.0, 0.0, 0.0]);
        close(&[run(dt, None, "sum").0], &[1.7062183], tol, "C06 sum");
        close(&[run(dt, Some(&wd), "mean").0], &[0.9882044], tol, "C06 weighted mean");
        close(&[run(dt, Some(&wd), "sum").0], &[0.6917431], tol, "C06 weighted sum");
    }
    let _ = w;
    // Finite differences for every reduction, with weights.
    let x = rand(12, 6).iter().map(|v| v * 3.0).collect::<Vec<_>>();
    let t4 = Buf::new(DType::I64, &[4], &[2.0, -100.0, 0.0, 1.0], false);
    let w4 = Buf::new(DType::F64, &[3], &[0.5, 1.5, 1.0], false);
    for (red, os) in [("mean", vec![]), ("sum", vec![]), ("none", vec![4])] {
        let attrs = [Attr::Int(-100), Attr::Float(0.1), Attr::from(red)];
        check_fd(cross_entropy_k::forward, cross_entropy_k::backward, &x, &[4, 3], &[Some(&t4), Some(&w4)], &[(DType::F64, os)], &attrs, red);
    }
    let bad = Buf::new(DType::I64, &[3], &[0.0, 5.0, 1.0], false);
    let e = call(cross_entropy_k::forward, &[Some(&Buf::zeros(DType::F32, &[3, 3])), Some(&bad), Some(&w64)], &[Some(&Buf::zeros(DType::F32, &[]))], &[]);
    assert!(e.unwrap_err().contains("out of range"));
}
