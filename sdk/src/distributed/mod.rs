//! `torch.distributed` for plugin and Rust code: a safe [`ProcessGroup`] over the core's
//! asynchronous collectives ([`crate::abi::comm::ProcessGroupApi`]), returning [`Work`]
//! handles, plus the [`DistributedSampler`] that shards a dataset across ranks.
//!
//! Collectives are queued in call order on the group's communication thread, so they overlap
//! with whatever the caller does next (backward, the next bucket); [`Work::wait`] joins them.

mod sampler;

pub use crate::abi::comm::reduce_op;
pub use sampler::DistributedSampler;

use crate::abi::comm::{ProcessGroupApi, ProcessGroupRef, WorkId};
use crate::abi::host::HostApi;
use crate::error::Result;
use crate::tensor::{check, Tensor};

/// A reduction operator for [`ProcessGroup::all_reduce`] and [`ProcessGroup::reduce_scatter`]
/// (`torch.distributed.ReduceOp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Element-wise sum.
    Sum,
    /// Element-wise mean over ranks (float dtypes).
    Avg,
    /// Element-wise maximum.
    Max,
    /// Element-wise minimum.
    Min,
}

impl ReduceOp {
    /// The ABI code ([`reduce_op`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::distributed::{reduce_op, ReduceOp};
    /// assert_eq!(ReduceOp::Avg.code(), reduce_op::AVG);
    /// ```
    pub fn code(self) -> u32 {
        match self {
            ReduceOp::Sum => reduce_op::SUM,
            ReduceOp::Avg => reduce_op::AVG,
            ReduceOp::Max => reduce_op::MAX,
            ReduceOp::Min => reduce_op::MIN,
        }
    }
}

/// One rank's view of a process group (a cheap copyable handle; the core owns the group).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Result};
/// # fn demo(host: Host, group: ferrite_sdk::abi::comm::ProcessGroupRef) -> Result<()> {
/// use ferrite_sdk::distributed::{ProcessGroup, ReduceOp};
/// // SAFETY: `group` came from the core and outlives this function.
/// let pg = unsafe { ProcessGroup::from_raw(host.api(), group) };
/// let g = host.full(&[4], pg.rank() as f64, DType::F32)?;
/// pg.all_reduce(&g, ReduceOp::Sum)?.wait()?; // every rank now holds 0 + 1 + ... + (world-1)
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct ProcessGroup {
    host: &'static HostApi,
    raw: ProcessGroupRef,
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcessGroup(rank {} of {})", self.rank(), self.world_size())
    }
}

/// A queued collective (`torch.distributed.Work`). Dropping it without [`wait`](Work::wait)
/// still waits (and discards any error), so tensors are never left in use by the queue.
#[must_use = "a collective's result is known only after wait()"]
pub struct Work {
    group: ProcessGroup,
    id: Option<WorkId>,
}

impl Work {
    /// Blocks until the collective is done.
    ///
    /// # Errors
    /// [`crate::Error::Host`] with the backend's message: a peer that left or did not answer
    /// within the group's timeout, mismatched sizes across ranks.
    pub fn wait(mut self) -> Result<()> {
        let id = self.id.take().expect("work waited twice");
        check(self.group.host, (self.group.api().wait)(self.group.raw.ctx, id))
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = (self.group.api().wait)(self.group.raw.ctx, id);
        }
    }
}

impl ProcessGroup {
    /// Wraps the raw group a strategy factory received.
    ///
    /// # Safety
    /// `raw` must come from the core that owns `host` and outlive every use of the result.
    pub unsafe fn from_raw(host: &'static HostApi, raw: ProcessGroupRef) -> ProcessGroup {
        ProcessGroup { host, raw }
    }

    fn api(&self) -> &ProcessGroupApi {
        // SAFETY: `from_raw`'s contract keeps the table alive.
        unsafe { &*self.raw.api }
    }

    fn work(&self, code: i32, id: WorkId) -> Result<Work> {
        check(self.host, code)?;
        Ok(Work { group: *self, id: Some(id) })
    }

    /// This rank, `0..world_size()`.
    pub fn rank(&self) -> usize {
        (self.api().rank)(self.raw.ctx) as usize
    }

    /// Number of ranks.
    pub fn world_size(&self) -> usize {
        (self.api().world_size)(self.raw.ctx) as usize
    }

    /// Queues an in-place all-reduce of `t` (contiguous, any numeric dtype).
    ///
    /// # Errors
    /// [`crate::Error::Host`] if `t` is not contiguous or the op is unknown.
    pub fn all_reduce(&self, t: &Tensor, op: ReduceOp) -> Result<Work> {
        let mut id = 0;
        let code = (self.api().all_reduce)(self.raw.ctx, t.handle(), op.code(), &mut id);
        self.work(code, id)
    }

    /// Queues an in-place broadcast of rank `root`'s `t` to every rank.
    ///
    /// # Errors
    /// [`crate::Error::Host`] if `t` is not contiguous or `root` is out of range.
    pub fn broadcast(&self, t: &Tensor, root: usize) -> Result<Work> {
        let mut id = 0;
        let code = (self.api().broadcast)(self.raw.ctx, t.handle(), root as u32, &mut id);
        self.work(code, id)
    }

    /// Queues `output = concat(input of rank 0, ..., input of rank world-1)`; `output` has
    /// `world_size() × input.numel()` elements of `input`'s dtype.
    ///
    /// # Errors
    /// [`crate::Error::Host`] for non-contiguous tensors, mismatched dtypes or sizes.
    pub fn all_gather(&self, input: &Tensor, output: &Tensor) -> Result<Work> {
        let mut id = 0;
        let code = (self.api().all_gather)(self.raw.ctx, input.handle(), output.handle(), &mut id);
        self.work(code, id)
    }

    /// Queues `output = op over ranks of chunk[rank]`, where `input` holds `world_size()`
    /// equal chunks of `output.numel()` elements (ZeRO's gradient reduce-scatter).
    ///
    /// # Errors
    /// [`crate::Error::Host`] for non-contiguous tensors, mismatched dtypes or sizes.
    pub fn reduce_scatter(&self, input: &Tensor, output: &Tensor, op: ReduceOp) -> Result<Work> {
        let mut id = 0;
        let code = (self.api().reduce_scatter)(self.raw.ctx, input.handle(), output.handle(), op.code(), &mut id);
        self.work(code, id)
    }

    /// Queues a barrier.
    ///
    /// # Errors
    /// [`crate::Error::Host`] if the group is broken.
    pub fn barrier(&self) -> Result<Work> {
        let mut id = 0;
        let code = (self.api().barrier)(self.raw.ctx, &mut id);
        self.work(code, id)
    }
}
