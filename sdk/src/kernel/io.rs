//! Reading and writing [`TensorView`]s element by element, for any dtype and any strides, and the
//! panic firewall every exported function runs inside.

use crate::abi::dtype::DType;
use crate::abi::kernel::{status, KernelCtx};
use crate::abi::view::TensorView;
use half::{bf16, f16};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces this artifact's panic hook with one that prints nothing and remembers where the
/// panic happened, so [`guarded`] can put it in the one-line error instead of the host's stderr
/// getting Rust's multi-line panic report. Each `.so` has its own copy of std and therefore its
/// own hook; `export_plugin!` calls this once when the plugin is loaded.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::io::{guarded, install_quiet_panic_hook};
/// install_quiet_panic_hook(); // `export_plugin!` does this when the plugin loads
/// // The panic below prints nothing on stderr; its location goes into the one-line error.
/// let code = unsafe { guarded(std::ptr::null(), || panic!("index out of range")) };
/// assert_eq!(code, ferrite_sdk::abi::kernel::status::PANICKED);
/// ```
pub fn install_quiet_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let loc = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
        PANIC_LOCATION.with(|p| *p.borrow_mut() = loc);
    }));
}

/// Runs `body` with panics caught: a panic becomes [`status::PANICKED`] with its message
/// reported through `ctx`; an `Err` becomes [`status::BAD_ARGS`]. A panic must never cross an
/// `extern "C"` boundary (it would abort the host).
///
/// # Safety
/// `ctx` must be a valid context pointer from the core (or null, in which case messages are lost).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::io::guarded;
/// let ok = unsafe { guarded(std::ptr::null(), || Ok(())) };
/// let bad = unsafe { guarded(std::ptr::null(), || Err("bad shape".to_string())) };
/// let panicked = unsafe { guarded(std::ptr::null(), || panic!("boom")) };
/// assert_eq!(ok, 0);
/// assert!(bad != 0 && panicked != 0 && bad != panicked);
/// ```
pub unsafe fn guarded(ctx: *const KernelCtx, body: impl FnOnce() -> Result<(), String>) -> i32 {
    let report = |msg: &str| {
        if let Some(c) = ctx.as_ref() {
            c.error(msg)
        }
    };
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => status::OK,
        Ok(Err(msg)) => {
            report(&msg);
            status::BAD_ARGS
        }
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_string());
            let at = PANIC_LOCATION.with(|p| p.borrow_mut().take()).map(|l| format!(" (at {l})")).unwrap_or_default();
            report(&format!("kernel panicked: {msg}{at}"));
            status::PANICKED
        }
    }
}

/// Reads one element at `ptr` of `dtype` as f64 (bool/ints converted exactly up to 2^53).
///
/// # Safety
/// `ptr` must point to a valid element of `dtype`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{half::bf16, kernel::io::load_f64, DType};
/// let x = bf16::from_f32(1.5);
/// assert_eq!(unsafe { load_f64(&x as *const bf16 as *const u8, DType::BF16) }, 1.5);
/// let i = -7i64;
/// assert_eq!(unsafe { load_f64(&i as *const i64 as *const u8, DType::I64) }, -7.0);
/// ```
#[inline]
pub unsafe fn load_f64(ptr: *const u8, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => (ptr as *const f32).read_unaligned() as f64,
        DType::F64 => (ptr as *const f64).read_unaligned(),
        DType::F16 => (ptr as *const f16).read_unaligned().to_f64(),
        DType::BF16 => (ptr as *const bf16).read_unaligned().to_f64(),
        DType::I64 => (ptr as *const i64).read_unaligned() as f64,
        DType::I32 => (ptr as *const i32).read_unaligned() as f64,
        DType::U8 | DType::BOOL => *ptr as f64,
        _ => f64::NAN,
    }
}

/// Writes `v` at `ptr` converted to `dtype` (round to nearest even for floats; integers
/// truncate toward zero; bool is `v != 0`).
///
/// # Safety
/// `ptr` must point to writable memory for one element of `dtype`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{kernel::io::store_f64, DType};
/// let mut f = 0f32;
/// unsafe { store_f64(&mut f as *mut f32 as *mut u8, DType::F32, 0.25) };
/// assert_eq!(f, 0.25);
/// let mut i = 0i32;
/// unsafe { store_f64(&mut i as *mut i32 as *mut u8, DType::I32, -2.7) }; // truncates
/// assert_eq!(i, -2);
/// ```
#[inline]
pub unsafe fn store_f64(ptr: *mut u8, dtype: DType, v: f64) {
    match dtype {
        DType::F32 => (ptr as *mut f32).write_unaligned(v as f32),
        DType::F64 => (ptr as *mut f64).write_unaligned(v),
        DType::F16 => (ptr as *mut f16).write_unaligned(f16::from_f64(v)),
        DType::BF16 => (ptr as *mut bf16).write_unaligned(bf16::from_f64(v)),
        DType::I64 => (ptr as *mut i64).write_unaligned(v as i64),
        DType::I32 => (ptr as *mut i32).write_unaligned(v as i32),
        DType::U8 => *ptr = v as u8,
        DType::BOOL => *ptr = (v != 0.0) as u8,
        _ => {}
    }
}

/// Calls `f(element_pointer)` for every element of `view` in row-major order.
///
/// # Safety
/// `view` must be a valid present view.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{abi::view::TensorView, kernel::io::{for_each_element, load_f64}, DType};
/// // A [2, 2] transposed view of row-major [[1, 2], [3, 4]]: visits 1, 3, 2, 4.
/// let (x, shape, strides) = ([1.0f64, 2.0, 3.0, 4.0], [2i64, 2], [1i64, 2]);
/// let v = TensorView { data: x.as_ptr() as *mut _, ndim: 2, dtype: DType::F64, shape: shape.as_ptr(), strides: strides.as_ptr(), ..TensorView::ABSENT };
/// let mut seen = Vec::new();
/// unsafe { for_each_element(&v, |i, p| seen.push((i, load_f64(p, DType::F64)))) };
/// assert_eq!(seen, vec![(0, 1.0), (1, 3.0), (2, 2.0), (3, 4.0)]);
/// ```
pub unsafe fn for_each_element(view: &TensorView, mut f: impl FnMut(usize, *mut u8)) {
    let shape = view.shape();
    let strides = view.strides();
    let n: usize = shape.iter().map(|&d| d.max(0) as usize).product();
    if n == 0 {
        return;
    }
    let esize = view.dtype.size() as isize;
    let base = view.ptr();
    let nd = shape.len();
    let mut idx = vec![0i64; nd];
    let mut off: isize = 0;
    for i in 0..n {
        f(i, base.offset(off * esize));
        // advance the multi-index (last dim fastest)
        let mut d = nd;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            off += strides[d] as isize;
            if idx[d] < shape[d] {
                break;
            }
            off -= strides[d] as isize * shape[d] as isize;
            idx[d] = 0;
        }
    }
}

/// Gathers a view into a row-major `Vec<f64>`.
///
/// # Safety
/// `view` must be a valid present view.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{abi::view::TensorView, kernel::io::read_f64, DType};
/// let (x, shape, strides) = ([1i32, 2, 3, 4, 5, 6], [3i64], [2i64]); // every other element
/// let v = TensorView { data: x.as_ptr() as *mut _, ndim: 1, dtype: DType::I32, shape: shape.as_ptr(), strides: strides.as_ptr(), ..TensorView::ABSENT };
/// assert_eq!(unsafe { read_f64(&v) }, vec![1.0, 3.0, 5.0]);
/// ```
pub unsafe fn read_f64(view: &TensorView) -> Vec<f64> {
    let mut out = vec![0.0; view.numel()];
    let dtype = view.dtype;
    for_each_element(view, |i, p| out[i] = load_f64(p, dtype));
    out
}

/// Scatters row-major `values` into a view, converting to its dtype.
///
/// # Safety
/// `view` must be a valid present, writable view with `values.len()` elements.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{abi::view::TensorView, kernel::io::write_f64, DType};
/// let mut out = [0f32; 3];
/// let (shape, strides) = ([3i64], [1i64]);
/// let v = TensorView { data: out.as_mut_ptr() as *mut _, ndim: 1, dtype: DType::F32, shape: shape.as_ptr(), strides: strides.as_ptr(), ..TensorView::ABSENT };
/// unsafe { write_f64(&v, &[0.5, 1.5, 2.5]).unwrap() };
/// assert!(unsafe { write_f64(&v, &[1.0]) }.is_err()); // wrong element count
/// assert_eq!(out, [0.5, 1.5, 2.5]);
/// ```
pub unsafe fn write_f64(view: &TensorView, values: &[f64]) -> Result<(), String> {
    if view.numel() != values.len() {
        return Err(format!("output has {} elements, kernel produced {}", view.numel(), values.len()));
    }
    let dtype = view.dtype;
    for_each_element(view, |i, p| store_f64(p, dtype, values[i]));
    Ok(())
}

/// Shape of a view as `usize`s.
///
/// # Safety
/// `view` must be valid.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{abi::view::TensorView, kernel::io::dims};
/// let (x, shape, strides) = ([0f32; 6], [2i64, 3], [3i64, 1]);
/// let v = TensorView { data: x.as_ptr() as *mut _, ndim: 2, shape: shape.as_ptr(), strides: strides.as_ptr(), ..TensorView::ABSENT };
/// assert_eq!(unsafe { dims(&v) }, vec![2usize, 3]);
/// ```
pub unsafe fn dims(view: &TensorView) -> Vec<usize> {
    view.shape().iter().map(|&d| d.max(0) as usize).collect()
}
