//! `parallel.zero` as a [`StrategyObj`] (Rajbhandari, Rasley, Ruwase, He, "ZeRO: Memory
//! Optimizations Toward Training Trillion Parameter Models", SC 2020):
//!
//! * every rank keeps an **fp32 master shard** of the flat parameters (`1/N` of them) and the
//!   optimizer state for that shard only (stage 1, `P_os`);
//! * stage 1 all-reduces a persistent full-size gradient buffer; stages 2 and 3
//!   reduce-scatter a transient one, so only the shard's gradient outlives backward (`P_g`);
//! * stage 3 also frees the parameters' memory between uses and all-gathers them again before
//!   each forward (`P_p`);
//! * after the shard's optimizer step the updated shards are all-gathered into the model's
//!   parameters (converted to their dtype, so bf16/f16 parameters train on fp32 masters).

use crate::config::ZeroConfig;
use crate::layout::FlatLayout;
use abi_stable::std_types::{RResult, RString, RVec};
use ferrite_sdk::abi::parallel::StrategyObj;
use ferrite_sdk::abi::plugin::NamedTensor;
use ferrite_sdk::distributed::{ProcessGroup, ReduceOp, Work};
use ferrite_sdk::optim::Optimizer;
use ferrite_sdk::{DType, Host, Result, Tensor};

/// Name of the master shard in [`StrategyObj::state_dict`].
pub const MASTER: &str = "master";
/// Prefix of the optimizer's entries in [`StrategyObj::state_dict`].
pub const OPTIMIZER_PREFIX: &str = "optimizer.";

struct Ready {
    params: Vec<Tensor>,
    layout: FlatLayout,
    master: Tensor,
    optimizer: Box<dyn Optimizer + Send>,
    /// Stage 1's persistent full gradient buffer.
    grad_buffer: Option<Tensor>,
    released: bool,
}

/// One rank's ZeRO state.
pub struct Zero {
    host: Host,
    group: ProcessGroup,
    config: ZeroConfig,
    buffers: Vec<Tensor>,
    sync: bool,
    ready: Option<Ready>,
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

fn ishape(s: &[usize]) -> Vec<isize> {
    s.iter().map(|&d| d as isize).collect()
}

impl Zero {
    /// A ZeRO instance for the rank of `group`.
    pub fn new(host: Host, group: ProcessGroup, config: ZeroConfig) -> Zero {
        Zero { host, group, config, buffers: Vec::new(), sync: true, ready: None }
    }

    fn ready(&mut self) -> Result<&mut Ready> {
        match self.ready.as_mut() {
            Some(r) => Ok(r),
            None => ferrite_sdk::bail!("setup() was not called"),
        }
    }

    fn setup_impl(&mut self, params: Vec<(String, Tensor)>, buffers: Vec<(String, Tensor)>) -> Result<()> {
        if self.ready.is_some() {
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
        let layout = FlatLayout::new(&params.iter().map(|(n, p)| (n.clone(), p.shape())).collect::<Vec<_>>(), self.group.world_size());
        let params: Vec<Tensor> = params.into_iter().map(|(_, p)| p).collect();
        let flat = flatten(&self.host, &params, &layout, |p| Ok(Some(p.clone())))?;
        let (a, b) = layout.shard_range(self.group.rank());
        let master = self.host.zeros(&[layout.shard], DType::F32)?;
        master.copy_(&flat.slice(0, a, b, 1)?)?;
        let master = master.requires_grad_(true)?;
        let optimizer = self.config.optimizer.build(vec![master.clone()])?;
        let grad_buffer = if self.config.stage == 1 { Some(self.host.zeros(&[layout.padded()], DType::F32)?) } else { None };
        self.buffers = buffers.into_iter().map(|(_, b)| b).collect();
        self.ready = Some(Ready { params, layout, master, optimizer, grad_buffer, released: false });
        if self.config.stage == 3 {
            self.release_params()?;
        }
        Ok(())
    }

    /// Stage 3: frees every parameter's memory until the next gather.
    fn release_params(&mut self) -> Result<()> {
        let r = self.ready()?;
        for p in &r.params {
            // SAFETY: between steps nothing else uses the parameters; the host calls
            // pre_forward (which gathers them) before any use.
            unsafe { p.release_storage_()? };
        }
        r.released = true;
        Ok(())
    }

    /// All-gathers the master shards into the parameters (restoring their memory first).
    fn gather_params(&mut self) -> Result<()> {
        let host = self.host;
        let group = self.group;
        let r = self.ready()?;
        let full = host.zeros(&[r.layout.padded()], DType::F32)?;
        group.all_gather(&r.master.detach(), &full)?.wait()?;
        host.no_grad(|| -> Result<()> {
            for (i, p) in r.params.iter().enumerate() {
                if r.released {
                    // SAFETY: see release_params.
                    unsafe { p.restore_storage_()? };
                }
                let (o, n) = (r.layout.offsets[i], r.layout.numel(i));
                p.copy_(&full.slice(0, o, o + n, 1)?.reshape(&ishape(&r.layout.shapes[i]))?)?;
            }
            Ok(())
        })?;
        r.released = false;
        Ok(())
    }

    fn post_backward_impl(&mut self) -> Result<()> {
        if !self.sync {
            return Ok(());
        }
        let (host, group, stage) = (self.host, self.group, self.config.stage);
        if stage == 3 {
            // Backward is done and only the gradients are read below: freeing the parameters
            // now, not after the reduce-scatter, keeps them from coexisting with the gradients
            // and the flat copy (the per-rank peak drops by the parameters' size).
            self.release_params()?;
        }
        let r = self.ready()?;
        // The local gradients, flat in fp32 (missing gradients count as zeros).
        let shard_grad = if let Some(buf) = &r.grad_buffer {
            fill(buf, &r.params, &r.layout)?;
            group.all_reduce(buf, ReduceOp::Avg)?.wait()?;
            let (a, b) = r.layout.shard_range(group.rank());
            let g = host.zeros(&[r.layout.shard], DType::F32)?;
            g.copy_(&buf.slice(0, a, b, 1)?)?;
            g
        } else {
            let flat = flatten(&host, &r.params, &r.layout, |p| Ok(p.grad()))?;
            let g = host.zeros(&[r.layout.shard], DType::F32)?;
            group.reduce_scatter(&flat, &g, ReduceOp::Avg)?.wait()?;
            g
        };
        r.master.set_grad(Some(&shard_grad))?;
        // Gradients now live in the shard only.
        for p in &r.params {
            p.set_grad(None)?;
        }
        Ok(())
    }

    fn step_impl(&mut self) -> Result<()> {
        let stage = self.config.stage;
        let r = self.ready()?;
        r.optimizer.step()?;
        if stage < 3 {
            self.gather_params()?;
        }
        Ok(())
    }

    fn load_impl(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        let host = self.host;
        let stage = self.config.stage;
        let r = self.ready()?;
        let mut master = None;
        let mut opt = Vec::new();
        for (n, t) in state {
            if n == MASTER {
                if t.shape() != vec![r.layout.shard] {
                    ferrite_sdk::bail!("master shard has shape {:?}, this rank's shard is [{}]", t.shape(), r.layout.shard);
                }
                master = Some(t);
            } else if let Some(rest) = n.strip_prefix(OPTIMIZER_PREFIX) {
                opt.push((rest.to_string(), t));
            } else {
                ferrite_sdk::bail!("unexpected state entry `{n}`");
            }
        }
        let Some(master) = master else { ferrite_sdk::bail!("the state has no `{MASTER}` shard") };
        r.optimizer.load_state_dict(&opt)?;
        host.no_grad(|| r.master.copy_(&master))?;
        // Collective: every rank loads its shard at the same point.
        if stage < 3 {
            self.gather_params()?;
        } else if !r.released {
            self.release_params()?;
        }
        Ok(())
    }
}

/// Copies each parameter's tensor picked by `pick` (its value or its gradient) into a fresh
/// flat fp32 vector of the padded length (zeros where `pick` gives nothing).
fn flatten(host: &Host, params: &[Tensor], layout: &FlatLayout, pick: impl Fn(&Tensor) -> Result<Option<Tensor>>) -> Result<Tensor> {
    let flat = host.zeros(&[layout.padded()], DType::F32)?;
    for (i, p) in params.iter().enumerate() {
        if let Some(t) = pick(p)? {
            let (o, n) = (layout.offsets[i], layout.numel(i));
            flat.slice(0, o, o + n, 1)?.copy_(&t.contiguous()?.reshape(&[-1])?)?;
        }
    }
    Ok(flat)
}

/// Stage 1: writes the local gradients into the persistent buffer (zeros where none).
fn fill(buf: &Tensor, params: &[Tensor], layout: &FlatLayout) -> Result<()> {
    for (i, p) in params.iter().enumerate() {
        let (o, n) = (layout.offsets[i], layout.numel(i));
        let dst = buf.slice(0, o, o + n, 1)?;
        match p.grad() {
            Some(g) => dst.copy_(&g.contiguous()?.reshape(&[-1])?)?,
            None => dst.copy_(&buf.host().zeros(&[n], DType::F32)?)?,
        }
    }
    Ok(())
}

impl StrategyObj for Zero {
    fn setup(&mut self, params: RVec<NamedTensor>, buffers: RVec<NamedTensor>) -> RResult<(), RString> {
        let (p, b) = (take(&self.host, params), take(&self.host, buffers));
        to_abi(self.setup_impl(p, b))
    }

    fn pre_forward(&mut self) -> RResult<(), RString> {
        let r = (|| {
            if !self.buffers.is_empty() {
                let works: Vec<Work> = self.buffers.iter().map(|t| self.group.broadcast(t, 0)).collect::<Result<_>>()?;
                works.into_iter().try_for_each(Work::wait)?;
            }
            if self.ready()?.released {
                self.gather_params()?;
            }
            Ok(())
        })();
        to_abi(r)
    }

    fn set_grad_sync(&mut self, enabled: bool) {
        self.sync = enabled;
    }

    fn post_backward(&mut self) -> RResult<(), RString> {
        to_abi(self.post_backward_impl())
    }

    fn step(&mut self) -> RResult<(), RString> {
        to_abi(self.step_impl())
    }

    fn zero_grad(&mut self) {
        if let Some(r) = &self.ready {
            r.optimizer.zero_grad();
            for p in &r.params {
                let _ = p.set_grad(None);
            }
        }
    }

    fn set_lr(&mut self, lr: f64) {
        if let Some(r) = self.ready.as_mut() {
            r.optimizer.set_lr(lr);
        }
    }

    fn state_dict(&self) -> RResult<RVec<NamedTensor>, RString> {
        let Some(r) = &self.ready else { return RResult::RErr("parallel.zero: setup() was not called".into()) };
        let mut v = vec![NamedTensor { name: MASTER.into(), tensor: r.master.detach().into_raw() }];
        v.extend(
            r.optimizer
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
        let layout = self.ready.as_ref().map(|r| &r.layout);
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
            let r = self.ready()?;
            let mut found = 0.0f32;
            if let Some(g) = r.master.grad() {
                let unscaled = host.no_grad(|| g.mul_scalar(inv_scale))?;
                if unscaled.to_vec_f64()?.iter().any(|v| !v.is_finite()) {
                    found = 1.0;
                }
                r.master.set_grad(Some(&unscaled))?;
            }
            // Each rank sees only its shard: agree, so every rank skips or steps together.
            let flag = host.from_slice(&[found], &[1])?;
            group.all_reduce(&flag, ReduceOp::Max)?.wait()?;
            Ok(flag.to_vec::<f32>()?[0] > 0.0)
        })();
        to_abi(r)
    }

    fn describe(&self) -> RString {
        let shard = self.ready.as_ref().map_or(0, |r| r.layout.shard);
        format!(
            "parallel.zero stage {} rank {}/{}: fp32 master shard of {shard} elements, {}",
            self.config.stage,
            self.group.rank(),
            self.group.world_size(),
            self.config.optimizer.describe()
        )
        .into()
    }
}
