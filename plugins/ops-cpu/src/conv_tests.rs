//! Tests of the conv2d kernels against direct loops (all dtypes, groups, dilation, stride,
//! padding, odd and size-1 shapes, non-contiguous inputs) and finite differences in f64.

use super::CONV2D;
use crate::dense_testing::{assert_close, call, fd_check, rand_vals, tol, Tensor};
use crate::gemm::TEST_THREADS;
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::DType;

/// One conv2d configuration.
#[derive(Clone, Copy, Debug)]
struct Cfg {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
    groups: usize,
    bias: bool,
}

impl Cfg {
    fn out(&self) -> [usize; 2] {
        let f = |i: usize, size: usize| (size + 2 * self.p[i] - self.d[i] * (self.k[i] - 1) - 1) / self.s[i] + 1;
        [f(0, self.h), f(1, self.w)]
    }
    fn attrs(&self) -> Vec<Attr> {
        let v = |a: [usize; 2]| Attr::Ints(vec![a[0] as i64, a[1] as i64]);
        vec![v(self.s), v(self.p), v(self.d), Attr::Int(self.groups as i64)]
    }
    fn wshape(&self) -> [usize; 4] {
        [self.o, self.c / self.groups, self.k[0], self.k[1]]
    }
}

/// `(y, dx, dw, db)` by direct loops.
fn naive(cf: &Cfg, x: &[f64], w: &[f64], b: Option<&[f64]>, g: &[f64]) -> [Vec<f64>; 4] {
    let [oh, ow] = cf.out();
    let (cg, og) = (cf.c / cf.groups, cf.o / cf.groups);
    let mut y = vec![0.0; cf.n * cf.o * oh * ow];
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; cf.o]);
    for n in 0..cf.n {
        for o in 0..cf.o {
            let gi = o / og;
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = ((n * cf.o + o) * oh + oy) * ow + ox;
                    y[yi] = b.map_or(0.0, |b| b[o]);
                    db[o] += g[yi];
                    for ci in 0..cg {
                        for ky in 0..cf.k[0] {
                            for kx in 0..cf.k[1] {
                                let iy = (oy * cf.s[0] + ky * cf.d[0]) as i64 - cf.p[0] as i64;
                                let ix = (ox * cf.s[1] + kx * cf.d[1]) as i64 - cf.p[1] as i64;
                                if iy < 0 || ix < 0 || iy >= cf.h as i64 || ix >= cf.w as i64 {
                                    continue;
                                }
                                let xi = ((n * cf.c + gi * cg + ci) * cf.h + iy as usize) * cf.w + ix as usize;
                                let wi = ((o * cg + ci) * cf.k[0] + ky) * cf.k[1] + kx;
                                y[yi] += x[xi] * w[wi];
                                dx[xi] += g[yi] * w[wi];
                                dw[wi] += g[yi] * x[xi];
                            }
                        }
                    }
                }
            }
        }
    }
    [y, dx, dw, db]
}

fn check(cf: &Cfg, dt: DType, x: &Tensor, seed: u64) {
    let ws = cf.wshape();
    let w = Tensor::new(dt, &ws, &rand_vals(ws.iter().product(), seed + 1));
    let b = cf.bias.then(|| Tensor::new(dt, &[cf.o], &rand_vals(cf.o, seed + 2)));
    let [oh, ow] = cf.out();
    let ys = [cf.n, cf.o, oh, ow];
    let g = Tensor::new(dt, &ys, &rand_vals(ys.iter().product(), seed + 3));
    let want = naive(cf, &x.values(), &w.values(), b.as_ref().map(|b| b.values()).as_deref(), &g.values());
    let at = cf.attrs();
    let y = Tensor::poisoned(dt, &ys);
    call(CONV2D::forward, &[Some(x), Some(&w), b.as_ref()], &[Some(&y)], &at).unwrap();
    let r = |s: &[usize], v: &[f64]| Tensor::new(dt, s, v).values();
    let terms = ws[1] * ws[2] * ws[3];
    assert_close(&format!("conv {cf:?} {dt:?} y"), &y.values(), &r(&ys, &want[0]), tol(dt, terms));
    let (dx, dw) = (Tensor::poisoned(dt, &x.shape()), Tensor::poisoned(dt, &ws));
    let db = b.as_ref().map(|_| Tensor::poisoned(dt, &[cf.o]));
    call(CONV2D::backward, &[Some(&g), Some(x), Some(&w), b.as_ref(), Some(&y)], &[Some(&dx), Some(&dw), db.as_ref()], &at).unwrap();
    assert_close(&format!("conv {cf:?} {dt:?} dx"), &dx.values(), &r(&x.shape(), &want[1]), tol(dt, cf.o * cf.k[0] * cf.k[1]));
    assert_close(&format!("conv {cf:?} {dt:?} dw"), &dw.values(), &r(&ws, &want[2]), tol(dt, cf.n * oh * ow));
    if let Some(db) = db {
        assert_close(&format!("conv {cf:?} {dt:?} db"), &db.values(), &r(&[cf.o], &want[3]), tol(dt, cf.n * oh * ow));
    }
}

#[allow(clippy::too_many_arguments)]
fn cfg(n: usize, c: usize, hw: [usize; 2], o: usize, k: [usize; 2], s: [usize; 2], p: [usize; 2], d: [usize; 2], groups: usize) -> Cfg {
    Cfg { n, c, h: hw[0], w: hw[1], o, k, s, p, d, groups, bias: (n + c + o).is_multiple_of(2) }
}

fn cases() -> Vec<Cfg> {
    vec![
        cfg(2, 3, [5, 6], 4, [3, 3], [1, 1], [1, 1], [1, 1], 1),
        cfg(1, 1, [1, 1], 1, [1, 1], [1, 1], [0, 0], [1, 1], 1),
        cfg(2, 4, [7, 5], 6, [1, 1], [1, 1], [0, 0], [1, 1], 2),
        cfg(3, 4, [9, 8], 4, [3, 2], [2, 3], [2, 1], [2, 1], 4),
        cfg(1, 6, [11, 7], 9, [2, 3], [1, 2], [0, 2], [3, 2], 3),
        cfg(2, 2, [4, 4], 3, [4, 4], [1, 1], [0, 0], [1, 1], 1),
        cfg(1, 2, [3, 3], 2, [1, 1], [2, 2], [1, 1], [1, 1], 1),
        cfg(2, 3, [6, 1], 5, [3, 1], [1, 1], [1, 0], [1, 1], 1),
        cfg(4, 1, [28, 28], 16, [3, 3], [1, 1], [1, 1], [1, 1], 1),
    ]
}

#[test]
fn conv2d_matches_loops_all_dtypes() {
    for threads in [1, 3] {
        TEST_THREADS.with(|t| t.set(threads));
        for (i, cf) in cases().iter().enumerate() {
            for dt in [DType::F32, DType::F64, DType::F16, DType::BF16] {
                let xs = [cf.n, cf.c, cf.h, cf.w];
                let x = Tensor::new(dt, &xs, &rand_vals(xs.iter().product(), 10 * i as u64));
                check(cf, dt, &x, 10 * i as u64);
            }
        }
    }
    TEST_THREADS.with(|t| t.set(1));
}

#[test]
fn conv2d_non_contiguous_input() {
    let cf = cfg(2, 3, [5, 4], 4, [3, 3], [1, 1], [1, 1], [1, 1], 1);
    for dt in [DType::F32, DType::F64] {
        // NHWC storage seen as NCHW.
        let x = Tensor::permuted(dt, &[2, 3, 5, 4], &rand_vals(120, 5), &[0, 2, 3, 1]);
        check(&cf, dt, &x, 5);
        // A batch broadcast along N (stride 0).
        let x = Tensor::expanded(dt, &[2, 3, 5, 4], &[1, 3, 5, 4], &rand_vals(60, 6));
        check(&cf, dt, &x, 6);
    }
}

#[test]
fn conv2d_backward_matches_finite_differences() {
    let f = DType::F64;
    for cf in [cfg(2, 4, [5, 4], 2, [3, 2], [2, 1], [1, 1], [1, 2], 2), cfg(1, 2, [4, 4], 3, [1, 1], [1, 1], [0, 0], [1, 1], 1)] {
        let cf = Cfg { bias: true, ..cf };
        let xs = [cf.n, cf.c, cf.h, cf.w];
        let x = Tensor::new(f, &xs, &rand_vals(xs.iter().product(), 1));
        let w = Tensor::new(f, &cf.wshape(), &rand_vals(cf.wshape().iter().product(), 2));
        let b = Tensor::new(f, &[cf.o], &rand_vals(cf.o, 3));
        let [oh, ow] = cf.out();
        fd_check(CONV2D::forward, CONV2D::backward, &[Some(&x), Some(&w), Some(&b)], &[cf.n, cf.o, oh, ow], &cf.attrs(), &[0, 1, 2]);
    }
}

#[test]
fn conv2d_bad_shapes_are_one_line_errors() {
    let f = DType::F32;
    let x = Tensor::zeros(f, &[1, 4, 3, 3]);
    let y = Tensor::zeros(f, &[1, 6, 2, 2]);
    let at = |g: i64| vec![Attr::Ints(vec![1, 1]), Attr::Ints(vec![0, 0]), Attr::Ints(vec![1, 1]), Attr::Int(g)];
    let w = Tensor::zeros(f, &[6, 2, 2, 2]);
    assert!(call(CONV2D::forward, &[Some(&x), Some(&w), None], &[Some(&y)], &at(2)).is_ok());
    let e = call(CONV2D::forward, &[Some(&x), Some(&w), None], &[Some(&y)], &at(3)).unwrap_err();
    assert!(e.starts_with("conv2d:"), "{e}");
    let e = call(CONV2D::forward, &[Some(&x), Some(&Tensor::zeros(f, &[6, 4, 5, 5])), None], &[Some(&y)], &at(1)).unwrap_err();
    assert!(e.starts_with("conv2d:"), "{e}");
    // Output of the wrong size (a core bug) is refused rather than overrun.
    let e = call(CONV2D::forward, &[Some(&x), Some(&w), None], &[Some(&Tensor::zeros(f, &[1, 6, 1, 1]))], &at(2)).unwrap_err();
    assert!(e.contains("elements"), "{e}");
}
