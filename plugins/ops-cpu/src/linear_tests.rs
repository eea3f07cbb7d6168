//! Tests of the linear kernels against straightforward f64 loops, and finite differences.

use super::LINEAR;
use crate::dense_testing::{assert_close, call, fd_check, rand_vals, tol, Tensor};
use crate::gemm::TEST_THREADS;
use ferrite_sdk::DType;

/// `(y, dx, dw, db)` by plain loops.
fn naive(x: &[f64], w: &[f64], b: Option<&[f64]>, g: &[f64], fin: usize, fout: usize) -> [Vec<f64>; 4] {
    let rows = x.len() / fin.max(1);
    let (mut y, mut dx, mut dw, mut db) = (vec![0.0; rows * fout], vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; fout]);
    for r in 0..rows {
        for o in 0..fout {
            let gv = g[r * fout + o];
            y[r * fout + o] = b.map_or(0.0, |b| b[o]);
            db[o] += gv;
            for i in 0..fin {
                y[r * fout + o] += x[r * fin + i] * w[o * fin + i];
                dx[r * fin + i] += gv * w[o * fin + i];
                dw[o * fin + i] += gv * x[r * fin + i];
            }
        }
    }
    [y, dx, dw, db]
}

fn check(dt: DType, x: &Tensor, w: &Tensor, b: Option<&Tensor>) {
    let (sx, sw) = (x.shape(), w.shape());
    let (fout, fin) = (sw[0], sw[1]);
    let mut so = sx.clone();
    *so.last_mut().unwrap() = fout;
    let g = Tensor::new(dt, &so, &rand_vals(so.iter().product(), 77));
    let want = naive(&x.values(), &w.values(), b.map(|b| b.values()).as_deref(), &g.values(), fin, fout);
    let rows = so.iter().product::<usize>() / fout.max(1);
    let y = Tensor::poisoned(dt, &so);
    call(LINEAR::forward, &[Some(x), Some(w), b], &[Some(&y)], &[]).unwrap();
    let r = |s: &[usize], v: &[f64]| Tensor::new(dt, s, v).values();
    assert_close(&format!("linear {sx:?} {dt:?} y"), &y.values(), &r(&so, &want[0]), tol(dt, fin));
    let (dx, dw) = (Tensor::poisoned(dt, &sx), Tensor::poisoned(dt, &sw));
    let db = b.map(|_| Tensor::poisoned(dt, &[fout]));
    call(LINEAR::backward, &[Some(&g), Some(x), Some(w), b, Some(&y)], &[Some(&dx), Some(&dw), db.as_ref()], &[]).unwrap();
    assert_close("linear dx", &dx.values(), &r(&sx, &want[1]), tol(dt, fout));
    assert_close("linear dw", &dw.values(), &r(&sw, &want[2]), tol(dt, rows));
    if let Some(db) = db {
        assert_close("linear db", &db.values(), &r(&[fout], &want[3]), tol(dt, rows));
    }
}

#[test]
fn linear_matches_loops_all_dtypes() {
    for threads in [1, 2] {
        TEST_THREADS.with(|t| t.set(threads));
        for dt in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            let cases: &[(&[usize], [usize; 2], bool)] =
                &[(&[2, 3, 4], [5, 4], true), (&[4], [3, 4], true), (&[7, 1], [1, 1], false), (&[0, 3], [2, 3], true), (&[3, 2], [0, 2], true), (&[37, 19], [23, 19], false)];
            for (i, (sx, sw, bias)) in cases.iter().enumerate() {
                let x = Tensor::new(dt, sx, &rand_vals(sx.iter().product(), i as u64));
                let w = Tensor::new(dt, sw, &rand_vals(sw[0] * sw[1], 50 + i as u64));
                let b = bias.then(|| Tensor::new(dt, &[sw[0]], &rand_vals(sw[0], 90 + i as u64)));
                check(dt, &x, &w, b.as_ref());
            }
            // Non-contiguous input and weight, broadcast bias.
            let x = Tensor::permuted(dt, &[3, 6, 5], &rand_vals(90, 5), &[1, 2, 0]);
            let w = Tensor::permuted(dt, &[4, 5], &rand_vals(20, 6), &[1, 0]);
            let b = Tensor::expanded(dt, &[4], &[1], &[0.25]);
            check(dt, &x, &w, Some(&b));
        }
    }
    TEST_THREADS.with(|t| t.set(1));
}

#[test]
fn linear_backward_matches_finite_differences_and_errors() {
    let f = DType::F64;
    let x = Tensor::new(f, &[2, 3, 4], &rand_vals(24, 1));
    let w = Tensor::new(f, &[5, 4], &rand_vals(20, 2));
    let b = Tensor::new(f, &[5], &rand_vals(5, 3));
    fd_check(LINEAR::forward, LINEAR::backward, &[Some(&x), Some(&w), Some(&b)], &[2, 3, 5], &[], &[0, 1, 2]);
    fd_check(LINEAR::forward, LINEAR::backward, &[Some(&x), Some(&w), None], &[2, 3, 5], &[], &[0, 1]);
    let y = Tensor::zeros(f, &[2, 3, 5]);
    let bad = Tensor::zeros(f, &[5, 3]);
    let e = call(LINEAR::forward, &[Some(&x), Some(&bad), None], &[Some(&y)], &[]).unwrap_err();
    assert!(e.starts_with("linear:"), "{e}");
    let e = call(LINEAR::forward, &[Some(&x), Some(&w), Some(&Tensor::zeros(f, &[4]))], &[Some(&y)], &[]).unwrap_err();
    assert!(e.contains("bias"), "{e}");
}
