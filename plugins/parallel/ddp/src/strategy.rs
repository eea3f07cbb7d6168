//! `parallel.ddp` as a [`StrategyObj`]: rank 0's state broadcast at setup, gradients averaged
//! by the [`Reducer`] during backward, the same optimizer step on every rank.

use crate::config::DdpConfig;
use crate::reducer::Reducer;
use abi_stable::std_types::{RResult, RString, RVec};
use ferrite_sdk::abi::parallel::StrategyObj;
use ferrite_sdk::abi::plugin::NamedTensor;
use ferrite_sdk::distributed::{ProcessGroup, Work};
use ferrite_sdk::optim::Optimizer;
use ferrite_sdk::{Host, Result, Tensor};

/// Prefix of the optimizer's entries in [`StrategyObj::state_dict`].
pub const OPTIMIZER_PREFIX: &str = "optimizer.";

/// One rank's DDP state.
pub struct Ddp {
    host: Host,
    group: ProcessGroup,
    config: DdpConfig,
    buffers: Vec<(String, Tensor)>,
    reducer: Option<Reducer>,
    optimizer: Option<Box<dyn Optimizer + Send>>,
    names: Vec<String>,
}

fn take(host: &Host, v: RVec<NamedTensor>) -> Vec<(String, Tensor)> {
    // SAFETY: the host hands over owned handles from its own table.
    unsafe { NamedTensor::list_from_abi(host, v) }
}

fn to_abi<T>(r: Result<T>) -> RResult<T, RString> {
    match r {
        Ok(v) => RResult::ROk(v),
        Err(e) => RResult::RErr(e.to_string().into()),
    }
}

/// Multiplies each parameter's `.grad` by `inv_scale`; true if any result is inf or NaN.
pub fn unscale(host: &Host, params: &[Tensor], inv_scale: f64) -> Result<bool> {
    let mut found_inf = false;
    for p in params {
        let Some(g) = p.grad() else { continue };
        let unscaled = host.no_grad(|| g.mul_scalar(inv_scale))?;
        found_inf |= unscaled.to_vec_f64()?.iter().any(|v| !v.is_finite());
        p.set_grad(Some(&unscaled))?;
    }
    Ok(found_inf)
}

/// Broadcasts every tensor from rank 0, all queued before the first wait.
fn broadcast_all(group: &ProcessGroup, tensors: &[(String, Tensor)]) -> Result<()> {
    let works: Vec<Work> = tensors.iter().map(|(_, t)| group.broadcast(t, 0)).collect::<Result<_>>()?;
    works.into_iter().try_for_each(Work::wait)
}

impl Ddp {
    /// A DDP instance for the rank of `group`.
    pub fn new(host: Host, group: ProcessGroup, config: DdpConfig) -> Ddp {
        Ddp { host, group, config, buffers: Vec::new(), reducer: None, optimizer: None, names: Vec::new() }
    }

    fn optimizer(&mut self) -> Result<&mut Box<dyn Optimizer + Send>> {
        match self.optimizer.as_mut() {
            Some(o) => Ok(o),
            None => ferrite_sdk::bail!("parallel.ddp: setup() was not called"),
        }
    }

    fn setup_impl(&mut self, params: Vec<(String, Tensor)>, buffers: Vec<(String, Tensor)>) -> Result<()> {
        if self.reducer.is_some() {
            ferrite_sdk::bail!("parallel.ddp: setup() called twice");
        }
        for (name, p) in params.iter().chain(&buffers) {
            if p.contiguous()?.handle() != p.handle() {
                ferrite_sdk::bail!("parallel.ddp: `{name}` is not contiguous");
            }
        }
        // Every replica starts from rank 0's parameters and buffers (PyTorch DDP's constructor).
        broadcast_all(&self.group, &params)?;
        broadcast_all(&self.group, &buffers)?;
        self.names = params.iter().map(|(n, _)| n.clone()).collect();
        self.optimizer = Some(self.config.optimizer.build(params.iter().map(|(_, p)| p.clone()).collect())?);
        self.reducer = Some(Reducer::new(&self.host, self.group, params, self.config.bucket_cap_bytes())?);
        self.buffers = buffers;
        Ok(())
    }
}

impl Drop for Ddp {
    fn drop(&mut self) {
        if let Some(r) = &self.reducer {
            r.release();
        }
    }
}

impl StrategyObj for Ddp {
    fn setup(&mut self, params: RVec<NamedTensor>, buffers: RVec<NamedTensor>) -> RResult<(), RString> {
        let (p, b) = (take(&self.host, params), take(&self.host, buffers));
        to_abi(self.setup_impl(p, b))
    }

    fn pre_forward(&mut self) -> RResult<(), RString> {
        if self.config.broadcast_buffers && !self.buffers.is_empty() {
            return to_abi(broadcast_all(&self.group, &self.buffers));
        }
        RResult::ROk(())
    }

    fn set_grad_sync(&mut self, enabled: bool) {
        if let Some(r) = &self.reducer {
            r.set_sync(enabled);
        }
    }

    fn post_backward(&mut self) -> RResult<(), RString> {
        match &self.reducer {
            Some(r) => to_abi(r.finish(self.config.find_unused_parameters)),
            None => RResult::RErr("parallel.ddp: setup() was not called".into()),
        }
    }

    fn step(&mut self) -> RResult<(), RString> {
        let r = self.optimizer().and_then(|o| o.step());
        to_abi(r)
    }

    fn zero_grad(&mut self) {
        if let Some(o) = &self.optimizer {
            o.zero_grad();
        }
    }

    fn set_lr(&mut self, lr: f64) {
        if let Some(o) = self.optimizer.as_mut() {
            o.set_lr(lr);
        }
    }

    fn state_dict(&self) -> RResult<RVec<NamedTensor>, RString> {
        let Some(o) = &self.optimizer else {
            return RResult::RErr("parallel.ddp: setup() was not called".into());
        };
        RResult::ROk(
            o.state_dict()
                .into_iter()
                .map(|(n, t)| NamedTensor { name: format!("{OPTIMIZER_PREFIX}{n}").into(), tensor: t.into_raw() })
                .collect(),
        )
    }

    fn load_state_dict(&mut self, state: RVec<NamedTensor>) -> RResult<(), RString> {
        let state = take(&self.host, state);
        let r = (|| {
            let mut sd = Vec::with_capacity(state.len());
            for (n, t) in state {
                match n.strip_prefix(OPTIMIZER_PREFIX) {
                    Some(rest) => sd.push((rest.to_string(), t)),
                    None => ferrite_sdk::bail!("parallel.ddp: unexpected state entry `{n}`"),
                }
            }
            self.optimizer()?.load_state_dict(&sd)
        })();
        to_abi(r)
    }

    fn metadata(&self) -> RString {
        serde_json::json!({
            "strategy": "parallel.ddp",
            "world_size": self.group.world_size(),
            "rank": self.group.rank(),
            "parameters": self.names,
            "optimizer": self.config.optimizer,
        })
        .to_string()
        .into()
    }

    fn unscale_grads(&mut self, inv_scale: f64) -> RResult<bool, RString> {
        // After post_backward every rank holds the same averaged gradients, so the local
        // answer is already the same everywhere.
        let r = (|| -> Result<bool> {
            let Some(o) = &self.optimizer else { ferrite_sdk::bail!("parallel.ddp: setup() was not called") };
            unscale(&self.host, o.params(), inv_scale)
        })();
        to_abi(r)
    }

    fn describe(&self) -> RString {
        format!(
            "parallel.ddp rank {}/{}: {} bucket(s) of at most {} MiB, find_unused_parameters={}, {}",
            self.group.rank(),
            self.group.world_size(),
            self.reducer.as_ref().map_or(0, |r| r.num_buckets()),
            self.config.bucket_cap_mb,
            self.config.find_unused_parameters,
            self.config.optimizer.describe()
        )
        .into()
    }
}
