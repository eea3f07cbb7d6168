//! Adapters that turn plain Rust functions over [`Array`]s into ABI kernels.
//!
//! A reference op is three functions:
//! * shape: `fn(&[Option<Meta>], &Attrs) -> Result<Vec<Meta>, String>`
//! * forward: `fn(&[Option<Array>], &Attrs) -> Result<Vec<Array>, String>`
//! * backward: `fn(&BackwardArgs) -> Result<Vec<Option<Array>>, String>` (one gradient per input)
//!
//! Inputs are read into f64 whatever their dtype or strides; results are rounded once to each
//! output's dtype. That is what makes one implementation serve f32, f64, f16 and bf16 with
//! f64 accumulation (DESIGN.md, "Numerics").

use super::array::Array;
use super::attrs::Attrs;
use super::io::{dims, guarded, read_f64, write_f64};
use crate::abi::dtype::DType;
use crate::abi::kernel::KernelCtx;
use crate::abi::kernel::AttrValue;
use crate::abi::view::{TensorMeta, TensorView};

/// Shape and dtype of a tensor, as seen by a reference shape function.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{kernel::reference::Meta, DType};
/// let m = Meta::new(DType::F32, vec![2, 3]);
/// assert_eq!(m.shape, vec![2, 3]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    /// Element type.
    pub dtype: DType,
    /// Sizes.
    pub shape: Vec<usize>,
}

impl Meta {
    /// Builds a meta.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{kernel::reference::Meta, DType};
    /// assert_eq!(Meta::new(DType::I64, vec![4]), Meta { dtype: DType::I64, shape: vec![4] });
    /// ```
    pub fn new(dtype: DType, shape: Vec<usize>) -> Meta {
        Meta { dtype, shape }
    }
}

/// Everything a reference backward function receives.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::reference::BackwardArgs;
/// use ferrite_sdk::kernel::Array;
/// // d/dx of y = x² is 2x·dy: the backward of a reference `square` op.
/// fn square_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
///     let (x, dy) = (a.inputs[0].as_ref().ok_or("input is required")?, &a.grads[0]);
///     let data = x.data.iter().zip(&dy.data).map(|(x, g)| 2.0 * x * g).collect();
///     Ok(vec![a.needs[0].then(|| Array { shape: x.shape.clone(), data })])
/// }
/// let x = Array { shape: vec![2], data: vec![3.0, -1.0] };
/// let args = BackwardArgs {
///     grads: vec![Array { shape: vec![2], data: vec![1.0, 0.5] }],
///     inputs: vec![Some(x)],
///     outputs: vec![Array { shape: vec![2], data: vec![9.0, 1.0] }],
///     attrs: ferrite_sdk::kernel::Attrs(vec![]),
///     needs: vec![true],
/// };
/// assert_eq!(square_backward(&args).unwrap()[0].as_ref().unwrap().data, vec![6.0, -1.0]);
/// ```
#[derive(Debug)]
pub struct BackwardArgs {
    /// Gradient of each forward output (zeros where an output got no gradient).
    pub grads: Vec<Array>,
    /// Forward inputs (`None` for absent optional inputs).
    pub inputs: Vec<Option<Array>>,
    /// Forward outputs.
    pub outputs: Vec<Array>,
    /// Forward attributes.
    pub attrs: Attrs,
    /// Which input gradients are wanted.
    pub needs: Vec<bool>,
}

/// Forward function of a reference op.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::reference::RefForward;
/// use ferrite_sdk::kernel::{Array, Attrs};
/// fn scale(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
///     let (x, k) = (ins[0].as_ref().ok_or("input is required")?, attrs.float(0)?);
///     Ok(vec![Array { shape: x.shape.clone(), data: x.data.iter().map(|v| v * k).collect() }])
/// }
/// let f: RefForward = scale;
/// let x = Array { shape: vec![2], data: vec![1.0, 2.0] };
/// let attrs = Attrs(vec![ferrite_sdk::kernel::Attr::Float(3.0)]);
/// assert_eq!(f(&[Some(x)], &attrs).unwrap()[0].data, vec![3.0, 6.0]);
/// ```
pub type RefForward = fn(&[Option<Array>], &Attrs) -> Result<Vec<Array>, String>;
/// Backward function of a reference op.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::reference::{BackwardArgs, RefBackward};
/// use ferrite_sdk::kernel::Array;
/// // The backward of an identity op passes the output gradient through.
/// fn identity_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
///     Ok(vec![a.needs[0].then(|| a.grads[0].clone())])
/// }
/// let _f: RefBackward = identity_backward;
/// ```
pub type RefBackward = fn(&BackwardArgs) -> Result<Vec<Option<Array>>, String>;
/// Shape function of a reference op.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::reference::RefShape;
/// use ferrite_sdk::kernel::{Attrs, Meta};
/// use ferrite_sdk::DType;
/// // Every built-in shape function has this signature.
/// let f: RefShape = ferrite_sdk::shape::same_as_input;
/// let x = Meta::new(DType::F16, vec![3]);
/// assert_eq!(f(&[Some(x.clone())], &Attrs(vec![])).unwrap(), vec![x]);
/// ```
pub type RefShape = fn(&[Option<Meta>], &Attrs) -> Result<Vec<Meta>, String>;

unsafe fn views<'a>(ptr: *const TensorView, n: usize) -> &'a [TensorView] {
    if n == 0 || ptr.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, n)
    }
}

/// Refuses to start when the f64 working copies of these tensors (inputs read, outputs built,
/// with room for temporaries) cannot even be reserved: an error beats an allocation abort.
unsafe fn ensure_memory(op_views: &[&[TensorView]]) -> Result<(), String> {
    let elems: usize = op_views.iter().flat_map(|vs| vs.iter()).filter(|v| v.is_present()).map(|v| v.numel()).sum();
    let bytes = elems.checked_mul(3 * std::mem::size_of::<f64>()).ok_or("tensors too large for the reference kernel")?;
    let mut probe: Vec<u8> = Vec::new();
    probe
        .try_reserve_exact(bytes)
        .map_err(|_| format!("not enough memory for the reference kernel's f64 working copies ({bytes} bytes)"))
}

unsafe fn read_opt(v: &TensorView) -> Option<Array> {
    v.is_present().then(|| Array { shape: dims(v), data: read_f64(v) })
}

unsafe fn write_outputs(outs: &[TensorView], results: &[Array]) -> Result<(), String> {
    if results.len() != outs.len() {
        return Err(format!("kernel produced {} outputs, expected {}", results.len(), outs.len()));
    }
    for (i, (v, r)) in outs.iter().zip(results).enumerate() {
        if dims(v) != r.shape {
            return Err(format!("output {i}: shape function said {:?}, kernel produced {:?}", dims(v), r.shape));
        }
        write_f64(v, &r.data)?;
    }
    Ok(())
}

/// Runs a reference forward function as an ABI kernel.
///
/// # Safety
/// Arguments must follow the [`crate::abi::kernel::KernelFn`] contract.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi_stable::std_types::RStr;
/// use ferrite_sdk::abi::{kernel::{status, AttrValue, KernelCtx}, view::TensorView};
/// use ferrite_sdk::kernel::{reference::run_forward, Array, Attrs};
/// use ferrite_sdk::{DType, Device};
/// fn negate(ins: &[Option<Array>], _: &Attrs) -> Result<Vec<Array>, String> {
///     let x = ins[0].as_ref().ok_or("input is required")?;
///     Ok(vec![Array { shape: x.shape.clone(), data: x.data.iter().map(|v| -v).collect() }])
/// }
/// unsafe extern "C" fn keep(state: *mut std::ffi::c_void, msg: RStr<'_>) {
///     *(state as *mut String) = msg.to_string();
/// }
/// let mut err = String::new();
/// let ctx = KernelCtx { err_state: &mut err as *mut String as *mut _, set_error: keep, stream: std::ptr::null_mut(), host: std::ptr::null() };
/// let (x, mut y) = ([1.0f32, -2.0, 3.0], [0.0f32; 3]);
/// let (shape, strides) = ([3i64], [1i64]);
/// let view = |p: *mut f32| TensorView { data: p.cast(), device: Device::CPU, ndim: 1, dtype: DType::F32, shape: shape.as_ptr(), strides: strides.as_ptr(), byte_offset: 0 };
/// let (vin, vout) = (view(x.as_ptr() as *mut f32), view(y.as_mut_ptr()));
/// // SAFETY: valid views over live buffers, a live ctx, no attributes.
/// let code = unsafe { run_forward(&ctx, &vin, 1, &vout, 1, std::ptr::null::<AttrValue>(), 0, negate) };
/// assert_eq!((code, y), (status::OK, [-1.0, 2.0, -3.0]));
/// // A missing input is reported through the context, not a panic.
/// let code = unsafe { run_forward(&ctx, &TensorView::ABSENT, 1, &vout, 1, std::ptr::null(), 0, negate) };
/// assert!(code != status::OK && err == "input is required");
/// ```
pub unsafe fn run_forward(
    ctx: *const KernelCtx,
    inputs: *const TensorView,
    n_in: usize,
    outputs: *const TensorView,
    n_out: usize,
    attrs: *const AttrValue,
    n_attrs: usize,
    f: RefForward,
) -> i32 {
    guarded(ctx, || {
        ensure_memory(&[views(inputs, n_in), views(outputs, n_out)])?;
        let ins: Vec<Option<Array>> = views(inputs, n_in).iter().map(|v| read_opt(v)).collect();
        let attrs = Attrs::from_raw(attrs, n_attrs);
        let res = f(&ins, &attrs)?;
        write_outputs(views(outputs, n_out), &res)
    })
}

/// Runs a reference backward function as an ABI kernel (argument layout in
/// [`crate::abi::kernel::KernelFn`]).
///
/// The forward outputs handed to `f` are **recomputed in f64** by `forward` from the saved
/// inputs rather than read back from the saved outputs: those were rounded to the tensor's dtype,
/// and a backward built on a rounded output (softmax, logsumexp, tanh...) is off by that
/// rounding — 0.3% per gradient for an f16 logsumexp (field case C04). The oracle must not be.
///
/// # Safety
/// Arguments must follow the [`crate::abi::kernel::KernelFn`] contract.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi_stable::std_types::RStr;
/// use ferrite_sdk::abi::{kernel::{status, KernelCtx}, view::TensorView};
/// use ferrite_sdk::kernel::reference::{run_backward, BackwardArgs};
/// use ferrite_sdk::kernel::{Array, Attrs};
/// use ferrite_sdk::{DType, Device};
/// fn square(ins: &[Option<Array>], _: &Attrs) -> Result<Vec<Array>, String> {
///     let x = ins[0].as_ref().ok_or("input is required")?;
///     Ok(vec![Array { shape: x.shape.clone(), data: x.data.iter().map(|v| v * v).collect() }])
/// }
/// fn square_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
///     let x = a.inputs[0].as_ref().ok_or("input is required")?;
///     let data = x.data.iter().zip(&a.grads[0].data).map(|(x, g)| 2.0 * x * g).collect();
///     Ok(vec![Some(Array { shape: x.shape.clone(), data })])
/// }
/// unsafe extern "C" fn ignore(_: *mut std::ffi::c_void, _: RStr<'_>) {}
/// let ctx = KernelCtx { err_state: std::ptr::null_mut(), set_error: ignore, stream: std::ptr::null_mut(), host: std::ptr::null() };
/// // Backward inputs: [dy, x, y]; output: dx.
/// let (dy, x, y, mut dx) = ([1.0f64, 1.0], [3.0f64, -2.0], [9.0f64, 4.0], [0.0f64; 2]);
/// let (shape, strides) = ([2i64], [1i64]);
/// let view = |p: *const f64| TensorView { data: p as *mut _, device: Device::CPU, ndim: 1, dtype: DType::F64, shape: shape.as_ptr(), strides: strides.as_ptr(), byte_offset: 0 };
/// let ins = [view(dy.as_ptr()), view(x.as_ptr()), view(y.as_ptr())];
/// let out = view(dx.as_mut_ptr());
/// // SAFETY: valid views over live buffers, a live ctx, no attributes.
/// let code = unsafe { run_backward(&ctx, ins.as_ptr(), 3, &out, 1, std::ptr::null(), 0, square, square_backward) };
/// assert_eq!((code, dx), (status::OK, [6.0, -4.0]));
/// ```
pub unsafe fn run_backward(
    ctx: *const KernelCtx,
    inputs: *const TensorView,
    n_in: usize,
    outputs: *const TensorView,
    n_out: usize,
    attrs: *const AttrValue,
    n_attrs: usize,
    forward: RefForward,
    f: RefBackward,
) -> i32 {
    guarded(ctx, || {
        let all = views(inputs, n_in);
        let outs = views(outputs, n_out);
        ensure_memory(&[all, outs])?;
        let n_fwd_in = n_out;
        if n_in < n_fwd_in || (n_in - n_fwd_in) % 2 != 0 {
            return Err(format!("backward got {n_in} inputs for {n_fwd_in} forward inputs"));
        }
        let n_fwd_out = (n_in - n_fwd_in) / 2;
        let read_all = |vs: &[TensorView]| -> Result<Vec<Array>, String> {
            vs.iter().map(|v| read_opt(v).ok_or_else(|| "missing gradient/output tensor".to_string())).collect()
        };
        let inputs: Vec<Option<Array>> = all[n_fwd_out..n_fwd_out + n_fwd_in].iter().map(|v| read_opt(v)).collect();
        let attrs = Attrs::from_raw(attrs, n_attrs);
        let outputs = forward(&inputs, &attrs)?;
        if outputs.len() != n_fwd_out {
            return Err(format!("forward recomputation produced {} outputs, expected {n_fwd_out}", outputs.len()));
        }
        let args = BackwardArgs {
            grads: read_all(&all[..n_fwd_out])?,
            inputs,
            outputs,
            attrs,
            needs: outs.iter().map(|v| v.is_present()).collect(),
        };
        let grads = f(&args)?;
        if grads.len() != n_fwd_in {
            return Err(format!("backward produced {} gradients for {n_fwd_in} inputs", grads.len()));
        }
        for (i, (v, g)) in outs.iter().zip(grads).enumerate() {
            if !v.is_present() {
                continue;
            }
            match g {
                Some(g) => {
                    if dims(v) != g.shape {
                        return Err(format!("gradient {i}: expected shape {:?}, got {:?}", dims(v), g.shape));
                    }
                    write_f64(v, &g.data)?
                }
                None => write_f64(v, &vec![0.0; v.numel()])?,
            }
        }
        Ok(())
    })
}

/// Runs a reference shape function as an ABI shape function.
///
/// # Safety
/// Arguments must follow the [`crate::abi::kernel::ShapeFn`] contract.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi_stable::std_types::RStr;
/// use ferrite_sdk::abi::{kernel::{status, KernelCtx}, view::{TensorMeta, TensorView}};
/// use ferrite_sdk::kernel::reference::run_shape;
/// use ferrite_sdk::{DType, Device};
/// unsafe extern "C" fn ignore(_: *mut std::ffi::c_void, _: RStr<'_>) {}
/// let ctx = KernelCtx { err_state: std::ptr::null_mut(), set_error: ignore, stream: std::ptr::null_mut(), host: std::ptr::null() };
/// let (a, b) = ([4i64, 1, 3], [5i64, 1]);
/// let (sa, sb) = ([3i64, 3, 1], [1i64, 1]);
/// let byte = [0u8; 1]; // shape functions read only shape and dtype, but present views need data
/// let view = |shape: &[i64], strides: &[i64]| TensorView { data: byte.as_ptr() as *mut _, device: Device::CPU, ndim: shape.len() as i32, dtype: DType::F32, shape: shape.as_ptr(), strides: strides.as_ptr(), byte_offset: 0 };
/// let ins = [view(&a, &sa), view(&b, &sb)];
/// let mut out = [TensorMeta::new(DType::F32, &[]).unwrap()];
/// // SAFETY: valid views, a live ctx, room for one output.
/// let code = unsafe { run_shape(&ctx, ins.as_ptr(), 2, std::ptr::null(), 0, out.as_mut_ptr(), 1, ferrite_sdk::shape::binary::arith_shape) };
/// assert_eq!((code, out[0].dims()), (status::OK, vec![4, 5, 3]));
/// ```
pub unsafe fn run_shape(
    ctx: *const KernelCtx,
    inputs: *const TensorView,
    n_in: usize,
    attrs: *const AttrValue,
    n_attrs: usize,
    outputs: *mut TensorMeta,
    n_out: usize,
    f: RefShape,
) -> i32 {
    guarded(ctx, || {
        let ins: Vec<Option<Meta>> = views(inputs, n_in)
            .iter()
            .map(|v| v.is_present().then(|| Meta { dtype: v.dtype, shape: dims(v) }))
            .collect();
        let attrs = Attrs::from_raw(attrs, n_attrs);
        let metas = f(&ins, &attrs)?;
        if metas.len() != n_out {
            return Err(format!("shape function produced {} outputs, expected {n_out}", metas.len()));
        }
        for (i, m) in metas.iter().enumerate() {
            *outputs.add(i) = TensorMeta::new(m.dtype, &m.shape)?;
        }
        Ok(())
    })
}

/// A backward kernel for ops that have none (never called: `has_backward` is false).
///
/// # Safety
/// Follows the [`crate::abi::kernel::KernelFn`] contract.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::status;
/// use ferrite_sdk::kernel::reference::no_backward;
/// let null = std::ptr::null();
/// let code = unsafe { no_backward(std::ptr::null(), null, 0, null, 0, std::ptr::null(), 0) };
/// assert_eq!(code, status::BAD_ARGS);
/// ```
pub unsafe extern "C" fn no_backward(
    ctx: *const KernelCtx,
    _inputs: *const TensorView,
    _n_in: usize,
    _outputs: *const TensorView,
    _n_out: usize,
    _attrs: *const AttrValue,
    _n_attrs: usize,
) -> i32 {
    guarded(ctx, || Err("this op has no backward".to_string()))
}
