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
    pub fn new(dtype: DType, shape: Vec<usize>) -> Meta {
        Meta { dtype, shape }
    }
}

/// Everything a reference backward function receives.
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
pub type RefForward = fn(&[Option<Array>], &Attrs) -> Result<Vec<Array>, String>;
/// Backward function of a reference op.
pub type RefBackward = fn(&BackwardArgs) -> Result<Vec<Option<Array>>, String>;
/// Shape function of a reference op.
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
