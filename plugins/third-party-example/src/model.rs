//! `models.contrib_mlp`: `Flatten → Linear(in_features, hidden) → contrib::swish →
//! Linear(hidden, num_classes)`. The swish is this plugin's own op, called through the host
//! table with `ferrite_sdk::call1!`, so the core's autograd records it (and runs its backward)
//! like any built-in op. Config (TOML, all optional): `in_features` (64: 8×8 single-channel
//! images), `hidden` (32), `num_classes` (10).

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString, RVec};
use ferrite_sdk::abi::host::{HostApi, TensorHandle};
use ferrite_sdk::abi::plugin::{ModelBox, ModelDesc, ModelObj, ModelObj_TO, NamedTensor};
use ferrite_sdk::nn::{Flatten, Linear, Module, Sequential};
use ferrite_sdk::{DType, Host, Tensor};

/// Exported name of the model factory.
pub const NAME: &str = "models.contrib_mlp";

/// The model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlpConfig {
    /// Features per sample after flattening.
    pub in_features: usize,
    /// Width of the hidden layer.
    pub hidden: usize,
    /// Number of output logits.
    pub num_classes: usize,
}

impl MlpConfig {
    /// Parses `key = integer` lines (a small TOML subset, so the crate needs no TOML parser).
    ///
    /// # Errors
    /// Unknown keys, non-integer or zero values, with one-line messages.
    pub fn parse(text: &str) -> Result<MlpConfig, String> {
        let mut c = MlpConfig { in_features: 64, hidden: 32, num_classes: 10 };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (k, v) = line.split_once('=').ok_or_else(|| format!("expected `key = value`, got `{line}`"))?;
            let (k, v) = (k.trim(), v.trim());
            let n: usize = v.parse().map_err(|_| format!("`{k}` must be a positive integer, got `{v}`"))?;
            if n == 0 {
                return Err(format!("`{k}` must be positive"));
            }
            match k {
                "in_features" => c.in_features = n,
                "hidden" => c.hidden = n,
                "num_classes" => c.num_classes = n,
                _ => return Err(format!("unknown key `{k}` (expected in_features, hidden, num_classes)")),
            }
        }
        Ok(c)
    }

    fn to_toml(&self) -> String {
        format!("in_features = {}\nhidden = {}\nnum_classes = {}\n", self.in_features, self.hidden, self.num_classes)
    }
}

/// `contrib::swish` as an `nn` module.
pub struct Swish {
    training: bool,
}

impl Module for Swish {
    fn forward(&self, x: &Tensor) -> ferrite_sdk::Result<Tensor> {
        ferrite_sdk::call1!("contrib::swish", [Some(x)], [])
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    fn train(&mut self, mode: bool) {
        self.training = mode;
    }
    fn is_training(&self) -> bool {
        self.training
    }
}

/// The MLP: the config, the host it was built with and its layers.
pub struct Mlp {
    host: Host,
    config: MlpConfig,
    net: Sequential,
}

impl Mlp {
    /// Builds the network with freshly initialised f32 parameters.
    ///
    /// # Errors
    /// Whatever the host reports while creating parameters.
    pub fn new(host: Host, config: MlpConfig) -> ferrite_sdk::Result<Mlp> {
        let mut net = Sequential::new();
        net.push(Flatten::new());
        net.push(Linear::new(&host, config.in_features, config.hidden, true, DType::F32)?);
        net.push(Swish { training: true });
        net.push(Linear::new(&host, config.hidden, config.num_classes, true, DType::F32)?);
        Ok(Mlp { host, config, net })
    }
}

fn named(v: Vec<(String, Tensor)>) -> RVec<NamedTensor> {
    v.into_iter().map(|(n, t)| NamedTensor { name: n.into(), tensor: t.into_raw() }).collect()
}

impl ModelObj for Mlp {
    fn forward(&mut self, input: TensorHandle) -> RResult<TensorHandle, RString> {
        // SAFETY: the host passes a live borrowed handle.
        let x = unsafe { Tensor::from_borrowed(self.host.api(), input) };
        match self.net.forward(&x) {
            Ok(y) => RResult::ROk(y.into_raw()),
            Err(e) => RResult::RErr(format!("{NAME}: {e}").into()),
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
        self.config.to_toml().into()
    }
}

/// The factory registered under [`NAME`]; `config` is TOML (see [`MlpConfig`]).
extern "C" fn create(host: *const HostApi, config: RStr<'_>) -> RResult<ModelBox, RString> {
    let run = || -> Result<ModelBox, String> {
        if host.is_null() {
            return Err("null host table".into());
        }
        let cfg = MlpConfig::parse(config.as_str())?;
        // SAFETY: the core passes its static host table.
        let host = unsafe { Host::from_raw(host) };
        let model = Mlp::new(host, cfg).map_err(|e| e.to_string())?;
        Ok(ModelObj_TO::from_value(model, TD_Opaque))
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
static MODEL: ModelDesc = ModelDesc {
    name: RStr::from_str(NAME),
    version: 1,
    doc: RStr::from_str("MLP with the contrib::swish activation (third-party example); config: in_features, hidden, num_classes"),
    create,
};


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_overrides_and_errors() {
        assert_eq!(MlpConfig::parse("").unwrap(), MlpConfig { in_features: 64, hidden: 32, num_classes: 10 });
        let c = MlpConfig::parse("hidden = 8\n# comment\nin_features = 256").unwrap();
        assert_eq!((c.in_features, c.hidden), (256, 8));
        assert_eq!(MlpConfig::parse(&c.to_toml()).unwrap(), c);
        assert!(MlpConfig::parse("bogus = 1").unwrap_err().contains("bogus"));
        assert!(MlpConfig::parse("hidden = 0").unwrap_err().contains("positive"));
    }

    #[test]
    fn registered_and_rejects_a_null_host() {
        assert!(ferrite_sdk::register::MODELS.iter().any(|m| m.name.as_str() == NAME));
        assert!(create(std::ptr::null(), RStr::from_str("")).err().unwrap().as_str().contains("null host"));
    }
}
