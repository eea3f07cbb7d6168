//! Core-owned differentiable operations that need no plugin: views and dtype conversion.

use crate::autograd::{is_grad_enabled, BackwardFn, Node, Saved};
use crate::error::{invalid, Result};
use crate::tensor::Tensor;
use ferrite_sdk::abi::host::view_kind;
use ferrite_sdk::DType;
use std::sync::{Arc, Mutex};

/// Attaches a one-input node to `out` if `input` needs a gradient.
fn record_unary(name: &str, input: &Tensor, out: &Tensor, backward: BackwardFn) {
    if !is_grad_enabled() || !out.dtype().is_float() {
        return;
    }
    let Some(edge) = input.grad_edge() else { return };
    let node = Arc::new(Node {
        name: name.to_string(),
        backward,
        saved: Mutex::new(Some(Saved { inputs: Vec::new(), outputs: Vec::new() })),
        next: vec![Some(edge)],
        input_meta: vec![Some((input.shape().to_vec(), input.dtype()))],
        output_meta: vec![(out.shape().to_vec(), out.dtype())],
        hooks: Mutex::new(Vec::new()),
    });
    let mut m = out.meta();
    m.requires_grad = true;
    m.grad_fn = Some(node);
    m.output_nr = 0;
}

/// A view of `t` ([`view_kind`] with its arguments), recorded by autograd.
pub fn view(t: &Tensor, kind: u32, args: &[i64]) -> Result<Tensor> {
    let (out, bw, name) = match kind {
        view_kind::RESHAPE => {
            let shape: Vec<isize> = args.iter().map(|&d| d as isize).collect();
            (t.reshape_view(&shape)?, BackwardFn::Reshape, "reshape")
        }
        view_kind::PERMUTE => {
            if args.iter().any(|&d| d < 0) {
                return invalid!("permute: negative dimension in {args:?}");
            }
            let dims: Vec<usize> = args.iter().map(|&d| d as usize).collect();
            (t.permute_view(&dims)?, BackwardFn::Permute(dims), "permute")
        }
        view_kind::EXPAND => {
            let shape: Vec<isize> = args.iter().map(|&d| d as isize).collect();
            (t.expand_view(&shape)?, BackwardFn::Expand, "expand")
        }
        view_kind::SLICE => {
            let &[dim, start, end, step] = args else {
                return invalid!("slice: expected [dim, start, end, step], got {args:?}");
            };
            if dim < 0 || start < 0 || end < 0 || step < 1 {
                return invalid!("slice: invalid arguments {args:?}");
            }
            let (dim, start, end, step) = (dim as usize, start as usize, end as usize, step as usize);
            (t.slice_view(dim, start, end, step)?, BackwardFn::Slice { dim, start, end, step }, "slice")
        }
        other => return invalid!("unknown view kind {other}"),
    };
    record_unary(name, t, &out, bw);
    Ok(out)
}

/// Converts to `dtype` (a copy); differentiable between float dtypes.
pub fn to_dtype(t: &Tensor, dtype: DType) -> Result<Tensor> {
    if !DType::ALL.contains(&dtype) {
        return invalid!("unsupported dtype {dtype:?}");
    }
    if dtype == t.dtype() {
        return Ok(t.clone());
    }
    let out = {
        let _pins = crate::tensor::fetch::materialize([t].into_iter(), |_| "to_dtype: input".into())?;
        t.cast(dtype)?
    };
    if t.dtype().is_float() {
        record_unary("to_dtype", t, &out, BackwardFn::Cast);
    }
    Ok(out)
}

/// `t` if contiguous, else a recorded contiguous copy.
pub fn contiguous(t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() {
        return Ok(t.clone());
    }
    let out = {
        let _pins = crate::tensor::fetch::materialize([t].into_iter(), |_| "contiguous: input".into())?;
        t.contiguous_copy()?
    };
    record_unary("contiguous", t, &out, BackwardFn::Cast);
    Ok(out)
}

/// In-place copy (`dst.copy_(src)`); refuses to write into a leaf that requires grad while
/// grad mode is on (PyTorch: "a leaf Variable that requires grad is being used in an in-place
/// operation").
pub fn copy_(dst: &Tensor, src: &Tensor) -> Result<()> {
    if is_grad_enabled() {
        let m = dst.meta();
        if m.requires_grad && m.grad_fn.is_none() {
            return invalid!("a leaf tensor that requires grad is being used in an in-place operation; wrap it in no_grad");
        }
        // Views and casts save nothing for backward, so no version check could catch a write
        // into their output: the old gradient would still flow to their input (and a view of a
        // leaf would write into the leaf). Refuse instead of returning a wrong gradient later.
        if let Some(node) = m.grad_fn.as_ref().filter(|n| !matches!(n.backward, BackwardFn::Kernel { .. })) {
            return invalid!(
                "the output of {} (a view or copy of a tensor that requires grad) is being used in an in-place \
                 operation; its gradient would be wrong. Write into a detached tensor or wrap it in no_grad",
                node.name
            );
        }
    }
    let _pins = crate::tensor::fetch::materialize([dst, src].into_iter(), |i| format!("copy_: {}", ["destination", "source"][i]))?;
    dst.copy_from(src)
}
