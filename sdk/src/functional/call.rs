//! Calling exported ops through the host table with cached op ids.

use crate::abi::host::TensorHandle;
use crate::error::{Error, Result};
use crate::kernel::Attr;
use crate::tensor::{check, Tensor};
use std::sync::atomic::{AtomicU32, Ordering};

/// A per-call-site cache of an op id. Ids are stable for the life of the process (names are
/// never reassigned, hot swap keeps them), so resolving once per plugin is enough and no string
/// lookup happens per call. Each `.so` has its own copy of these caches, which is intended.
pub struct OpCache {
    name: &'static str,
    id: AtomicU32,
}

impl OpCache {
    /// A cache for the exported name `name`.
    pub const fn new(name: &'static str) -> OpCache {
        OpCache { name, id: AtomicU32::new(u32::MAX) }
    }

    /// The exported name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The op id, resolving it on first use.
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
#[macro_export]
macro_rules! call {
    ($name:literal, [$($input:expr),* $(,)?], [$($attr:expr),* $(,)?], $n_out:expr) => {{
        static OP: $crate::functional::call::OpCache = $crate::functional::call::OpCache::new($name);
        $crate::functional::call::call_op(&OP, &[$($input),*], &[$($crate::kernel::Attr::from($attr)),*], $n_out)
    }};
}

/// Calls a one-output op and returns that output.
#[macro_export]
macro_rules! call1 {
    ($name:literal, [$($input:expr),* $(,)?], [$($attr:expr),* $(,)?]) => {{
        $crate::call!($name, [$($input),*], [$($attr),*], 1).map(|mut v| v.remove(0))
    }};
}
