//! `parallel.zero` as a [`StrategyObj`] (Rajbhandari, Rasley, Ruwase, He, "ZeRO: Memory
//! Optimizations Toward Training Trillion Parameter Models", SC 2020):
//!
//! * every rank keeps an **fp32 master shard** of the flat parameters (`1/N` of them) and the
//!   optimizer state for that shard only (stage 1, `P_os`);
//! * gradients are reduced module by module from gradient hooks, overlapping backward
//!   ([`crate::reduce`]): stage 1 all-reduces a persistent full-size buffer; stages 2 and 3
//!   reduce-scatter a transient one, so only the shard's gradient outlives backward (`P_g`);
//! * stage 3 also frees the parameters' memory between uses and gathers them **per module on
//!   demand** (`P_p`): a fetch hook on each parameter's storage all-gathers its module when
//!   an op first reads it, in forward and again in backward, keeping at most `live_modules`
//!   modules gathered (least recently gathered freed first);
//! * after the shard's optimizer step the updated shards are all-gathered into the model's
//!   parameters (stages 1 and 2; converted to their dtype, so bf16/f16 parameters train on
//!   fp32 masters). Stage 3 gathers them at their next use.

use crate::config::ZeroConfig;
use crate::layout::Layout;
use crate::shared::{try_lock, upgrade, Shared, SharedRef};
use abi_stable::std_types::{RResult, RString, RVec};
use ferrite_sdk::abi::parallel::StrategyObj;
use ferrite_sdk::abi::plugin::NamedTensor;
use ferrite_sdk::distributed::{ProcessGroup, ReduceOp, Work};
use ferrite_sdk::{DType, Host, Result, Tensor};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// Name of the master shard in [`StrategyObj::state_dict`].
pub const MASTER: &str = "master";
/// Prefix of the optimizer's entries in [`StrategyObj::state_dict`].
pub const OPTIMIZER_PREFIX: &str = "optimizer.";

/// One rank's ZeRO state.
pub struct Zero {
    host: Host,
    group: ProcessGroup,
    config: ZeroConfig,
    buffers: Vec<Tensor>,
    shared: Option<SharedRef>,
}

fn take(host: &Host, v: RVec<NamedTensor>) -> Vec<(String, Tensor)> {
    // SAFETY: the host hands over owned handles from its own table.
    unsafe { NamedTensor::list_from_abi(host, v) }
}

fn to_abi<T>(r: Result<T>) -> RResult<T, RString> {
    match r {
        Ok(v) => RResult::ROk(v),
        Err(e) => RResult::RErr(format!("parallel.zero: {e}").into()),
    }
}

impl Zero {
    /// A ZeRO instance for the rank of `group`.
    pub fn new(host: Host, group: ProcessGroup, config: ZeroConfig) -> Zero {
        Zero { host, group, config, buffers: Vec::new(), shared: None }
    }

    fn state(&self) -> Result<MutexGuard<'_, Shared>> {
        match &self.shared {
            Some(s) => Ok(s.lock().unwrap_or_else(|e| e.into_inner())),
            None => ferrite_sdk::bail!("setup() was not called"),
        }
    }

    /// Number of on-demand module gathers so far (stage 3), for tests and benchmarks.
    pub fn fetches(&self) -> u64 {
        self.state().map_or(0, |s| s.fetches)
    }

    fn setup_impl(&mut self, params: Vec<(String, Tensor)>, buffers: Vec<(String, Tensor)>) -> Result<()> {
        if self.shared.is_some() {
            ferrite_sdk::bail!("setup() called twice");
        }
        for (name, p) in &params {
            if !p.dtype().is_float() {
                ferrite_sdk::bail!("parameter `{name}` is {}; ZeRO shards float parameters only", p.dtype());
            }
        }
        // Rank 0's values everywhere first (as DDP), then shard them.
        let works: Vec<Work> = params.iter().chain(&buffers).map(|(_, t)| self.group.broadcast(t, 0)).collect::<Result<_>>()?;
        works.into_iter().try_for_each(Work::wait)?;
        let layout = Layout::new(&params.iter().map(|(n, p)| (n.clone(), p.shape())).collect::<Vec<_>>(), self.group.world_size());
        let params: Vec<Tensor> = params.into_iter().map(|(_, p)| p).collect();
        let master = self.host.zeros(&[layout.shard], DType::F32)?;
        let n_groups = layout.groups.len();
        let stage = self.config.stage;
        let mut sh = Shared {
            host: self.host,
            group: self.group,
            stage,
            optimizer: self.config.optimizer.build(vec![master.clone()])?,
            master,
            grad_buffer: None,
            live: vec![false; n_groups],
            lru: VecDeque::new(),
            live_modules: self.config.live_modules,
            fetches: 0,
            sync: true,
            ready: vec![false; params.len()],
            pending: layout.groups.iter().map(|g| g.params.len()).collect(),
            next_launch: 0,
            inflight: VecDeque::new(),
            shard_grad: None,
            launched_in_backward: 0,
            error: None,
            params,
            layout,
        };
        // This rank's piece of every module, group by group (one module's flat copy at a time).
        let rank = self.group.rank();
        for g in 0..n_groups {
            let flat = sh.flatten_group(g, |p| Some(p.clone()))?;
            let (a, b) = sh.layout.piece_range(g);
            let (x, y) = sh.layout.rank_range(g, rank);
            sh.master.slice(0, a, b, 1)?.copy_(&flat.slice(0, x, y, 1)?)?;
        }
        sh.master = sh.master.requires_grad_(true)?;
        if stage == 1 {
            let w = sh.layout.world_size;
            let n: usize = sh.layout.groups.iter().map(|g| g.padded(w)).sum();
            sh.grad_buffer = Some(self.host.zeros(&[n], DType::F32)?);
        }
        let hook_params: Vec<Tensor> = sh.params.clone();
        let group_of = sh.layout.group_of.clone();
        let shared = Arc::new(Mutex::new(sh));
        for (i, p) in hook_params.iter().enumerate() {
            let w = Arc::downgrade(&shared);
            p.register_post_accumulate_grad_hook(move |_| {
                if let Ok(s) = upgrade(&w) {
                    match try_lock(&s) {
                        Ok(mut s) => s.on_grad(i),
                        Err(e) => eprintln!("warning: {e}"),
                    }
                }
            })?;
            if stage == 3 {
                let w = Arc::downgrade(&shared);
                let g = group_of[i];
                p.set_fetch_hook(move || {
                    let s = upgrade(&w).map_err(ferrite_sdk::Error::Host)?;
                    let mut s = try_lock(&s).map_err(ferrite_sdk::Error::Host)?;
                    s.fetch(g)
                })?;
            }
        }
        self.buffers = buffers.into_iter().map(|(_, b)| b).collect();
        if stage == 3 {
            shared.lock().unwrap_or_else(|e| e.into_inner()).release_all()?;
        }
        self.shared = Some(shared);
        Ok(())
    }

    fn pre_forward_impl(&mut self) -> Result<()> {
        if !self.buffers.is_empty() {
            let works: Vec<Work> = self.buffers.iter().map(|t| self.group.broadcast(t, 0)).collect::<Result<_>>()?;
            works.into_iter().try_for_each(Work::wait)?;
        }
        let mut s = self.state()?;
        if s.stage == 3 {
            // Sharded at the start of every forward; modules are gathered as ops reach them.
            s.release_all()?;
        }
        Ok(())
    }

    fn post_backward_impl(&mut self) -> Result<()> {
        let mut s = self.state()?;
        if s.sync {
            s.finish_backward()?;
        }
        if s.stage == 3 {
            s.release_all()?;
        }
        Ok(())
    }

    fn step_impl(&mut self) -> Result<()> {
        let mut s = self.state()?;
        s.optimizer.step()?;
        if s.stage < 3 {
            s.gather_all(false)
        } else {
            // Gathered values are stale now; the next use fetches the new ones.
            s.release_all()
        }
    }

    fn summon_impl(&mut self) -> Result<()> {
        let mut s = self.state()?;
        if s.stage == 3 {
            s.gather_all(true)?;
        }
        Ok(())
    }

    fn load_impl(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        let host = self.host;
        let mut s = self.state()?;
        let mut master = None;
        let mut opt = Vec::new();
        for (n, t) in state {
            if n == MASTER {
                if t.shape() != vec![s.layout.shard] {
                    ferrite_sdk::bail!("master shard has shape {:?}, this rank's shard is [{}]", t.shape(), s.layout.shard);
                }
                master = Some(t);
            } else if let Some(rest) = n.strip_prefix(OPTIMIZER_PREFIX) {
                opt.push((rest.to_string(), t));
            } else {
                ferrite_sdk::bail!("unexpected state entry `{n}`");
            }
        }
        let Some(master) = master else { ferrite_sdk::bail!("the state has no `{MASTER}` shard") };
        s.optimizer.load_state_dict(&opt)?;
        host.no_grad(|| s.master.copy_(&master))?;
        // Collective: every rank loads its shard at the same point.
        if s.stage < 3 {
            s.gather_all(false)
        } else {
            s.release_all()
        }
    }
}

impl StrategyObj for Zero {
    fn setup(&mut self, params: RVec<NamedTensor>, buffers: RVec<NamedTensor>) -> RResult<(), RString> {
        let (p, b) = (take(&self.host, params), take(&self.host, buffers));
        to_abi(self.setup_impl(p, b))
    }

    fn pre_forward(&mut self) -> RResult<(), RString> {
        to_abi(self.pre_forward_impl())
    }

    fn set_grad_sync(&mut self, enabled: bool) {
        if let Ok(mut s) = self.state() {
            s.sync = enabled;
        }
    }

    fn post_backward(&mut self) -> RResult<(), RString> {
        to_abi(self.post_backward_impl())
    }

    fn step(&mut self) -> RResult<(), RString> {
        to_abi(self.step_impl())
    }

    fn zero_grad(&mut self) {
        if let Ok(mut s) = self.state() {
            s.optimizer.zero_grad();
            s.shard_grad = None;
            for p in &s.params {
                let _ = p.set_grad(None);
            }
        }
    }

    fn set_lr(&mut self, lr: f64) {
        if let Ok(mut s) = self.state() {
            s.optimizer.set_lr(lr);
        }
    }

    fn state_dict(&self) -> RResult<RVec<NamedTensor>, RString> {
        let s = match self.state() {
            Ok(s) => s,
            Err(e) => return RResult::RErr(format!("parallel.zero: {e}").into()),
        };
        let mut v = vec![NamedTensor { name: MASTER.into(), tensor: s.master.detach().into_raw() }];
        v.extend(
            s.optimizer
                .state_dict()
                .into_iter()
                .map(|(n, t)| NamedTensor { name: format!("{OPTIMIZER_PREFIX}{n}").into(), tensor: t.into_raw() }),
        );
        RResult::ROk(v.into_iter().collect())
    }

    fn load_state_dict(&mut self, state: RVec<NamedTensor>) -> RResult<(), RString> {
        let state = take(&self.host, state);
        to_abi(self.load_impl(state))
    }

    fn metadata(&self) -> RString {
        let s = self.state().ok();
        let layout: Option<Layout> = s.as_ref().map(|s| s.layout.clone());
        serde_json::json!({
            "strategy": "parallel.zero",
            "stage": self.config.stage,
            "world_size": self.group.world_size(),
            "rank": self.group.rank(),
            "layout": layout,
            "optimizer": self.config.optimizer,
        })
        .to_string()
        .into()
    }

    fn unscale_grads(&mut self, inv_scale: f64) -> RResult<bool, RString> {
        let (host, group) = (self.host, self.group);
        let r = (|| -> Result<bool> {
            let s = self.state()?;
            let mut found = 0.0f32;
            if let Some(g) = s.master.grad() {
                let unscaled = host.no_grad(|| g.mul_scalar(inv_scale))?;
                if unscaled.to_vec_f64()?.iter().any(|v| !v.is_finite()) {
                    found = 1.0;
                }
                s.master.set_grad(Some(&unscaled))?;
            }
            // Each rank sees only its shard: agree, so every rank skips or steps together.
            let flag = host.from_slice(&[found], &[1])?;
            group.all_reduce(&flag, ReduceOp::Max)?.wait()?;
            Ok(flag.to_vec::<f32>()?[0] > 0.0)
        })();
        to_abi(r)
    }

    fn summon_full_params(&mut self) -> RResult<(), RString> {
        to_abi(self.summon_impl())
    }

    fn describe(&self) -> RString {
        let (shard, groups, fetches, overlapped) =
            self.state().map_or((0, 0, 0, 0), |s| (s.layout.shard, s.layout.groups.len(), s.fetches, s.launched_in_backward));
        let mut extra = String::new();
        if self.config.stage == 3 {
            extra += &format!(", at most {} of {groups} modules gathered at once", self.config.live_modules.min(groups.max(1)));
        }
        // Counters once training has started (tests and benchmarks read them).
        if fetches > 0 {
            extra += &format!(" ({fetches} gathers so far)");
        }
        if overlapped > 0 {
            extra += &format!(", {overlapped} module reductions launched during backward");
        }
        format!(
            "parallel.zero stage {} rank {}/{}: fp32 master shard of {shard} elements over {groups} modules{extra}, {}",
            self.config.stage,
            self.group.rank(),
            self.group.world_size(),
            self.config.optimizer.describe()
        )
        .into()
    }
}
