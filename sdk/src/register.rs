//! Registration inside a plugin: linkme distributed slices filled by the macros below, and the
//! single exported root module.
//!
//! Each `.so` (and the host executable) gets its own copy of these slices, so a plugin exports
//! exactly what it registered.

use crate::abi::op::OpDesc;
use crate::abi::comm::CommDesc;
use crate::abi::parallel::ParallelDesc;
use crate::abi::plugin::{DatasetDesc, ModelDesc};

/// Op descriptors registered in this artifact.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
/// use ferrite_sdk::kernel::{reference::Meta, Array, Attrs};
/// use ferrite_sdk::register::{OPS, REFERENCE_FLOATS};
/// fn same_shape(inputs: &[Option<Meta>], _: &Attrs) -> Result<Vec<Meta>, String> {
///     Ok(vec![inputs[0].clone().ok_or("input missing")?])
/// }
/// fn identity(inputs: &[Option<Array>], _: &Attrs) -> Result<Vec<Array>, String> {
///     Ok(vec![inputs[0].clone().ok_or("input missing")?])
/// }
/// ferrite_sdk::reference_op! {
///     IDENT {
///         name: "demo::ident", version: 1, api_names: [], aliases: [], deprecated: [],
///         doc: "x.", inputs: [ArgDesc::tensor("input")], outputs: [ArgDesc::tensor("out")],
///         attrs: [], dispatch_input: 0, dtypes: [REFERENCE_FLOATS[0]],
///         shape: same_shape, forward: identity, backward: none,
///     }
/// }
/// fn main() {
///     // What `export_plugin!` exports: every op registered in this artifact.
///     assert!(OPS.iter().any(|op| op.name.as_str() == "demo::ident"));
/// }
/// ```
#[linkme::distributed_slice]
pub static OPS: [OpDesc];

/// Model factories registered in this artifact.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::host::HostApi;
/// use ferrite_sdk::abi::plugin::{ModelBox, ModelDesc};
/// use ferrite_sdk::abi_stable::std_types::{RResult, RStr, RString};
/// use ferrite_sdk::register::MODELS;
/// extern "C" fn create(_: *const HostApi, _: RStr<'_>) -> RResult<ModelBox, RString> {
///     RResult::RErr("models.none: nothing to build".into())
/// }
/// #[ferrite_sdk::linkme::distributed_slice(MODELS)]
/// #[linkme(crate = ferrite_sdk::linkme)]
/// static NONE: ModelDesc = ModelDesc { name: RStr::from_str("models.none"), version: 1, doc: RStr::from_str("none"), create };
/// fn main() {
///     assert_eq!(MODELS.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), vec!["models.none"]);
/// }
/// ```
#[linkme::distributed_slice]
pub static MODELS: [ModelDesc];

/// Dataset factories registered in this artifact.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::host::HostApi;
/// use ferrite_sdk::abi::plugin::{DatasetBox, DatasetDesc};
/// use ferrite_sdk::abi_stable::std_types::{RResult, RStr, RString};
/// use ferrite_sdk::register::DATASETS;
/// extern "C" fn create(_: *const HostApi, _: RStr<'_>) -> RResult<DatasetBox, RString> {
///     RResult::RErr("datasets.none: no data".into())
/// }
/// #[ferrite_sdk::linkme::distributed_slice(DATASETS)]
/// #[linkme(crate = ferrite_sdk::linkme)]
/// static NONE: DatasetDesc = DatasetDesc { name: RStr::from_str("datasets.none"), version: 1, doc: RStr::from_str("none"), create };
/// fn main() {
///     assert_eq!(DATASETS.len(), 1);
///     assert_eq!(DATASETS[0].name.as_str(), "datasets.none");
/// }
/// ```
#[linkme::distributed_slice]
pub static DATASETS: [DatasetDesc];

/// Communication backends registered in this artifact.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::register::COMMS;
/// // Each artifact has its own slice: this one registered no backend, so it exports none.
/// // A backend plugin adds a `CommDesc` with
/// // `#[linkme::distributed_slice(ferrite_sdk::register::COMMS)]` (see `plugins/comm/local`).
/// assert!(COMMS.is_empty());
/// ```
#[linkme::distributed_slice]
pub static COMMS: [CommDesc];

/// Parallel strategies registered in this artifact.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::register::PARALLELS;
/// // As for `COMMS`: a strategy plugin (`plugins/parallel/ddp`) registers a `ParallelDesc`;
/// // this artifact registered none.
/// assert!(PARALLELS.is_empty());
/// ```
#[linkme::distributed_slice]
pub static PARALLELS: [ParallelDesc];

/// Exports the plugin's root module (the one symbol the loader looks for).
///
/// Put it once at the crate root of a `cdylib` plugin; every `reference_op!` (and other
/// registration) in the crate is then exported.
///
/// # Examples
///
/// ```no_run
/// ferrite_sdk::export_plugin!(name: "ops-ref", version: env!("CARGO_PKG_VERSION"));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    (name: $name:expr, version: $version:expr $(,)?) => {
        #[$crate::abi_stable::export_root_module]
        pub fn ferrite_plugin_root() -> $crate::abi::plugin::PluginModRef {
            use $crate::abi_stable::prefix_type::PrefixTypeTrait;
            use $crate::abi_stable::std_types::{RSlice, RStr};
            extern "C" fn plugin_name() -> RStr<'static> {
                RStr::from_str($name)
            }
            extern "C" fn plugin_version() -> RStr<'static> {
                RStr::from_str($version)
            }
            extern "C" fn sdk_version() -> RStr<'static> {
                RStr::from_str($crate::SDK_VERSION)
            }
            extern "C" fn ops() -> RSlice<'static, $crate::abi::op::OpDesc> {
                RSlice::from_slice(&$crate::register::OPS[..])
            }
            extern "C" fn models() -> RSlice<'static, $crate::abi::plugin::ModelDesc> {
                RSlice::from_slice(&$crate::register::MODELS[..])
            }
            extern "C" fn datasets() -> RSlice<'static, $crate::abi::plugin::DatasetDesc> {
                RSlice::from_slice(&$crate::register::DATASETS[..])
            }
            extern "C" fn comms() -> RSlice<'static, $crate::abi::comm::CommDesc> {
                RSlice::from_slice(&$crate::register::COMMS[..])
            }
            extern "C" fn parallels() -> RSlice<'static, $crate::abi::parallel::ParallelDesc> {
                RSlice::from_slice(&$crate::register::PARALLELS[..])
            }
            // Panics inside this plugin become one-line errors, not stderr reports.
            $crate::kernel::io::install_quiet_panic_hook();
            $crate::abi::plugin::PluginMod { plugin_name, plugin_version, sdk_version, ops, models, datasets, comms, parallels }
                .leak_into_prefix()
        }
    };
}

/// Registers an op implemented by reference functions over [`crate::kernel::Array`] (f64
/// compute, any float dtype). See `plugins/ops-ref` for many examples.
///
/// `backward:` takes `some(path)` or `none`.
///
/// # Examples
///
/// ```no_run
/// use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
/// use ferrite_sdk::kernel::{reference::Meta, Array, Attrs};
/// use ferrite_sdk::reference_op;
/// use ferrite_sdk::register::REFERENCE_FLOATS;
///
/// fn scale_shape(inputs: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
///     Ok(vec![inputs[0].clone().ok_or("input missing")?])
/// }
/// fn scale_forward(inputs: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
///     let (x, k) = (inputs[0].as_ref().ok_or("input missing")?, attrs.float(0)?);
///     Ok(vec![Array { shape: x.shape.clone(), data: x.data.iter().map(|v| v * k).collect() }])
/// }
///
/// reference_op! {
///     SCALE {
///         name: "myplugin::scale",
///         version: 1,
///         api_names: ["scale"],
///         aliases: [],
///         deprecated: [],
///         doc: "x * factor.",
///         inputs: [ArgDesc::tensor("input")],
///         outputs: [ArgDesc::tensor("out")],
///         attrs: [AttrDesc::float("factor", 1.0)],
///         dispatch_input: 0,
///         dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
///         shape: scale_shape,
///         forward: scale_forward,
///         backward: none,
///     }
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! reference_op {
    (
        $static_name:ident {
            name: $name:literal,
            version: $version:literal,
            api_names: [$($api:literal),* $(,)?],
            aliases: [$($alias:literal),* $(,)?],
            deprecated: [$(($dep:literal, $rep:literal)),* $(,)?],
            doc: $doc:literal,
            inputs: [$($input:expr),* $(,)?],
            outputs: [$($output:expr),* $(,)?],
            attrs: [$($attr:expr),* $(,)?],
            dispatch_input: $di:literal,
            dtypes: [$($dt:expr),* $(,)?],
            shape: $shape:path,
            forward: $fwd:path,
            backward: $bwd_kind:ident $(($bwd:path))? $(,)?
        }
    ) => {
        #[allow(non_snake_case)]
        mod $static_name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::abi::kernel::{AttrValue, KernelCtx};
            use $crate::abi::view::{TensorMeta, TensorView};

            pub unsafe extern "C" fn __ferrite_forward(
                ctx: *const KernelCtx, i: *const TensorView, ni: usize, o: *const TensorView, no: usize,
                a: *const AttrValue, na: usize,
            ) -> i32 {
                $crate::kernel::reference::run_forward(ctx, i, ni, o, no, a, na, $fwd)
            }
            pub unsafe extern "C" fn __ferrite_shape(
                ctx: *const KernelCtx, i: *const TensorView, ni: usize, a: *const AttrValue, na: usize,
                o: *mut TensorMeta, no: usize,
            ) -> i32 {
                $crate::kernel::reference::run_shape(ctx, i, ni, a, na, o, no, $shape)
            }
            $crate::reference_op!(@backward $fwd, $bwd_kind $(($bwd))?);

            #[$crate::linkme::distributed_slice($crate::register::OPS)]
            #[linkme(crate = $crate::linkme)]
            static DESC: $crate::abi::op::OpDesc = $crate::abi::op::OpDesc {
                name: $crate::abi_stable::std_types::RStr::from_str($name),
                api_names: $crate::abi_stable::std_types::RSlice::from_slice(&[
                    $($crate::abi_stable::std_types::RStr::from_str($api)),*
                ]),
                aliases: $crate::abi_stable::std_types::RSlice::from_slice(&[
                    $($crate::abi_stable::std_types::RStr::from_str($alias)),*
                ]),
                deprecated: $crate::abi_stable::std_types::RSlice::from_slice(&[
                    $($crate::abi::op::Deprecation::new($dep, $rep)),*
                ]),
                version: $version,
                doc: $crate::abi_stable::std_types::RStr::from_str($doc),
                inputs: $crate::abi_stable::std_types::RSlice::from_slice(&[$($input),*]),
                outputs: $crate::abi_stable::std_types::RSlice::from_slice(&[$($output),*]),
                attrs: $crate::abi_stable::std_types::RSlice::from_slice(&[$($attr),*]),
                dispatch_input: $di,
                shape_fn: __ferrite_shape,
                kernels: $crate::abi_stable::std_types::RSlice::from_slice(&[
                    $($crate::abi::op::KernelEntry {
                        device_type: $crate::abi::dtype::device_type::CPU,
                        dtype: $dt,
                        forward: __ferrite_forward,
                        has_backward: HAS_BACKWARD,
                        backward: __ferrite_backward,
                    }),*
                ]),
            };
        }
    };
    (@backward $fwd:path, some($bwd:path)) => {
        pub const HAS_BACKWARD: bool = true;
        pub unsafe extern "C" fn __ferrite_backward(
            ctx: *const KernelCtx, i: *const TensorView, ni: usize, o: *const TensorView, no: usize,
            a: *const AttrValue, na: usize,
        ) -> i32 {
            $crate::kernel::reference::run_backward(ctx, i, ni, o, no, a, na, $fwd, $bwd)
        }
    };
    (@backward $fwd:path, none) => {
        pub const HAS_BACKWARD: bool = false;
        pub use $crate::kernel::reference::no_backward as __ferrite_backward;
    };
}

/// The float dtypes reference kernels are registered for.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{register::REFERENCE_FLOATS, DType};
/// assert!(REFERENCE_FLOATS.iter().all(|d| d.is_float()));
/// assert!(REFERENCE_FLOATS.contains(&DType::BF16));
/// ```
pub const REFERENCE_FLOATS: [crate::abi::dtype::DType; 4] =
    [crate::abi::dtype::DType::F32, crate::abi::dtype::DType::F64, crate::abi::dtype::DType::F16, crate::abi::dtype::DType::BF16];
