//! Test-only helpers for the GEMM/conv kernels: owned tensors with arbitrary strides (permuted,
//! broadcast), calling a kernel through its C ABI with an error-capturing context, a small
//! deterministic RNG and a central finite-difference gradient check.

use ferrite_sdk::abi::dtype::Device;
use ferrite_sdk::abi::kernel::{status, KernelCtx, KernelFn};
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::abi_stable::std_types::RStr;
use ferrite_sdk::kernel::io::{read_f64, store_f64};
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::DType;
use std::ffi::c_void;

/// A tensor owning its storage (8-byte aligned), seen through a strided view.
pub struct Tensor {
    storage: Vec<u64>,
    shape: Vec<i64>,
    strides: Vec<i64>,
    offset_elems: usize,
    /// Element type.
    pub dtype: DType,
}

impl Tensor {
    /// Contiguous tensor holding `vals` (rounded to `dtype`), with its first element one element
    /// past the start of the storage (exercises `byte_offset`).
    pub fn new(dtype: DType, shape: &[usize], vals: &[f64]) -> Tensor {
        let perm: Vec<usize> = (0..shape.len()).collect();
        Tensor::permuted(dtype, shape, vals, &perm)
    }

    /// Zeros.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
        Tensor::new(dtype, shape, &vec![0.0; shape.iter().product()])
    }

    /// An output buffer filled with NaN, so a kernel that leaves an element unwritten fails.
    pub fn poisoned(dtype: DType, shape: &[usize]) -> Tensor {
        Tensor::new(dtype, shape, &vec![f64::NAN; shape.iter().product()])
    }

    /// Logical tensor `vals` (row-major over `shape`) stored with its dims in order `perm`
    /// (storage dim `i` is logical dim `perm[i]`), so the view is non-contiguous unless `perm`
    /// is the identity.
    pub fn permuted(dtype: DType, shape: &[usize], vals: &[f64], perm: &[usize]) -> Tensor {
        assert_eq!(vals.len(), shape.iter().product::<usize>());
        let sshape: Vec<usize> = perm.iter().map(|&d| shape[d]).collect();
        let mut sstr = vec![1usize; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            sstr[i] = sstr[i + 1] * sshape[i + 1];
        }
        let mut strides = vec![0i64; shape.len()];
        for (i, &d) in perm.iter().enumerate() {
            strides[d] = sstr[i] as i64;
        }
        let n = vals.len();
        let mut t = Tensor::raw(dtype, shape, strides, n + 1);
        let lstr = ferrite_sdk::kernel::array::contiguous_strides(shape);
        for (flat, &v) in vals.iter().enumerate() {
            let mut off = 0i64;
            for d in 0..shape.len() {
                off += ((flat / lstr[d]) % shape[d].max(1)) as i64 * t.strides[d];
            }
            t.put(off as usize, v);
        }
        t
    }

    /// `vals` of shape `small` broadcast (stride 0) to `shape` (same rank; `small` has 1 where
    /// `shape` repeats).
    pub fn expanded(dtype: DType, shape: &[usize], small: &[usize], vals: &[f64]) -> Tensor {
        let base = Tensor::new(dtype, small, vals);
        let mut t = base;
        for d in 0..shape.len() {
            if small[d] == 1 && shape[d] != 1 {
                t.strides[d] = 0;
            }
            t.shape[d] = shape[d] as i64;
        }
        t
    }

    fn raw(dtype: DType, shape: &[usize], strides: Vec<i64>, elems: usize) -> Tensor {
        let bytes = (elems + 1) * dtype.size();
        Tensor { storage: vec![0u64; bytes.div_ceil(8) + 1], shape: shape.iter().map(|&d| d as i64).collect(), strides, offset_elems: 1, dtype }
    }

    fn put(&mut self, off: usize, v: f64) {
        let p = (self.storage.as_mut_ptr() as *mut u8).wrapping_add((self.offset_elems + off) * self.dtype.size());
        // SAFETY: `off` is inside the storage allocated by `raw`.
        unsafe { store_f64(p, self.dtype, v) }
    }

    /// The ABI view.
    pub fn view(&self) -> TensorView {
        TensorView {
            data: self.storage.as_ptr() as *mut c_void,
            device: Device::CPU,
            ndim: self.shape.len() as i32,
            dtype: self.dtype,
            shape: self.shape.as_ptr(),
            strides: self.strides.as_ptr(),
            byte_offset: (self.offset_elems * self.dtype.size()) as u64,
        }
    }

    /// Logical values, row-major, as f64.
    pub fn values(&self) -> Vec<f64> {
        // SAFETY: the view describes this tensor's storage.
        unsafe { read_f64(&self.view()) }
    }

    /// Shape.
    pub fn shape(&self) -> Vec<usize> {
        self.shape.iter().map(|&d| d as usize).collect()
    }
}

unsafe extern "C" fn capture(state: *mut c_void, msg: RStr<'_>) {
    *(state as *mut String) = msg.as_str().to_string();
}

/// Calls kernel `k` with the given inputs/outputs (`None` = absent) and attributes; `Err` carries
/// the kernel's one-line message.
pub fn call(k: KernelFn, inputs: &[Option<&Tensor>], outputs: &[Option<&Tensor>], attrs: &[Attr]) -> Result<(), String> {
    let mut err = String::new();
    let ctx = KernelCtx { err_state: &mut err as *mut String as *mut c_void, set_error: capture, stream: std::ptr::null_mut(), host: std::ptr::null() };
    let iv: Vec<TensorView> = inputs.iter().map(|t| t.map_or(TensorView::ABSENT, |t| t.view())).collect();
    let ov: Vec<TensorView> = outputs.iter().map(|t| t.map_or(TensorView::ABSENT, |t| t.view())).collect();
    let av: Vec<_> = attrs.iter().map(|a| a.as_abi()).collect();
    // SAFETY: every view points into a live Tensor; attrs borrow `attrs`.
    let st = unsafe { k(&ctx, iv.as_ptr(), iv.len(), ov.as_ptr(), ov.len(), av.as_ptr(), av.len()) };
    if st == status::OK {
        Ok(())
    } else {
        assert!(!err.is_empty() && !err.contains('\n'), "status {st} with message {err:?}");
        Err(err)
    }
}

/// Deterministic values in [-1, 1).
pub fn rand_vals(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// Asserts `|got - want| <= tol · (1 + |want|)` elementwise.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: got {g}, want {w} (tol {tol})");
    }
}

/// Per-dtype tolerance for a sum of about `terms` products of values in [-1, 1].
pub fn tol(dtype: DType, terms: usize) -> f64 {
    let eps = match dtype {
        DType::F64 => 1e-15,
        DType::F32 => 1e-7,
        DType::F16 => 1e-3,
        _ => 8e-3,
    };
    eps * 8.0 * (terms.max(1) as f64).sqrt().max(1.0) * if dtype == DType::F64 || dtype == DType::F32 { 1.0 } else { 4.0 }
}

/// Central finite-difference check (f64) of backward kernel `bwd` against forward kernel `fwd`
/// for a single-output op: loss = Σ w·y with fixed random `w`; checks the gradient of every
/// input listed in `wrt` (all other gradient outputs are left absent).
pub fn fd_check(fwd: KernelFn, bwd: KernelFn, inputs: &[Option<&Tensor>], out_shape: &[usize], attrs: &[Attr], wrt: &[usize]) {
    let dt = DType::F64;
    let y = Tensor::poisoned(dt, out_shape);
    call(fwd, inputs, &[Some(&y)], attrs).unwrap();
    let w = Tensor::new(dt, out_shape, &rand_vals(y.values().len(), 99));
    let grads: Vec<Option<Tensor>> =
        inputs.iter().enumerate().map(|(i, t)| t.filter(|_| wrt.contains(&i)).map(|t| Tensor::poisoned(dt, &t.shape()))).collect();
    let mut bin: Vec<Option<&Tensor>> = vec![Some(&w)];
    bin.extend_from_slice(inputs);
    bin.push(Some(&y));
    call(bwd, &bin, &grads.iter().map(|g| g.as_ref()).collect::<Vec<_>>(), attrs).unwrap();
    let loss = |ins: &[Option<&Tensor>]| -> f64 {
        let y = Tensor::zeros(dt, out_shape);
        call(fwd, ins, &[Some(&y)], attrs).unwrap();
        y.values().iter().zip(w.values()).map(|(a, b)| a * b).sum()
    };
    for &i in wrt {
        let x = inputs[i].expect("fd_check: wrt an absent input");
        let base = x.values();
        let got = grads[i].as_ref().unwrap().values();
        let h = 1e-6;
        for e in 0..base.len() {
            let mut num = [0.0; 2];
            for (s, sign) in [1.0, -1.0].iter().enumerate() {
                let mut v = base.clone();
                v[e] += sign * h;
                let xt = Tensor::new(dt, &x.shape(), &v);
                let mut ins = inputs.to_vec();
                ins[i] = Some(&xt);
                num[s] = loss(&ins);
            }
            let fd = (num[0] - num[1]) / (2.0 * h);
            assert!((fd - got[e]).abs() <= 1e-6 * (1.0 + fd.abs()), "d/d input{i}[{e}]: backward {} vs finite difference {fd}", got[e]);
        }
    }
}
