//! Registration of fast kernels: the [`cpu_op!`](crate::cpu_op) macro builds an `OpDesc` static in
//! `ferrite_sdk::register::OPS` whose schema must equal ops-ref's (canonical name, inputs,
//! outputs, attributes), with forward/backward kernels for [`crate::common::CPU_FLOATS`] on the
//! CPU, a shape function from `ferrite_sdk::shape`, and every kernel body behind the panic
//! firewall ([`ferrite_sdk::kernel::io::guarded`]).

use crate::common::views;
use ferrite_sdk::abi::kernel::{AttrValue, KernelCtx};
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::io::guarded;
use ferrite_sdk::kernel::Attrs;
use ferrite_sdk::DType;

/// One kernel call seen from safe(ish) Rust: the context (for `parallel_for_ctx`), the input and
/// output views, and the decoded attributes.
pub struct Call<'a> {
    /// The core's context (null in unit tests without a core).
    pub ctx: *const KernelCtx,
    /// Input views in schema order (for a backward: grads of outputs, forward inputs, forward outputs).
    pub inputs: &'a [TensorView],
    /// Output views (for a backward: one gradient per forward input, absent when not wanted).
    pub outputs: &'a [TensorView],
    /// Attributes in schema order.
    pub attrs: Attrs,
}

impl<'a> Call<'a> {
    /// Input `i`, which must be present; one-line error otherwise.
    pub fn input(&self, i: usize) -> Result<&'a TensorView, String> {
        self.inputs.get(i).filter(|v| v.is_present()).ok_or_else(|| format!("input #{i} is required"))
    }

    /// Input `i` if present (absent optional inputs give `None`).
    pub fn opt_input(&self, i: usize) -> Option<&'a TensorView> {
        self.inputs.get(i).filter(|v| v.is_present())
    }

    /// Output `i` if the core asked for it (backward outputs may be absent).
    pub fn output(&self, i: usize) -> Option<&'a TensorView> {
        self.outputs.get(i).filter(|v| v.is_present())
    }

    /// For a backward call of an op with `n_fwd_out` outputs: the view offset of forward input 0
    /// among `inputs` (gradients come first). Errors on an inconsistent argument count.
    pub fn fwd_input_base(&self, n_fwd_out: usize) -> Result<usize, String> {
        let n_fwd_in = self.outputs.len();
        if self.inputs.len() != n_fwd_out * 2 + n_fwd_in {
            return Err(format!(
                "backward got {} inputs; expected {n_fwd_out} grads + {n_fwd_in} inputs + {n_fwd_out} outputs",
                self.inputs.len()
            ));
        }
        Ok(n_fwd_out)
    }
}

/// Body of a fast kernel: forward or backward, errors as one-line strings.
pub type CpuKernel = fn(&Call<'_>) -> Result<(), String>;

/// Runs `f` as an ABI kernel behind the panic firewall.
///
/// # Safety
/// Arguments must follow the [`ferrite_sdk::abi::kernel::KernelFn`] contract.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run_kernel(
    ctx: *const KernelCtx,
    i: *const TensorView,
    ni: usize,
    o: *const TensorView,
    no: usize,
    a: *const AttrValue,
    na: usize,
    f: CpuKernel,
) -> i32 {
    guarded(ctx, || {
        let call = Call { ctx, inputs: views(i, ni), outputs: views(o, no), attrs: Attrs::from_raw(a, na) };
        f(&call)
    })
}

/// Whether a kernel computes `dtype` in f64 (`true`) or f32 (`false`: f32, f16, bf16); errors for
/// non-float dtypes.
pub fn compute_in_f64(op: &str, dtype: DType) -> Result<bool, String> {
    match dtype {
        DType::F64 => Ok(true),
        DType::F32 | DType::F16 | DType::BF16 => Ok(false),
        other => Err(format!("{op}: unsupported dtype {} (ops-cpu computes f32, f64, f16, bf16)", other.name())),
    }
}

/// Registers one op: an `OpDesc` static (schema copied from ops-ref — it must match exactly) with
/// kernels for [`crate::common::CPU_FLOATS`] on the CPU.
///
/// `shape:` is a `ferrite_sdk::kernel::reference::RefShape`; `forward:`/`backward:` are
/// [`CpuKernel`]s (`backward: none` registers no backward).
#[macro_export]
macro_rules! cpu_op {
    (
        $static_name:ident {
            name: $name:literal,
            version: $version:literal,
            api_names: [$($api:literal),* $(,)?],
            aliases: [$($alias:literal),* $(,)?],
            doc: $doc:literal,
            inputs: [$($input:expr),* $(,)?],
            outputs: [$($output:expr),* $(,)?],
            attrs: [$($attr:expr),* $(,)?],
            dispatch_input: $di:literal,
            shape: $shape:path,
            forward: $fwd:path,
            backward: $bwd_kind:ident $(($bwd:path))? $(,)?
        }
    ) => {
        #[allow(non_snake_case)]
        #[doc = concat!("Registration of `", $name, "` (ops-cpu).")]
        pub mod $static_name {
            #[allow(unused_imports)]
            use super::*;
            use ferrite_sdk::abi::kernel::{AttrValue, KernelCtx};
            use ferrite_sdk::abi::op::{KernelEntry, OpDesc};
            use ferrite_sdk::abi::view::{TensorMeta, TensorView};
            use ferrite_sdk::abi_stable::std_types::{RSlice, RStr};

            /// Forward kernel ([`ferrite_sdk::abi::kernel::KernelFn`]).
            ///
            /// # Safety
            /// The `KernelFn` contract.
            pub unsafe extern "C" fn forward(
                ctx: *const KernelCtx, i: *const TensorView, ni: usize, o: *const TensorView, no: usize,
                a: *const AttrValue, na: usize,
            ) -> i32 {
                $crate::register::run_kernel(ctx, i, ni, o, no, a, na, $fwd)
            }

            /// Shape function ([`ferrite_sdk::abi::kernel::ShapeFn`]).
            ///
            /// # Safety
            /// The `ShapeFn` contract.
            pub unsafe extern "C" fn shape(
                ctx: *const KernelCtx, i: *const TensorView, ni: usize, a: *const AttrValue, na: usize,
                o: *mut TensorMeta, no: usize,
            ) -> i32 {
                ferrite_sdk::kernel::reference::run_shape(ctx, i, ni, a, na, o, no, $shape)
            }

            $crate::cpu_op!(@backward $bwd_kind $(($bwd))?);

            const fn entry(dtype: ferrite_sdk::DType) -> KernelEntry {
                KernelEntry { device_type: ferrite_sdk::abi::dtype::device_type::CPU, dtype, forward, has_backward: HAS_BACKWARD, backward }
            }

            /// The op descriptor.
            #[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::OPS)]
            #[linkme(crate = ferrite_sdk::linkme)]
            pub static DESC: OpDesc = OpDesc {
                name: RStr::from_str($name),
                api_names: RSlice::from_slice(&[$(RStr::from_str($api)),*]),
                aliases: RSlice::from_slice(&[$(RStr::from_str($alias)),*]),
                deprecated: RSlice::from_slice(&[]),
                version: $version,
                doc: RStr::from_str($doc),
                inputs: RSlice::from_slice(&[$($input),*]),
                outputs: RSlice::from_slice(&[$($output),*]),
                attrs: RSlice::from_slice(&[$($attr),*]),
                dispatch_input: $di,
                shape_fn: shape,
                kernels: RSlice::from_slice(&[
                    entry($crate::common::CPU_FLOATS[0]),
                    entry($crate::common::CPU_FLOATS[1]),
                    entry($crate::common::CPU_FLOATS[2]),
                    entry($crate::common::CPU_FLOATS[3]),
                ]),
            };
        }
    };
    (@backward some($bwd:path)) => {
        /// Whether a backward kernel is registered.
        pub const HAS_BACKWARD: bool = true;
        /// Backward kernel ([`ferrite_sdk::abi::kernel::KernelFn`] layout).
        ///
        /// # Safety
        /// The `KernelFn` contract.
        pub unsafe extern "C" fn backward(
            ctx: *const KernelCtx, i: *const TensorView, ni: usize, o: *const TensorView, no: usize,
            a: *const AttrValue, na: usize,
        ) -> i32 {
            $crate::register::run_kernel(ctx, i, ni, o, no, a, na, $bwd)
        }
    };
    (@backward none) => {
        /// Whether a backward kernel is registered.
        pub const HAS_BACKWARD: bool = false;
        pub use ferrite_sdk::kernel::reference::no_backward as backward;
    };
}
