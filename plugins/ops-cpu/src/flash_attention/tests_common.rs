//! Shared helpers of the FlashAttention tests: a naive f64 attention (materialised scores),
//! strided test tensors, random cases and the kernel runner used by `tests_values` and
//! `tests_grads`.

use super::testhost::{ctx, last_kernel_error};
use super::{backward_with_mode, forward, BackwardMode};
use ferrite_sdk::abi::kernel::{attr_kind, status, AttrValue};
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::io::{read_f64, store_f64};
use ferrite_sdk::kernel::Attrs;
use ferrite_sdk::DType;

// ---------------------------------------------------------------- helpers

pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(super) fn unif(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(super) fn sym(&mut self) -> f64 {
        2.0 * self.unif() - 1.0
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(super) fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.sym()).collect()
    }
}

/// An owned tensor with arbitrary strides and byte offset, viewable as a [`TensorView`].
pub(super) struct Tens {
    pub(super) buf: Vec<u64>,
    pub(super) dtype: DType,
    pub(super) shape: Vec<i64>,
    pub(super) strides: Vec<i64>,
    pub(super) offset: u64,
}

impl Tens {
    /// `vals` (row-major over `shape`) stored with dims laid out in memory in the order `perm`
    /// (identity = contiguous) after `pad` leading elements.
    pub(super) fn strided(dtype: DType, shape: &[usize], vals: &[f64], perm: &[usize], pad: usize) -> Tens {
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
    pub(super) fn new(dtype: DType, shape: &[usize], vals: &[f64]) -> Tens {
        let perm: Vec<usize> = (0..shape.len()).collect();
        Tens::strided(dtype, shape, vals, &perm, 0)
    }
    pub(super) fn zeros(dtype: DType, shape: &[usize]) -> Tens {
        Tens::new(dtype, shape, &vec![0.0; shape.iter().product()])
    }
    /// A `shape` view of `src` (row-major, shape `src_shape`) broadcast with stride 0 over the
    /// dims where `src_shape` (right-aligned) has size 1 or is missing.
    pub(super) fn expanded(dtype: DType, src_shape: &[usize], vals: &[f64], shape: &[usize]) -> Tens {
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
    pub(super) fn view(&self) -> TensorView {
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
    pub(super) fn values(&self) -> Vec<f64> {
        unsafe { read_f64(&self.view()) }
    }
}

pub(super) fn attrs(causal: bool, scale: Option<f64>) -> [AttrValue; 2] {
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
pub(super) enum Kind {
    Bool,
    Float,
}

#[derive(Clone, Debug)]
pub(super) struct Case {
    pub(super) batch: Vec<usize>,
    pub(super) l: usize,
    pub(super) s: usize,
    pub(super) e: usize,
    pub(super) ev: usize,
    pub(super) causal: bool,
    pub(super) scale: Option<f64>,
    /// (kind, shape, row-major values) — bool values are 0/1.
    pub(super) mask: Option<(Kind, Vec<usize>, Vec<f64>)>,
}

impl Case {
    pub(super) fn nb(&self) -> usize {
        self.batch.iter().product()
    }
    pub(super) fn shp(&self, a: usize, b: usize) -> Vec<usize> {
        [self.batch.clone(), vec![a, b]].concat()
    }
}

/// Naive f64 attention with the full score matrix: (out, dq, dk, dv) for upstream grad `d_o`.
#[allow(clippy::type_complexity)]
pub(super) fn naive(c: &Case, q: &[f64], k: &[f64], v: &[f64], d_o: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
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
pub(super) struct Run {
    pub(super) out: Vec<f64>,
    pub(super) dq: Vec<f64>,
    pub(super) dk: Vec<f64>,
    pub(super) dv: Vec<f64>,
}

pub(super) struct Inputs {
    pub(super) q: Tens,
    pub(super) k: Tens,
    pub(super) v: Tens,
    pub(super) m: Option<Tens>,
    pub(super) d_o: Tens,
}

/// Lays the inputs out (contiguous, or strided: q/k/v stored as `[..., L, heads?, E]`-like
/// permutations with a byte offset, the mask as a stride-0 broadcast view).
pub(super) fn inputs(c: &Case, dt: DType, strided: bool, q: &[f64], k: &[f64], v: &[f64], d_o: &[f64]) -> Inputs {
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

pub(super) fn run(c: &Case, dt: DType, ins: &Inputs, threaded: bool, mode: Option<BackwardMode>) -> Run {
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

pub(super) fn assert_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}[{i}] = {g} is not finite");
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{what}[{i}]: got {g}, want {w}");
    }
}

pub(super) fn random_mask(rng: &mut Rng, c: &Case, kind: Kind) -> (Kind, Vec<usize>, Vec<f64>) {
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

pub(super) fn random_case(rng: &mut Rng) -> Case {
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

pub(super) fn check_case(c: &Case, dt: DType, strided: bool, threaded: bool, mode: Option<BackwardMode>, rng: &mut Rng) {
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
