//! Tests of the matmul/bmm kernels against straightforward f64 loops, and finite differences.

use super::{BMM, MATMUL};
use crate::dense_testing::{assert_close, call, fd_check, rand_vals, tol, Tensor};
use crate::gemm::TEST_THREADS;
use ferrite_sdk::kernel::array::{broadcast_index, unravel};
use ferrite_sdk::shape::matmul::matmul_plan;
use ferrite_sdk::abi::kernel::KernelFn;
use ferrite_sdk::DType;

const DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

/// Reference product and gradients (`g` = upstream gradient) with plain loops.
fn naive(sa: &[usize], sb: &[usize], a: &[f64], b: &[f64], g: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let p = matmul_plan("matmul", sa, sb).unwrap();
    let (n, k, m) = p.nkm();
    let nb: usize = p.batch.iter().product();
    let (mut y, mut da, mut db) = (vec![0.0; nb * n * m], vec![0.0; a.len()], vec![0.0; b.len()]);
    for bi in 0..nb {
        let idx = unravel(bi, &p.batch);
        let oa = broadcast_index(&idx, p.a_batch()) * n * k;
        let ob = broadcast_index(&idx, p.b_batch()) * k * m;
        for i in 0..n {
            for j in 0..m {
                let o = (bi * n + i) * m + j;
                for q in 0..k {
                    y[o] += a[oa + i * k + q] * b[ob + q * m + j];
                    da[oa + i * k + q] += g[o] * b[ob + q * m + j];
                    db[ob + q * m + j] += g[o] * a[oa + i * k + q];
                }
            }
        }
    }
    (y, da, db)
}

fn rounded(dt: DType, shape: &[usize], v: &[f64]) -> Vec<f64> {
    Tensor::new(dt, shape, v).values()
}

/// Runs forward and backward of `op` for `a @ b` in `dt` and compares with [`naive`] on the
/// dtype-rounded inputs.
fn check_case(op: ((KernelFn, KernelFn), &str), dt: DType, a: &Tensor, b: &Tensor, seed: u64) {
    let ((fwd, bwd), name) = op;
    let (sa, sb) = (a.shape(), b.shape());
    let p = matmul_plan(name, &sa, &sb).unwrap();
    let (_, k, _) = p.nkm();
    let g_vals = rand_vals(p.out.iter().product(), seed);
    let g = Tensor::new(dt, &p.out, &g_vals);
    let (y_want, da_want, db_want) = naive(&sa, &sb, &a.values(), &b.values(), &g.values());
    let y = Tensor::poisoned(dt, &p.out);
    call(fwd, &[Some(a), Some(b)], &[Some(&y)], &[]).unwrap();
    let t = tol(dt, k);
    assert_close(&format!("{name} {sa:?}@{sb:?} {dt:?} y"), &y.values(), &rounded(dt, &p.out, &y_want), t);
    let (da, db) = (Tensor::poisoned(dt, &sa), Tensor::poisoned(dt, &sb));
    call(bwd, &[Some(&g), Some(a), Some(b), Some(&y)], &[Some(&da), Some(&db)], &[]).unwrap();
    let nb = p.batch.iter().product::<usize>().max(1);
    let (n, _, m) = p.nkm();
    assert_close(&format!("{name} {sa:?}@{sb:?} {dt:?} da"), &da.values(), &rounded(dt, &sa, &da_want), tol(dt, m * nb));
    assert_close(&format!("{name} {sa:?}@{sb:?} {dt:?} db"), &db.values(), &rounded(dt, &sb, &db_want), tol(dt, n * nb));
    // Only one gradient requested: the other output is absent.
    let da2 = Tensor::poisoned(dt, &sa);
    call(bwd, &[Some(&g), Some(a), Some(b), Some(&y)], &[Some(&da2), None], &[]).unwrap();
    assert_eq!(da2.values(), da.values());
}

const SHAPES: &[(&[usize], &[usize])] = &[
    (&[2, 3], &[3, 4]),
    (&[3], &[3]),
    (&[3], &[3, 4]),
    (&[2, 3], &[3]),
    (&[4, 2, 3], &[3, 5]),
    (&[2, 3], &[4, 3, 5]),
    (&[2, 1, 3, 4], &[5, 4, 2]),
    (&[3, 1, 2], &[1, 2, 1]),
    (&[1, 1], &[1, 1]),
    (&[2, 0], &[0, 3]),
    (&[0, 3], &[3, 2]),
    (&[33, 17], &[17, 40]),
    (&[2, 19, 8], &[2, 8, 21]),
];

#[test]
fn matmul_matches_loops_all_dtypes_and_broadcasts() {
    for threads in [1, 3] {
        TEST_THREADS.with(|t| t.set(threads));
        for (i, &(sa, sb)) in SHAPES.iter().enumerate() {
            for dt in DTYPES {
                let a = Tensor::new(dt, sa, &rand_vals(sa.iter().product(), i as u64));
                let b = Tensor::new(dt, sb, &rand_vals(sb.iter().product(), 100 + i as u64));
                check_case(((MATMUL::forward, MATMUL::backward), "matmul"), dt, &a, &b, 7 + i as u64);
            }
        }
    }
    TEST_THREADS.with(|t| t.set(1));
}

#[test]
fn matmul_non_contiguous_and_broadcast_views() {
    for dt in DTYPES {
        // a stored transposed ([k, n] storage seen as [n, k]), b a stride-0 batch broadcast.
        let a = Tensor::permuted(dt, &[3, 5, 4], &rand_vals(60, 1), &[0, 2, 1]);
        let b = Tensor::expanded(dt, &[3, 4, 6], &[1, 4, 6], &rand_vals(24, 2));
        check_case(((MATMUL::forward, MATMUL::backward), "matmul"), dt, &a, &b, 3);
        let a = Tensor::permuted(dt, &[7, 9], &rand_vals(63, 4), &[1, 0]);
        let b = Tensor::permuted(dt, &[9, 2], &rand_vals(18, 5), &[1, 0]);
        check_case(((MATMUL::forward, MATMUL::backward), "matmul"), dt, &a, &b, 6);
    }
}

#[test]
fn bmm_matches_loops_and_rejects_bad_shapes() {
    TEST_THREADS.with(|t| t.set(2));
    for dt in DTYPES {
        let a = Tensor::new(dt, &[3, 4, 5], &rand_vals(60, 8));
        let b = Tensor::permuted(dt, &[3, 5, 2], &rand_vals(30, 9), &[2, 0, 1]);
        check_case(((BMM::forward, BMM::backward), "bmm"), dt, &a, &b, 10);
    }
    TEST_THREADS.with(|t| t.set(1));
    let (a, b, y) = (Tensor::zeros(DType::F32, &[2, 1, 1]), Tensor::zeros(DType::F32, &[1, 1, 1]), Tensor::zeros(DType::F32, &[2, 1, 1]));
    let e = call(BMM::forward, &[Some(&a), Some(&b)], &[Some(&y)], &[]).unwrap_err();
    assert!(e.starts_with("bmm:"), "{e}");
    let e = call(MATMUL::forward, &[Some(&Tensor::zeros(DType::F32, &[2, 3])), Some(&Tensor::zeros(DType::F32, &[2, 3]))], &[Some(&y)], &[])
        .unwrap_err();
    assert!(e.contains("inner dimensions"), "{e}");
    let (ai, bi) = (Tensor::zeros(DType::I64, &[2, 2]), Tensor::zeros(DType::I64, &[2, 2]));
    assert!(call(MATMUL::forward, &[Some(&ai), Some(&bi)], &[Some(&Tensor::zeros(DType::I64, &[2, 2]))], &[]).is_err());
}

#[test]
fn matmul_and_bmm_backward_match_finite_differences() {
    let f = DType::F64;
    for (i, &(sa, sb)) in [(&[2usize, 1, 3, 4][..], &[5usize, 4, 2][..]), (&[3], &[2, 3, 2]), (&[4, 2, 3], &[3, 2])].iter().enumerate() {
        let a = Tensor::new(f, sa, &rand_vals(sa.iter().product(), 20 + i as u64));
        let b = Tensor::new(f, sb, &rand_vals(sb.iter().product(), 30 + i as u64));
        let out = matmul_plan("matmul", sa, sb).unwrap().out;
        fd_check(MATMUL::forward, MATMUL::backward, &[Some(&a), Some(&b)], &out, &[], &[0, 1]);
    }
    let a = Tensor::new(f, &[2, 3, 4], &rand_vals(24, 40));
    let b = Tensor::new(f, &[2, 4, 3], &rand_vals(24, 41));
    fd_check(BMM::forward, BMM::backward, &[Some(&a), Some(&b)], &[2, 3, 3], &[], &[0, 1]);
}
