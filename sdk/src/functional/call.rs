//! Calling exported ops through the host table with cached op ids.

use crate::abi::host::TensorHandle;
use crate::error::{Error, Result};
use crate::kernel::Attr;
use crate::tensor::{check, Tensor};
use std::sync::atomic::{AtomicU32, Ordering};

/// A per-call-site cache of an op id. Ids are stable for the life of the process (names are
/// never reassigned, hot swap keeps them), so resolving once per plugin is enough and no string
/// lookup happens per call. Each `.so` has its own copy of these caches, which is intended.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// use ferrite_sdk::functional::call::{call_op, OpCache};
/// // One static per call site: the name is resolved on the first call only.
/// static ADD: OpCache = OpCache::new("ferrite::add");
/// fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
///     Ok(call_op(&ADD, &[Some(a), Some(b)], &[], 1)?.remove(0))
/// }
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[2], DType::F32)?;
/// assert_eq!(add(&x, &x)?.to_vec::<f32>()?, vec![2.0, 2.0]);
/// # Ok(())
/// # }
/// ```
pub struct OpCache {
    name: &'static str,
    id: AtomicU32,
}

impl OpCache {
    /// A cache for the exported name `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::functional::call::OpCache;
    /// static MATMUL: OpCache = OpCache::new("ferrite::matmul"); // usable in a static
    /// assert_eq!(MATMUL.name(), "ferrite::matmul");
    /// ```
    pub const fn new(name: &'static str) -> OpCache {
        OpCache { name, id: AtomicU32::new(u32::MAX) }
    }

    /// The exported name.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::functional::call::OpCache;
    /// assert_eq!(OpCache::new("ferrite::relu").name(), "ferrite::relu");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The op id, resolving it on first use.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// use ferrite_sdk::functional::call::OpCache;
    /// static RELU: OpCache = OpCache::new("ferrite::relu");
    /// let x = host.zeros(&[1], DType::F32)?;
    /// assert_eq!(RELU.id(&x)?, host.resolve_op("ferrite::relu")?);
    /// assert!(OpCache::new("no::such_op").id(&x).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn id(&self, any: &Tensor) -> Result<u32> {
        let id = self.id.load(Ordering::Relaxed);
        if id != u32::MAX {
            return Ok(id);
        }
        let id = any.host().resolve_op(self.name)?;
        self.id.store(id, Ordering::Relaxed);
        Ok(id)
    }
}

/// Calls op `op` on `inputs` (None = absent optional input) with positional `attrs`, returning
/// every output. `n_outputs` must match the op's schema.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::functional::call::{call_op, OpCache};
/// use ferrite_sdk::kernel::Attr;
/// static SUM: OpCache = OpCache::new("ferrite::sum");
/// let x = host.ones(&[2, 3], DType::F32)?;
/// // Positional attributes in schema order (here `dims`, `keepdim`).
/// let out = call_op(&SUM, &[Some(&x)], &[Attr::from(vec![1i64]), Attr::from(false)], 1)?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![3.0, 3.0]);
/// # Ok(())
/// # }
/// ```
pub fn call_op(op: &OpCache, inputs: &[Option<&Tensor>], attrs: &[Attr], n_outputs: usize) -> Result<Vec<Tensor>> {
    let first = inputs
        .iter()
        .flatten()
        .next()
        .ok_or_else(|| Error::Invalid(format!("{}: needs at least one tensor input", op.name)))?;
    let api = first.host().api();
    let id = op.id(first)?;
    let handles: Vec<TensorHandle> = inputs.iter().map(|t| t.map_or(TensorHandle::NULL, |t| t.handle())).collect();
    let abi_attrs: Vec<_> = attrs.iter().map(|a| a.as_abi()).collect();
    let mut outs = vec![TensorHandle::NULL; n_outputs];
    let code = (api.call_op)(id, handles.as_ptr(), handles.len(), abi_attrs.as_ptr(), abi_attrs.len(), outs.as_mut_ptr(), n_outputs);
    // The core's message already names the op.
    check(api, code)?;
    Ok(outs.into_iter().map(|h| unsafe { Tensor::from_raw(api, h) }).collect())
}

/// Declares a cached op and calls it: `op!("ferrite::add", [Some(a), Some(b)], [], 1)`.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.ones(&[2, 3], DType::F32)?;
/// // Every output of an op, here `ferrite::dropout`'s (output, mask) with p, train, seed.
/// let outs = ferrite_sdk::call!("ferrite::dropout", [Some(&x)], [0.5, true, 7i64], 2)?;
/// assert_eq!(outs.len(), 2);
/// # Ok(())
/// # }
/// ```
#[macro_export]
macro_rules! call {
    ($name:literal, [$($input:expr),* $(,)?], [$($attr:expr),* $(,)?], $n_out:expr) => {{
        static OP: $crate::functional::call::OpCache = $crate::functional::call::OpCache::new($name);
        $crate::functional::call::call_op(&OP, &[$($input),*], &[$($crate::kernel::Attr::from($attr)),*], $n_out)
    }};
}

/// Calls a one-output op and returns that output.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// let x = host.from_slice(&[-1.0f32, 2.0], &[2])?;
/// let y = ferrite_sdk::call1!("ferrite::relu", [Some(&x)], [])?;
/// assert_eq!(y.to_vec::<f32>()?, vec![0.0, 2.0]);
/// # Ok(())
/// # }
/// ```
#[macro_export]
macro_rules! call1 {
    ($name:literal, [$($input:expr),* $(,)?], [$($attr:expr),* $(,)?]) => {{
        $crate::call!($name, [$($input),*], [$($attr),*], 1).map(|mut v| v.remove(0))
    }};
}
