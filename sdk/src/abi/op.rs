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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::op::Deprecation;
/// const DEPRECATED: [Deprecation; 1] = [Deprecation::new("nn.functional.swish", "nn.functional.silu")];
/// assert_eq!(DEPRECATED[0].replacement.as_str(), "nn.functional.silu");
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct Deprecation {
    /// The old name; it keeps working and warns once per process.
    pub name: RStr<'static>,
    /// The name to use instead.
    pub replacement: RStr<'static>,
}

/// The kernels of one op for one (device type, dtype).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::{AttrValue, KernelCtx};
/// use ferrite_sdk::abi::op::KernelEntry;
/// use ferrite_sdk::abi::{dtype::device_type, view::TensorView};
/// use ferrite_sdk::kernel::{reference::{no_backward, run_forward}, Array, Attrs};
/// use ferrite_sdk::DType;
/// fn relu(ins: &[Option<Array>], _: &Attrs) -> Result<Vec<Array>, String> {
///     let x = ins[0].as_ref().ok_or("input is required")?;
///     Ok(vec![Array { shape: x.shape.clone(), data: x.data.iter().map(|v| v.max(0.0)).collect() }])
/// }
/// unsafe extern "C" fn relu_kernel(ctx: *const KernelCtx, i: *const TensorView, ni: usize, o: *const TensorView, no: usize, a: *const AttrValue, na: usize) -> i32 {
///     run_forward(ctx, i, ni, o, no, a, na, relu)
/// }
/// // One entry per (device, dtype) the kernel serves; reference kernels read any float dtype.
/// const KERNELS: [KernelEntry; 2] = [
///     KernelEntry { device_type: device_type::CPU, dtype: DType::F32, forward: relu_kernel, has_backward: false, backward: no_backward },
///     KernelEntry { device_type: device_type::CPU, dtype: DType::F64, forward: relu_kernel, has_backward: false, backward: no_backward },
/// ];
/// assert_eq!(KERNELS[1].dtype, DType::F64);
/// ```
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
    /// Backward kernel (see [`KernelFn`](super::kernel::KernelFn) for its argument layout); ignored if `has_backward` is false.
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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::{AttrValue, KernelCtx};
/// use ferrite_sdk::abi::op::{ArgDesc, AttrDesc, KernelEntry, OpDesc};
/// use ferrite_sdk::abi::view::{TensorMeta, TensorView};
/// use ferrite_sdk::abi::{dtype::device_type, kernel::status};
/// use ferrite_sdk::abi_stable::std_types::{RSlice, RStr};
/// use ferrite_sdk::kernel::{reference::{no_backward, run_forward, run_shape}, Array, Attrs};
/// use ferrite_sdk::DType;
/// fn scale(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
///     let (x, k) = (ins[0].as_ref().ok_or("input is required")?, attrs.float(0)?);
///     Ok(vec![Array { shape: x.shape.clone(), data: x.data.iter().map(|v| v * k).collect() }])
/// }
/// unsafe extern "C" fn fwd(c: *const KernelCtx, i: *const TensorView, ni: usize, o: *const TensorView, no: usize, a: *const AttrValue, na: usize) -> i32 {
///     run_forward(c, i, ni, o, no, a, na, scale)
/// }
/// unsafe extern "C" fn shape(c: *const KernelCtx, i: *const TensorView, ni: usize, a: *const AttrValue, na: usize, o: *mut TensorMeta, no: usize) -> i32 {
///     run_shape(c, i, ni, a, na, o, no, ferrite_sdk::shape::same_as_input)
/// }
/// static INPUTS: [ArgDesc; 1] = [ArgDesc::tensor_nograd("input")];
/// static OUTPUTS: [ArgDesc; 1] = [ArgDesc::tensor_nograd("out")];
/// static ATTRS: [AttrDesc; 1] = [AttrDesc::float("factor", 2.0)];
/// static KERNELS: [KernelEntry; 1] =
///     [KernelEntry { device_type: device_type::CPU, dtype: DType::F32, forward: fwd, has_backward: false, backward: no_backward }];
/// static API: [RStr<'static>; 1] = [RStr::from_str("scale")];
/// static OP: OpDesc = OpDesc {
///     name: RStr::from_str("contrib::scale"),
///     api_names: RSlice::from_slice(&API),
///     aliases: RSlice::from_slice(&[]),
///     deprecated: RSlice::from_slice(&[]),
///     version: 1,
///     doc: RStr::from_str("input times a constant factor"),
///     inputs: RSlice::from_slice(&INPUTS),
///     outputs: RSlice::from_slice(&OUTPUTS),
///     attrs: RSlice::from_slice(&ATTRS),
///     dispatch_input: 0,
///     shape_fn: shape,
///     kernels: RSlice::from_slice(&KERNELS),
/// };
/// // A plugin puts `OP` into `ferrite_sdk::register::OPS`; the core calls its shape function:
/// let byte = [0u8; 4];
/// let (dims, strides) = ([3i64, 2], [2i64, 1]);
/// let x = TensorView { data: byte.as_ptr() as *mut _, device: ferrite_sdk::Device::CPU, ndim: 2, dtype: DType::F32, shape: dims.as_ptr(), strides: strides.as_ptr(), byte_offset: 0 };
/// let mut out = [TensorMeta::new(DType::F32, &[]).unwrap()];
/// let code = unsafe { (OP.shape_fn)(std::ptr::null(), &x, 1, std::ptr::null(), 0, out.as_mut_ptr(), 1) };
/// assert_eq!((code, out[0].dims()), (status::OK, vec![3, 2]));
/// ```
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
