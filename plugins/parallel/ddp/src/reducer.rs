//! The gradient reducer (PyTorch's `Reducer`): gradient hooks copy each parameter's gradient
//! into its bucket and, once a bucket is complete, queue its all-reduce (average) on the comm
//! thread, so communication overlaps the rest of backward. Buckets are launched strictly in
//! bucket order, which keeps the collective sequence identical on every rank.

use crate::buckets::{assign, Layout};
use ferrite_sdk::distributed::{ProcessGroup, ReduceOp, Work};
use ferrite_sdk::{DType, Host, Result, Tensor};
use std::sync::{Arc, Mutex, MutexGuard};

struct Bucket {
    flat: Tensor,
    params: Vec<usize>,
    pending: usize,
    work: Option<Work>,
    launched: bool,
}

struct State {
    params: Vec<(String, Tensor)>,
    layout: Layout,
    buckets: Vec<Bucket>,
    ready: Vec<bool>,
    next_launch: usize,
    sync: bool,
    error: Option<String>,
}

/// Shared between the hooks and the strategy.
#[derive(Clone)]
pub struct Reducer {
    group: ProcessGroup,
    state: Arc<Mutex<State>>,
}

impl State {
    fn launch_ready(&mut self, group: &ProcessGroup) -> Result<()> {
        while self.next_launch < self.buckets.len() && self.buckets[self.next_launch].pending == 0 {
            let b = &mut self.buckets[self.next_launch];
            b.work = Some(group.all_reduce(&b.flat, ReduceOp::Avg)?);
            b.launched = true;
            self.next_launch += 1;
        }
        Ok(())
    }

    /// Copies parameter `i`'s full local gradient (what `.grad` will hold: the accumulated
    /// value plus this pass's `g`) into its bucket slot.
    fn fill(&mut self, i: usize, g: Option<&Tensor>) -> Result<()> {
        let (_, p) = &self.params[i];
        let slot = self.layout.slots[i];
        let n = p.numel();
        let dst = self.buckets[slot.bucket].flat.slice(0, slot.offset, slot.offset + n, 1)?;
        let total = match (p.grad(), g) {
            (Some(old), Some(g)) => Some(old.add(g)?),
            (Some(old), None) => Some(old),
            (None, Some(g)) => Some(g.clone()),
            (None, None) => None,
        };
        match total {
            Some(t) => dst.copy_(&t.contiguous()?.reshape(&[-1])?)?,
            None => dst.copy_(&p.host().zeros(&[n], p.dtype())?)?,
        }
        self.ready[i] = true;
        let b = &mut self.buckets[slot.bucket];
        b.pending -= 1;
        Ok(())
    }
}

impl Reducer {
    /// Lays out `params` (registration order) into buckets of `cap_bytes` and registers one
    /// gradient hook per parameter.
    ///
    /// # Errors
    /// A tensor could not be allocated or a hook registered.
    pub fn new(host: &Host, group: ProcessGroup, params: Vec<(String, Tensor)>, cap_bytes: usize) -> Result<Reducer> {
        let spec: Vec<(usize, DType)> = params.iter().map(|(_, p)| (p.numel(), p.dtype())).collect();
        let layout = assign(&spec, cap_bytes);
        let mut buckets: Vec<Bucket> = layout
            .buckets
            .iter()
            .map(|&(dt, n)| Ok(Bucket { flat: host.zeros(&[n], dt)?, params: Vec::new(), pending: 0, work: None, launched: false }))
            .collect::<Result<_>>()?;
        for (i, s) in layout.slots.iter().enumerate() {
            buckets[s.bucket].params.push(i);
        }
        for b in &mut buckets {
            b.pending = b.params.len();
        }
        let n = params.len();
        let state = State { params, layout, buckets, ready: vec![false; n], next_launch: 0, sync: true, error: None };
        let reducer = Reducer { group, state: Arc::new(Mutex::new(state)) };
        let handles: Vec<Tensor> = reducer.lock().params.iter().map(|(_, p)| p.clone()).collect();
        for (i, p) in handles.iter().enumerate() {
            let r = reducer.clone();
            p.register_hook(move |g| {
                r.on_grad(i, g);
                None
            })?;
        }
        Ok(reducer)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The hook body. Errors cannot leave a hook, so they are kept for `finish`.
    fn on_grad(&self, i: usize, g: &Tensor) {
        let mut s = self.lock();
        if !s.sync || s.error.is_some() || i >= s.params.len() {
            return;
        }
        if s.ready[i] {
            s.error = Some(format!(
                "parameter `{}` got a second gradient before the gradients were synchronised \
                 (two backward passes without post_backward; use no_sync for accumulation)",
                s.params[i].0
            ));
            return;
        }
        let r = s.fill(i, Some(g)).and_then(|_| s.launch_ready(&self.group));
        if let Err(e) = r {
            s.error = Some(format!("gradient bucket of `{}`: {e}", s.params[i].0));
        }
    }

    /// Turns gradient synchronisation on or off (`no_sync`).
    pub fn set_sync(&self, sync: bool) {
        self.lock().sync = sync;
    }

    /// Number of buckets (for describe()).
    pub fn num_buckets(&self) -> usize {
        self.lock().buckets.len()
    }

    /// After backward: completes the buckets of parameters that got no gradient (only with
    /// `find_unused`), waits for every bucket in order and writes the averaged gradients into
    /// `.grad`. Parameters that no rank used keep `.grad = None`.
    ///
    /// # Errors
    /// A collective failed (dead peer, timeout), a hook failed, or — without `find_unused` —
    /// some parameters got no gradient (named, as PyTorch does).
    pub fn finish(&self, find_unused: bool) -> Result<()> {
        let mut s = self.lock();
        if !s.sync {
            return Ok(());
        }
        let result = self.finish_locked(&mut s, find_unused);
        // Whatever happened, the next backward starts from empty buckets.
        s.ready.iter_mut().for_each(|r| *r = false);
        s.next_launch = 0;
        for b in &mut s.buckets {
            b.pending = b.params.len();
            b.work = None;
            b.launched = false;
        }
        s.error = None;
        result
    }

    fn finish_locked(&self, s: &mut State, find_unused: bool) -> Result<()> {
        if let Some(e) = s.error.take() {
            ferrite_sdk::bail!("parallel.ddp: {e}");
        }
        let unused: Vec<usize> = (0..s.params.len()).filter(|&i| !s.ready[i]).collect();
        let host = s.params.first().map(|(_, p)| p.host());
        let Some(host) = host else { return Ok(()) };
        // Which parameters some rank used: the max over ranks of a local 0/1 map (PyTorch
        // all-reduces its `local_used_map` the same way).
        let mut used_anywhere = vec![true; s.params.len()];
        if find_unused {
            let local: Vec<f32> = s.ready.iter().map(|&r| if r { 1.0 } else { 0.0 }).collect();
            let map = host.from_slice(&local, &[local.len()])?;
            self.group.all_reduce(&map, ReduceOp::Max)?.wait()?;
            used_anywhere = map.to_vec::<f32>()?.into_iter().map(|v| v > 0.0).collect();
            for &i in &unused {
                s.fill(i, None)?;
            }
            s.launch_ready(&self.group)?;
        } else if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|&i| s.params[i].0.as_str()).collect();
            // The launched buckets must still be waited for, or peers would hang on them.
            for b in &mut s.buckets {
                if let Some(w) = b.work.take() {
                    w.wait()?;
                }
            }
            ferrite_sdk::bail!(
                "parallel.ddp: parameters got no gradient in this backward pass: {}; \
                 set find_unused_parameters = true if that is intended",
                names.join(", ")
            );
        }
        for b in &mut s.buckets {
            if let Some(w) = b.work.take() {
                w.wait()?;
            }
        }
        for i in 0..s.params.len() {
            if !used_anywhere[i] {
                continue;
            }
            let (_, p) = &s.params[i];
            let slot = s.layout.slots[i];
            let n = p.numel();
            let avg = s.buckets[slot.bucket].flat.slice(0, slot.offset, slot.offset + n, 1)?;
            // A fresh tensor, not a view: the bucket is overwritten by the next backward.
            let shape: Vec<usize> = p.shape();
            let g = host.zeros(&shape, p.dtype())?;
            g.copy_(&avg.reshape(&shape.iter().map(|&d| d as isize).collect::<Vec<_>>())?)?;
            p.set_grad(Some(&g))?;
        }
        Ok(())
    }

    /// Breaks the param → hook → reducer → param cycle when the strategy goes away.
    pub fn release(&self) {
        let mut s = self.lock();
        s.params.clear();
        s.buckets.clear();
    }
}
