//! Test harness for the elementwise/reduction/nn kernels: tensors of any float dtype as views
//! (contiguous or strided), kernel calls without a core, and finite differences in f64.

use crate::register::{Call, CpuKernel};
use ferrite_sdk::abi::dtype::Device;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::io::{read_f64, write_f64};
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::kernel::Attrs;
use ferrite_sdk::DType;

/// An owned tensor for tests.
pub struct Buf {
    data: Vec<u64>,
    shape: Vec<i64>,
    strides: Vec<i64>,
    dtype: DType,
}

impl Buf {
    /// A tensor holding `vals` (row-major) in `dtype`; `strided` stores it with every stride
    /// doubled (a non-contiguous view).
    pub fn new(dtype: DType, shape: &[usize], vals: &[f64], strided: bool) -> Buf {
        let n: usize = shape.iter().product();
        assert_eq!(n, vals.len());
        let k = if strided { 2 } else { 1 };
        let mut st = vec![0i64; shape.len()];
        let mut acc = k as i64;
        for d in (0..shape.len()).rev() {
            st[d] = acc;
            acc *= shape[d] as i64;
        }
        let bytes = (n * k + 1) * dtype.size();
        let b = Buf { data: vec![0u64; bytes / 8 + 1], shape: shape.iter().map(|&d| d as i64).collect(), strides: st, dtype };
        unsafe { write_f64(&b.view(), vals).unwrap() };
        b
    }
    /// A zero tensor (contiguous).
    pub fn zeros(dtype: DType, shape: &[usize]) -> Buf {
        Buf::new(dtype, shape, &vec![0.0; shape.iter().product()], false)
    }
    /// The view.
    pub fn view(&self) -> TensorView {
        TensorView {
            data: self.data.as_ptr() as *mut _,
            device: Device::CPU,
            ndim: self.shape.len() as i32,
            dtype: self.dtype,
            shape: self.shape.as_ptr(),
            strides: self.strides.as_ptr(),
            byte_offset: 0,
        }
    }
    /// Values as f64.
    pub fn read(&self) -> Vec<f64> {
        unsafe { read_f64(&self.view()) }
    }
}

/// Calls a kernel with inputs (None = absent) and outputs (None = not wanted).
pub fn call(k: CpuKernel, ins: &[Option<&Buf>], outs: &[Option<&Buf>], attrs: &[Attr]) -> Result<(), String> {
    let iv: Vec<TensorView> = ins.iter().map(|b| b.map_or(TensorView::ABSENT, |b| b.view())).collect();
    let ov: Vec<TensorView> = outs.iter().map(|b| b.map_or(TensorView::ABSENT, |b| b.view())).collect();
    let c = Call { ctx: std::ptr::null(), inputs: &iv, outputs: &ov, attrs: Attrs(attrs.to_vec()) };
    k(&c)
}

/// Deterministic pseudo-random values in [-1, 1).
pub fn rand(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// Asserts `|a - b| <= tol·(1 + |b|)` elementwise (NaN matches NaN, infinities must be equal).
pub fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= tol * (1.0 + y.abs());
        assert!(ok, "{what}: element {i}: got {x}, expected {y}");
    }
}

/// Runs forward `f` on f64 `x` (input 0; `rest` are further inputs) with upstream gradient `r`
/// on output 0 and compares the backward's input-0 gradient with central differences of
/// `Σ r·y`. `outs` gives the shapes (and dtypes) of the forward outputs.
pub fn check_fd(
    f: CpuKernel,
    b: CpuKernel,
    x: &[f64],
    shape: &[usize],
    rest: &[Option<&Buf>],
    outs: &[(DType, Vec<usize>)],
    attrs: &[Attr],
    what: &str,
) {
    let fwd = |xv: &[f64]| -> Vec<Buf> {
        let xb = Buf::new(DType::F64, shape, xv, false);
        let ob: Vec<Buf> = outs.iter().map(|(d, s)| Buf::zeros(*d, s)).collect();
        let mut ins = vec![Some(&xb)];
        ins.extend_from_slice(rest);
        call(f, &ins, &ob.iter().map(Some).collect::<Vec<_>>(), attrs).unwrap();
        ob
    };
    let y = fwd(x);
    let r = rand(y[0].read().len(), 99);
    let loss = |xv: &[f64]| -> f64 { fwd(xv)[0].read().iter().zip(&r).map(|(a, b)| a * b).sum() };
    // backward inputs: grads of outputs, forward inputs, forward outputs
    let grads: Vec<Buf> = outs
        .iter()
        .enumerate()
        .map(|(i, (d, s))| if i == 0 { Buf::new(*d, s, &r, false) } else { Buf::zeros(*d, s) })
        .collect();
    let xb = Buf::new(DType::F64, shape, x, false);
    let mut bins: Vec<Option<&Buf>> = grads.iter().map(Some).collect();
    bins.push(Some(&xb));
    bins.extend_from_slice(rest);
    bins.extend(y.iter().map(Some));
    let dx = Buf::zeros(DType::F64, shape);
    let mut bouts = vec![Some(&dx)];
    bouts.extend(rest.iter().map(|_| None));
    call(b, &bins, &bouts, attrs).unwrap();
    let got = dx.read();
    let h = 1e-6;
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        xp[i] = x[i] + h;
        let lp = loss(&xp);
        xp[i] = x[i] - h;
        let lm = loss(&xp);
        xp[i] = x[i];
        let fd = (lp - lm) / (2.0 * h);
        assert!((fd - got[i]).abs() <= 1e-5 * (1.0 + fd.abs()), "{what}: d/dx[{i}] = {} but finite difference {fd}", got[i]);
    }
}
