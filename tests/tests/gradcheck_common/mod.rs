//! Shared harness of the ops-ref suites `ops_ref_gradcheck.rs` (gradient checks) and
//! `ops_ref_forward.rs` (forward values): the proptest strategies and config, tensor builders with
//! non-contiguous layouts, and the finite-difference gradient check itself.

#![allow(dead_code)] // each suite uses part of it

use ferrite_conformance::case::{Case, Input, Kind};
use ferrite_conformance::cases;
use ferrite_conformance::gen::{self, numel, Layout, Opts, Rng};
use ferrite_sdk::functional as F;
use ferrite_sdk::functional::call::{call_op, OpCache};
use ferrite_sdk::{DType, Element, Host, Tensor};
use ferrite_tests::with_ops_ref;
use proptest::prelude::*;

/// Result of the sdk calls.
pub type Res<T> = ferrite_sdk::Result<T>;

/// Proptest cases per op.
pub const CASES: u32 = 24;
/// Finite-difference step.
pub const H: f64 = 1e-6;
/// Gradient tolerance: `|analytic - fd| <= ATOL + RTOL·|fd|`.
pub const ATOL: f64 = 1e-5;
/// Relative part of the gradient tolerance (see [`ATOL`]).
pub const RTOL: f64 = 1e-5;

/// The gradient-check strategy of `op`: the shared generators of `ferrite-conformance`
/// ([`Opts::gradcheck`]: dims 1..=4, moderate finite values, compact/transposed/sliced layouts).
pub fn case(op: &str) -> BoxedStrategy<Case> {
    cases::strategy(op, &Opts::gradcheck()).unwrap_or_else(|| panic!("no generator for {op}"))
}

/// A layout strategy: compact, transposed or strided slice.
pub fn layout() -> impl Strategy<Value = Layout> {
    gen::layout(&Opts::gradcheck())
}

/// A shape strategy of `min_nd..=max_nd` dims with the gradient-check sizes.
pub fn shape(min_nd: usize, max_nd: usize) -> impl Strategy<Value = Vec<usize>> {
    gen::shape(&Opts::gradcheck(), min_nd, max_nd)
}

/// The proptest config of the ops-ref suites: [`CASES`] cases unless `PROPTEST_CASES` says otherwise.
pub fn config() -> ProptestConfig {
    // No regression files written next to the sources; failures print the minimal input.
    // `PROPTEST_CASES=n` runs more (or fewer) cases.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A tensor with logical row-major values `data` and shape `shape` laid out as `lay`; a leaf
/// (detached view) that does not require grad. `junk` fills the elements a strided view skips.
pub fn make_t<T: Element + Default>(host: &Host, data: &[T], shape: &[usize], lay: Layout, junk: T) -> Tensor {
    let nd = shape.len();
    let n = numel(shape);
    assert_eq!(data.len(), n, "make: {} values for shape {shape:?}", data.len());
    let lay = match lay {
        Layout::Transposed if nd < 2 => Layout::Sliced,
        l => l,
    };
    match lay {
        Layout::Transposed if n > 0 => {
            let (r, c) = (shape[nd - 2], shape[nd - 1]);
            let mut bshape = shape.to_vec();
            bshape.swap(nd - 2, nd - 1);
            let mut b = vec![T::default(); n];
            for bi in 0..n / (r * c) {
                for i in 0..r {
                    for j in 0..c {
                        b[bi * r * c + j * r + i] = data[bi * r * c + i * c + j];
                    }
                }
            }
            host.from_slice(&b, &bshape).unwrap().transpose(-2, -1).unwrap().detach()
        }
        Layout::Sliced if nd >= 1 && n > 0 => {
            let last = shape[nd - 1];
            let bl = 2 * last + 1;
            let outer = n / last;
            let mut b = vec![junk; outer * bl];
            for o in 0..outer {
                for j in 0..last {
                    b[o * bl + 1 + 2 * j] = data[o * last + j];
                }
            }
            let mut bshape = shape.to_vec();
            bshape[nd - 1] = bl;
            host.from_slice(&b, &bshape).unwrap().slice(-1, 1, bl, 2).unwrap().detach()
        }
        _ => host.from_slice(data, shape).unwrap(),
    }
}

/// A f64 tensor (see [`make_t`]) whose skipped elements hold an obvious junk value.
pub fn make(host: &Host, data: &[f64], shape: &[usize], lay: Layout) -> Tensor {
    make_t(host, data, shape, lay, 1.0e3)
}

/// An i64 tensor (targets, indices), non-contiguous when `lay` says so; junk is out of range.
pub fn make_i64(host: &Host, data: &[i64], shape: &[usize], lay: Layout) -> Tensor {
    make_t(host, data, shape, lay, i64::MAX / 4)
}

/// One differentiable input of a gradient check.
#[derive(Clone, Debug)]
pub struct In {
    /// Logical row-major values.
    pub data: Vec<f64>,
    /// Shape.
    pub shape: Vec<usize>,
    /// Memory layout of the leaf.
    pub lay: Layout,
}

/// An [`In`] of row-major `data` with shape `shape`, laid out as `lay`.
pub fn inp(data: Vec<f64>, shape: &[usize], lay: Layout) -> In {
    assert_eq!(data.len(), numel(shape));
    In { data, shape: shape.to_vec(), lay }
}

/// The gradient check. `f` maps the differentiable inputs (in `ins` order) to the output that
/// is checked; everything else (targets, masks, attributes) is captured by `f`.
pub fn gradcheck(op: &str, ins: &[In], r: &mut Rng, transpose_out: bool, f: impl Fn(&[Tensor]) -> Res<Tensor>) {
    gradcheck_frozen(op, ins, r, transpose_out, |_, _| false, f)
}

/// [`gradcheck`] where element `j` of input `k` is frozen when `frozen(k, j)`: the op defines its
/// gradient as exactly 0 although the output depends on it (embedding's `padding_idx` row).
pub fn gradcheck_frozen(
    op: &str,
    ins: &[In],
    r: &mut Rng,
    transpose_out: bool,
    frozen: impl Fn(usize, usize) -> bool,
    f: impl Fn(&[Tensor]) -> Res<Tensor>,
) {
    let host = with_ops_ref();
    let what = || {
        let d: Vec<String> = ins.iter().map(|i| format!("{:?} {:?}", i.shape, i.lay)).collect();
        format!("{op} (inputs: {})", d.join(", "))
    };

    // Analytic gradients through the core's autograd.
    let leaves: Vec<Tensor> =
        ins.iter().map(|i| make(&host, &i.data, &i.shape, i.lay).requires_grad_(true).unwrap()).collect();
    for (l, i) in leaves.iter().zip(ins) {
        assert_eq!(l.to_vec_f64().unwrap(), i.data, "{}: input layout round trip", what());
    }
    let out = f(&leaves).unwrap_or_else(|e| panic!("{}: forward failed: {e}", what()));
    assert_eq!(out.dtype(), DType::F64, "{}: output dtype", what());
    assert!(out.requires_grad(), "{}: output does not require grad", what());
    let oshape = out.shape();
    let ovals = out.to_vec_f64().unwrap();
    assert!(ovals.iter().all(|v| v.is_finite()), "{}: non-finite output {ovals:?}", what());
    let w = r.vals(ovals.len(), -1.0, 1.0);
    let wt = host.from_slice(&w, &oshape).unwrap();
    let prod = if transpose_out && oshape.len() >= 2 {
        // The gradient reaching the op's backward is then a permuted (non-contiguous) view.
        F::mul(&out.transpose(0, -1).unwrap(), &wt.transpose(0, -1).unwrap()).unwrap()
    } else {
        F::mul(&out, &wt).unwrap()
    };
    let loss = prod.sum_all().unwrap();
    loss.backward().unwrap_or_else(|e| panic!("{}: backward failed: {e}", what()));
    let analytic: Vec<Vec<f64>> = leaves
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let g = l.grad().unwrap_or_else(|| panic!("{}: input {k} got no gradient", what()));
            assert_eq!(g.shape(), ins[k].shape, "{}: gradient {k} shape", what());
            g.to_vec_f64().unwrap()
        })
        .collect();

    // The same op on compact copies of the inputs: a kernel that ignored strides or offsets
    // would differ here (finite differences through the same kernel could not tell).
    if ins.iter().any(|i| i.lay != Layout::Contig) {
        let compact: Vec<Tensor> =
            ins.iter().map(|i| host.from_slice(&i.data, &i.shape).unwrap().requires_grad_(true).unwrap()).collect();
        let out_c = f(&compact).unwrap_or_else(|e| panic!("{}: compact forward failed: {e}", what()));
        assert_eq!(out_c.to_vec_f64().unwrap(), ovals, "{}: output differs from the compact-input output", what());
        F::mul(&out_c, &wt).unwrap().sum_all().unwrap().backward().unwrap();
        for (k, c) in compact.iter().enumerate() {
            let g = c.grad().unwrap().to_vec_f64().unwrap();
            let close = g.iter().zip(&analytic[k]).all(|(a, b)| (a - b).abs() <= 1e-12 * (1.0 + b.abs()));
            assert!(close, "{}: gradient {k} differs from the compact-input gradient:\n{g:?}\n{:?}", what(), analytic[k]);
        }
    }

    // Central differences of the same op through the stack.
    let eval = |vals: &[Vec<f64>]| -> f64 {
        host.no_grad(|| {
            let ts: Vec<Tensor> = ins.iter().zip(vals).map(|(i, v)| make(&host, v, &i.shape, i.lay)).collect();
            let o = f(&ts).unwrap_or_else(|e| panic!("{}: perturbed forward failed: {e}", what()));
            assert_eq!(o.shape(), oshape);
            o.to_vec_f64().unwrap().iter().zip(&w).map(|(a, b)| a * b).sum()
        })
    };
    let mut cur: Vec<Vec<f64>> = ins.iter().map(|i| i.data.clone()).collect();
    let mut bad = Vec::new();
    for k in 0..ins.len() {
        for j in 0..ins[k].data.len() {
            if frozen(k, j) {
                if analytic[k][j] != 0.0 {
                    bad.push(format!("input {k} element {j}: analytic {}, expected exactly 0", analytic[k][j]));
                }
                continue;
            }
            let x0 = cur[k][j];
            cur[k][j] = x0 + H;
            let lp = eval(&cur);
            cur[k][j] = x0 - H;
            let lm = eval(&cur);
            cur[k][j] = x0;
            let fd = (lp - lm) / (2.0 * H);
            let a = analytic[k][j];
            // Written so that a NaN analytic or finite difference counts as a mismatch.
            let close = (a - fd).abs() <= ATOL + RTOL * fd.abs();
            if !close {
                bad.push(format!("input {k} element {j}: analytic {a:.9}, finite difference {fd:.9}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{}: {} gradient mismatches (output shape {oshape:?}, transposed loss {transpose_out}):\n  {}\nanalytic: {analytic:?}",
        what(),
        bad.len(),
        bad.join("\n  ")
    );
}

/// A constant (not differentiated) input of a case as an sdk tensor.
pub fn constant(host: &Host, i: &Input) -> Tensor {
    match i.kind {
        Kind::I64 => make_i64(host, &i.data.iter().map(|&v| v as i64).collect::<Vec<_>>(), &i.shape, i.layout),
        Kind::Bool => {
            let v: Vec<u8> = i.data.iter().map(|&v| v as u8).collect();
            make_t(host, &v, &i.shape, i.layout, 1u8).to_dtype(DType::BOOL).unwrap()
        }
        Kind::Float | Kind::Distinct => make(host, &i.data, &i.shape, i.layout),
    }
}

/// The gradient check of one generated case: its differentiable inputs are the leaves, every
/// other input a constant, and output 0 of the op (called by name) is checked.
pub fn gradcheck_case(c: &Case) {
    let host = with_ops_ref();
    let mut r = Rng::new(c.seed);
    let diff: Vec<usize> = (0..c.inputs.len()).filter(|&k| c.inputs[k].as_ref().is_some_and(|i| i.grad)).collect();
    let ins: Vec<In> = diff.iter().map(|&k| c.inputs[k].as_ref().map(|i| inp(i.data.clone(), &i.shape, i.layout)).unwrap()).collect();
    let consts: Vec<Option<Tensor>> =
        c.inputs.iter().map(|i| i.as_ref().filter(|i| !i.grad).map(|i| constant(&host, i))).collect();
    let op: &'static OpCache = Box::leak(Box::new(OpCache::new(c.op)));
    let frozen = |k: usize, j: usize| c.frozen.contains(&(diff[k], j));
    gradcheck_frozen(c.op, &ins, &mut r, c.transpose_grad, frozen, |t| {
        let all: Vec<Option<&Tensor>> = (0..c.inputs.len())
            .map(|p| match diff.iter().position(|&k| k == p) {
                Some(d) => Some(&t[d]),
                None => consts[p].as_ref(),
            })
            .collect();
        Ok(call_op(op, &all, &c.attrs, c.n_out)?.remove(0))
    });
}
