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
///
/// # Examples
///
/// ```
/// use ferrite_sdk::distributed::{reduce_op, ReduceOp};
/// let codes = [ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min].map(ReduceOp::code);
/// assert_eq!(codes.map(|c| reduce_op::name(c).unwrap()), ["sum", "avg", "max", "min"]);
/// ```
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
///
/// # Examples
///
/// ```no_run
/// # fn demo(pg: ferrite_sdk::distributed::ProcessGroup, grads: Vec<ferrite_sdk::Tensor>) -> ferrite_sdk::Result<()> {
/// use ferrite_sdk::distributed::{ReduceOp, Work};
/// // Queue every all-reduce first (they run in order on the group's comm thread), then wait.
/// let works: Vec<Work> = grads.iter().map(|g| pg.all_reduce(g, ReduceOp::Avg)).collect::<ferrite_sdk::Result<_>>()?;
/// works.into_iter().try_for_each(Work::wait)?;
/// # Ok(())
/// # }
/// ```
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(pg: ferrite_sdk::distributed::ProcessGroup) {
    /// // A peer that never joins makes `wait` fail after the group's timeout, on every rank.
    /// match pg.barrier().and_then(|w| w.wait()) {
    ///     Ok(()) => println!("rank {} passed the barrier", pg.rank()),
    ///     Err(e) => eprintln!("rank {}: {e}", pg.rank()),
    /// }
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use ferrite_sdk::abi::{comm::ProcessGroupRef, host::HostApi};
    /// use ferrite_sdk::distributed::ProcessGroup;
    /// use ferrite_sdk::Host;
    /// // Inside a `ParallelDesc::create` factory:
    /// fn wrap(host: *const HostApi, group: ProcessGroupRef) -> (Host, ProcessGroup) {
    ///     // SAFETY: the core passes its static host table and a group that outlives the strategy.
    ///     let host = unsafe { Host::from_raw(host) };
    ///     let pg = unsafe { ProcessGroup::from_raw(host.api(), group) };
    ///     (host, pg)
    /// }
    /// # let _ = wrap;
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(pg: ferrite_sdk::distributed::ProcessGroup) {
    /// if pg.rank() == 0 {
    ///     println!("only rank 0 writes the run folder");
    /// }
    /// # }
    /// ```
    pub fn rank(&self) -> usize {
        (self.api().rank)(self.raw.ctx) as usize
    }

    /// Number of ranks.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(pg: ferrite_sdk::distributed::ProcessGroup, loss_sum: f64) {
    /// let mean_over_ranks = loss_sum / pg.world_size() as f64;
    /// # let _ = mean_over_ranks;
    /// # }
    /// ```
    pub fn world_size(&self) -> usize {
        (self.api().world_size)(self.raw.ctx) as usize
    }

    /// Queues an in-place all-reduce of `t` (contiguous, any numeric dtype).
    ///
    /// # Errors
    /// [`crate::Error::Host`] if `t` is not contiguous or the op is unknown.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(host: ferrite_sdk::Host, pg: ferrite_sdk::distributed::ProcessGroup) -> ferrite_sdk::Result<()> {
    /// use ferrite_sdk::distributed::ReduceOp;
    /// use ferrite_sdk::DType;
    /// let t = host.full(&[3], pg.rank() as f64, DType::F32)?;
    /// pg.all_reduce(&t, ReduceOp::Max)?.wait()?;
    /// assert_eq!(t.to_vec::<f32>()?, vec![(pg.world_size() - 1) as f32; 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn all_reduce(&self, t: &Tensor, op: ReduceOp) -> Result<Work> {
        let mut id = 0;
        let code = (self.api().all_reduce)(self.raw.ctx, t.handle(), op.code(), &mut id);
        self.work(code, id)
    }

    /// Queues an in-place broadcast of rank `root`'s `t` to every rank.
    ///
    /// # Errors
    /// [`crate::Error::Host`] if `t` is not contiguous or `root` is out of range.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(host: ferrite_sdk::Host, pg: ferrite_sdk::distributed::ProcessGroup) -> ferrite_sdk::Result<()> {
    /// use ferrite_sdk::DType;
    /// // Every replica starts from rank 0's weights (DDP's constructor).
    /// let w = host.full(&[4, 4], pg.rank() as f64, DType::F32)?;
    /// pg.broadcast(&w, 0)?.wait()?;
    /// assert_eq!(w.to_vec::<f32>()?, vec![0.0; 16]);
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(host: ferrite_sdk::Host, pg: ferrite_sdk::distributed::ProcessGroup) -> ferrite_sdk::Result<()> {
    /// use ferrite_sdk::DType;
    /// let world = pg.world_size();
    /// let mine = host.full(&[2], pg.rank() as f64, DType::F32)?;
    /// let all = host.full(&[2 * world], 0.0, DType::F32)?;
    /// pg.all_gather(&mine, &all)?.wait()?;
    /// // [0, 0, 1, 1, ..., world-1, world-1]
    /// assert_eq!(all.to_vec::<f32>()?, (0..world).flat_map(|r| [r as f32; 2]).collect::<Vec<_>>());
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(host: ferrite_sdk::Host, pg: ferrite_sdk::distributed::ProcessGroup) -> ferrite_sdk::Result<()> {
    /// use ferrite_sdk::distributed::ReduceOp;
    /// use ferrite_sdk::DType;
    /// let world = pg.world_size();
    /// // ZeRO-2: each rank keeps the summed gradient of its own shard only.
    /// let grad = host.full(&[4 * world], 1.0, DType::F32)?;
    /// let shard = host.full(&[4], 0.0, DType::F32)?;
    /// pg.reduce_scatter(&grad, &shard, ReduceOp::Sum)?.wait()?;
    /// assert_eq!(shard.to_vec::<f32>()?, vec![world as f32; 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reduce_scatter(&self, input: &Tensor, output: &Tensor, op: ReduceOp) -> Result<Work> {
        let mut id = 0;
        let code = (self.api().reduce_scatter)(self.raw.ctx, input.handle(), output.handle(), op.code(), &mut id);
        self.work(code, id)
    }

    /// Queues a barrier.
    ///
    /// # Errors
    /// [`crate::Error::Host`] if the group is broken.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(pg: ferrite_sdk::distributed::ProcessGroup) -> ferrite_sdk::Result<()> {
    /// // Rank 0 evaluates while the others wait here.
    /// pg.barrier()?.wait()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn barrier(&self) -> Result<Work> {
        let mut id = 0;
        let code = (self.api().barrier)(self.raw.ctx, &mut id);
        self.work(code, id)
    }
}
