//! One rank's ZeRO state, shared by the strategy object and the hooks it installs on the
//! parameters (fetch hooks for ZeRO-3's on-demand gathers, post-accumulate gradient hooks for
//! the per-module gradient reduction).
//!
//! Every method here issues collectives; all ranks call them in the same order because they
//! run the same model: gathers in the order the forward (and backward) first touches each
//! module, gradient reductions in the fixed reverse module order (see [`crate::reduce`]).

use crate::layout::Layout;
use ferrite_sdk::distributed::{ProcessGroup, Work};
use ferrite_sdk::optim::Optimizer;
use ferrite_sdk::{DType, Host, Result, Tensor};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};

/// A gradient reduction queued on the comm thread, not yet waited for.
pub struct InFlight {
    /// Group it reduces.
    pub group: usize,
    /// Stage 1: the group's region of the persistent buffer (all-reduced in place).
    /// Stages 2/3: the reduce-scatter output (this rank's piece).
    pub out: Tensor,
    /// The reduce-scatter input, kept alive until the work completes (stages 2/3).
    pub input: Option<Tensor>,
    /// The collective.
    pub work: Work,
}

/// The state behind the strategy.
pub struct Shared {
    /// The core's host table.
    pub host: Host,
    /// This rank's process group (every collective goes through it, in call order).
    pub group: ProcessGroup,
    /// ZeRO stage, 1..=3.
    pub stage: u32,
    /// The model's parameters (handles sharing the model's tensors), registration order.
    pub params: Vec<Tensor>,
    /// Module groups and shard geometry.
    pub layout: Layout,
    /// This rank's fp32 master weights (`[layout.shard]`), what the optimizer steps.
    pub master: Tensor,
    /// The optimizer over `[master]` (its state is this rank's shard only).
    pub optimizer: Box<dyn Optimizer + Send>,
    /// Stage 1's persistent full gradient buffer (every group padded, in group order).
    pub grad_buffer: Option<Tensor>,
    /// Stage 3: groups whose parameters hold their full values now.
    pub live: Vec<bool>,
    /// Stage 3: live groups, least recently gathered first.
    pub lru: VecDeque<usize>,
    /// Stage 3: how many groups may be live at once during forward and backward.
    pub live_modules: usize,
    /// Stage 3: number of on-demand group gathers so far (for tests and `describe`).
    pub fetches: u64,
    /// Gradients are reduced in this backward (`false` inside `no_sync`).
    pub sync: bool,
    /// Parameters whose gradient was accumulated in this backward.
    pub ready: Vec<bool>,
    /// Per group: parameters still waiting for their gradient.
    pub pending: Vec<usize>,
    /// Next position in the launch order (groups in reverse order).
    pub next_launch: usize,
    /// Reductions queued and not yet completed, oldest first.
    pub inflight: VecDeque<InFlight>,
    /// This backward's reduced gradient of the master shard (`[layout.shard]`).
    pub shard_grad: Option<Tensor>,
    /// Number of reductions launched from gradient hooks (before `post_backward`).
    pub launched_in_backward: u64,
    /// First error of a hook (hooks cannot return one); reported by `post_backward`.
    pub error: Option<String>,
}

/// The handle the strategy and the hooks hold.
pub type SharedRef = Arc<Mutex<Shared>>;

/// The state a hook refers to (hooks hold a weak reference: parameters outlive strategies).
pub fn upgrade(w: &Weak<Mutex<Shared>>) -> std::result::Result<Arc<Mutex<Shared>>, String> {
    w.upgrade().ok_or_else(|| "the parallel.zero strategy that sharded this parameter was dropped".to_string())
}

/// Locks from a hook: the hooks run inside ops the strategy itself may be running, so a
/// held lock means re-entrance (a bug) and is reported instead of deadlocking.
pub fn try_lock(s: &Mutex<Shared>) -> std::result::Result<MutexGuard<'_, Shared>, String> {
    match s.try_lock() {
        Ok(g) => Ok(g),
        Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        Err(TryLockError::WouldBlock) => Err("parallel.zero: a parameter was used while the strategy was busy with it".into()),
    }
}

fn ishape(s: &[usize]) -> Vec<isize> {
    s.iter().map(|&d| d as isize).collect()
}

impl Shared {
    /// Group `g`'s parameters (picked by `pick`: values or gradients) as one flat fp32 vector
    /// of the padded length, zeros where `pick` gives nothing.
    pub fn flatten_group(&self, g: usize, pick: impl Fn(&Tensor) -> Option<Tensor>) -> Result<Tensor> {
        let flat = self.host.zeros(&[self.layout.groups[g].padded(self.layout.world_size)], DType::F32)?;
        self.write_group(g, &flat, pick)?;
        Ok(flat)
    }

    /// Writes group `g`'s parameters picked by `pick` into `flat` (zeros where none).
    pub fn write_group(&self, g: usize, flat: &Tensor, pick: impl Fn(&Tensor) -> Option<Tensor>) -> Result<()> {
        for &i in &self.layout.groups[g].params {
            let (a, b) = self.layout.param_range(i);
            let dst = flat.slice(0, a, b, 1)?;
            match pick(&self.params[i]) {
                Some(t) => dst.copy_(&t.contiguous()?.reshape(&[-1])?)?,
                None => dst.copy_(&self.host.zeros(&[b - a], DType::F32)?)?,
            }
        }
        Ok(())
    }

    /// All-gathers group `g`'s master pieces and writes the full values into its parameters
    /// (restoring released memory first; converted to the parameters' dtype). With
    /// `released_only`, parameters that still hold memory are left alone: within a step they
    /// already hold these values, and writing them would bump their version under tensors
    /// saved for backward.
    pub fn gather_group(&mut self, g: usize, released_only: bool) -> Result<()> {
        let gr = &self.layout.groups[g];
        let todo: Vec<usize> = gr.params.iter().copied().filter(|&i| !released_only || self.params[i].is_storage_released()).collect();
        if gr.numel > 0 && !todo.is_empty() {
            let full = self.host.zeros(&[gr.padded(self.layout.world_size)], DType::F32)?;
            let (a, b) = self.layout.piece_range(g);
            self.group.all_gather(&self.master.detach().slice(0, a, b, 1)?, &full)?.wait()?;
            self.host.no_grad(|| -> Result<()> {
                for &i in &todo {
                    let p = &self.params[i];
                    // SAFETY: the parameter is not in use: either between steps, or this is
                    // its fetch hook, called before the op that reads it.
                    unsafe { p.restore_storage_()? };
                    let (x, y) = self.layout.param_range(i);
                    p.copy_(&full.slice(0, x, y, 1)?.reshape(&ishape(&self.layout.shapes[i]))?)?;
                }
                Ok(())
            })?;
        }
        if self.stage == 3 && !self.live[g] {
            self.live[g] = true;
            self.lru.push_back(g);
        }
        Ok(())
    }

    /// Stage 3: frees group `g`'s parameters. Parameters pinned by a running op are kept, and
    /// then the group stays live (a later fetch of a freed one re-gathers the whole group).
    pub fn release_group(&mut self, g: usize) -> Result<bool> {
        let mut all = true;
        for &i in &self.layout.groups[g].params {
            // SAFETY: only the core's pin (an op reading it right now) protects a parameter in
            // use, and release honours it; otherwise ZeRO-3 owns the parameters' memory.
            all &= unsafe { self.params[i].release_storage_()? };
        }
        if all {
            self.live[g] = false;
            self.lru.retain(|&h| h != g);
        }
        Ok(all)
    }

    /// Stage 3: frees every live group (start of a forward, end of a backward, after a step).
    pub fn release_all(&mut self) -> Result<()> {
        for g in 0..self.live.len() {
            if self.live[g] || self.layout.groups[g].params.iter().any(|&i| !self.params[i].is_storage_released()) {
                self.live[g] = true;
                self.release_group(g)?;
            }
        }
        Ok(())
    }

    /// Stage 3's fetch hook body: gathers group `g` and evicts the least recently gathered
    /// other groups beyond `live_modules`.
    pub fn fetch(&mut self, g: usize) -> Result<()> {
        self.fetches += 1;
        self.gather_group(g, true)?;
        let mut candidates: Vec<usize> = self.lru.iter().copied().filter(|&h| h != g).collect();
        while self.lru.len() > self.live_modules.max(1) {
            let Some(h) = (!candidates.is_empty()).then(|| candidates.remove(0)) else { break };
            // A pinned group (an input of the op being fetched for) stays live.
            self.release_group(h)?;
        }
        Ok(())
    }

    /// Gathers every group: new values after a step or a load (stages 1/2), or
    /// (`released_only`, stage 3's `summon_full_params`) whatever is released.
    pub fn gather_all(&mut self, released_only: bool) -> Result<()> {
        for g in 0..self.layout.groups.len() {
            self.gather_group(g, released_only)?;
        }
        Ok(())
    }
}
