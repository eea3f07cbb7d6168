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
//!
//! Each gradient-checked op has its own test named after it (`ferrite::x` → `x`, `where_` for
//! `ferrite::where`); `every_op_with_a_backward_has_a_gradient_check` fails when ops-ref exports
//! an op with a backward that has no test here. Forward values of a few ops are checked against
//! independent computations, and `f32_kernels_agree_with_f64_for_every_forward_op` runs every
//! exported op in both precisions.

use ferrite_core::Runtime;
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

/// A small deterministic generator (splitmix64) for the values of a case; proptest picks the seed.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unif(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
    /// `n` values in `[lo, hi)`, each exactly representable in f32 (so f32 and f64 runs see the
    /// same inputs).
    fn vals(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| f32r(lo + (hi - lo) * self.unif())).collect()
    }
    fn perm(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, self.below(i + 1));
        }
        p
    }
    /// `n` distinct values in `[lo, hi)`, at least `0.25·(hi-lo)/n` apart (no ties for max/min).
    fn distinct(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        let step = (hi - lo) / n.max(1) as f64;
        self.perm(n).into_iter().map(|k| f32r(lo + step * (k as f64 + 0.25 + 0.5 * self.unif()))).collect()
    }
    /// `n` values with distinct magnitudes in `[0.1, ...)` and random signs: no ties, no zeros.
    fn distinct_nonzero(&mut self, n: usize) -> Vec<f64> {
        self.perm(n)
            .into_iter()
            .map(|k| {
                let m = 0.1 + 0.25 * k as f64 + 0.1 * self.unif();
                f32r(if self.coin() { m } else { -m })
            })
            .collect()
    }
    /// Magnitudes in `[lo, hi)` with random signs.
    fn signed(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let m = lo + (hi - lo) * self.unif();
                f32r(if self.coin() { m } else { -m })
            })
            .collect()
    }
}

fn f32r(v: f64) -> f64 {
    v as f32 as f64
}

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// Memory layout of a generated tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    /// Compact row-major.
    Contig,
    /// A `transpose(-2, -1)` view of a compact tensor (falls back to `Sliced` for 1-d).
    Transposed,
    /// Every other element of a wider last dim (`slice(-1, 1, 2n+1, 2)`): stride 2, offset 1,
    /// junk in between.
    Sliced,
}

fn config() -> ProptestConfig {
    // No regression files written next to the sources; failures print the minimal input.
    // `PROPTEST_CASES=n` runs more (or fewer) cases.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::Contig), Just(Layout::Transposed), Just(Layout::Sliced)]
}

fn shape(min_nd: usize, max_nd: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=4, min_nd..=max_nd)
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

/// Reduces `full` for broadcasting: maybe drops leading dims, sets some dims to 1.
fn bshape(r: &mut Rng, full: &[usize]) -> Vec<usize> {
    let drop = if r.below(3) == 0 { r.below(full.len() + 1) } else { 0 };
    full[drop..].iter().map(|&d| if r.below(3) == 0 { 1 } else { d }).collect()
}

/// A dim index of an `nd`-d tensor, negative half the time.
fn pick_dim(r: &mut Rng, nd: usize) -> isize {
    let d = r.below(nd.max(1)) as isize;
    if r.coin() {
        d - nd.max(1) as isize
    } else {
        d
    }
}

const REDUCTIONS: [Reduction; 3] = [Reduction::None, Reduction::Mean, Reduction::Sum];

fn bool_tensor(host: &Host, r: &mut Rng, shape: &[usize]) -> Tensor {
    let v: Vec<u8> = (0..numel(shape)).map(|_| r.coin() as u8).collect();
    host.from_slice(&v, shape).unwrap().to_dtype(DType::BOOL).unwrap()
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
    fn abs(s in shape(0, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let x = r.distinct_nonzero(numel(&s));
        gradcheck("ferrite::abs", &[inp(x, &s, lay)], &mut r, tr, |t| F::abs(&t[0]));
    }

    fn relu(s in shape(0, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let x = r.distinct_nonzero(numel(&s));
        gradcheck("ferrite::relu", &[inp(x, &s, lay)], &mut r, tr, |t| F::relu(&t[0]));
    }

    fn neg(s in shape(0, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let x = r.vals(numel(&s), -2.0, 2.0);
        gradcheck("ferrite::neg", &[inp(x, &s, lay)], &mut r, tr, |t| F::neg(&t[0]));
    }

    fn exp(s in shape(0, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let x = r.vals(numel(&s), -2.0, 2.0);
        gradcheck("ferrite::exp", &[inp(x, &s, lay)], &mut r, tr, |t| F::exp(&t[0]));
    }

    fn log(s in shape(0, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let x = r.vals(numel(&s), 0.2, 3.0);
        gradcheck("ferrite::log", &[inp(x, &s, lay)], &mut r, tr, |t| F::log(&t[0]));
    }

    fn sqrt(s in shape(0, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let x = r.vals(numel(&s), 0.2, 3.0);
        gradcheck("ferrite::sqrt", &[inp(x, &s, lay)], &mut r, tr, |t| F::sqrt(&t[0]));
    }

    fn tanh(s in shape(0, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let x = r.vals(numel(&s), -2.0, 2.0);
        gradcheck("ferrite::tanh", &[inp(x, &s, lay)], &mut r, tr, |t| F::tanh(&t[0]));
    }

    fn sigmoid(s in shape(0, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let x = r.vals(numel(&s), -3.0, 3.0);
        gradcheck("ferrite::sigmoid", &[inp(x, &s, lay)], &mut r, tr, |t| F::sigmoid(&t[0]));
    }

    fn gelu(s in shape(0, 4), lay in layout(), tanh_approx in any::<bool>(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let x = r.vals(numel(&s), -3.0, 3.0);
        let approx = if tanh_approx { "tanh" } else { "none" };
        gradcheck("ferrite::gelu", &[inp(x, &s, lay)], &mut r, tr, |t| F::gelu(&t[0], approx));
    }

    fn add(full in shape(0, 4), la in layout(), lb in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let (sa, sb) = (bshape(&mut r, &full), bshape(&mut r, &full));
        let (a, b) = (r.vals(numel(&sa), -2.0, 2.0), r.vals(numel(&sb), -2.0, 2.0));
        gradcheck("ferrite::add", &[inp(a, &sa, la), inp(b, &sb, lb)], &mut r, tr, |t| F::add(&t[0], &t[1]));
    }

    fn sub(full in shape(0, 4), la in layout(), lb in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let (sa, sb) = (bshape(&mut r, &full), bshape(&mut r, &full));
        let (a, b) = (r.vals(numel(&sa), -2.0, 2.0), r.vals(numel(&sb), -2.0, 2.0));
        gradcheck("ferrite::sub", &[inp(a, &sa, la), inp(b, &sb, lb)], &mut r, tr, |t| F::sub(&t[0], &t[1]));
    }

    fn mul(full in shape(0, 4), la in layout(), lb in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let (sa, sb) = (bshape(&mut r, &full), bshape(&mut r, &full));
        let (a, b) = (r.vals(numel(&sa), -2.0, 2.0), r.vals(numel(&sb), -2.0, 2.0));
        gradcheck("ferrite::mul", &[inp(a, &sa, la), inp(b, &sb, lb)], &mut r, tr, |t| F::mul(&t[0], &t[1]));
    }

    fn div(full in shape(0, 4), la in layout(), lb in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let (sa, sb) = (bshape(&mut r, &full), bshape(&mut r, &full));
        let (a, b) = (r.vals(numel(&sa), -2.0, 2.0), r.signed(numel(&sb), 0.5, 2.0));
        gradcheck("ferrite::div", &[inp(a, &sa, la), inp(b, &sb, lb)], &mut r, tr, |t| F::div(&t[0], &t[1]));
    }

    fn pow(full in shape(0, 4), la in layout(), lb in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let (sa, sb) = (bshape(&mut r, &full), bshape(&mut r, &full));
        let (a, b) = (r.vals(numel(&sa), 0.4, 2.0), r.vals(numel(&sb), -2.0, 2.5));
        gradcheck("ferrite::pow", &[inp(a, &sa, la), inp(b, &sb, lb)], &mut r, tr, |t| F::pow(&t[0], &t[1]));
    }

    fn where_(full in shape(0, 4), la in layout(), lb in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let host = with_ops_ref();
        let sc = bshape(&mut r, &full);
        let cond = bool_tensor(&host, &mut r, &sc);
        let (sa, sb) = (bshape(&mut r, &full), bshape(&mut r, &full));
        let (a, b) = (r.vals(numel(&sa), -2.0, 2.0), r.vals(numel(&sb), -2.0, 2.0));
        gradcheck("ferrite::where", &[inp(a, &sa, la), inp(b, &sb, lb)], &mut r, tr, |t| F::where_(&cond, &t[0], &t[1]));
    }

    fn matmul(kind in 0usize..7, (n, k, m, b) in (1usize..=4, 1usize..=4, 1usize..=4, 1usize..=3), la in layout(), lb in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let (sa, sb): (Vec<usize>, Vec<usize>) = match kind {
            0 => (vec![k], vec![k]),
            1 => (vec![k], vec![k, m]),
            2 => (vec![n, k], vec![k]),
            3 => (vec![n, k], vec![k, m]),
            4 => (vec![b, n, k], vec![k, m]),
            5 => (vec![b, 1, n, k], vec![2, k, m]),
            _ => (vec![k], vec![b, k, m]),
        };
        let (x, y) = (r.vals(numel(&sa), -2.0, 2.0), r.vals(numel(&sb), -2.0, 2.0));
        gradcheck("ferrite::matmul", &[inp(x, &sa, la), inp(y, &sb, lb)], &mut r, tr, |t| F::matmul(&t[0], &t[1]));
    }

    fn bmm((bt, n, k, m) in (1usize..=3, 1usize..=4, 1usize..=4, 1usize..=4), la in layout(), lb in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let (sa, sb) = (vec![bt, n, k], vec![bt, k, m]);
        let (x, y) = (r.vals(numel(&sa), -2.0, 2.0), r.vals(numel(&sb), -2.0, 2.0));
        gradcheck("ferrite::bmm", &[inp(x, &sa, la), inp(y, &sb, lb)], &mut r, tr, |t| F::bmm(&t[0], &t[1]));
    }

    fn sum(s in shape(0, 4), lay in layout(), mask in prop::collection::vec(any::<bool>(), 4), keep in any::<bool>(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let dims = reduce_dims(&mut r, &s, &mask);
        let x = r.vals(numel(&s), -2.0, 2.0);
        gradcheck("ferrite::sum", &[inp(x, &s, lay)], &mut r, tr, |t| F::sum(&t[0], &dims, keep));
    }

    fn mean(s in shape(0, 4), lay in layout(), mask in prop::collection::vec(any::<bool>(), 4), keep in any::<bool>(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let dims = reduce_dims(&mut r, &s, &mask);
        let x = r.vals(numel(&s), -2.0, 2.0);
        gradcheck("ferrite::mean", &[inp(x, &s, lay)], &mut r, tr, |t| F::mean(&t[0], &dims, keep));
    }

    fn logsumexp(s in shape(0, 4), lay in layout(), mask in prop::collection::vec(any::<bool>(), 4), keep in any::<bool>(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let dims = reduce_dims(&mut r, &s, &mask);
        let x = r.vals(numel(&s), -3.0, 3.0);
        gradcheck("ferrite::logsumexp", &[inp(x, &s, lay)], &mut r, tr, |t| F::logsumexp(&t[0], &dims, keep));
    }

    fn max(s in shape(1, 4), lay in layout(), keep in any::<bool>(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let dim = pick_dim(&mut r, s.len());
        let x = r.distinct(numel(&s), -3.0, 3.0);
        gradcheck("ferrite::max", &[inp(x, &s, lay)], &mut r, tr, |t| Ok(F::max_dim(&t[0], dim, keep)?.0));
    }

    fn min(s in shape(1, 4), lay in layout(), keep in any::<bool>(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let dim = pick_dim(&mut r, s.len());
        let x = r.distinct(numel(&s), -3.0, 3.0);
        gradcheck("ferrite::min", &[inp(x, &s, lay)], &mut r, tr, |t| Ok(F::min_dim(&t[0], dim, keep)?.0));
    }

    fn softmax(s in shape(1, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let dim = pick_dim(&mut r, s.len());
        let x = r.vals(numel(&s), -3.0, 3.0);
        gradcheck("ferrite::softmax", &[inp(x, &s, lay)], &mut r, tr, |t| F::softmax(&t[0], dim));
    }

    fn log_softmax(s in shape(1, 4), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let dim = pick_dim(&mut r, s.len());
        let x = r.vals(numel(&s), -3.0, 3.0);
        gradcheck("ferrite::log_softmax", &[inp(x, &s, lay)], &mut r, tr, |t| F::log_softmax(&t[0], dim));
    }

    fn cross_entropy((n, c) in (1usize..=5, 1usize..=5), lay in layout(), lt in layout(), weighted in any::<bool>(), ign in 0usize..3, ls in 0usize..3, red in 0usize..3, seed in any::<u64>()) {
        let mut r = Rng::new(seed);
        let host = with_ops_ref();
        let (target, ignore_index) = class_targets(&mut r, n, c, ign);
        let target = make_i64(&host, &target, &[n], lt);
        let weight = weighted.then(|| host.from_slice(&r.vals(c, 0.5, 2.0), &[c]).unwrap());
        let smoothing = [0.0, 0.1, 0.35][ls];
        let x = r.vals(n * c, -2.0, 2.0);
        gradcheck("ferrite::cross_entropy", &[inp(x, &[n, c], lay)], &mut r, false, |t| {
            F::cross_entropy(&t[0], &target, weight.as_ref(), ignore_index, smoothing, REDUCTIONS[red])
        });
    }

    fn nll_loss((n, c) in (1usize..=5, 1usize..=5), lay in layout(), lt in layout(), weighted in any::<bool>(), ign in 0usize..3, red in 0usize..3, seed in any::<u64>()) {
        let mut r = Rng::new(seed);
        let host = with_ops_ref();
        let (target, ignore_index) = class_targets(&mut r, n, c, ign);
        let target = make_i64(&host, &target, &[n], lt);
        let weight = weighted.then(|| host.from_slice(&r.vals(c, 0.5, 2.0), &[c]).unwrap());
        let x = r.vals(n * c, -3.0, 0.0);
        gradcheck("ferrite::nll_loss", &[inp(x, &[n, c], lay)], &mut r, false, |t| {
            F::nll_loss(&t[0], &target, weight.as_ref(), ignore_index, REDUCTIONS[red])
        });
    }

    fn mse_loss(s in shape(0, 4), la in layout(), lb in layout(), red in 0usize..3, seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let (a, b) = (r.vals(numel(&s), -2.0, 2.0), r.vals(numel(&s), -2.0, 2.0));
        gradcheck("ferrite::mse_loss", &[inp(a, &s, la), inp(b, &s, lb)], &mut r, tr, |t| F::mse_loss(&t[0], &t[1], REDUCTIONS[red]));
    }

    fn cat(base in shape(1, 3), count in 1usize..=3, lays in prop::collection::vec(layout(), 3), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let dim = pick_dim(&mut r, base.len());
        let d = dim.rem_euclid(base.len() as isize) as usize;
        let ins: Vec<In> = (0..count)
            .map(|i| {
                let mut s = base.clone();
                s[d] = 1 + r.below(3);
                inp(r.vals(numel(&s), -2.0, 2.0), &s, lays[i])
            })
            .collect();
        gradcheck("ferrite::cat", &ins, &mut r, tr, |t| F::cat(&t.iter().collect::<Vec<_>>(), dim));
    }

    fn stack(s in shape(0, 3), count in 1usize..=3, lays in prop::collection::vec(layout(), 3), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let dim = pick_dim(&mut r, s.len() + 1);
        let ins: Vec<In> = (0..count).map(|i| inp(r.vals(numel(&s), -2.0, 2.0), &s, lays[i])).collect();
        gradcheck("ferrite::stack", &ins, &mut r, tr, |t| F::stack(&t.iter().collect::<Vec<_>>(), dim));
    }

    fn index_select(s in shape(1, 3), lay in layout(), li in layout(), len in 1usize..=5, seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let host = with_ops_ref();
        let dim = pick_dim(&mut r, s.len());
        let size = s[dim.rem_euclid(s.len() as isize) as usize];
        // Repeats are likely: the backward must accumulate.
        let idx: Vec<i64> = (0..len).map(|_| r.below(size) as i64).collect();
        let index = make_i64(&host, &idx, &[len], li);
        let x = r.vals(numel(&s), -2.0, 2.0);
        gradcheck("ferrite::index_select", &[inp(x, &s, lay)], &mut r, tr, |t| F::index_select(&t[0], dim, &index));
    }

    fn gather(s in shape(1, 3), lay in layout(), li in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let host = with_ops_ref();
        let dim = pick_dim(&mut r, s.len());
        let d = dim.rem_euclid(s.len() as isize) as usize;
        let is: Vec<usize> = s.iter().enumerate().map(|(k, &n)| if k == d { 1 + r.below(4) } else { 1 + r.below(n) }).collect();
        let idx: Vec<i64> = (0..numel(&is)).map(|_| r.below(s[d]) as i64).collect();
        let index = make_i64(&host, &idx, &is, li);
        let x = r.vals(numel(&s), -2.0, 2.0);
        gradcheck("ferrite::gather", &[inp(x, &s, lay)], &mut r, tr, |t| F::gather(&t[0], dim, &index));
    }

    fn embedding((v, d) in (1usize..=5, 1usize..=4), is in shape(0, 2), lay in layout(), li in layout(), pad in any::<bool>(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let host = with_ops_ref();
        let idx: Vec<i64> = (0..numel(&is)).map(|_| r.below(v) as i64).collect();
        let index = make_i64(&host, &idx, &is, li);
        let padding_idx = pad.then(|| r.below(v));
        let w = r.vals(v * d, -2.0, 2.0);
        // The padding row gets no gradient by definition (its forward value is still read).
        let frozen = |_k: usize, j: usize| padding_idx == Some(j / d);
        gradcheck_frozen("ferrite::embedding", &[inp(w, &[v, d], lay)], &mut r, tr, frozen, |t| F::embedding(&index, &t[0], padding_idx));
    }

    fn linear(lead in shape(0, 2), (fin, fout) in (1usize..=4, 1usize..=4), bias in any::<bool>(), (lx, lw, lb) in (layout(), layout(), layout()), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let sx = [lead.clone(), vec![fin]].concat();
        let mut ins = vec![inp(r.vals(numel(&sx), -2.0, 2.0), &sx, lx), inp(r.vals(fout * fin, -1.0, 1.0), &[fout, fin], lw)];
        if bias {
            ins.push(inp(r.vals(fout, -1.0, 1.0), &[fout], lb));
        }
        gradcheck("ferrite::linear", &ins, &mut r, tr, |t| F::linear(&t[0], &t[1], t.get(2)));
    }

    fn conv2d(
        (n, g, cg, og) in (1usize..=2, 1usize..=2, 1usize..=2, 1usize..=2),
        (kh, kw, eh, ew) in (1usize..=3, 1usize..=3, 0usize..=3, 0usize..=3),
        (s, p, d) in ((1usize..=2, 1usize..=2), (0usize..=1, 0usize..=1), (1usize..=2, 1usize..=2)),
        bias in any::<bool>(),
        (lx, lw) in (layout(), layout()),
        seed in any::<u64>(),
        tr in any::<bool>(),
    ) {
        let mut r = Rng::new(seed);
        let h = (d.0 * (kh - 1) + 1).saturating_sub(2 * p.0).max(1) + eh;
        let w = (d.1 * (kw - 1) + 1).saturating_sub(2 * p.1).max(1) + ew;
        let (c, o) = (g * cg, g * og);
        let sx = [n, c, h, w];
        let sw = [o, cg, kh, kw];
        let mut ins = vec![inp(r.vals(numel(&sx), -1.0, 1.0), &sx, lx), inp(r.vals(numel(&sw), -1.0, 1.0), &sw, lw)];
        if bias {
            ins.push(inp(r.vals(o, -1.0, 1.0), &[o], Layout::Sliced));
        }
        gradcheck("ferrite::conv2d", &ins, &mut r, tr, |t| {
            F::conv2d(&t[0], &t[1], t.get(2), [s.0, s.1], [p.0, p.1], [d.0, d.1], g)
        });
    }

    fn max_pool2d(
        lead in shape(1, 2),
        (kh, kw, eh, ew) in (1usize..=3, 1usize..=3, 0usize..=3, 0usize..=3),
        (s, default_stride, dil) in ((1usize..=3, 1usize..=3), any::<bool>(), (1usize..=2, 1usize..=2)),
        (pp, ceil) in ((0usize..=1, 0usize..=1), any::<bool>()),
        lay in layout(),
        seed in any::<u64>(),
        tr in any::<bool>(),
    ) {
        let mut r = Rng::new(seed);
        let p = [pp.0.min(kh / 2), pp.1.min(kw / 2)];
        // Dilation only without padding, so no window covers padding alone (-inf output).
        let dl = [if p[0] == 0 { dil.0 } else { 1 }, if p[1] == 0 { dil.1 } else { 1 }];
        let h = (dl[0] * (kh - 1) + 1).saturating_sub(2 * p[0]).max(1) + eh;
        let w = (dl[1] * (kw - 1) + 1).saturating_sub(2 * p[1]).max(1) + ew;
        let sx = [lead.clone(), vec![h, w]].concat();
        let stride = (!default_stride).then_some([s.0, s.1]);
        let x = r.distinct(numel(&sx), -3.0, 3.0);
        gradcheck("ferrite::max_pool2d", &[inp(x, &sx, lay)], &mut r, tr, |t| {
            Ok(F::max_pool2d_with_indices(&t[0], [kh, kw], stride, p, dl, ceil)?.0)
        });
    }

    fn avg_pool2d(
        lead in shape(1, 2),
        (kh, kw, eh, ew) in (1usize..=3, 1usize..=3, 0usize..=3, 0usize..=3),
        (s, default_stride) in ((1usize..=3, 1usize..=3), any::<bool>()),
        (pp, ceil, include_pad) in ((0usize..=1, 0usize..=1), any::<bool>(), any::<bool>()),
        lay in layout(),
        seed in any::<u64>(),
        tr in any::<bool>(),
    ) {
        let mut r = Rng::new(seed);
        let p = [pp.0.min(kh / 2), pp.1.min(kw / 2)];
        let h = kh.saturating_sub(2 * p[0]).max(1) + eh;
        let w = kw.saturating_sub(2 * p[1]).max(1) + ew;
        let sx = [lead.clone(), vec![h, w]].concat();
        let stride = (!default_stride).then_some([s.0, s.1]);
        let x = r.vals(numel(&sx), -2.0, 2.0);
        gradcheck("ferrite::avg_pool2d", &[inp(x, &sx, lay)], &mut r, tr, |t| {
            F::avg_pool2d(&t[0], [kh, kw], stride, p, ceil, include_pad)
        });
    }

    fn adaptive_max_pool2d(lead in shape(1, 2), (h, w) in (1usize..=5, 1usize..=5), (oh, ow) in (1usize..=7, 1usize..=7), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let sx = [lead.clone(), vec![h, w]].concat();
        let x = r.distinct(numel(&sx), -3.0, 3.0);
        gradcheck("ferrite::adaptive_max_pool2d", &[inp(x, &sx, lay)], &mut r, tr, |t| Ok(F::adaptive_max_pool2d(&t[0], [oh, ow])?.0));
    }

    fn adaptive_avg_pool2d(lead in shape(1, 2), (h, w) in (1usize..=5, 1usize..=5), (oh, ow) in (1usize..=7, 1usize..=7), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let sx = [lead.clone(), vec![h, w]].concat();
        let x = r.vals(numel(&sx), -2.0, 2.0);
        gradcheck("ferrite::adaptive_avg_pool2d", &[inp(x, &sx, lay)], &mut r, tr, |t| F::adaptive_avg_pool2d(&t[0], [oh, ow]));
    }

    fn spatial_pyramid_pool((n, c) in (1usize..=2, 1usize..=3), (h, w) in (1usize..=5, 1usize..=5), levels in prop::sample::subsequence(vec![1usize, 2, 3, 4], 1..=3), max_mode in any::<bool>(), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let sx = [n, c, h, w];
        let (x, mode) = if max_mode { (r.distinct(numel(&sx), -3.0, 3.0), "max") } else { (r.vals(numel(&sx), -2.0, 2.0), "avg") };
        gradcheck("ferrite::spatial_pyramid_pool", &[inp(x, &sx, lay)], &mut r, tr, |t| F::spatial_pyramid_pool(&t[0], &levels, mode));
    }

    fn upsample_nearest2d(lead in shape(1, 2), (h, w) in (1usize..=4, 1usize..=4), (oh, ow) in (1usize..=9, 1usize..=9), lay in layout(), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let sx = [lead.clone(), vec![h, w]].concat();
        let x = r.vals(numel(&sx), -2.0, 2.0);
        gradcheck("ferrite::upsample_nearest2d", &[inp(x, &sx, lay)], &mut r, tr, |t| F::upsample_nearest2d(&t[0], [oh, ow]));
    }

    fn layer_norm(s in shape(1, 4), k in 1usize..=2, (aff_w, aff_b) in (any::<bool>(), any::<bool>()), (lx, lw, lb) in (layout(), layout(), layout()), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let k = k.min(s.len());
        let ns = s[s.len() - k..].to_vec();
        let mut ins = vec![inp(r.vals(numel(&s), -2.0, 2.0), &s, lx)];
        let (wi, bi) = (aff_w.then(|| ins.len()), aff_b.then(|| ins.len() + aff_w as usize));
        if aff_w {
            ins.push(inp(r.vals(numel(&ns), 0.5, 1.5), &ns, lw));
        }
        if aff_b {
            ins.push(inp(r.vals(numel(&ns), -1.0, 1.0), &ns, lb));
        }
        gradcheck("ferrite::layer_norm", &ins, &mut r, tr, |t| {
            F::layer_norm(&t[0], &ns, wi.map(|i| &t[i]), bi.map(|i| &t[i]), 1e-5)
        });
    }

    fn batch_norm((n, c) in (1usize..=3, 1usize..=3), sp in shape(0, 2), training in any::<bool>(), (aff_w, aff_b, running) in (any::<bool>(), any::<bool>(), any::<bool>()), (lx, lw) in (layout(), layout()), seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let host = with_ops_ref();
        let sx = [vec![n, c], sp.clone()].concat();
        prop_assume!(!training || n * numel(&sp) >= 2);
        let running = running || !training;
        let (rm, rv) = if running {
            (Some(host.from_slice(&r.vals(c, -0.5, 0.5), &[c]).unwrap()), Some(host.from_slice(&r.vals(c, 0.5, 2.0), &[c]).unwrap()))
        } else {
            (None, None)
        };
        let mut ins = vec![inp(r.vals(numel(&sx), -2.0, 2.0), &sx, lx)];
        let (wi, bi) = (aff_w.then(|| ins.len()), aff_b.then(|| ins.len() + aff_w as usize));
        if aff_w {
            ins.push(inp(r.vals(c, 0.5, 1.5), &[c], lw));
        }
        if aff_b {
            ins.push(inp(r.vals(c, -1.0, 1.0), &[c], Layout::Sliced));
        }
        gradcheck("ferrite::batch_norm", &ins, &mut r, tr, |t| {
            Ok(F::batch_norm(&t[0], rm.as_ref(), rv.as_ref(), wi.map(|i| &t[i]), bi.map(|i| &t[i]), training, 0.1, 1e-5)?.output)
        });
    }

    fn scaled_dot_product_attention(
        batch in shape(1, 2),
        (l, s, e, ev) in (1usize..=4, 1usize..=4, 1usize..=3, 1usize..=3),
        (mask_kind, causal, scaled) in (0usize..3, any::<bool>(), any::<bool>()),
        (lq, lk, lv) in (layout(), layout(), layout()),
        seed in any::<u64>(),
        tr in any::<bool>(),
    ) {
        let mut r = Rng::new(seed);
        let host = with_ops_ref();
        let (sq, sk, sv) = ([batch.clone(), vec![l, e]].concat(), [batch.clone(), vec![s, e]].concat(), [batch.clone(), vec![s, ev]].concat());
        // A mask broadcast over the batch dims (and over queries half the time).
        let ms = if r.coin() { vec![l, s] } else { vec![1, s] };
        let mask = match mask_kind {
            1 => Some(bool_tensor(&host, &mut r, &ms)),
            2 => Some(host.from_slice(&r.vals(numel(&ms), -1.0, 1.0), &ms).unwrap()),
            _ => None,
        };
        let scale = scaled.then_some(0.7);
        let ins = [inp(r.vals(numel(&sq), -1.5, 1.5), &sq, lq), inp(r.vals(numel(&sk), -1.5, 1.5), &sk, lk), inp(r.vals(numel(&sv), -1.5, 1.5), &sv, lv)];
        gradcheck("ferrite::scaled_dot_product_attention", &ins, &mut r, tr, |t| {
            F::scaled_dot_product_attention(&t[0], &t[1], &t[2], mask.as_ref(), causal, scale)
        });
    }

    fn dropout(s in shape(1, 3), lay in layout(), pi in 0usize..3, seed in any::<u64>(), tr in any::<bool>()) {
        let mut r = Rng::new(seed);
        let p = [0.2, 0.5, 0.8][pi];
        // A fixed seed attribute: the same mask for the forward, the backward and every
        // finite-difference evaluation (F::dropout draws a new seed per call).
        let op_seed = (seed >> 2) as i64;
        let x = r.vals(numel(&s), -2.0, 2.0);
        gradcheck("ferrite::dropout", &[inp(x, &s, lay)], &mut r, tr, |t| {
            Ok(ferrite_sdk::call!("ferrite::dropout", [Some(&t[0])], [p, true, op_seed], 2)?.remove(0))
        });
    }
}

/// Dims for a reduction: those set in `mask` (some negative), empty meaning all.
fn reduce_dims(r: &mut Rng, s: &[usize], mask: &[bool]) -> Vec<isize> {
    let nd = s.len();
    (0..nd).filter(|&d| mask[d]).map(|d| if r.coin() { d as isize - nd as isize } else { d as isize }).collect()
}

/// Targets for `n` samples of `c` classes and the ignore_index: `ign` 0 = none ignored
/// (default -100), 1 = some targets are -100, 2 = class 0 is the ignore_index. Sample 0 is never
/// ignored, so a mean has a non-zero normaliser.
fn class_targets(r: &mut Rng, n: usize, c: usize, ign: usize) -> (Vec<i64>, i64) {
    let mut t: Vec<i64> = (0..n).map(|_| r.below(c) as i64).collect();
    match ign {
        1 => {
            for v in t.iter_mut().skip(1) {
                if r.below(3) == 0 {
                    *v = -100;
                }
            }
            (t, -100)
        }
        2 if c >= 2 => {
            t[0] = 1 + r.below(c - 1) as i64;
            (t, 0)
        }
        _ => (t, -100),
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
