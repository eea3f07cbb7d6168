//! Gradient checks of every ops-ref op through the whole stack: sdk functional → host table →
//! core dispatcher → ops-ref kernel → core autograd, in f64 on proptest-generated inputs.
//!
//! For each op, `loss = sum(out * w)` with fixed random weights `w` is differentiated with
//! `loss.backward()`, and every differentiable input's gradient is compared with central finite
//! differences of the same op called through the stack (`h = 1e-6`, tolerance `1e-5 + 1e-5·|fd|`).
//! Inputs cover size-1 dims, odd sizes, broadcasting and non-contiguous leaves (transposed and
//! strided-slice views, with junk in the skipped elements), and the output gradient handed to the
//! backward kernel is sometimes non-contiguous too (the loss reads a transposed view of the output).
//! Kinked ops (abs, relu, max/min, max pooling) get distinct inputs away from 0 and from ties.
//! The inputs come from the per-op strategies of `ferrite-conformance` (`cases::strategy` with
//! `Opts::gradcheck()`), the same generators the conformance suite runs on every plugin.
//!
//! Each gradient-checked op has its own test named after it (`ferrite::x` → `x`, `where_` for
//! `ferrite::where`); `every_op_with_a_backward_has_a_gradient_check` fails when ops-ref exports
//! an op with a backward that has no test here. Forward values of a few ops are checked against
//! independent computations, and `f32_kernels_agree_with_f64_for_every_forward_op` runs every
//! exported op in both precisions.

use ferrite_conformance::case::{Case, Input, Kind};
use ferrite_conformance::cases;
use ferrite_conformance::gen::{self, numel, Layout, Opts, Rng};
use ferrite_core::Runtime;
use ferrite_sdk::functional::call::{call_op, OpCache};
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::{DType, Element, Host, Tensor};
use ferrite_tests::with_ops_ref;
use proptest::prelude::*;

type Res<T> = ferrite_sdk::Result<T>;

/// Proptest cases per op.
const CASES: u32 = 24;
/// Finite-difference step.
const H: f64 = 1e-6;
/// Gradient tolerance: `|analytic - fd| <= ATOL + RTOL·|fd|`.
const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-5;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The gradient-check strategy of `op`: the shared generators of `ferrite-conformance`
/// ([`Opts::gradcheck`]: dims 1..=4, moderate finite values, compact/transposed/sliced layouts).
fn case(op: &str) -> BoxedStrategy<Case> {
    cases::strategy(op, &Opts::gradcheck()).unwrap_or_else(|| panic!("no generator for {op}"))
}

fn layout() -> impl Strategy<Value = Layout> {
    gen::layout(&Opts::gradcheck())
}

fn shape(min_nd: usize, max_nd: usize) -> impl Strategy<Value = Vec<usize>> {
    gen::shape(&Opts::gradcheck(), min_nd, max_nd)
}

fn config() -> ProptestConfig {
    // No regression files written next to the sources; failures print the minimal input.
    // `PROPTEST_CASES=n` runs more (or fewer) cases.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A tensor with logical row-major values `data` and shape `shape` laid out as `lay`; a leaf
/// (detached view) that does not require grad. `junk` fills the elements a strided view skips.
fn make_t<T: Element + Default>(host: &Host, data: &[T], shape: &[usize], lay: Layout, junk: T) -> Tensor {
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

fn make(host: &Host, data: &[f64], shape: &[usize], lay: Layout) -> Tensor {
    make_t(host, data, shape, lay, 1.0e3)
}

/// An i64 tensor (targets, indices), non-contiguous when `lay` says so; junk is out of range.
fn make_i64(host: &Host, data: &[i64], shape: &[usize], lay: Layout) -> Tensor {
    make_t(host, data, shape, lay, i64::MAX / 4)
}

/// One differentiable input of a gradient check.
#[derive(Clone, Debug)]
struct In {
    data: Vec<f64>,
    shape: Vec<usize>,
    lay: Layout,
}

fn inp(data: Vec<f64>, shape: &[usize], lay: Layout) -> In {
    assert_eq!(data.len(), numel(shape));
    In { data, shape: shape.to_vec(), lay }
}

/// The gradient check. `f` maps the differentiable inputs (in `ins` order) to the output that
/// is checked; everything else (targets, masks, attributes) is captured by `f`.
fn gradcheck(op: &str, ins: &[In], r: &mut Rng, transpose_out: bool, f: impl Fn(&[Tensor]) -> Res<Tensor>) {
    gradcheck_frozen(op, ins, r, transpose_out, |_, _| false, f)
}

/// [`gradcheck`] where element `j` of input `k` is frozen when `frozen(k, j)`: the op defines its
/// gradient as exactly 0 although the output depends on it (embedding's `padding_idx` row).
fn gradcheck_frozen(
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
            if !((a - fd).abs() <= ATOL + RTOL * fd.abs()) {
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
fn constant(host: &Host, i: &Input) -> Tensor {
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
fn gradcheck_case(c: &Case) {
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

// ---------------------------------------------------------------------------------------------
// One gradient check per op with a backward. The test name is the op's name (a trailing `_` is
// dropped), which is how the coverage test below knows what is covered.
// ---------------------------------------------------------------------------------------------

macro_rules! gradcheck_tests {
    ($($(#[$m:meta])* fn $name:ident($($args:tt)*) $body:block)*) => {
        /// Canonical names of the ops gradient-checked in this file.
        fn gradchecked_ops() -> Vec<String> {
            vec![$(format!("ferrite::{}", stringify!($name).trim_end_matches('_'))),*]
        }
        proptest! {
            #![proptest_config(config())]
            $($(#[$m])* #[test] fn $name($($args)*) $body)*
        }
    };
}

gradcheck_tests! {
    fn abs(c in case("ferrite::abs")) {
        gradcheck_case(&c);
    }

    fn relu(c in case("ferrite::relu")) {
        gradcheck_case(&c);
    }

    fn neg(c in case("ferrite::neg")) {
        gradcheck_case(&c);
    }

    fn exp(c in case("ferrite::exp")) {
        gradcheck_case(&c);
    }

    fn log(c in case("ferrite::log")) {
        gradcheck_case(&c);
    }

    fn sqrt(c in case("ferrite::sqrt")) {
        gradcheck_case(&c);
    }

    fn tanh(c in case("ferrite::tanh")) {
        gradcheck_case(&c);
    }

    fn sigmoid(c in case("ferrite::sigmoid")) {
        gradcheck_case(&c);
    }

    fn gelu(c in case("ferrite::gelu")) {
        gradcheck_case(&c);
    }

    fn add(c in case("ferrite::add")) {
        gradcheck_case(&c);
    }

    fn sub(c in case("ferrite::sub")) {
        gradcheck_case(&c);
    }

    fn mul(c in case("ferrite::mul")) {
        gradcheck_case(&c);
    }

    fn div(c in case("ferrite::div")) {
        gradcheck_case(&c);
    }

    fn pow(c in case("ferrite::pow")) {
        gradcheck_case(&c);
    }

    fn where_(c in case("ferrite::where")) {
        gradcheck_case(&c);
    }

    fn matmul(c in case("ferrite::matmul")) {
        gradcheck_case(&c);
    }

    fn bmm(c in case("ferrite::bmm")) {
        gradcheck_case(&c);
    }

    fn sum(c in case("ferrite::sum")) {
        gradcheck_case(&c);
    }

    fn mean(c in case("ferrite::mean")) {
        gradcheck_case(&c);
    }

    fn logsumexp(c in case("ferrite::logsumexp")) {
        gradcheck_case(&c);
    }

    fn max(c in case("ferrite::max")) {
        gradcheck_case(&c);
    }

    fn min(c in case("ferrite::min")) {
        gradcheck_case(&c);
    }

    fn softmax(c in case("ferrite::softmax")) {
        gradcheck_case(&c);
    }

    fn log_softmax(c in case("ferrite::log_softmax")) {
        gradcheck_case(&c);
    }

    fn cross_entropy(c in case("ferrite::cross_entropy")) {
        gradcheck_case(&c);
    }

    fn nll_loss(c in case("ferrite::nll_loss")) {
        gradcheck_case(&c);
    }

    fn mse_loss(c in case("ferrite::mse_loss")) {
        gradcheck_case(&c);
    }

    fn cat(c in case("ferrite::cat")) {
        gradcheck_case(&c);
    }

    fn stack(c in case("ferrite::stack")) {
        gradcheck_case(&c);
    }

    fn index_select(c in case("ferrite::index_select")) {
        gradcheck_case(&c);
    }

    fn gather(c in case("ferrite::gather")) {
        gradcheck_case(&c);
    }

    fn embedding(c in case("ferrite::embedding")) {
        gradcheck_case(&c);
    }

    fn linear(c in case("ferrite::linear")) {
        gradcheck_case(&c);
    }

    fn conv2d(c in case("ferrite::conv2d")) {
        gradcheck_case(&c);
    }

    fn max_pool2d(c in case("ferrite::max_pool2d")) {
        gradcheck_case(&c);
    }

    fn avg_pool2d(c in case("ferrite::avg_pool2d")) {
        gradcheck_case(&c);
    }

    fn adaptive_max_pool2d(c in case("ferrite::adaptive_max_pool2d")) {
        gradcheck_case(&c);
    }

    fn adaptive_avg_pool2d(c in case("ferrite::adaptive_avg_pool2d")) {
        gradcheck_case(&c);
    }

    fn spatial_pyramid_pool(c in case("ferrite::spatial_pyramid_pool")) {
        gradcheck_case(&c);
    }

    fn upsample_nearest2d(c in case("ferrite::upsample_nearest2d")) {
        gradcheck_case(&c);
    }

    fn layer_norm(c in case("ferrite::layer_norm")) {
        gradcheck_case(&c);
    }

    fn batch_norm(c in case("ferrite::batch_norm")) {
        gradcheck_case(&c);
    }

    fn scaled_dot_product_attention(c in case("ferrite::scaled_dot_product_attention")) {
        gradcheck_case(&c);
    }

    fn dropout(c in case("ferrite::dropout")) {
        gradcheck_case(&c);
    }
}

/// The harness itself: a forward that hides part of its dependence from autograd (`x * x.detach()`
/// has gradient `x`, its finite difference is `2x`) must be reported.
#[test]
#[should_panic(expected = "gradient mismatches")]
fn gradcheck_reports_a_wrong_gradient() {
    let mut r = Rng::new(7);
    let x = r.vals(6, 0.5, 2.0);
    gradcheck("x * x.detach()", &[inp(x, &[2, 3], Layout::Transposed)], &mut r, false, |t| F::mul(&t[0], &t[0].detach()));
}

#[test]
fn every_op_with_a_backward_has_a_gradient_check() {
    let _host = with_ops_ref();
    let covered = gradchecked_ops();
    let ops = Runtime::global().registry().summaries();
    assert!(ops.len() > 40, "ops-ref exports only {} ops?", ops.len());
    let missing: Vec<&str> = ops
        .iter()
        .filter(|o| o.kernels.iter().any(|k| k.backward) && !covered.contains(&o.name))
        .map(|o| o.name.as_str())
        .collect();
    assert!(missing.is_empty(), "ops with a backward but no gradient check in ops_ref_gradcheck.rs: {missing:?}");
    for name in &covered {
        let op = ops.iter().find(|o| &o.name == name).unwrap_or_else(|| panic!("{name} is checked but not exported"));
        assert!(op.backward, "{name}: every kernel should have a backward");
    }
}

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
    cases.push(("ferrite::max", Box::new(move |dt| Ok(F::max_dim(&mk(&a, &[2, 3], dt)?, 1, false).map(|(v, i)| vec![v, i])?))));
    let a = nz.clone();
    cases.push(("ferrite::min", Box::new(move |dt| Ok(F::min_dim(&mk(&a, &[2, 3], dt)?, 0, true).map(|(v, i)| vec![v, i])?))));
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
    cases.push(("ferrite::max_pool2d", Box::new(move |dt| Ok(F::max_pool2d_with_indices(&mk(&a, &[2, 3, 4, 4], dt)?, [3, 3], Some([2, 2]), [1, 1], [1, 1], true).map(|(v, i)| vec![v, i])?))));
    let a = x4.clone();
    cases.push(("ferrite::avg_pool2d", Box::new(move |dt| Ok(vec![F::avg_pool2d(&mk(&a, &[2, 3, 4, 4], dt)?, [3, 3], Some([2, 2]), [1, 1], true, false)?]))));
    let a = r.distinct(96, -3.0, 3.0);
    cases.push(("ferrite::adaptive_max_pool2d", Box::new(move |dt| Ok(F::adaptive_max_pool2d(&mk(&a, &[2, 3, 4, 4], dt)?, [3, 5]).map(|(v, i)| vec![v, i])?))));
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
