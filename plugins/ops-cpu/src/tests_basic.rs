//! Tests of the elementwise, binary and reduction kernels against straightforward f64
//! computations (all dtypes, strided views, size-1 and odd sizes), finite differences, and the
//! field cases C04 / C05.

use crate::cpu_testing::*;
use crate::register::CpuKernel;
use ferrite_sdk::kernel::array::{broadcast_index, broadcast_shapes, unravel};
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::DType;

const DTYPES: [(DType, f64); 4] = [(DType::F64, 1e-12), (DType::F32, 2e-6), (DType::F16, 2e-3), (DType::BF16, 1.6e-2)];

/// The values as the dtype stores them.
fn rounded(d: DType, v: &[f64]) -> Vec<f64> {
    Buf::new(d, &[v.len()], v, false).read()
}

fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

#[test]
fn unary_forward_and_backward_match_f64() {
    use crate::elementwise::*;
    type R = fn(f64) -> f64;
    let cases: [(CpuKernel, CpuKernel, R, bool); 9] = [
        (relu::forward, relu::backward, |x| x.max(0.0), false),
        (neg::forward, neg::backward, |x| -x, false),
        (exp::forward, exp::backward, f64::exp, false),
        (log::forward, log::backward, f64::ln, true),
        (sqrt::forward, sqrt::backward, f64::sqrt, true),
        (abs::forward, abs::backward, f64::abs, false),
        (tanh::forward, tanh::backward, f64::tanh, false),
        (sigmoid_k::forward, sigmoid_k::backward, |x| 1.0 / (1.0 + (-x).exp()), false),
        (gelu_forward, gelu_backward, |x| x * normal_cdf(x), false),
    ];
    for (k, (f, b, r, pos)) in cases.into_iter().enumerate() {
        for shape in [vec![], vec![1], vec![3, 5], vec![2, 1, 7]] {
            let n: usize = shape.iter().product();
            let x: Vec<f64> = rand(n, k as u64).iter().map(|v| if pos { v.abs() + 0.1 } else { v * 3.0 }).collect();
            for (d, tol) in DTYPES {
                for strided in [false, true] {
                    let xb = Buf::new(d, &shape, &x, strided);
                    let y = Buf::zeros(d, &shape);
                    call(f, &[Some(&xb)], &[Some(&y)], &[]).unwrap();
                    let want: Vec<f64> = rounded(d, &x).iter().map(|&v| r(v)).collect();
                    close(&y.read(), &want, tol * 4.0, &format!("unary #{k} {d} {shape:?}"));
                }
            }
            check_fd(f, b, &x, &shape, &[], &[(DType::F64, shape.clone())], &[], &format!("unary #{k}"));
        }
    }
    // gelu tanh mode through FD
    let x = rand(9, 5).iter().map(|v| v * 4.0).collect::<Vec<_>>();
    check_fd(gelu_forward, gelu_backward, &x, &[9], &[], &[(DType::F64, vec![9])], &[Attr::from("tanh")], "gelu tanh");
    let y = Buf::zeros(DType::F64, &[1]);
    assert!(call(gelu_forward, &[Some(&Buf::new(DType::F64, &[1], &[1.0], false))], &[Some(&y)], &[Attr::from("fast")]).is_err());
}

/// Naive broadcast of `f`.
fn bcast(a: &[f64], sa: &[usize], b: &[f64], sb: &[usize], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    let s = broadcast_shapes(sa, sb).unwrap();
    (0..s.iter().product()).map(|i| {
        let idx = unravel(i, &s);
        f(a[broadcast_index(&idx, sa)], b[broadcast_index(&idx, sb)])
    }).collect()
}

#[test]
fn binary_broadcasting_matches_f64_and_gradients_keep_operand_shapes() {
    use crate::binary::*;
    type R = fn(f64, f64) -> f64;
    let ops: [(CpuKernel, CpuKernel, R); 4] = [
        (add::forward, add::backward, |a, b| a + b),
        (sub::forward, sub::backward, |a, b| a - b),
        (mul::forward, mul::backward, |a, b| a * b),
        (div::forward, div::backward, |a, b| a / b),
    ];
    let shapes: [(Vec<usize>, Vec<usize>); 6] = [
        (vec![3, 5], vec![3, 5]),
        (vec![2, 1, 3], vec![4, 1]),
        (vec![5], vec![3, 1]),
        (vec![], vec![2, 3]),
        (vec![3, 1, 5], vec![1, 4, 1]),
        (vec![1], vec![7]),
    ];
    for (k, (f, b, r)) in ops.into_iter().enumerate() {
        for (sa, sb) in &shapes {
            let a = rand(sa.iter().product(), 1 + k as u64);
            let bv: Vec<f64> = rand(sb.iter().product(), 7).iter().map(|v| v.abs() + 0.5).collect();
            let so = broadcast_shapes(sa, sb).unwrap();
            for (d, tol) in DTYPES {
                let (ab, bb) = (Buf::new(d, sa, &a, true), Buf::new(d, sb, &bv, false));
                let y = Buf::zeros(d, &so);
                call(f, &[Some(&ab), Some(&bb)], &[Some(&y)], &[]).unwrap();
                let want = bcast(&rounded(d, &a), sa, &rounded(d, &bv), sb, r);
                close(&y.read(), &want, tol * 2.0, &format!("binary #{k} {d} {sa:?} {sb:?}"));
            }
            // gradients wrt both operands by finite differences (operand b via swapping roles)
            let bb = Buf::new(DType::F64, sb, &bv, false);
            check_fd(f, b, &a, sa, &[Some(&bb)], &[(DType::F64, so.clone())], &[], &format!("binary #{k} da"));
            let g = rand(so.iter().product(), 3);
            let (ab, gb) = (Buf::new(DType::F64, sa, &a, false), Buf::new(DType::F64, &so, &g, false));
            let yb = Buf::zeros(DType::F64, &so);
            let db = Buf::zeros(DType::F64, sb);
            call(b, &[Some(&gb), Some(&ab), Some(&bb), Some(&yb)], &[None, Some(&db)], &[]).unwrap();
            let h = 1e-6;
            for i in 0..bv.len() {
                let l = |dv: f64| -> f64 {
                    let mut bp = bv.clone();
                    bp[i] += dv;
                    bcast(&a, sa, &bp, sb, r).iter().zip(&g).map(|(y, g)| y * g).sum()
                };
                let fd = (l(h) - l(-h)) / (2.0 * h);
                assert!((fd - db.read()[i]).abs() < 1e-5 * (1.0 + fd.abs()), "binary #{k} db[{i}] {sa:?} {sb:?}");
            }
        }
    }
    let y = Buf::zeros(DType::F32, &[3]);
    let e = call(add::forward, &[Some(&Buf::zeros(DType::F32, &[3])), Some(&Buf::zeros(DType::F32, &[2]))], &[Some(&y)], &[]);
    assert!(e.unwrap_err().contains("cannot be broadcast"));
}

/// Naive reduction of `x` over `dims` (empty: all) with `f(slice) -> value`.
fn naive_reduce(x: &[f64], shape: &[usize], dims: &[usize], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let all = dims.is_empty();
    let keep: Vec<usize> = shape.iter().enumerate().map(|(d, &s)| if all || dims.contains(&d) { 1 } else { s }).collect();
    let mut groups = vec![Vec::new(); keep.iter().product()];
    for (i, &v) in x.iter().enumerate() {
        groups[broadcast_index(&unravel(i, shape), &keep)].push(v);
    }
    groups.iter().map(|g| f(g)).collect()
}

fn naive_lse(v: &[f64]) -> f64 {
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY { m } else { m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln() }
}

#[test]
fn dims_reductions_match_f64_with_gradients() {
    use crate::reduce::*;
    type R = fn(&[f64]) -> f64;
    let ops: [(CpuKernel, CpuKernel, R); 3] = [
        (sum::forward, sum::backward, |v| v.iter().sum()),
        (mean::forward, mean::backward, |v| v.iter().sum::<f64>() / v.len() as f64),
        (logsumexp::forward, logsumexp::backward, naive_lse),
    ];
    let cases: [(Vec<usize>, Vec<i64>); 7] = [
        (vec![3, 5], vec![1]),
        (vec![3, 5], vec![0]),
        (vec![2, 3, 4], vec![0, 2]),
        (vec![2, 3, 4], vec![-2]),
        (vec![4, 1, 3], vec![]),
        (vec![], vec![]),
        (vec![7], vec![0]),
    ];
    for (k, (f, b, r)) in ops.into_iter().enumerate() {
        for (shape, dl) in &cases {
            let x = rand(shape.iter().product(), 11 + k as u64);
            let nd = shape.len().max(1) as i64;
            let dims: Vec<usize> = dl.iter().map(|&d| ((d + nd) % nd) as usize).collect();
            for keepdim in [false, true] {
                let attrs = [Attr::Ints(dl.clone()), Attr::Bool(keepdim)];
                let mask: Vec<bool> = (0..shape.len()).map(|d| dims.is_empty() || dims.contains(&d)).collect();
                let os = ferrite_sdk::shape::reduce::reduced_shape(shape, &mask, keepdim);
                for (d, tol) in DTYPES {
                    let y = Buf::zeros(d, &os);
                    call(f, &[Some(&Buf::new(d, shape, &x, true))], &[Some(&y)], &attrs).unwrap();
                    let want = naive_reduce(&rounded(d, &x), shape, &dims, r);
                    close(&y.read(), &want, tol * 4.0, &format!("reduce #{k} {d} {shape:?} {dl:?}"));
                }
                check_fd(f, b, &x, shape, &[], &[(DType::F64, os.clone())], &attrs, &format!("reduce #{k} {shape:?} {dl:?}"));
            }
        }
    }
}

#[test]
fn max_min_argmax_first_extreme_and_gradient() {
    use crate::reduce::*;
    let x = [1.0, 3.0, 3.0, -1.0, 2.0, 0.0, 5.0, 5.0, f64::NAN, 1.0, 0.0, 4.0];
    for (d, _) in DTYPES {
        let xb = Buf::new(d, &[2, 2, 3], &x, true);
        let (v, i) = (Buf::zeros(d, &[2, 3]), Buf::zeros(DType::I64, &[2, 3]));
        call(max::forward, &[Some(&xb)], &[Some(&v), Some(&i)], &[Attr::Int(1), Attr::Bool(false)]).unwrap();
        close(&v.read(), &[1.0, 3.0, 3.0, 5.0, 5.0, f64::NAN], 0.0, "max values");
        assert_eq!(i.read(), vec![0.0; 6]);
        let (v, i) = (Buf::zeros(d, &[2, 2]), Buf::zeros(DType::I64, &[2, 2]));
        call(min::forward, &[Some(&xb)], &[Some(&v), Some(&i)], &[Attr::Int(-1), Attr::Bool(false)]).unwrap();
        close(&v.read(), &[1.0, -1.0, f64::NAN, 0.0], 0.0, "min values");
        assert_eq!(i.read(), vec![0.0, 0.0, 2.0, 1.0]);
        let a = Buf::zeros(DType::I64, &[2, 1, 3]);
        call(argmax_forward, &[Some(&xb)], &[Some(&a)], &[Attr::Int(1), Attr::Bool(true)]).unwrap();
        assert_eq!(a.read(), vec![0.0; 6]);
        let xb = Buf::new(d, &[3], &[1.0, f64::NAN, 7.0], false);
        let a = Buf::zeros(DType::I64, &[]);
        call(argmax_forward, &[Some(&xb)], &[Some(&a)], &[Attr::Int(0), Attr::Bool(false)]).unwrap();
        assert_eq!(a.read(), vec![1.0], "NaN counts as the maximum");
    }
    let x = rand(24, 5);
    let attrs = [Attr::Int(1), Attr::Bool(false)];
    check_fd(max::forward, max::backward, &x, &[2, 3, 4], &[], &[(DType::F64, vec![2, 4]), (DType::I64, vec![2, 4])], &attrs, "max");
    check_fd(min::forward, min::backward, &x, &[2, 3, 4], &[], &[(DType::F64, vec![2, 4]), (DType::I64, vec![2, 4])], &attrs, "min");
    let e = call(max::forward, &[Some(&Buf::zeros(DType::F32, &[2, 0]))], &[Some(&Buf::zeros(DType::F32, &[2])), Some(&Buf::zeros(DType::I64, &[2]))], &attrs);
    assert!(e.is_err());
}

/// Field case C04: f16 logsumexp accumulates in f32 (65536 zeros → 11.09375, gradient 2^-16),
/// large, all -inf (→ -inf, zero gradient) and mixed rows.
#[test]
fn c04_f16_logsumexp() {
    use crate::reduce::logsumexp;
    let run = |x: &[f64]| -> (f64, Vec<f64>) {
        let n = x.len();
        let xb = Buf::new(DType::F16, &[n], x, false);
        let y = Buf::zeros(DType::F16, &[]);
        let attrs = [Attr::Ints(vec![]), Attr::Bool(false)];
        call(logsumexp::forward, &[Some(&xb)], &[Some(&y)], &attrs).unwrap();
        let g = Buf::new(DType::F16, &[], &[1.0], false);
        let dx = Buf::zeros(DType::F16, &[n]);
        call(logsumexp::backward, &[Some(&g), Some(&xb), Some(&y)], &[Some(&dx)], &attrs).unwrap();
        (y.read()[0], dx.read())
    };
    let (y, g) = run(&vec![0.0; 65536]);
    assert_eq!(y, 11.09375);
    assert!(g.iter().all(|&v| v == 1.52587890625e-05));
    let (y, g) = run(&[12.0, 12.0]);
    assert_eq!(y, 12.6953125);
    assert_eq!(g, vec![0.5, 0.5]);
    let (y, g) = run(&[f64::NEG_INFINITY, f64::NEG_INFINITY]);
    assert_eq!(y, f64::NEG_INFINITY);
    assert_eq!(g, vec![0.0, 0.0]);
    let (y, g) = run(&[f64::NEG_INFINITY, 0.0, 1.0]);
    assert_eq!(y, 1.3134765625);
    close(&g, &[0.0, 0.268941421, 0.731058579], 1e-3, "C04 D grad");
}

/// Field case C05: bf16/f16 sums and means accumulate in f32 and round once.
#[test]
fn c05_low_precision_sums() {
    use crate::reduce::{mean, sum};
    let attrs = [Attr::Ints(vec![]), Attr::Bool(false)];
    let run = |k: CpuKernel, d: DType, x: &[f64]| -> f64 {
        let y = Buf::zeros(d, &[]);
        call(k, &[Some(&Buf::new(d, &[x.len()], x, false))], &[Some(&y)], &attrs).unwrap();
        y.read()[0]
    };
    assert_eq!(run(sum::forward, DType::BF16, &[1.0; 512]), 512.0);
    assert_eq!(run(mean::forward, DType::BF16, &[1.0; 512]), 1.0);
    assert_eq!(run(sum::forward, DType::BF16, &[0.5; 1000]), 500.0);
    assert_eq!(run(mean::forward, DType::BF16, &[0.5; 1000]), 0.5);
    assert_eq!(run(sum::forward, DType::F16, &[1.0; 4096]), 4096.0);
    assert_eq!(run(mean::forward, DType::F16, &[1.0; 4096]), 1.0);
    let t = 2f64.powi(-11);
    let mut d = vec![1.0];
    d.extend([t; 7]);
    assert_eq!(run(sum::forward, DType::F16, &d), 1.00390625);
    d.reverse();
    assert_eq!(run(sum::forward, DType::F16, &d), 1.00390625);
}
