//! A tiny in-process stand-in for the core's host table, for the sdk's own unit tests only.
//!
//! Values are stored as f64 and rounded to the tensor's dtype on every write, so f32 arithmetic
//! is exact f32 arithmetic (+, −, ×, ÷, √ of doubles rounded once to f32 are correctly rounded).
//! It supports creation, read, reshape views, `copy_` (refusing in-place writes to a leaf that
//! requires grad while grad mode is on, as PyTorch), grads, detach, and a handful of ops:
//! `add sub mul div neg sqrt relu ge where linear` with scalar broadcasting. No autograd.

use crate::abi::dtype::{DType, Device};
use crate::abi::host::{view_kind, AutocastState, CustomBackward, FetchHook, GradHook, HostApi, TensorHandle};
use crate::abi::kernel::{status, AttrValue};
use crate::abi::view::TensorMeta;
use crate::tensor::Host;
use abi_stable::std_types::{RStr, RString};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

struct T {
    dtype: DType,
    shape: Vec<usize>,
    data: Arc<Mutex<Vec<f64>>>,
    version: Arc<AtomicU64>,
    refs: usize,
    requires_grad: bool,
    grad: Option<usize>,
}

static STORE: Mutex<Option<HashMap<usize, T>>> = Mutex::new(None);
static NEXT: AtomicU64 = AtomicU64::new(1);
static SEED: AtomicU64 = AtomicU64::new(12345);
thread_local! {
    static GRAD: Cell<bool> = const { Cell::new(true) };
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
}

fn store() -> MutexGuard<'static, Option<HashMap<usize, T>>> {
    STORE.lock().unwrap_or_else(|e| e.into_inner())
}

fn fail(msg: impl Into<String>) -> i32 {
    LAST.with(|l| *l.borrow_mut() = msg.into());
    status::FAILED
}

fn id(h: TensorHandle) -> usize {
    h.0 as usize
}

fn round(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::F32 => v as f32 as f64,
        DType::F16 => half::f16::from_f64(v).to_f64(),
        DType::BF16 => half::bf16::from_f64(v).to_f64(),
        DType::F64 => v,
        DType::BOOL => (v != 0.0) as u8 as f64,
        DType::U8 => (v as u8) as f64,
        DType::I32 => (v as i32) as f64,
        _ => (v as i64) as f64,
    }
}

fn insert(dtype: DType, shape: Vec<usize>, data: Vec<f64>) -> TensorHandle {
    let data = data.into_iter().map(|v| round(dtype, v)).collect();
    let t = T {
        dtype,
        shape,
        data: Arc::new(Mutex::new(data)),
        version: Arc::new(AtomicU64::new(0)),
        refs: 1,
        requires_grad: false,
        grad: None,
    };
    let i = NEXT.fetch_add(1, Ordering::Relaxed) as usize;
    store().get_or_insert_with(HashMap::new).insert(i, t);
    TensorHandle(i as *mut _)
}

/// Runs `f` on the tensor behind `h` (panics on a bad handle: a bug in the code under test).
fn with<R>(h: TensorHandle, f: impl FnOnce(&mut T) -> R) -> R {
    let mut s = store();
    f(s.as_mut().and_then(|m| m.get_mut(&id(h))).expect("live fake tensor"))
}

fn values(h: TensorHandle) -> (DType, Vec<usize>, Vec<f64>) {
    with(h, |t| (t.dtype, t.shape.clone(), t.data.lock().expect("data").clone()))
}

fn decode(dtype: DType, b: &[u8]) -> f64 {
    match dtype {
        DType::F32 => f32::from_le_bytes(b.try_into().expect("4")) as f64,
        DType::F64 => f64::from_le_bytes(b.try_into().expect("8")),
        DType::F16 => half::f16::from_le_bytes(b.try_into().expect("2")).to_f64(),
        DType::BF16 => half::bf16::from_le_bytes(b.try_into().expect("2")).to_f64(),
        DType::I64 => i64::from_le_bytes(b.try_into().expect("8")) as f64,
        DType::I32 => i32::from_le_bytes(b.try_into().expect("4")) as f64,
        _ => b[0] as f64,
    }
}

fn encode(dtype: DType, v: f64, out: &mut [u8]) {
    match dtype {
        DType::F32 => out.copy_from_slice(&(v as f32).to_le_bytes()),
        DType::F64 => out.copy_from_slice(&v.to_le_bytes()),
        DType::F16 => out.copy_from_slice(&half::f16::from_f64(v).to_le_bytes()),
        DType::BF16 => out.copy_from_slice(&half::bf16::from_f64(v).to_le_bytes()),
        DType::I64 => out.copy_from_slice(&(v as i64).to_le_bytes()),
        DType::I32 => out.copy_from_slice(&(v as i32).to_le_bytes()),
        _ => out[0] = v as u8,
    }
}

extern "C" fn last_error() -> RString {
    LAST.with(|l| RString::from(l.borrow().as_str()))
}
extern "C" fn warn(_: RStr<'_>) {}
extern "C" fn retain(h: TensorHandle) {
    with(h, |t| t.refs += 1)
}
extern "C" fn release(h: TensorHandle) {
    let grad = {
        let mut s = store();
        let m = s.as_mut().expect("store");
        let t = m.get_mut(&id(h)).expect("live fake tensor");
        t.refs -= 1;
        if t.refs == 0 {
            m.remove(&id(h)).and_then(|t| t.grad)
        } else {
            None
        }
    };
    if let Some(g) = grad {
        release(TensorHandle(g as *mut _));
    }
}
extern "C" fn meta(h: TensorHandle, out: *mut TensorMeta) -> i32 {
    let (dtype, shape) = with(h, |t| (t.dtype, t.shape.clone()));
    match TensorMeta::new(dtype, &shape) {
        Ok(m) => {
            unsafe { *out = m };
            status::OK
        }
        Err(e) => fail(e),
    }
}
extern "C" fn device(_: TensorHandle) -> Device {
    Device::CPU
}
extern "C" fn from_data(dtype: DType, shape: *const i64, ndim: usize, data: *const u8, nbytes: usize, out: *mut TensorHandle) -> i32 {
    let shape: Vec<usize> = unsafe { std::slice::from_raw_parts(shape, ndim) }.iter().map(|&d| d as usize).collect();
    let n: usize = shape.iter().product();
    if n * dtype.size() != nbytes {
        return fail("from_data: byte count mismatch");
    }
    let bytes = unsafe { std::slice::from_raw_parts(data, nbytes) };
    let v = bytes.chunks_exact(dtype.size()).map(|c| decode(dtype, c)).collect();
    unsafe { *out = insert(dtype, shape, v) };
    status::OK
}
extern "C" fn full(dtype: DType, shape: *const i64, ndim: usize, value: f64, out: *mut TensorHandle) -> i32 {
    let shape: Vec<usize> = unsafe { std::slice::from_raw_parts(shape, ndim) }.iter().map(|&d| d as usize).collect();
    let n = shape.iter().product();
    unsafe { *out = insert(dtype, shape, vec![value; n]) };
    status::OK
}
extern "C" fn read(h: TensorHandle, dst: *mut u8, nbytes: usize) -> i32 {
    let (dtype, _, v) = values(h);
    if v.len() * dtype.size() != nbytes {
        return fail("read: byte count mismatch");
    }
    let out = unsafe { std::slice::from_raw_parts_mut(dst, nbytes) };
    out.chunks_exact_mut(dtype.size()).zip(v).for_each(|(c, x)| encode(dtype, x, c));
    status::OK
}
extern "C" fn view(h: TensorHandle, kind: u32, args: *const i64, n: usize, out: *mut TensorHandle) -> i32 {
    let args = unsafe { std::slice::from_raw_parts(args, n) };
    if kind != view_kind::RESHAPE {
        return fail("fake host: only reshape views");
    }
    let (dtype, data, version, numel) = with(h, |t| (t.dtype, t.data.clone(), t.version.clone(), t.shape.iter().product::<usize>()));
    let known: i64 = args.iter().filter(|&&d| d >= 0).product();
    let shape: Vec<usize> = args.iter().map(|&d| if d < 0 { numel / known.max(1) as usize } else { d as usize }).collect();
    if shape.iter().product::<usize>() != numel {
        return fail("reshape: bad shape");
    }
    let v = insert(dtype, shape, vec![]);
    with(v, |t| {
        t.data = data;
        t.version = version;
    });
    unsafe { *out = v };
    status::OK
}
extern "C" fn contiguous(h: TensorHandle, out: *mut TensorHandle) -> i32 {
    retain(h);
    unsafe { *out = h };
    status::OK
}
extern "C" fn to_dtype(h: TensorHandle, dtype: DType, out: *mut TensorHandle) -> i32 {
    let (_, shape, v) = values(h);
    unsafe { *out = insert(dtype, shape, v) };
    status::OK
}
extern "C" fn copy_(dst: TensorHandle, src: TensorHandle) -> i32 {
    let (_, _, s) = values(src);
    let (leaf_rg, dtype, data, version) = with(dst, |t| (t.requires_grad, t.dtype, t.data.clone(), t.version.clone()));
    if leaf_rg && GRAD.with(Cell::get) {
        return fail("a leaf tensor that requires grad is used in an in-place operation");
    }
    let mut d = data.lock().expect("data");
    if s.len() != d.len() && s.len() != 1 {
        return fail("copy_: shapes differ");
    }
    for i in 0..d.len() {
        d[i] = round(dtype, s[if s.len() == 1 { 0 } else { i }]);
    }
    version.fetch_add(1, Ordering::Relaxed);
    status::OK
}
extern "C" fn version(h: TensorHandle) -> u64 {
    with(h, |t| t.version.load(Ordering::Relaxed))
}

const OPS: [&str; 10] = [
    "ferrite::add",
    "ferrite::sub",
    "ferrite::mul",
    "ferrite::div",
    "ferrite::neg",
    "ferrite::sqrt",
    "ferrite::relu",
    "ferrite::ge",
    "ferrite::where",
    "ferrite::linear",
];

extern "C" fn resolve_op(name: RStr<'_>, out: *mut u32) -> i32 {
    match OPS.iter().position(|&n| n == name.as_str()) {
        Some(i) => {
            unsafe { *out = i as u32 };
            status::OK
        }
        None => fail(format!("fake host: no op {}", name.as_str())),
    }
}
extern "C" fn op_num_outputs(_: u32) -> i32 {
    1
}

/// Elementwise with one side allowed to be a single element.
fn zip(a: &(DType, Vec<usize>, Vec<f64>), b: &(DType, Vec<usize>, Vec<f64>), f: impl Fn(f64, f64) -> f64) -> Option<(Vec<usize>, Vec<f64>)> {
    let (sa, sb) = (&a.2, &b.2);
    let n = sa.len().max(sb.len());
    if sa.len() != sb.len() && sa.len() != 1 && sb.len() != 1 {
        return None;
    }
    let at = |v: &Vec<f64>, i: usize| v[if v.len() == 1 { 0 } else { i }];
    let shape = if sa.len() >= sb.len() { a.1.clone() } else { b.1.clone() };
    Some((shape, (0..n).map(|i| f(at(sa, i), at(sb, i))).collect()))
}

extern "C" fn call_op(op: u32, inputs: *const TensorHandle, n_in: usize, _: *const AttrValue, _: usize, outs: *mut TensorHandle, _: usize) -> i32 {
    let ins: Vec<_> = unsafe { std::slice::from_raw_parts(inputs, n_in) }.iter().map(|&h| (!h.is_null()).then(|| values(h))).collect();
    let a = ins[0].clone().expect("first input");
    let name = OPS[op as usize];
    let (dtype, res) = match name {
        "ferrite::neg" => (a.0, Some((a.1.clone(), a.2.iter().map(|x| -x).collect()))),
        "ferrite::sqrt" => (a.0, Some((a.1.clone(), a.2.iter().map(|x| x.sqrt()).collect()))),
        "ferrite::relu" => (a.0, Some((a.1.clone(), a.2.iter().map(|x| x.max(0.0)).collect()))),
        "ferrite::where" => {
            let (b, c) = (ins[1].clone().expect("input"), ins[2].clone().expect("other"));
            let n = b.2.len();
            (b.0, Some((b.1.clone(), (0..n).map(|i| if a.2[i] != 0.0 { b.2[i] } else { c.2[i] }).collect())))
        }
        "ferrite::linear" => {
            let w = ins[1].clone().expect("weight");
            let (o, k, rows) = (w.1[0], w.1[1], a.2.len() / w.1[1]);
            let mut y = vec![0.0; rows * o];
            for r in 0..rows {
                for j in 0..o {
                    let bias = ins[2].as_ref().map_or(0.0, |b| b.2[j]);
                    y[r * o + j] = bias + (0..k).map(|i| a.2[r * k + i] * w.2[j * k + i]).sum::<f64>();
                }
            }
            let mut shape = a.1.clone();
            *shape.last_mut().expect("rank >= 1") = o;
            (a.0, Some((shape, y)))
        }
        _ => {
            let b = ins[1].clone().expect("second input");
            let f: fn(f64, f64) -> f64 = match name {
                "ferrite::add" => |x, y| x + y,
                "ferrite::sub" => |x, y| x - y,
                "ferrite::mul" => |x, y| x * y,
                "ferrite::div" => |x, y| x / y,
                _ => |x, y| (x >= y) as u8 as f64,
            };
            (if name == "ferrite::ge" { DType::BOOL } else { a.0 }, zip(&a, &b, f))
        }
    };
    let Some((shape, v)) = res else { return fail(format!("{name}: shapes do not broadcast")) };
    unsafe { *outs = insert(dtype, shape, v) };
    status::OK
}

extern "C" fn set_requires_grad(h: TensorHandle, rg: bool) -> i32 {
    with(h, |t| t.requires_grad = rg);
    status::OK
}
extern "C" fn requires_grad(h: TensorHandle) -> bool {
    with(h, |t| t.requires_grad)
}
extern "C" fn grad(h: TensorHandle) -> TensorHandle {
    match with(h, |t| t.grad) {
        Some(g) => {
            retain(TensorHandle(g as *mut _));
            TensorHandle(g as *mut _)
        }
        None => TensorHandle::NULL,
    }
}
extern "C" fn set_grad(h: TensorHandle, g: TensorHandle) -> i32 {
    if !g.is_null() {
        retain(g);
    }
    let old = with(h, |t| std::mem::replace(&mut t.grad, (!g.is_null()).then(|| id(g))));
    if let Some(o) = old {
        release(TensorHandle(o as *mut _));
    }
    status::OK
}
extern "C" fn backward(_: TensorHandle, _: TensorHandle, _: bool) -> i32 {
    fail("fake host: no autograd")
}
extern "C" fn detach(h: TensorHandle) -> TensorHandle {
    let (dtype, shape, data, version) = with(h, |t| (t.dtype, t.shape.clone(), t.data.clone(), t.version.clone()));
    let v = insert(dtype, shape, vec![]);
    with(v, |t| {
        t.data = data;
        t.version = version;
    });
    v
}
extern "C" fn set_grad_enabled(on: bool) -> bool {
    GRAD.with(|g| g.replace(on))
}
extern "C" fn is_grad_enabled() -> bool {
    GRAD.with(Cell::get)
}
extern "C" fn register_hook(_: TensorHandle, _: GradHook) -> i32 {
    fail("fake host: no hooks")
}
extern "C" fn manual_seed(s: u64) {
    SEED.store(s, Ordering::Relaxed)
}
extern "C" fn next_seed() -> u64 {
    SEED.fetch_add(0x9E37_79B9, Ordering::Relaxed)
}
extern "C" fn parallel_for(n: usize, _grain: usize, body: crate::abi::host::ParallelBody, user: *mut std::ffi::c_void) {
    (body.0)(user, 0, n)
}
extern "C" fn num_threads() -> usize {
    1
}
thread_local! {
    static AUTOCAST: Cell<AutocastState> = const { Cell::new(AutocastState { enabled: false, dtype: DType::BF16 }) };
}
extern "C" fn set_autocast(enabled: bool, dtype: DType) -> AutocastState {
    AUTOCAST.with(|a| a.replace(AutocastState { enabled, dtype }))
}
extern "C" fn autocast_state() -> AutocastState {
    AUTOCAST.with(|a| a.get())
}
extern "C" fn no_storage(_: TensorHandle) -> i32 {
    status::FAILED
}
extern "C" fn storage_set_fetch(_: TensorHandle, hook: FetchHook) -> i32 {
    (hook.drop_user)(hook.user);
    fail("fake host: no storage release")
}
extern "C" fn register_post_accumulate_hook(_: TensorHandle, hook: GradHook) -> i32 {
    (hook.drop_user)(hook.user);
    fail("fake host: no autograd")
}
extern "C" fn storage_is_released(_: TensorHandle) -> bool {
    false
}
extern "C" fn custom_function(
    _: *const TensorHandle,
    _: usize,
    _: *const TensorHandle,
    _: usize,
    bw: CustomBackward,
    _: *mut TensorHandle,
) -> i32 {
    (bw.drop_user)(bw.user);
    fail("fake host: no autograd")
}

static API: HostApi = HostApi {
    abi_major: crate::abi::ABI_MAJOR,
    abi_minor: 0,
    last_error,
    warn,
    retain,
    release,
    meta,
    device,
    from_data,
    full,
    read,
    view,
    contiguous,
    to_dtype,
    copy_,
    version,
    resolve_op,
    op_num_outputs,
    call_op,
    set_requires_grad,
    requires_grad,
    grad,
    set_grad,
    backward,
    detach,
    set_grad_enabled,
    is_grad_enabled,
    register_hook,
    manual_seed,
    next_seed,
    num_threads,
    parallel_for,
    set_autocast,
    autocast_state,
    custom_function,
    storage_release: no_storage,
    storage_restore: no_storage,
    storage_is_released,
    storage_set_fetch,
    register_post_accumulate_hook,
};

/// The fake host.
pub fn host() -> Host {
    Host::new(&API)
}
