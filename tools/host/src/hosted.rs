//! Safe wrappers over the model and dataset objects that plugins hand out.

use anyhow::{anyhow, Result};
use ferrite_sdk::abi::plugin::{split, DatasetBox, ModelBox};
use ferrite_sdk::{Host, Tensor};

/// A model living in a plugin, driven through sdk tensors.
pub struct HostedModel {
    /// Exported name (`models.spp_net`).
    pub name: String,
    inner: ModelBox,
    host: Host,
}

fn named(host: &Host, v: abi_stable::std_types::RVec<ferrite_sdk::abi::plugin::NamedTensor>) -> Vec<(String, Tensor)> {
    // SAFETY: the plugin hands out owned handles from the same host table.
    unsafe { ferrite_sdk::abi::plugin::NamedTensor::list_from_abi(host, v) }
}

impl HostedModel {
    /// Wraps a model object.
    pub fn new(name: &str, inner: ModelBox, host: Host) -> HostedModel {
        HostedModel { name: name.to_string(), inner, host }
    }

    /// Runs the model on a batch.
    pub fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        // The model's own messages name it already.
        let h = self.inner.forward(x.handle()).into_result().map_err(|e| anyhow!("{e}"))?;
        // SAFETY: owned handle returned by the plugin.
        Ok(unsafe { Tensor::from_raw(self.host.api(), h) })
    }

    /// Parameters by dotted name.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        named(&self.host, self.inner.named_parameters())
    }

    /// Buffers by dotted name.
    pub fn named_buffers(&self) -> Vec<(String, Tensor)> {
        named(&self.host, self.inner.named_buffers())
    }

    /// Parameters then buffers: what a checkpoint holds.
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut v = self.named_parameters();
        v.extend(self.named_buffers());
        v
    }

    /// Training (`true`) or evaluation mode.
    pub fn set_training(&mut self, on: bool) {
        self.inner.set_training(on)
    }

    /// The model's effective configuration (TOML).
    pub fn config(&self) -> String {
        self.inner.config().into_string()
    }
}

/// A dataset living in a plugin.
pub struct HostedDataset {
    /// Input side length this instance produces.
    pub size: u32,
    inner: DatasetBox,
    host: Host,
}

impl HostedDataset {
    /// Wraps a dataset object.
    pub fn new(size: u32, inner: DatasetBox, host: Host) -> HostedDataset {
        HostedDataset { size, inner, host }
    }

    /// Samples in the train (`split::TRAIN`) or test split.
    pub fn len(&self, which: u32) -> usize {
        self.inner.len(which)
    }

    /// Whether the training split is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.len(split::TRAIN) == 0
    }

    /// `(inputs, targets)` for sample indices of a split.
    pub fn batch(&self, which: u32, indices: &[u64]) -> Result<(Tensor, Tensor)> {
        let t = self.inner.get(which, indices.into()).into_result().map_err(|e| anyhow!("{e}"))?;
        // SAFETY: owned handles from the plugin.
        unsafe { Ok((Tensor::from_raw(self.host.api(), t.0), Tensor::from_raw(self.host.api(), t.1))) }
    }

    /// One-line description.
    pub fn describe(&self) -> String {
        self.inner.describe().into_string()
    }
}
