//! Tests of the FlashAttention kernels against a naive f64 attention (materialised scores),
//! finite differences, the C02 field case, every dtype, strided views and both backward modes.

use super::*;
use ferrite_sdk::abi::kernel::{attr_kind, status};
use ferrite_sdk::kernel::io::{read_f64, store_f64};

#[path = "flash_attention_testhost.rs"]
mod testhost;
use testhost::{ctx, last_kernel_error, set_threads};

// ---------------------------------------------------------------- helpers

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unif(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn sym(&mut self) -> f64 {
        2.0 * self.unif() - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.sym()).collect()
    }
}

/// An owned tensor with arbitrary strides and byte offset, viewable as a [`TensorView`].
struct Tens {
    buf: Vec<u64>,
    dtype: DType,
    shape: Vec<i64>,
    strides: Vec<i64>,
    offset: u64,
}

impl Tens {
    /// `vals` (row-major over `shape`) stored with dims laid out in memory in the order `perm`
    /// (identity = contiguous) after `pad` leading elements.
    fn strided(dtype: DType, shape: &[usize], vals: &[f64], perm: &[usize], pad: usize) -> Tens {
        let n: usize = shape.iter().product();
        assert_eq!(n, vals.len());
        let st: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let mut strides = vec![0i64; shape.len()];
        let mut acc = 1i64;
        for i in (0..st.len()).rev() {
            strides[perm[i]] = acc;
            acc *= st[i] as i64;
        }
        let bytes = (n + pad) * dtype.size();
        let t = Tens {
            buf: vec![0u64; bytes.div_ceil(8) + 1],
            dtype,
            shape: shape.iter().map(|&d| d as i64).collect(),
            strides,
            offset: (pad * dtype.size()) as u64,
        };
        let v = t.view();
        let mut i = 0;
        unsafe {
            ferrite_sdk::kernel::io::for_each_element(&v, |_, p| {
                store_f64(p, dtype, vals[i]);
                i += 1;
            })
        };
        t
    }
    fn new(dtype: DType, shape: &[usize], vals: &[f64]) -> Tens {
        let perm: Vec<usize> = (0..shape.len()).collect();
        Tens::strided(dtype, shape, vals, &perm, 0)
    }
    fn zeros(dtype: DType, shape: &[usize]) -> Tens {
        Tens::new(dtype, shape, &vec![0.0; shape.iter().product()])
    }
    /// A `shape` view of `src` (row-major, shape `src_shape`) broadcast with stride 0 over the
    /// dims where `src_shape` (right-aligned) has size 1 or is missing.
    fn expanded(dtype: DType, src_shape: &[usize], vals: &[f64], shape: &[usize]) -> Tens {
        let mut t = Tens::new(dtype, src_shape, vals);
        let off = shape.len() - src_shape.len();
        let mut strides = vec![0i64; shape.len()];
        for d in 0..src_shape.len() {
            strides[off + d] = if src_shape[d] == 1 { 0 } else { t.strides[d] };
        }
        t.shape = shape.iter().map(|&d| d as i64).collect();
        t.strides = strides;
        t
    }
    fn view(&self) -> TensorView {
        TensorView {
            data: self.buf.as_ptr() as *mut std::ffi::c_void,
            device: ferrite_sdk::Device::CPU,
            ndim: self.shape.len() as i32,
            dtype: self.dtype,
            shape: self.shape.as_ptr(),
            strides: self.strides.as_ptr(),
            byte_offset: self.offset,
        }
    }
    fn values(&self) -> Vec<f64> {
        unsafe { read_f64(&self.view()) }
    }
}

fn attrs(causal: bool, scale: Option<f64>) -> [AttrValue; 2] {
    let mut a = [AttrValue::NONE; 2];
    a[0].kind = attr_kind::BOOL;
    a[0].int = causal as i64;
    if let Some(s) = scale {
        a[1].kind = attr_kind::FLOAT;
        a[1].float = s;
    }
    a
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Bool,
    Float,
}

#[derive(Clone, Debug)]
struct Case {
    batch: Vec<usize>,
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
    causal: bool,
    scale: Option<f64>,
    /// (kind, shape, row-major values) — bool values are 0/1.
    mask: Option<(Kind, Vec<usize>, Vec<f64>)>,
}

impl Case {
    fn nb(&self) -> usize {
        self.batch.iter().product()
    }
    fn shp(&self, a: usize, b: usize) -> Vec<usize> {
        [self.batch.clone(), vec![a, b]].concat()
    }
}

/// Naive f64 attention with the full score matrix: (out, dq, dk, dv) for upstream grad `d_o`.
#[allow(clippy::type_complexity)]
fn naive(c: &Case, q: &[f64], k: &[f64], v: &[f64], d_o: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (nb, l, s, e, ev) = (c.nb(), c.l, c.s, c.e, c.ev);
    let scale = c.scale.unwrap_or(1.0 / (e as f64).sqrt());
    let full = c.shp(l, s);
    let mut out = vec![0.0; nb * l * ev];
    let (mut dq, mut dk, mut dv) = (vec![0.0; nb * l * e], vec![0.0; nb * s * e], vec![0.0; nb * s * ev]);
    for b in 0..nb {
        for i in 0..l {
            let mut sc = vec![f64::NEG_INFINITY; s];
            for j in 0..s {
                let mut x = scale * (0..e).map(|t| q[(b * l + i) * e + t] * k[(b * s + j) * e + t]).sum::<f64>();
                let mut ok = !c.causal || j <= i;
                if let Some((kind, ms, mv)) = &c.mask {
                    // index of (b, i, j) in the full [batch..., L, S] shape, then broadcast
                    let flat = (b * l + i) * s + j;
                    let idx = ferrite_sdk::kernel::array::unravel(flat, &full);
                    let m = mv[ferrite_sdk::kernel::array::broadcast_index(&idx, ms)];
                    match kind {
                        Kind::Bool => ok &= m != 0.0,
                        Kind::Float => x += m,
                    }
                }
                if ok {
                    sc[j] = x;
                }
            }
            let mx = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if mx == f64::NEG_INFINITY {
                continue;
            }
            let mut p: Vec<f64> = sc.iter().map(|&x| (x - mx).exp()).collect();
            let z: f64 = p.iter().sum();
            p.iter_mut().for_each(|x| *x /= z);
            let oi = (b * l + i) * ev;
            for j in 0..s {
                for t in 0..ev {
                    out[oi + t] += p[j] * v[(b * s + j) * ev + t];
                    dv[(b * s + j) * ev + t] += p[j] * d_o[oi + t];
                }
            }
            let dp: Vec<f64> = (0..s).map(|j| (0..ev).map(|t| d_o[oi + t] * v[(b * s + j) * ev + t]).sum()).collect();
            let dd: f64 = (0..s).map(|j| p[j] * dp[j]).sum();
            for j in 0..s {
                let ds = p[j] * (dp[j] - dd) * scale;
                for t in 0..e {
                    dq[(b * l + i) * e + t] += ds * k[(b * s + j) * e + t];
                    dk[(b * s + j) * e + t] += ds * q[(b * l + i) * e + t];
                }
            }
        }
    }
    (out, dq, dk, dv)
}

/// Result of running the kernels: out, dq, dk, dv (as f64) and the statuses.
struct Run {
    out: Vec<f64>,
    dq: Vec<f64>,
    dk: Vec<f64>,
    dv: Vec<f64>,
}

struct Inputs {
    q: Tens,
    k: Tens,
    v: Tens,
    m: Option<Tens>,
    d_o: Tens,
}

/// Lays the inputs out (contiguous, or strided: q/k/v stored as `[..., L, heads?, E]`-like
/// permutations with a byte offset, the mask as a stride-0 broadcast view).
fn inputs(c: &Case, dt: DType, strided: bool, q: &[f64], k: &[f64], v: &[f64], d_o: &[f64]) -> Inputs {
    let r = c.batch.len() + 2;
    let perm: Vec<usize> = if strided {
        // swap the last two dims in memory (column-major matrices) and, with batch dims,
        // put the first batch dim innermost-but-two
        let mut p: Vec<usize> = (0..r).collect();
        p.swap(r - 2, r - 1);
        if r >= 3 {
            p.rotate_left(1);
        }
        p
    } else {
        (0..r).collect()
    };
    let pad = if strided { 3 } else { 0 };
    let mk = |shape: Vec<usize>, vals: &[f64]| Tens::strided(dt, &shape, vals, &perm, pad);
    let m = c.mask.as_ref().map(|(kind, ms, mv)| {
        let mdt = if *kind == Kind::Bool { DType::BOOL } else { dt };
        if strided {
            Tens::expanded(mdt, ms, mv, &c.shp(c.l, c.s))
        } else {
            Tens::new(mdt, ms, mv)
        }
    });
    Inputs { q: mk(c.shp(c.l, c.e), q), k: mk(c.shp(c.s, c.e), k), v: mk(c.shp(c.s, c.ev), v), m, d_o: Tens::new(dt, &c.shp(c.l, c.ev), d_o) }
}

fn run(c: &Case, dt: DType, ins: &Inputs, threaded: bool, mode: Option<BackwardMode>) -> Run {
    let cx = ctx(threaded);
    let a = attrs(c.causal, c.scale);
    let mview = ins.m.as_ref().map_or(TensorView::ABSENT, |m| m.view());
    let fin = [ins.q.view(), ins.k.view(), ins.v.view(), mview];
    let out = Tens::zeros(dt, &c.shp(c.l, c.ev));
    let st = unsafe { forward(&cx, fin.as_ptr(), 4, [out.view()].as_ptr(), 1, a.as_ptr(), 2) };
    assert_eq!(st, status::OK, "forward failed: {}", last_kernel_error());
    let (dq, dk, dv) = (Tens::zeros(dt, &c.shp(c.l, c.e)), Tens::zeros(dt, &c.shp(c.s, c.e)), Tens::zeros(dt, &c.shp(c.s, c.ev)));
    let bin = [ins.d_o.view(), fin[0], fin[1], fin[2], fin[3], out.view()];
    let bout = [dq.view(), dk.view(), dv.view(), TensorView::ABSENT];
    let attrs_v = unsafe { Attrs::from_raw(a.as_ptr(), 2) };
    let st = unsafe { backward_with_mode(&cx, &bin, &bout, &attrs_v, mode) };
    assert_eq!(st, status::OK, "backward failed: {}", last_kernel_error());
    Run { out: out.values(), dq: dq.values(), dk: dk.values(), dv: dv.values() }
}

fn assert_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}[{i}] = {g} is not finite");
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{what}[{i}]: got {g}, want {w}");
    }
}

fn random_mask(rng: &mut Rng, c: &Case, kind: Kind) -> (Kind, Vec<usize>, Vec<f64>) {
    let (l, s) = (c.l, c.s);
    let shape = match rng.below(4) {
        0 => vec![l, s],
        1 => c.shp(l, s),
        2 => vec![s],
        _ => [c.batch.iter().map(|_| 1).collect::<Vec<_>>(), vec![l, 1]].concat(),
    };
    let n: usize = shape.iter().product();
    let mut vals: Vec<f64> = (0..n)
        .map(|_| match kind {
            Kind::Bool => (rng.unif() < 0.75) as u8 as f64,
            Kind::Float => {
                if rng.unif() < 0.1 {
                    f64::NEG_INFINITY
                } else {
                    2.0 * rng.sym()
                }
            }
        })
        .collect();
    // fully mask a few query rows when the mask has a real L dim
    if shape.len() >= 2 && shape[shape.len() - 2] == l && shape[shape.len() - 1] == s && l > 0 {
        let masked = if kind == Kind::Bool { 0.0 } else { f64::NEG_INFINITY };
        for row in (0..n / s).filter(|r| r % 7 == 3) {
            vals[row * s..(row + 1) * s].fill(masked);
        }
    }
    (kind, shape, vals)
}

fn random_case(rng: &mut Rng) -> Case {
    let batch = match rng.below(3) {
        0 => vec![],
        1 => vec![1 + rng.below(3)],
        _ => vec![1 + rng.below(2), 1 + rng.below(3)],
    };
    let dims = [1, 5, 17, 63, 64, 65, 100, 130];
    let mut c = Case {
        batch,
        l: dims[rng.below(dims.len())],
        s: dims[rng.below(dims.len())],
        e: 1 + rng.below(20),
        ev: 1 + rng.below(20),
        causal: rng.below(3) == 0,
        scale: if rng.below(2) == 0 { None } else { Some(0.2 + rng.unif()) },
        mask: None,
    };
    c.mask = match rng.below(3) {
        0 => None,
        1 => Some(random_mask(rng, &c, Kind::Bool)),
        _ => Some(random_mask(rng, &c, Kind::Float)),
    };
    c
}

fn check_case(c: &Case, dt: DType, strided: bool, threaded: bool, mode: Option<BackwardMode>, rng: &mut Rng) {
    let (nb, l, s, e, ev) = (c.nb(), c.l, c.s, c.e, c.ev);
    let q = rng.vec(nb * l * e);
    let k = rng.vec(nb * s * e);
    let v = rng.vec(nb * s * ev);
    let d_o = rng.vec(nb * l * ev);
    let ins = inputs(c, dt, strided, &q, &k, &v, &d_o);
    // the reference sees exactly the values the kernel reads (rounded to dt)
    let (q, k, v, d_o) = (ins.q.values(), ins.k.values(), ins.v.values(), ins.d_o.values());
    let (out, dq, dk, dv) = naive(c, &q, &k, &v, &d_o);
    let got = run(c, dt, &ins, threaded, mode);
    let (atol, rtol) = match dt {
        DType::F64 => (1e-10, 1e-10),
        DType::F32 => (2e-5 * (s as f64).sqrt().max(1.0), 1e-4),
        _ => (3e-2, 3e-2),
    };
    let tag = format!("{c:?} {dt:?} strided={strided} threaded={threaded} mode={mode:?}");
    assert_close(&format!("out {tag}"), &got.out, &out, atol, rtol);
    assert_close(&format!("dq {tag}"), &got.dq, &dq, atol, rtol);
    assert_close(&format!("dk {tag}"), &got.dk, &dk, atol, rtol);
    assert_close(&format!("dv {tag}"), &got.dv, &dv, atol, rtol);
}

// ---------------------------------------------------------------- tests

/// Field case C02 (tests/cases/C02.json, burn#4694): a fully masked query row outputs 0 and
/// gets zero gradient, no NaN anywhere; every dtype.
#[test]
fn c02_fully_masked_row_gives_zero_output_and_gradient() {
    let c = Case {
        batch: vec![1, 1],
        l: 3,
        s: 3,
        e: 2,
        ev: 2,
        causal: false,
        scale: None,
        mask: Some((Kind::Bool, vec![3, 3], vec![1., 0., 1., 0., 0., 0., 1., 1., 0.])),
    };
    let q = [1.0, 0.0, 0.0, 1.0, 2.0, 1.0];
    let k = [1.0, 0.0, 0.0, 1.0, 2.0, -1.0];
    let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let ones = [1.0; 6];
    let out = [3.679046, 4.679046, 0.0, 0.0, 1.660477, 2.660477];
    let dq = [1.251189, -1.251189, 0.0, 0.0, -0.625594, 0.625594];
    let dk = [-2.502378, -0.625594, 1.251189, 0.625594, 1.251189, 0.0];
    let dv = [1.0, 1.0, 0.330238, 0.330238, 0.669762, 0.669762];
    for dt in CPU_FLOATS {
        let tol = if matches!(dt, DType::F16 | DType::BF16) { 1e-2 * 4.0 } else { 1e-5 };
        for threaded in [false, true] {
            set_threads(2);
            let ins = inputs(&c, dt, false, &q, &k, &v, &ones);
            let r = run(&c, dt, &ins, threaded, None);
            assert_close(&format!("C02 out {dt:?}"), &r.out, &out, tol, 0.0);
            assert_close(&format!("C02 dQ {dt:?}"), &r.dq, &dq, tol, 0.0);
            assert_close(&format!("C02 dK {dt:?}"), &r.dk, &dk, tol, 0.0);
            assert_close(&format!("C02 dV {dt:?}"), &r.dv, &dv, tol, 0.0);
            assert_eq!(&r.out[2..4], &[0.0, 0.0]);
            assert_eq!(&r.dq[2..4], &[0.0, 0.0]);
        }
    }
}

/// Random shapes (batch dims, L ≠ S across tile edges, E ≠ Ev), bool/float/no masks with fully
/// masked rows and `-inf` entries, causal, explicit scale: f64 and f32 against naive f64.
#[test]
fn matches_naive_attention_on_random_cases() {
    let mut rng = Rng(7);
    set_threads(3);
    for n in 0..60 {
        let c = random_case(&mut rng);
        let dt = if n % 2 == 0 { DType::F64 } else { DType::F32 };
        check_case(&c, dt, n % 3 == 0, n % 4 < 2, None, &mut rng);
    }
}

/// Causal attention with more queries than keys and fewer (top-left aligned, as ops-ref).
#[test]
fn causal_with_unequal_sequence_lengths() {
    let mut rng = Rng(11);
    for (l, s) in [(130, 70), (70, 130), (64, 129), (1, 200), (200, 1)] {
        for mask in [false, true] {
            let mut c = Case { batch: vec![2], l, s, e: 8, ev: 5, causal: true, scale: None, mask: None };
            if mask {
                c.mask = Some(random_mask(&mut rng, &c, Kind::Bool));
            }
            check_case(&c, DType::F64, false, false, None, &mut rng);
            check_case(&c, DType::F32, true, false, None, &mut rng);
        }
    }
}

/// Non-contiguous (permuted, byte-offset) query/key/value views and stride-0 broadcast masks.
#[test]
fn non_contiguous_views() {
    let mut rng = Rng(3);
    for kind in [Kind::Bool, Kind::Float] {
        let mut c = Case { batch: vec![2, 3], l: 70, s: 90, e: 12, ev: 9, causal: false, scale: None, mask: None };
        c.mask = Some((kind, vec![c.l, c.s], random_mask(&mut rng, &Case { batch: vec![], ..c.clone() }, kind).2));
        for dt in [DType::F64, DType::F32, DType::BF16] {
            check_case(&c, dt, true, true, None, &mut rng);
        }
    }
}

/// f16 and bf16 (stored narrow, computed in f32) against naive f64 on the rounded inputs.
#[test]
fn half_precision_dtypes() {
    let mut rng = Rng(5);
    for dt in [DType::F16, DType::BF16] {
        for n in 0..6 {
            let c = random_case(&mut rng);
            check_case(&c, dt, n % 2 == 0, true, None, &mut rng);
        }
    }
}

/// Both backward parallelisations (per head; split dK/dV + dQ passes) give the naive gradients.
#[test]
fn backward_modes_agree() {
    let mut rng = Rng(9);
    set_threads(3);
    for n in 0..8 {
        let c = random_case(&mut rng);
        for mode in [BackwardMode::PerHead, BackwardMode::Split] {
            check_case(&c, if n % 2 == 0 { DType::F64 } else { DType::F32 }, false, true, Some(mode), &mut rng);
        }
    }
    assert_eq!(backward_mode(8, 2), BackwardMode::PerHead);
    assert_eq!(backward_mode(1, 2), BackwardMode::Split);
    assert_eq!(backward_mode(3, 2), BackwardMode::Split);
    assert_eq!(backward_mode(3, 1), BackwardMode::PerHead);
}

/// The backward kernel against central finite differences of the forward kernel (f64), with a
/// float mask, causal masking and a fully masked row.
#[test]
fn backward_matches_finite_differences() {
    let mut rng = Rng(13);
    let mut c = Case { batch: vec![2], l: 5, s: 7, e: 3, ev: 4, causal: true, scale: Some(0.8), mask: None };
    let mut mv: Vec<f64> = (0..2 * c.l * c.s).map(|i| if i % 5 == 1 { f64::NEG_INFINITY } else { rng.sym() }).collect();
    mv[c.s * 2..c.s * 3].fill(f64::NEG_INFINITY); // row 2 of batch 0 fully masked
    c.mask = Some((Kind::Float, c.shp(c.l, c.s), mv));
    let dt = DType::F64;
    let (nb, l, s, e, ev) = (c.nb(), c.l, c.s, c.e, c.ev);
    let q = rng.vec(nb * l * e);
    let k = rng.vec(nb * s * e);
    let v = rng.vec(nb * s * ev);
    let d_o = rng.vec(nb * l * ev);
    let loss = |q: &[f64], k: &[f64], v: &[f64]| -> f64 {
        let ins = inputs(&c, dt, false, q, k, v, &d_o);
        let r = run(&c, dt, &ins, false, None);
        r.out.iter().zip(&d_o).map(|(a, b)| a * b).sum()
    };
    let ins = inputs(&c, dt, false, &q, &k, &v, &d_o);
    let g = run(&c, dt, &ins, false, None);
    let h = 1e-6;
    let fd = |which: usize| -> Vec<f64> {
        let base = [&q, &k, &v][which];
        (0..base.len())
            .map(|i| {
                let (mut a, mut b) = (base.clone(), base.clone());
                a[i] += h;
                b[i] -= h;
                let (fa, fb) = match which {
                    0 => (loss(&a, &k, &v), loss(&b, &k, &v)),
                    1 => (loss(&q, &a, &v), loss(&q, &b, &v)),
                    _ => (loss(&q, &k, &a), loss(&q, &k, &b)),
                };
                (fa - fb) / (2.0 * h)
            })
            .collect()
    };
    assert_close("dq vs fd", &g.dq, &fd(0), 1e-7, 1e-6);
    assert_close("dk vs fd", &g.dk, &fd(1), 1e-7, 1e-6);
    assert_close("dv vs fd", &g.dv, &fd(2), 1e-7, 1e-6);
    // the fully masked row: zero output and zero dq
    assert!(g.out[2 * ev..3 * ev].iter().all(|&x| x == 0.0));
    assert!(g.dq[2 * e..3 * e].iter().all(|&x| x == 0.0));
}

/// Gradients the core does not ask for are absent; the others are still right.
#[test]
fn absent_gradient_outputs() {
    let mut rng = Rng(17);
    let c = Case { batch: vec![3], l: 70, s: 65, e: 6, ev: 7, causal: false, scale: None, mask: None };
    let (nb, l, s, e, ev) = (c.nb(), c.l, c.s, c.e, c.ev);
    let (q, k, v, d_o) = (rng.vec(nb * l * e), rng.vec(nb * s * e), rng.vec(nb * s * ev), rng.vec(nb * l * ev));
    let ins = inputs(&c, DType::F64, false, &q, &k, &v, &d_o);
    let full = run(&c, DType::F64, &ins, false, None);
    let out = Tens::new(DType::F64, &c.shp(l, ev), &full.out);
    let a = attrs(false, None);
    let av = unsafe { Attrs::from_raw(a.as_ptr(), 2) };
    let bin = [ins.d_o.view(), ins.q.view(), ins.k.view(), ins.v.view(), TensorView::ABSENT, out.view()];
    for mode in [BackwardMode::PerHead, BackwardMode::Split] {
        let dk = Tens::zeros(DType::F64, &c.shp(s, e));
        let bout = [TensorView::ABSENT, dk.view(), TensorView::ABSENT, TensorView::ABSENT];
        assert_eq!(unsafe { backward_with_mode(&ctx(false), &bin, &bout, &av, Some(mode)) }, status::OK);
        assert_close("dk only", &dk.values(), &full.dk, 1e-12, 1e-12);
        let dq = Tens::zeros(DType::F64, &c.shp(l, e));
        let bout = [dq.view(), TensorView::ABSENT, TensorView::ABSENT, TensorView::ABSENT];
        assert_eq!(unsafe { backward_with_mode(&ctx(false), &bin, &bout, &av, Some(mode)) }, status::OK);
        assert_close("dq only", &dq.values(), &full.dq, 1e-12, 1e-12);
    }
}

/// Empty key set (S = 0): every row is fully masked → zeros; E = 0 and L = 0 work too.
#[test]
fn degenerate_sizes() {
    let mut rng = Rng(19);
    for (l, s, e, ev) in [(4, 0, 3, 2), (0, 5, 3, 2), (4, 5, 0, 2), (4, 5, 3, 0)] {
        let c = Case { batch: vec![2], l, s, e, ev, causal: false, scale: Some(1.0), mask: None };
        check_case(&c, DType::F32, false, false, None, &mut rng);
    }
}

/// Bad arguments give BAD_ARGS with a one-line reason, never a panic.
#[test]
fn bad_arguments_are_reported() {
    let cx = ctx(false);
    let a = attrs(false, None);
    let q = Tens::zeros(DType::F32, &[2, 4, 3]);
    let k = Tens::zeros(DType::F32, &[2, 5, 4]); // E mismatch
    let v = Tens::zeros(DType::F32, &[2, 5, 3]);
    let out = Tens::zeros(DType::F32, &[2, 4, 3]);
    let ins = [q.view(), k.view(), v.view(), TensorView::ABSENT];
    let st = unsafe { forward(&cx, ins.as_ptr(), 4, [out.view()].as_ptr(), 1, a.as_ptr(), 2) };
    assert_eq!(st, status::BAD_ARGS);
    assert!(last_kernel_error().contains("key embedding size"), "{}", last_kernel_error());
    let k = Tens::zeros(DType::F32, &[2, 5, 3]);
    let m = Tens::zeros(DType::BOOL, &[3, 5]); // L mismatch
    let ins = [q.view(), k.view(), v.view(), m.view()];
    let st = unsafe { forward(&cx, ins.as_ptr(), 4, [out.view()].as_ptr(), 1, a.as_ptr(), 2) };
    assert_eq!(st, status::BAD_ARGS);
    assert!(last_kernel_error().contains("attn_mask"), "{}", last_kernel_error());
    let k64 = Tens::zeros(DType::F64, &[2, 5, 3]);
    let ins = [q.view(), k64.view(), v.view(), TensorView::ABSENT];
    let st = unsafe { forward(&cx, ins.as_ptr(), 4, [out.view()].as_ptr(), 1, a.as_ptr(), 2) };
    assert_eq!(st, status::BAD_ARGS);
}

/// The descriptor has exactly ops-ref's schema and a working shape function.
#[test]
fn descriptor_matches_reference_schema() {
    let d = &SDPA_DESC;
    assert_eq!(d.name.as_str(), "ferrite::scaled_dot_product_attention");
    let names: Vec<_> = d.inputs.iter().map(|a| (a.name.as_str(), a.optional, a.differentiable)).collect();
    assert_eq!(names, [("query", false, true), ("key", false, true), ("value", false, true), ("attn_mask", true, false)]);
    assert_eq!(d.outputs.len(), 1);
    assert_eq!(d.attrs.len(), 2);
    assert_eq!((d.attrs[0].name.as_str(), d.attrs[0].kind, d.attrs[0].default_int), ("is_causal", attr_kind::BOOL, 0));
    assert_eq!((d.attrs[1].name.as_str(), d.attrs[1].kind), ("scale", attr_kind::FLOAT));
    assert!(d.attrs[1].default_float.is_nan());
    let dts: Vec<_> = d.kernels.iter().map(|k| k.dtype).collect();
    assert_eq!(dts, CPU_FLOATS);
    assert!(ferrite_sdk::register::OPS.iter().any(|o| o.name.as_str() == d.name.as_str()));
    let (q, k, v) = (Tens::zeros(DType::BF16, &[2, 4, 3]), Tens::zeros(DType::BF16, &[2, 5, 3]), Tens::zeros(DType::BF16, &[2, 5, 7]));
    let ins = [q.view(), k.view(), v.view(), TensorView::ABSENT];
    let mut meta = [TensorMeta::new(DType::F32, &[]).unwrap()];
    let a = attrs(false, None);
    let st = unsafe { (d.shape_fn)(&ctx(false), ins.as_ptr(), 4, a.as_ptr(), 2, meta.as_mut_ptr(), 1) };
    assert_eq!(st, status::OK);
    assert_eq!((meta[0].dtype, meta[0].dims()), (DType::BF16, vec![2, 4, 7]));
}

/// The vectorisable f32 exp: ≤ 4 ulp-ish relative error over the range used, exact 0 at −∞.
#[test]
fn fast_exp_accuracy() {
    assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp_f32(-100.0), 0.0);
    assert_eq!(exp_f32(0.0), 1.0);
    let mut worst = 0f64;
    let mut x = -87.0f32;
    while x < 20.0 {
        let want = (x as f64).exp();
        worst = worst.max(((exp_f32(x) as f64) - want).abs() / want);
        x += 0.0137;
    }
    assert!(worst < 5e-7, "worst relative error {worst}");
}
