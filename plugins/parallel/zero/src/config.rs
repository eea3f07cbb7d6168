//! The `parallel.zero` TOML config.

use ferrite_sdk::optim::OptimizerSpec;
use serde::{Deserialize, Serialize};

/// Settings of one ZeRO instance.
///
/// ```toml
/// stage = 2            # 1: optimizer state sharded; 2: + gradients; 3: + parameters
/// live_modules = 2     # stage 3: modules kept gathered at once (default 2)
/// [optimizer]
/// kind = "adamw"
/// lr = 0.001
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroConfig {
    /// ZeRO stage: 1 (P_os), 2 (P_os+g) or 3 (P_os+g+p) in the paper's notation.
    pub stage: u32,
    /// Stage 3: how many modules may hold gathered parameters at once during forward and
    /// backward (DeepSpeed's `stage3_max_live_parameters`, counted in modules; at least 1).
    #[serde(default = "default_live_modules")]
    pub live_modules: usize,
    /// The optimizer, run on this rank's fp32 shard.
    pub optimizer: OptimizerSpec,
}

fn default_live_modules() -> usize {
    2
}

impl ZeroConfig {
    /// Parses and validates a TOML config.
    ///
    /// # Errors
    /// One line for bad TOML, unknown keys, or a stage outside 1..=3.
    pub fn parse(text: &str) -> Result<ZeroConfig, String> {
        let c: ZeroConfig = toml::from_str(text).map_err(|e| format!("bad parallel.zero config: {}", e.message()))?;
        if !(1..=3).contains(&c.stage) {
            return Err(format!("bad parallel.zero config: stage must be 1, 2 or 3, got {}", c.stage));
        }
        if c.live_modules == 0 {
            return Err("bad parallel.zero config: live_modules must be at least 1".into());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_refuse() {
        let c = ZeroConfig::parse("stage = 3\n[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap();
        assert_eq!((c.stage, c.live_modules), (3, 2));
        assert!(ZeroConfig::parse("stage = 3\nlive_modules = 0\n[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap_err().contains("live_modules"));
        assert!(ZeroConfig::parse("stage = 4\n[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap_err().contains("stage"));
        assert!(ZeroConfig::parse("[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap_err().contains("stage"));
    }
}
