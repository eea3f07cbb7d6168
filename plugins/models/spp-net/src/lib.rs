//! # models.spp_net
//!
//! A small CNN for `[N, C, H, W]` images of **any** size (He, Zhang, Ren, Sun, "Spatial Pyramid
//! Pooling in Deep Convolutional Networks for Visual Recognition", ECCV 2014):
//!
//! `conv3×3(pad 1) → [BN] → ReLU → maxpool 2×2 → conv3×3(pad 1) → [BN] → ReLU →
//! SPP{levels} → [Linear → ReLU] → [Dropout] → Linear → logits [N, num_classes]`
//!
//! The pyramid pools the last feature map to fixed `l×l` grids whatever its size, so the
//! classifier sees `channels[1]·Σl²` features for 8×8 and 16×16 inputs alike. Inputs smaller
//! than 2×2 are rejected by the max pooling. With `checkpoint = true` the two conv blocks run
//! under activation checkpointing ([`ferrite_sdk::nn::checkpoint`]): backward keeps only each
//! block's input and recomputes the block.

pub mod config;

use abi_stable::std_types::{RResult, RStr, RString, RVec};
use config::SppNetConfig;
use ferrite_sdk::abi::host::{HostApi, TensorHandle};
use ferrite_sdk::abi::plugin::{ModelBox, ModelDesc, ModelObj, ModelObj_TO, NamedTensor};
use ferrite_sdk::nn::{checkpoint, BatchNorm2d, Conv2d, Conv2dConfig, Dropout, Linear, MaxPool2d, Module, PoolMode, ReLU, Sequential, SpatialPyramidPool};
use ferrite_sdk::{DType, Host, Result, Tensor};
use std::sync::Arc;

/// The SPP-net model: features, pyramid, classifier.
pub struct SppNet {
    host: Host,
    config: SppNetConfig,
    net: Sequential,
    /// `checkpoint = true`: the conv blocks (sharing `net`'s parameters), and the index in
    /// `net` of the first layer after them.
    blocks: Option<(Vec<Arc<ConvBlock>>, usize)>,
}

/// `conv → ReLU [→ maxpool 2×2]`, run under activation checkpointing. Its conv is a shallow
/// clone of the model's (the same parameter tensors).
struct ConvBlock {
    conv: Conv2d,
    pool: Option<MaxPool2d>,
}

impl ConvBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.conv.forward(x)?.relu()?;
        match &self.pool {
            Some(p) => p.forward(&y),
            None => Ok(y),
        }
    }
}

impl SppNet {
    /// Builds the network with freshly initialised f32 parameters (PyTorch's default init).
    pub fn new(host: Host, config: SppNetConfig) -> Result<SppNet> {
        let conv = |cin, cout| Conv2d::new(&host, cin, cout, [3, 3], Conv2dConfig { padding: [1, 1], ..Default::default() }, DType::F32);
        let mut net = Sequential::new();
        let conv0 = conv(config.in_channels, config.channels[0])?;
        let conv1 = conv(config.channels[0], config.channels[1])?;
        let blocks = config.checkpoint.then(|| {
            let b0 = ConvBlock { conv: conv0.clone(), pool: Some(MaxPool2d::new([2, 2])) };
            let b1 = ConvBlock { conv: conv1.clone(), pool: None };
            // conv, ReLU, pool, conv, ReLU: the SPP layer is next (no batch norm here).
            (vec![Arc::new(b0), Arc::new(b1)], 5)
        });
        net.push(conv0);
        if config.batch_norm {
            net.push(BatchNorm2d::new(&host, config.channels[0], DType::F32)?);
        }
        net.push(ReLU::new());
        net.push(MaxPool2d::new([2, 2]));
        net.push(conv1);
        if config.batch_norm {
            net.push(BatchNorm2d::new(&host, config.channels[1], DType::F32)?);
        }
        net.push(ReLU::new());
        let mode = if config.pool_mode == "avg" { PoolMode::Avg } else { PoolMode::Max };
        net.push(SpatialPyramidPool::new(&config.levels, mode)?);
        let mut features = config.spp_features();
        if config.hidden > 0 {
            net.push(Linear::new(&host, features, config.hidden, true, DType::F32)?);
            net.push(ReLU::new());
            features = config.hidden;
        }
        if config.dropout > 0.0 {
            net.push(Dropout::new(config.dropout)?);
        }
        net.push(Linear::new(&host, features, config.num_classes, true, DType::F32)?);
        Ok(SppNet { host, config, net, blocks })
    }

    /// Logits `[N, num_classes]` for images `[N, C, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        if s.len() != 4 || s[1] != self.config.in_channels {
            ferrite_sdk::bail!("models.spp_net: expected input [N, {}, H, W], got {s:?}", self.config.in_channels);
        }
        if s[2] < 2 || s[3] < 2 {
            ferrite_sdk::bail!("models.spp_net: input {}x{} is too small: the 2x2 max pooling needs at least 2x2", s[2], s[3]);
        }
        let Some((blocks, head)) = &self.blocks else { return self.net.forward(x) };
        let mut y = x.clone();
        for b in blocks {
            let b = b.clone();
            y = checkpoint(move |xs| Ok(vec![b.forward(&xs[0])?]), &[y])?.remove(0);
        }
        for i in *head..self.net.len() {
            let Some(layer) = self.net.get(i) else { break };
            y = layer.forward(&y)?;
        }
        Ok(y)
    }

    /// The sdk module (for parameters, state dicts, train/eval).
    pub fn module(&mut self) -> &mut Sequential {
        &mut self.net
    }
}

fn named(v: Vec<(String, Tensor)>) -> RVec<NamedTensor> {
    NamedTensor::list_into_abi(v)
}

impl ModelObj for SppNet {
    fn forward(&mut self, input: TensorHandle) -> RResult<TensorHandle, RString> {
        // SAFETY: the host passes a live borrowed handle.
        let x = unsafe { Tensor::from_borrowed(self.host.api(), input) };
        match SppNet::forward(self, &x) {
            Ok(y) => RResult::ROk(y.into_raw()),
            Err(e) => RResult::RErr(e.to_string().into()),
        }
    }
    fn named_parameters(&self) -> RVec<NamedTensor> {
        named(self.net.named_parameters())
    }
    fn named_buffers(&self) -> RVec<NamedTensor> {
        named(self.net.named_buffers())
    }
    fn set_training(&mut self, training: bool) {
        self.net.train(training)
    }
    fn config(&self) -> RString {
        toml::to_string(&self.config).unwrap_or_default().into()
    }
}

extern "C" fn create(host: *const HostApi, config: RStr<'_>) -> RResult<ModelBox, RString> {
    let run = || -> std::result::Result<ModelBox, String> {
        let cfg = SppNetConfig::parse(config.as_str())?;
        // SAFETY: the core passes its static host table.
        let host = unsafe { Host::from_raw(host) };
        let model = SppNet::new(host, cfg).map_err(|e| e.to_string())?;
        Ok(ModelObj_TO::from_value(model, abi_stable::sabi_trait::TD_Opaque))
    };
    // A panic must not cross the C ABI.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(m)) => RResult::ROk(m),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(_) => RResult::RErr("panicked while building the model".into()),
    }
}

#[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::MODELS)]
#[linkme(crate = ferrite_sdk::linkme)]
static SPP_NET: ModelDesc = ModelDesc {
    name: RStr::from_str("models.spp_net"),
    version: 1,
    doc: RStr::from_str("Small CNN with spatial pyramid pooling (He et al. 2014); any input size"),
    create,
};

ferrite_sdk::export_plugin!(name: "model-spp-net", version: env!("CARGO_PKG_VERSION"));
