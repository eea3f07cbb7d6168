//! The dispatcher: op id → (device, dtype) kernel in the current registry snapshot, output
//! allocation from the shape function, the kernel call, and autograd recording.
//!
//! No string lookup and no lock per call: the snapshot is read through `arc_swap` and the
//! kernel table of an op is a short vector scanned by (device, dtype).

use crate::autograd::{is_grad_enabled, BackwardFn, Node, Saved, SavedTensor};
use crate::error::{CoreError, Result};
use crate::runtime::Runtime;
use crate::tensor::Tensor;
use abi_stable::std_types::RStr;
use ferrite_sdk::abi::dtype::device_type_name;
use ferrite_sdk::abi::kernel::{attr_kind, status, AttrValue, KernelCtx};
use ferrite_sdk::abi::op::{AttrDesc, KernelEntry, OpDesc};
use ferrite_sdk::abi::view::{TensorMeta, TensorView, MAX_NDIM};
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::DType;
use std::ffi::c_void;
use std::sync::{Arc, Mutex};

/// Collects the message a kernel reports through its context.
struct ErrSink(String);

unsafe extern "C" fn set_error(state: *mut c_void, msg: RStr<'_>) {
    // SAFETY: `state` is the ErrSink of the call in progress.
    let sink = &mut *(state as *mut ErrSink);
    sink.0 = msg.as_str().to_string();
}

fn status_error(op: &str, what: &str, code: i32, msg: String) -> CoreError {
    let kind = match code {
        status::PANICKED => "panicked",
        status::UNSUPPORTED => "unsupported",
        status::BAD_ARGS => "bad arguments",
        _ => "failed",
    };
    let msg = if msg.is_empty() { format!("{what} kernel {kind} (status {code}) without a message") } else { msg };
    // Kernels usually start their messages with the op's short name; keep the canonical name
    // once instead of both.
    let short = op.rsplit("::").next().unwrap_or(op);
    let msg = msg.strip_prefix(&format!("{short}: ")).map(str::to_string).unwrap_or(msg);
    CoreError::Kernel { op: op.to_string(), msg }
}

/// The signature shared by forward and backward kernels.
pub type RawKernel = unsafe extern "C" fn(
    *const KernelCtx,
    *const TensorView,
    usize,
    *const TensorView,
    usize,
    *const AttrValue,
    usize,
) -> i32;

/// Calls one kernel with a fresh error sink; a non-OK status becomes a [`CoreError::Kernel`].
pub fn kernel_call(op: &str, f: RawKernel, inputs: &[TensorView], outputs: &[TensorView], attrs: &[AttrValue], what: &str) -> Result<()> {
    let mut sink = ErrSink(String::new());
    let ctx = KernelCtx {
        err_state: &mut sink as *mut ErrSink as *mut c_void,
        set_error,
        stream: std::ptr::null_mut(),
        host: crate::host_api::host_api(),
    };
    // SAFETY: views point at live tensors held by the caller for the duration of the call.
    let code = unsafe { f(&ctx, inputs.as_ptr(), inputs.len(), outputs.as_ptr(), outputs.len(), attrs.as_ptr(), attrs.len()) };
    if code == status::OK {
        Ok(())
    } else {
        Err(status_error(op, what, code, sink.0))
    }
}

fn kind_name(k: u32) -> &'static str {
    match k {
        attr_kind::INT => "int",
        attr_kind::FLOAT => "float",
        attr_kind::BOOL => "bool",
        attr_kind::INTS => "list of ints",
        attr_kind::STR => "str",
        _ => "none",
    }
}

fn default_value(d: &AttrDesc) -> AttrValue {
    let mut v = AttrValue::NONE;
    v.kind = d.kind;
    match d.kind {
        attr_kind::INT | attr_kind::BOOL => v.int = d.default_int,
        attr_kind::FLOAT => v.float = d.default_float,
        attr_kind::INTS => {
            v.ints = d.default_ints.as_ptr();
            v.n_ints = d.default_ints.len();
        }
        attr_kind::STR => {
            v.str_ptr = d.default_str.as_ptr();
            v.str_len = d.default_str.len();
        }
        _ => {}
    }
    v
}

/// Fills defaults and checks attribute kinds against the schema.
pub fn resolve_attrs(schema: &OpDesc, given: &[AttrValue]) -> Result<Vec<AttrValue>> {
    let name = schema.name.as_str();
    if given.len() > schema.attrs.len() {
        return Err(CoreError::Invalid(format!(
            "{name}: got {} attributes, the schema has {}",
            given.len(),
            schema.attrs.len()
        )));
    }
    let mut out = Vec::with_capacity(schema.attrs.len());
    for (i, d) in schema.attrs.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(AttrValue::NONE);
        if g.kind == attr_kind::NONE {
            if !d.has_default {
                return Err(CoreError::Invalid(format!("{name}: missing required attribute `{}`", d.name)));
            }
            out.push(default_value(d));
            continue;
        }
        let ok = g.kind == d.kind
            || matches!((g.kind, d.kind), (attr_kind::INT, attr_kind::BOOL) | (attr_kind::BOOL, attr_kind::INT))
            || (g.kind == attr_kind::INT && d.kind == attr_kind::FLOAT)
            || (g.kind == attr_kind::INT && d.kind == attr_kind::INTS);
        if !ok {
            return Err(CoreError::Invalid(format!(
                "{name}: attribute `{}` expects {}, got {}",
                d.name,
                kind_name(d.kind),
                kind_name(g.kind)
            )));
        }
        let mut v = g;
        if g.kind == attr_kind::INT && d.kind == attr_kind::FLOAT {
            v.kind = attr_kind::FLOAT;
            v.float = g.int as f64;
        }
        out.push(v);
    }
    Ok(out)
}

/// Which schema argument input `i` of a call belongs to (variadic last input absorbs the rest).
fn arg_index(schema: &OpDesc, i: usize) -> usize {
    let n = schema.inputs.len();
    let variadic = n > 0 && schema.inputs[n - 1].variadic;
    if variadic && i >= n - 1 {
        n - 1
    } else {
        i
    }
}

pub fn check_inputs(schema: &OpDesc, inputs: &[Option<Tensor>]) -> Result<()> {
    let name = schema.name.as_str();
    let n = schema.inputs.len();
    let variadic = n > 0 && schema.inputs[n - 1].variadic;
    let ok_count = if variadic { inputs.len() >= n } else { inputs.len() <= n };
    if !ok_count {
        return Err(CoreError::Invalid(format!(
            "{name}: got {} inputs, the schema has {}{}",
            inputs.len(),
            if variadic { "at least " } else { "" },
            n
        )));
    }
    for (i, a) in schema.inputs.iter().enumerate() {
        let present = inputs.get(i).is_some_and(|t| t.is_some());
        if !present && !a.optional && !(a.variadic && inputs.len() > i) {
            return Err(CoreError::Invalid(format!("{name}: missing required input `{}`", a.name)));
        }
    }
    if variadic {
        if let Some(pos) = inputs[n - 1..].iter().position(|t| t.is_none()) {
            return Err(CoreError::Invalid(format!("{name}: tensor #{pos} of `{}` is missing", schema.inputs[n - 1].name)));
        }
    }
    Ok(())
}

/// Calls op `id` on `inputs` (`None` = absent optional input) with positional attributes,
/// records autograd when grad mode is on, and returns every output.
pub fn call_op(id: u32, inputs: &[Option<Tensor>], attrs: &[AttrValue]) -> Result<Vec<Tensor>> {
    let reg = Runtime::global().registry();
    let Some(op) = reg.op(id) else {
        return Err(CoreError::UnknownOp(format!("#{id}")));
    };
    let schema = op.schema();
    let name = schema.name.as_str();
    check_inputs(schema, inputs)?;
    let attrs = resolve_attrs(schema, attrs)?;
    // Released (sharded) inputs are fetched, and hooked ones pinned, until the kernel is done.
    let _pins = crate::tensor::fetch::materialize(inputs.iter().flatten(), |i| format!("{name}: input {i}"))?;
    // Autocast (per-thread, see `crate::autocast`): cast inputs by the op's policy; the casts
    // are recorded by autograd, so gradients come back in the inputs' own dtypes.
    let cast = crate::autocast::cast_inputs(name, inputs)?;
    let inputs: &[Option<Tensor>] = cast.as_deref().unwrap_or(inputs);
    let di = schema.dispatch_input as usize;
    let Some(Some(key_t)) = inputs.get(di) else {
        return Err(CoreError::Invalid(format!("{name}: dispatch input #{di} is missing")));
    };
    let dtype = key_t.dtype();
    let device_type = key_t.0.device.device_type;
    let Some(slot) = op.kernel(device_type, dtype) else {
        let available: Vec<String> =
            op.kernels.iter().map(|k| format!("{}/{}", device_type_name(k.device_type), k.dtype)).collect();
        return Err(CoreError::NoKernel {
            op: name.to_string(),
            device: device_type_name(device_type).to_string(),
            dtype: dtype.to_string(),
            available: if available.is_empty() { "none".into() } else { available.join(", ") },
        });
    };
    // Shape function and kernel of the same provider: schemas agree, shape rules may not.
    let provider = op.providers[slot.provider].desc;
    let outputs = {
        // Ops a kernel calls back into the host (composites) run as written, not re-cast.
        let _no_autocast = crate::autocast::Suspend::new();
        run_forward(provider, &slot.entry, inputs, &attrs)?
    };

    if is_grad_enabled() && slot.entry.has_backward {
        record(provider, slot.entry, inputs, &outputs, &attrs);
    }
    Ok(outputs)
}

/// Runs one provider's forward: its shape function, output allocation, its kernel. No
/// autograd; `attrs` must be complete (defaults filled, see [`resolve_attrs`]).
pub fn run_forward(desc: &'static OpDesc, entry: &KernelEntry, inputs: &[Option<Tensor>], attrs: &[AttrValue]) -> Result<Vec<Tensor>> {
    let name = desc.name.as_str();
    let in_views: Vec<TensorView> = inputs.iter().map(|t| t.as_ref().map_or(TensorView::ABSENT, |t| t.view())).collect();
    let n_out = desc.outputs.len();
    let mut metas = vec![TensorMeta { dtype: DType::F32, ndim: 0, shape: [0; MAX_NDIM] }; n_out];
    {
        let mut sink = ErrSink(String::new());
        let ctx = KernelCtx {
            err_state: &mut sink as *mut ErrSink as *mut c_void,
            set_error,
            stream: std::ptr::null_mut(),
            host: crate::host_api::host_api(),
        };
        // SAFETY: views and metas live across the call.
        let code = unsafe {
            (desc.shape_fn)(&ctx, in_views.as_ptr(), in_views.len(), attrs.as_ptr(), attrs.len(), metas.as_mut_ptr(), n_out)
        };
        if code != status::OK {
            return Err(status_error(name, "shape", code, sink.0));
        }
    }
    let outputs: Vec<Tensor> = metas
        .iter()
        .map(|m| Tensor::zeros(&m.shape[..(m.ndim as usize).min(MAX_NDIM)], m.dtype))
        .collect::<Result<_>>()?;
    let out_views: Vec<TensorView> = outputs.iter().map(|t| t.view()).collect();
    kernel_call(name, entry.forward, &in_views, &out_views, attrs, "forward")?;
    Ok(outputs)
}

fn record(schema: &'static OpDesc, entry: ferrite_sdk::abi::op::KernelEntry, inputs: &[Option<Tensor>], outputs: &[Tensor], attrs: &[AttrValue]) {
    let next: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            Some(t) if schema.inputs[arg_index(schema, i)].differentiable => t.grad_edge(),
            _ => None,
        })
        .collect();
    if next.iter().all(|e| e.is_none()) {
        return;
    }
    let node = Arc::new(Node {
        name: schema.name.as_str().to_string(),
        // SAFETY: attrs point at caller data or static defaults, valid now; copied to owned.
        backward: BackwardFn::Kernel { entry, attrs: attrs.iter().map(|a| unsafe { Attr::from_abi(a) }).collect() },
        saved: Mutex::new(Some(Saved {
            inputs: inputs.iter().map(|t| t.as_ref().map(SavedTensor::new)).collect(),
            outputs: outputs.iter().map(SavedTensor::new).collect(),
        })),
        next,
        input_meta: inputs.iter().map(|t| t.as_ref().map(|t| (t.shape().to_vec(), t.dtype()))).collect(),
        output_meta: outputs.iter().map(|t| (t.shape().to_vec(), t.dtype())).collect(),
        hooks: Mutex::new(Vec::new()),
    });
    for (j, out) in outputs.iter().enumerate() {
        if schema.outputs[j].differentiable && out.dtype().is_float() {
            let mut m = out.meta();
            m.requires_grad = true;
            m.grad_fn = Some(node.clone());
            m.output_nr = j;
        }
    }
}
