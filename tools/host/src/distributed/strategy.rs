//! A strategy plugin object driven from the host, with the process group it talks through.

use crate::hosted::HostedModel;
use abi_stable::std_types::RVec;
use anyhow::{anyhow, Result};
use ferrite_core::comm::ProcessGroup;
use ferrite_core::Runtime;
use ferrite_sdk::abi::parallel::StrategyBox;
use ferrite_sdk::abi::plugin::NamedTensor;
use ferrite_sdk::{Host, Tensor};
use std::sync::Arc;

/// One rank's strategy (`parallel.ddp`, `parallel.zero`). Field order matters: the strategy
/// is dropped before the group it points into.
pub struct HostedStrategy {
    inner: StrategyBox,
    group: Arc<ProcessGroup>,
    host: Host,
}

fn to_abi(v: Vec<(String, Tensor)>) -> RVec<NamedTensor> {
    NamedTensor::list_into_abi(v)
}

fn from_abi(host: &Host, v: RVec<NamedTensor>) -> Vec<(String, Tensor)> {
    // SAFETY: owned handles from the same host table.
    unsafe { NamedTensor::list_from_abi(host, v) }
}

macro_rules! call {
    ($e:expr) => {
        $e.into_result().map_err(|e| anyhow!("{e}"))
    };
}

impl HostedStrategy {
    /// Builds the strategy exported as `name` for `group`'s rank.
    ///
    /// # Errors
    /// Unknown strategy, bad config.
    pub fn new(name: &str, group: Arc<ProcessGroup>, config_toml: &str, host: Host) -> Result<HostedStrategy> {
        let inner = Runtime::global().create_strategy(name, &group, config_toml)?;
        Ok(HostedStrategy { inner, group, host })
    }

    /// This rank.
    pub fn rank(&self) -> usize {
        self.group.rank() as usize
    }

    /// Number of ranks.
    pub fn world_size(&self) -> usize {
        self.group.world_size() as usize
    }

    /// The process group.
    pub fn group(&self) -> &Arc<ProcessGroup> {
        &self.group
    }

    /// Hands the model's parameters and buffers to the strategy (broadcast, hooks, optimizer).
    ///
    /// # Errors
    /// Communication errors, non-contiguous parameters.
    pub fn setup(&mut self, model: &HostedModel) -> Result<()> {
        self.setup_tensors(model.named_parameters(), model.named_buffers())
    }

    /// [`HostedStrategy::setup`] for parameters and buffers that are not a hosted model's.
    ///
    /// # Errors
    /// Communication errors, non-contiguous parameters.
    pub fn setup_tensors(&mut self, params: Vec<(String, Tensor)>, buffers: Vec<(String, Tensor)>) -> Result<()> {
        call!(self.inner.setup(to_abi(params), to_abi(buffers)))
    }

    /// Before a forward pass.
    ///
    /// # Errors
    /// Communication errors.
    pub fn pre_forward(&mut self) -> Result<()> {
        call!(self.inner.pre_forward())
    }

    /// Full parameters on every rank until the next `pre_forward`/`step` (for evaluation on
    /// one rank, saving, reading parameters). Collective.
    ///
    /// # Errors
    /// Communication errors.
    pub fn summon_full_params(&mut self) -> Result<()> {
        call!(self.inner.summon_full_params())
    }

    /// `no_sync` off (`true`) or on (`false`) for the next backward.
    pub fn set_grad_sync(&mut self, sync: bool) {
        self.inner.set_grad_sync(sync)
    }

    /// After `backward()`.
    ///
    /// # Errors
    /// Communication errors, unused parameters.
    pub fn post_backward(&mut self) -> Result<()> {
        call!(self.inner.post_backward())
    }

    /// Optimizer step.
    ///
    /// # Errors
    /// Op or communication errors.
    pub fn step(&mut self) -> Result<()> {
        call!(self.inner.step())
    }

    /// Dynamic loss scaling: multiplies the gradients by `inv_scale`; true if any rank found
    /// an inf or NaN (every rank gets the same answer).
    ///
    /// # Errors
    /// The strategy does not implement loss scaling; communication errors.
    pub fn unscale_grads(&mut self, inv_scale: f64) -> Result<bool> {
        call!(self.inner.unscale_grads(inv_scale))
    }

    /// Clears gradients.
    pub fn zero_grad(&mut self) {
        self.inner.zero_grad()
    }

    /// Sets the learning rate.
    pub fn set_lr(&mut self, lr: f64) {
        self.inner.set_lr(lr)
    }

    /// This rank's optimizer/shard state.
    ///
    /// # Errors
    /// Strategy not set up.
    pub fn state_dict(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(from_abi(&self.host, call!(self.inner.state_dict())?))
    }

    /// Restores [`HostedStrategy::state_dict`]'s output.
    ///
    /// # Errors
    /// Names or shapes that do not fit.
    pub fn load_state_dict(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        call!(self.inner.load_state_dict(to_abi(state)))
    }

    /// JSON layout description stored with sharded checkpoints.
    pub fn metadata(&self) -> String {
        self.inner.metadata().into_string()
    }

    /// One line.
    pub fn describe(&self) -> String {
        self.inner.describe().into_string()
    }
}
