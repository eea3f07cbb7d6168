//! The `parallel.ddp` TOML config (PyTorch `DistributedDataParallel` constructor arguments).

use ferrite_sdk::optim::OptimizerSpec;
use serde::{Deserialize, Serialize};

/// Settings of one DDP instance.
///
/// ```toml
/// bucket_cap_mb = 25            # gradient bucket size, MiB
/// find_unused_parameters = false
/// broadcast_buffers = true      # rank 0's buffers before every forward
/// [optimizer]
/// kind = "adamw"
/// lr = 0.001
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DdpConfig {
    /// Bucket capacity in MiB (PyTorch's `bucket_cap_mb`, default 25): gradients are averaged
    /// one bucket at a time, each as soon as all its gradients exist.
    #[serde(default = "default_cap")]
    pub bucket_cap_mb: f64,
    /// Tolerate parameters that get no gradient in a backward pass (their bucket is completed
    /// with zeros; parameters unused on every rank keep `.grad = None`). Without it such a
    /// parameter is an error naming it, as in PyTorch.
    #[serde(default)]
    pub find_unused_parameters: bool,
    /// Broadcast rank 0's buffers (e.g. BatchNorm running statistics) before every forward.
    #[serde(default = "yes")]
    pub broadcast_buffers: bool,
    /// The optimizer every rank runs on the averaged gradients.
    pub optimizer: OptimizerSpec,
}

fn default_cap() -> f64 {
    25.0
}
fn yes() -> bool {
    true
}

impl DdpConfig {
    /// Parses and validates a TOML config.
    ///
    /// # Errors
    /// A one-line message for bad TOML, unknown keys or a non-positive bucket size.
    pub fn parse(toml_text: &str) -> Result<DdpConfig, String> {
        let c: DdpConfig = toml::from_str(toml_text).map_err(|e| format!("bad parallel.ddp config: {}", e.message()))?;
        if !(c.bucket_cap_mb > 0.0 && c.bucket_cap_mb.is_finite()) {
            return Err(format!("bad parallel.ddp config: bucket_cap_mb must be > 0, got {}", c.bucket_cap_mb));
        }
        Ok(c)
    }

    /// Bucket capacity in bytes.
    pub fn bucket_cap_bytes(&self) -> usize {
        (self.bucket_cap_mb * 1024.0 * 1024.0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let c = DdpConfig::parse("[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap();
        assert_eq!((c.bucket_cap_mb, c.find_unused_parameters, c.broadcast_buffers), (25.0, false, true));
        assert_eq!(c.bucket_cap_bytes(), 25 << 20);
        assert!(DdpConfig::parse("bucket_cap_mb = 0\n[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap_err().contains("bucket_cap_mb"));
        assert!(DdpConfig::parse("bucket = 1\n[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap_err().contains("unknown field"));
        assert!(DdpConfig::parse("").unwrap_err().contains("optimizer"));
    }
}
