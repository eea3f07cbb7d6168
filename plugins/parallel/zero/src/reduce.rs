//! Gradient reduction per module, launched from post-accumulate gradient hooks so that it
//! overlaps the rest of backward (ZeRO §5.2: "reduce-scatter ... as soon as the gradients of
//! a partition are computed"; DeepSpeed's `reduce_bucket`).
//!
//! A module's reduction starts once all its parameters have their gradient for this backward
//! and every module before it in the launch order has started: modules in reverse
//! registration order, the order backward usually completes them. The fixed order keeps the
//! collective sequence the same on every rank. Stage 1 all-reduces the module's region of a
//! persistent full-size buffer; stages 2 and 3 reduce-scatter a transient flat copy, so a rank
//! keeps only its piece. Either way the full-size `.grad`s are dropped at once, and stage 3
//! frees the module's parameters (backward is done with them). At most [`MAX_IN_FLIGHT`]
//! reductions are outstanding; older ones are completed first, bounding the flat copies alive.

use crate::shared::{InFlight, Shared};
use ferrite_sdk::distributed::ReduceOp;
use ferrite_sdk::{DType, Result};

/// Reductions queued but not yet completed, at most.
pub const MAX_IN_FLIGHT: usize = 2;

impl Shared {
    /// Module `k`-th in the launch order.
    fn launch_order(&self, k: usize) -> usize {
        self.layout.groups.len() - 1 - k
    }

    /// Region of group `g` in stage 1's persistent buffer.
    fn buffer_range(&self, g: usize) -> (usize, usize) {
        let w = self.layout.world_size;
        let start: usize = self.layout.groups[..g].iter().map(|gr| gr.padded(w)).sum();
        (start, start + self.layout.groups[g].padded(w))
    }

    /// The post-accumulate hook of parameter `i`: marks it ready and launches what is due.
    pub fn on_grad(&mut self, i: usize) {
        if !self.sync || self.error.is_some() {
            return;
        }
        if self.ready[i] {
            self.error = Some(format!(
                "parameter `{}` got a second gradient before the gradients were reduced \
                 (two backward passes without post_backward; use no_sync for accumulation)",
                self.layout.names[i]
            ));
            return;
        }
        self.ready[i] = true;
        self.pending[self.layout.group_of[i]] -= 1;
        if let Err(e) = self.launch_due(false) {
            self.error = Some(format!("reducing the gradients of `{}`: {e}", self.layout.names[i]));
        }
    }

    /// Launches groups in order while they are complete (all of them with `flush`: missing
    /// gradients count as zeros), then completes the oldest beyond the in-flight limit.
    pub fn launch_due(&mut self, flush: bool) -> Result<()> {
        while self.next_launch < self.layout.groups.len() {
            let g = self.launch_order(self.next_launch);
            if !flush && self.pending[g] > 0 {
                break;
            }
            self.launch(g, !flush)?;
            self.next_launch += 1;
            while self.inflight.len() > MAX_IN_FLIGHT {
                self.complete_oldest()?;
            }
        }
        Ok(())
    }

    fn launch(&mut self, g: usize, from_hook: bool) -> Result<()> {
        if self.shard_grad.is_none() {
            self.shard_grad = Some(self.host.zeros(&[self.layout.shard], DType::F32)?);
        }
        let gr = &self.layout.groups[g];
        if gr.numel > 0 {
            let flight = if let Some(buf) = &self.grad_buffer {
                let (a, b) = self.buffer_range(g);
                let region = buf.slice(0, a, b, 1)?;
                self.write_group(g, &region, |p| p.grad())?;
                let work = self.group.all_reduce(&region, ReduceOp::Avg)?;
                InFlight { group: g, out: region, input: None, work }
            } else {
                let flat = self.flatten_group(g, |p| p.grad())?;
                let out = self.host.zeros(&[gr.piece], DType::F32)?;
                let work = self.group.reduce_scatter(&flat, &out, ReduceOp::Avg)?;
                InFlight { group: g, out, input: Some(flat), work }
            };
            self.inflight.push_back(flight);
            if from_hook {
                self.launched_in_backward += 1;
            }
        }
        // The reduction owns the values now: the full-size gradients can go.
        for &i in &self.layout.groups[g].params {
            self.params[i].set_grad(None)?;
        }
        if self.stage == 3 && self.live[g] {
            self.release_group(g)?;
        }
        Ok(())
    }

    /// Waits for the oldest reduction and stores this rank's piece of the averaged gradient.
    pub fn complete_oldest(&mut self) -> Result<()> {
        let Some(f) = self.inflight.pop_front() else { return Ok(()) };
        f.work.wait()?;
        drop(f.input);
        let (a, b) = self.layout.piece_range(f.group);
        let piece = if self.grad_buffer.is_some() {
            let (x, y) = self.layout.rank_range(f.group, self.group.rank());
            f.out.slice(0, x, y, 1)?
        } else {
            f.out
        };
        let dst = self.shard_grad.as_ref().expect("allocated at launch").slice(0, a, b, 1)?;
        dst.copy_(&piece)?;
        Ok(())
    }

    /// After backward: launches what the hooks did not (unused parameters, a hook error),
    /// waits for everything, and hands the shard's averaged gradient to the master weights.
    ///
    /// # Errors
    /// A hook's error (after the launched collectives were completed, so peers do not hang),
    /// communication errors.
    pub fn finish_backward(&mut self) -> Result<()> {
        let hook_error = self.error.take();
        let r = self.launch_due(true).and_then(|_| {
            while !self.inflight.is_empty() {
                self.complete_oldest()?;
            }
            Ok(())
        });
        self.ready.iter_mut().for_each(|r| *r = false);
        for (g, gr) in self.layout.groups.iter().enumerate() {
            self.pending[g] = gr.params.len();
        }
        self.next_launch = 0;
        if let Some(e) = hook_error {
            self.shard_grad = None;
            ferrite_sdk::bail!("{e}");
        }
        r?;
        let g = self.shard_grad.take();
        self.master.set_grad(g.as_ref())?;
        Ok(())
    }
}
