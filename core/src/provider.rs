//! Calling the kernels of one named plugin directly, bypassing dispatch priority and autograd.
//! This is what the conformance suite compares: plugin X's kernel against ops-ref's on the
//! same inputs, while both are loaded.

use crate::dispatch::{check_inputs, kernel_call, resolve_attrs, run_forward};
use crate::error::{CoreError, Result};
use crate::runtime::Runtime;
use crate::tensor::Tensor;
use ferrite_sdk::abi::op::{KernelEntry, OpDesc};
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::DType;

/// One kernel a plugin provides.
#[derive(Clone, Debug)]
pub struct KernelInfo {
    /// Canonical op name.
    pub op: String,
    /// DLPack device type.
    pub device_type: i32,
    /// Dispatch dtype.
    pub dtype: DType,
    /// Whether a backward kernel exists.
    pub has_backward: bool,
}

/// Every kernel of the loaded plugin named `plugin` (or the build staged under that label,
/// see [`Runtime::stage`]).
pub fn kernels_of(plugin: &str) -> Result<Vec<KernelInfo>> {
    let p = Runtime::global()
        .plugin_named(plugin)
        .ok_or_else(|| CoreError::Invalid(format!("no loaded plugin is named `{plugin}`")))?;
    Ok(p.ops
        .iter()
        .flat_map(|d| {
            d.kernels.iter().map(move |k| KernelInfo {
                op: d.name.as_str().to_string(),
                device_type: k.device_type,
                dtype: k.dtype,
                has_backward: k.has_backward,
            })
        })
        .collect())
}

fn find(op: &str, plugin: &str, device_type: i32, dtype: DType) -> Result<(&'static OpDesc, KernelEntry)> {
    let p = Runtime::global()
        .plugin_named(plugin)
        .ok_or_else(|| CoreError::Invalid(format!("no loaded plugin is named `{plugin}`")))?;
    let desc = p
        .ops
        .iter()
        .find(|d| d.name.as_str() == op)
        .ok_or_else(|| CoreError::Invalid(format!("plugin `{plugin}` does not provide {op}")))?;
    let entry = desc
        .kernels
        .iter()
        .find(|k| k.device_type == device_type && k.dtype == dtype)
        .ok_or_else(|| CoreError::Invalid(format!("plugin `{plugin}` has no {op} kernel for {dtype}")))?;
    Ok((desc, *entry))
}

fn dispatch_dtype(desc: &OpDesc, inputs: &[Option<Tensor>]) -> Result<(i32, DType)> {
    let di = desc.dispatch_input as usize;
    match inputs.get(di) {
        Some(Some(t)) => Ok((t.0.device.device_type, t.dtype())),
        _ => Err(CoreError::Invalid(format!("{}: dispatch input #{di} is missing", desc.name))),
    }
}

fn abi_attrs(desc: &OpDesc, attrs: &[Attr]) -> Result<(Vec<ferrite_sdk::abi::kernel::AttrValue>, Vec<Attr>)> {
    let given: Vec<_> = attrs.iter().map(|a| a.as_abi()).collect();
    let full = resolve_attrs(desc, &given)?;
    // SAFETY: values point at `attrs` or static defaults, both alive here.
    let owned = full.iter().map(|a| unsafe { Attr::from_abi(a) }).collect();
    Ok((full, owned))
}

/// Runs `plugin`'s forward kernel of `op` (selected by the dispatch input's device and dtype).
pub fn forward_of(op: &str, plugin: &str, inputs: &[Option<Tensor>], attrs: &[Attr]) -> Result<Vec<Tensor>> {
    let reg_desc = find_desc(op, plugin)?;
    check_inputs(reg_desc, inputs)?;
    let (device_type, dtype) = dispatch_dtype(reg_desc, inputs)?;
    let (desc, entry) = find(op, plugin, device_type, dtype)?;
    let (full, _) = abi_attrs(desc, attrs)?;
    run_forward(desc, &entry, inputs, &full)
}

fn find_desc(op: &str, plugin: &str) -> Result<&'static OpDesc> {
    let p = Runtime::global()
        .plugin_named(plugin)
        .ok_or_else(|| CoreError::Invalid(format!("no loaded plugin is named `{plugin}`")))?;
    p.ops
        .iter()
        .find(|d| d.name.as_str() == op)
        .ok_or_else(|| CoreError::Invalid(format!("plugin `{plugin}` does not provide {op}")))
}

/// Runs `plugin`'s backward kernel of `op`: from the gradient of each output, the forward
/// inputs and outputs, the gradient of each input with `needs[i]` (others `None`).
pub fn backward_of(
    op: &str,
    plugin: &str,
    grads: &[Tensor],
    inputs: &[Option<Tensor>],
    outputs: &[Tensor],
    attrs: &[Attr],
    needs: &[bool],
) -> Result<Vec<Option<Tensor>>> {
    let desc = find_desc(op, plugin)?;
    let (device_type, dtype) = dispatch_dtype(desc, inputs)?;
    let (desc, entry) = find(op, plugin, device_type, dtype)?;
    if !entry.has_backward {
        return Err(CoreError::Invalid(format!("plugin `{plugin}` has no backward for {op}")));
    }
    if grads.len() != outputs.len() || needs.len() != inputs.len() {
        return Err(CoreError::Invalid(format!("{op}: backward_of needs one gradient per output and one flag per input")));
    }
    let (full, _) = abi_attrs(desc, attrs)?;
    let mut views: Vec<TensorView> = grads.iter().map(|g| g.view()).collect();
    views.extend(inputs.iter().map(|t| t.as_ref().map_or(TensorView::ABSENT, |t| t.view())));
    views.extend(outputs.iter().map(|t| t.view()));
    let outs: Vec<Option<Tensor>> = inputs
        .iter()
        .zip(needs)
        .map(|(t, &need)| match t {
            Some(t) if need => Tensor::zeros(t.shape(), t.dtype()).map(Some),
            _ => Ok(None),
        })
        .collect::<Result<_>>()?;
    let out_views: Vec<TensorView> = outs.iter().map(|o| o.as_ref().map_or(TensorView::ABSENT, |t| t.view())).collect();
    kernel_call(op, entry.backward, &views, &out_views, &full, "backward")?;
    Ok(outs)
}
