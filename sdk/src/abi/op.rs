//! Op descriptors: a typed schema with behaviours attached (kernels per device × dtype, backward).

use super::dtype::DType;
use super::kernel::{AttrValue, KernelCtx};
use super::view::{TensorMeta, TensorView};
use abi_stable::std_types::{RSlice, RStr};
use abi_stable::StableAbi;

/// One input or output of an op's schema.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::op::ArgDesc;
/// const INPUTS: [ArgDesc; 3] = [
///     ArgDesc::tensor("input"),
///     ArgDesc::tensor("weight"),
///     ArgDesc::tensor("bias").optional(),
/// ];
/// const CAT_IN: ArgDesc = ArgDesc::tensor("tensors").variadic();
/// const TARGET: ArgDesc = ArgDesc::tensor_nograd("target");
/// # let _ = (INPUTS, CAT_IN, TARGET);
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct ArgDesc {
    /// Argument name as PyTorch spells it (`input`, `weight`, `bias`, ...).
    pub name: RStr<'static>,
    /// May be absent (inputs only): passed as [`super::view::TensorView::ABSENT`].
    pub optional: bool,
    /// Takes any number of tensors (only the last input may be variadic; e.g. `cat`).
    pub variadic: bool,
    /// Gradients flow through it (inputs: the backward computes its gradient; outputs: it may
    /// receive a gradient).
    pub differentiable: bool,
}

/// One attribute of an op's schema with its default.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::op::AttrDesc;
/// const ATTRS: [AttrDesc; 6] = [
///     AttrDesc::int_required("dim"),
///     AttrDesc::bool("keepdim", false),
///     AttrDesc::float("eps", 1e-5),
///     AttrDesc::ints("stride", &[1, 1]),
///     AttrDesc::str("reduction", "mean"),
///     AttrDesc::int("groups", 1),
/// ];
/// # let _ = ATTRS;
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct AttrDesc {
    /// Attribute name (`stride`, `dim`, `keepdim`, ...).
    pub name: RStr<'static>,
    /// One of [`super::kernel::attr_kind`].
    pub kind: u32,
    /// Whether `default_*` holds a default; otherwise the attribute is required.
    pub has_default: bool,
    /// Default for int and bool attributes.
    pub default_int: i64,
    /// Default for float attributes.
    pub default_float: f64,
    /// Default for int-list attributes.
    pub default_ints: RSlice<'static, i64>,
    /// Default for string attributes.
    pub default_str: RStr<'static>,
}

/// A deprecated exported name and what to use instead (tf_export's `deprecated_endpoints`).
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct Deprecation {
    /// The old name; it keeps working and warns once per process.
    pub name: RStr<'static>,
    /// The name to use instead.
    pub replacement: RStr<'static>,
}

/// The kernels of one op for one (device type, dtype).
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct KernelEntry {
    /// DLPack device type ([`super::dtype::device_type`]).
    pub device_type: i32,
    /// Element type of the dispatching input.
    pub dtype: DType,
    /// Forward kernel ([`super::kernel::KernelFn`]; written inline for the layout derive).
    pub forward: unsafe extern "C" fn(
        *const KernelCtx,
        *const TensorView,
        usize,
        *const TensorView,
        usize,
        *const AttrValue,
        usize,
    ) -> i32,
    /// Whether `backward` is a real backward kernel.
    pub has_backward: bool,
    /// Backward kernel (see [`KernelFn`] for its argument layout); ignored if `has_backward` is false.
    pub backward: unsafe extern "C" fn(
        *const KernelCtx,
        *const TensorView,
        usize,
        *const TensorView,
        usize,
        *const AttrValue,
        usize,
    ) -> i32,
}

/// Everything the registry knows about one op from one plugin.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct OpDesc {
    /// Canonical name `namespace::name` (`ferrite::conv2d`).
    pub name: RStr<'static>,
    /// Exported API names (`nn.functional.conv2d`, `conv2d`).
    pub api_names: RSlice<'static, RStr<'static>>,
    /// Further aliases (`aten::conv2d`).
    pub aliases: RSlice<'static, RStr<'static>>,
    /// Deprecated names with their replacements.
    pub deprecated: RSlice<'static, Deprecation>,
    /// Op version; two versions of one canonical name may be loaded side by side.
    pub version: u32,
    /// One-line summary.
    pub doc: RStr<'static>,
    /// Inputs in call order.
    pub inputs: RSlice<'static, ArgDesc>,
    /// Outputs in order.
    pub outputs: RSlice<'static, ArgDesc>,
    /// Attributes in call order.
    pub attrs: RSlice<'static, AttrDesc>,
    /// Index of the input whose dtype selects the kernel (e.g. 1 for `embedding(indices, weight)`).
    pub dispatch_input: u32,
    /// Computes output shapes and dtypes ([`super::kernel::ShapeFn`]).
    pub shape_fn: unsafe extern "C" fn(
        *const KernelCtx,
        *const TensorView,
        usize,
        *const AttrValue,
        usize,
        *mut TensorMeta,
        usize,
    ) -> i32,
    /// Kernels by (device type, dtype).
    pub kernels: RSlice<'static, KernelEntry>,
}
