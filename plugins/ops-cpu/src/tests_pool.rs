//! Tests of the pooling kernels: naive f64 windows, finite differences and field case C01.

use crate::cpu_testing::*;
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::shape::adaptive::adaptive_bin;
use ferrite_sdk::DType;

/// Naive max/avg pooling of one plane: `(values, indices)`.
#[allow(clippy::too_many_arguments)]
fn naive_pool(x: &[f64], h: usize, w: usize, k: usize, s: usize, p: usize, d: usize, oh: usize, ow: usize, max: bool, cip: bool) -> (Vec<f64>, Vec<f64>) {
    let (mut v, mut ix) = (Vec::new(), Vec::new());
    for oy in 0..oh {
        for ox in 0..ow {
            let (mut best, mut bi, mut sum, mut cnt) = (f64::NEG_INFINITY, -1.0, 0.0, 0usize);
            for ky in 0..k {
                for kx in 0..k {
                    let (iy, jx) = ((oy * s + ky * d) as i64 - p as i64, (ox * s + kx * d) as i64 - p as i64);
                    if iy < 0 || jx < 0 || iy >= h as i64 || jx >= w as i64 {
                        continue;
                    }
                    let val = x[iy as usize * w + jx as usize];
                    if bi < 0.0 || val > best {
                        best = val;
                        bi = (iy as usize * w + jx as usize) as f64;
                    }
                    sum += val;
                    cnt += 1;
                }
            }
            // divisor: window clipped to the padded input (count_include_pad) or to the input
            let (hs, ws) = ((oy * s) as i64 - p as i64, (ox * s) as i64 - p as i64);
            let he = (hs + k as i64).min((h + p) as i64);
            let we = (ws + k as i64).min((w + p) as i64);
            let div = if cip { ((he - hs) * (we - ws)) as f64 } else { cnt as f64 };
            v.push(if max { best } else if cnt > 0 { sum / div } else { 0.0 });
            ix.push(bi);
        }
    }
    (v, ix)
}

#[test]
fn max_and_avg_pool2d_match_naive_and_fd() {
    use crate::pool::{avg_pool2d_k, max_pool2d_k};
    use ferrite_sdk::shape::pool::pool_out_len;
    // (H, W, k, s, p, d, ceil)
    for (h, w, k, s, p, d, ceil) in [(5, 5, 2, 2, 0, 1, false), (7, 6, 3, 2, 1, 1, true), (4, 5, 3, 1, 1, 2, false), (1, 1, 1, 1, 0, 1, false), (6, 7, 3, 2, 1, 1, false)] {
        let (oh, ow) = (pool_out_len(h, k, s, p, d, ceil).unwrap(), pool_out_len(w, k, s, p, d, ceil).unwrap());
        let shape = [2, 3, h, w];
        let x = rand(6 * h * w, (h * w) as u64);
        let ki = vec![k as i64];
        let max_attrs = [Attr::Ints(ki.clone()), Attr::Ints(vec![s as i64]), Attr::Ints(vec![p as i64]), Attr::Ints(vec![d as i64]), Attr::Bool(ceil)];
        let os = vec![2, 3, oh, ow];
        for (dt, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-6), (DType::BF16, 1e-2)] {
            let xr = Buf::new(dt, &[x.len()], &x, false).read();
            let xb = Buf::new(dt, &shape, &x, true);
            let (y, i) = (Buf::zeros(dt, &os), Buf::zeros(DType::I64, &os));
            call(max_pool2d_k::forward, &[Some(&xb)], &[Some(&y), Some(&i)], &max_attrs).unwrap();
            let (mut wv, mut wi) = (Vec::new(), Vec::new());
            for pl in 0..6 {
                let (v, ix) = naive_pool(&xr[pl * h * w..(pl + 1) * h * w], h, w, k, s, p, d, oh, ow, true, true);
                wv.extend(v);
                wi.extend(ix);
            }
            close(&y.read(), &wv, tol, "max_pool2d values");
            assert_eq!(i.read(), wi, "max_pool2d indices");
            if d == 1 {
                for cip in [true, false] {
                    let attrs = [Attr::Ints(ki.clone()), Attr::Ints(vec![s as i64]), Attr::Ints(vec![p as i64]), Attr::Bool(ceil), Attr::Bool(cip)];
                    let y = Buf::zeros(dt, &os);
                    call(avg_pool2d_k::forward, &[Some(&xb)], &[Some(&y)], &attrs).unwrap();
                    let mut want = Vec::new();
                    for pl in 0..6 {
                        want.extend(naive_pool(&xr[pl * h * w..(pl + 1) * h * w], h, w, k, s, p, d, oh, ow, false, cip).0);
                    }
                    close(&y.read(), &want, tol * 4.0, &format!("avg_pool2d cip={cip}"));
                    if dt == DType::F64 {
                        check_fd(avg_pool2d_k::forward, avg_pool2d_k::backward, &x, &shape, &[], &[(DType::F64, os.clone())], &attrs, "avg_pool2d");
                    }
                }
            }
        }
        let outs = [(DType::F64, os.clone()), (DType::I64, os.clone())];
        check_fd(max_pool2d_k::forward, max_pool2d_k::backward, &x, &shape, &[], &outs, &max_attrs, "max_pool2d");
    }
    let e = call(max_pool2d_k::forward, &[Some(&Buf::zeros(DType::F32, &[4, 4]))], &[Some(&Buf::zeros(DType::F32, &[1])), Some(&Buf::zeros(DType::I64, &[1]))], &[Attr::Ints(vec![2])]);
    assert!(e.unwrap_err().contains("3-d"));
}

/// Field case C01 A and B: adaptive max pooling with overlapping bins and output > input.
#[test]
fn c01_adaptive_max_pool_bins() {
    use crate::adaptive::adaptive_k;
    let run = |x: &[f64], h: usize, w: usize, o: usize| -> (Vec<f64>, Vec<f64>) {
        let xb = Buf::new(DType::F32, &[1, 1, h, w], x, true);
        let (y, i) = (Buf::zeros(DType::F32, &[1, 1, o, o]), Buf::zeros(DType::I64, &[1, 1, o, o]));
        call(adaptive_k::max_forward, &[Some(&xb)], &[Some(&y), Some(&i)], &[Attr::Ints(vec![o as i64])]).unwrap();
        (y.read(), i.read())
    };
    let a: Vec<f64> = (0..25).map(|v| v as f64).collect();
    let (v, i) = run(&a, 5, 5, 3);
    let want = [6.0, 8.0, 9.0, 16.0, 18.0, 19.0, 21.0, 23.0, 24.0];
    assert_eq!(v, want);
    assert_eq!(i, want);
    let (v, i) = run(&[1.0, 2.0, 3.0, 4.0], 2, 2, 4);
    assert_eq!(v, [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]);
    assert_eq!(i, [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 2.0, 2.0, 3.0, 3.0]);
    assert_eq!(adaptive_bin(1, 5, 3), (1, 4));
}

/// Field case C01 C: SPP levels [1, 2, 4] of a 3×3 map and its accumulated gradient.
#[test]
fn c01_spatial_pyramid_pool_forward_and_accumulated_gradient() {
    use crate::adaptive::adaptive_k;
    let x = [1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0];
    let attrs = [Attr::Ints(vec![1, 2, 4]), Attr::from("max")];
    for dt in [DType::F64, DType::F32, DType::F16, DType::BF16] {
        let xb = Buf::new(dt, &[1, 1, 3, 3], &x, true);
        let y = Buf::zeros(dt, &[1, 21]);
        call(adaptive_k::spp_fwd, &[Some(&xb)], &[Some(&y)], &attrs).unwrap();
        let want = [9.0, 9.0, 9.0, 8.0, 7.0, 1.0, 9.0, 9.0, 2.0, 8.0, 9.0, 9.0, 7.0, 8.0, 8.0, 7.0, 7.0, 4.0, 6.0, 6.0, 5.0];
        assert_eq!(y.read(), want, "{dt}");
        let g = Buf::new(dt, &[1, 21], &[1.0; 21], false);
        let dx = Buf::zeros(dt, &[1, 1, 3, 3]);
        call(adaptive_k::spp_bwd, &[Some(&g), Some(&xb), Some(&y)], &[Some(&dx)], &attrs).unwrap();
        assert_eq!(dx.read(), [1.0, 7.0, 1.0, 4.0, 0.0, 4.0, 1.0, 2.0, 1.0], "{dt}");
    }
}

#[test]
fn adaptive_and_spp_match_naive_and_fd() {
    use crate::adaptive::adaptive_k;
    for (h, w, oh, ow) in [(5, 7, 3, 2), (2, 3, 4, 5), (6, 6, 1, 1), (1, 1, 2, 2)] {
        let shape = [2, 2, h, w];
        let x = rand(4 * h * w, (h + w) as u64);
        let os = vec![2, 2, oh, ow];
        let attrs = [Attr::Ints(vec![oh as i64, ow as i64])];
        let (mut wmax, mut wavg) = (Vec::new(), Vec::new());
        for pl in 0..4 {
            for oy in 0..oh {
                let (y0, y1) = adaptive_bin(oy, h, oh);
                for ox in 0..ow {
                    let (x0, x1) = adaptive_bin(ox, w, ow);
                    let vals: Vec<f64> = (y0..y1).flat_map(|y| (x0..x1).map(move |xx| (y, xx))).map(|(y, xx)| x[pl * h * w + y * w + xx]).collect();
                    wmax.push(vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
                    wavg.push(vals.iter().sum::<f64>() / vals.len() as f64);
                }
            }
        }
        for (dt, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-6), (DType::F16, 2e-3)] {
            let xb = Buf::new(dt, &shape, &x, true);
            let (y, i) = (Buf::zeros(dt, &os), Buf::zeros(DType::I64, &os));
            call(adaptive_k::max_forward, &[Some(&xb)], &[Some(&y), Some(&i)], &attrs).unwrap();
            close(&y.read(), &wmax, tol, "adaptive max");
            let y = Buf::zeros(dt, &os);
            call(adaptive_k::avg_forward, &[Some(&xb)], &[Some(&y)], &attrs).unwrap();
            close(&y.read(), &wavg, tol * 4.0, "adaptive avg");
        }
        check_fd(adaptive_k::max_forward, adaptive_k::max_backward, &x, &shape, &[], &[(DType::F64, os.clone()), (DType::I64, os.clone())], &attrs, "adaptive max");
        check_fd(adaptive_k::avg_forward, adaptive_k::avg_backward, &x, &shape, &[], &[(DType::F64, os.clone())], &attrs, "adaptive avg");
        for mode in ["max", "avg"] {
            let sattrs = [Attr::Ints(vec![1, 2, 3]), Attr::from(mode)];
            check_fd(adaptive_k::spp_fwd, adaptive_k::spp_bwd, &x, &shape, &[], &[(DType::F64, vec![2, 2 * 14])], &sattrs, mode);
        }
    }
}
