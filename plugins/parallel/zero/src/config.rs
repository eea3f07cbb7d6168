//! The `parallel.zero` TOML config.

use ferrite_sdk::optim::OptimizerSpec;
use serde::{Deserialize, Serialize};

/// Settings of one ZeRO instance.
///
/// ```toml
/// stage = 2            # 1: optimizer state sharded; 2: + gradients; 3: + parameters
/// [optimizer]
/// kind = "adamw"
/// lr = 0.001
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroConfig {
    /// ZeRO stage: 1 (P_os), 2 (P_os+g) or 3 (P_os+g+p) in the paper's notation.
    pub stage: u32,
    /// The optimizer, run on this rank's fp32 shard.
    pub optimizer: OptimizerSpec,
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
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_refuse() {
        let c = ZeroConfig::parse("stage = 3\n[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap();
        assert_eq!(c.stage, 3);
        assert!(ZeroConfig::parse("stage = 4\n[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap_err().contains("stage"));
        assert!(ZeroConfig::parse("[optimizer]\nkind = \"sgd\"\nlr = 0.1").unwrap_err().contains("stage"));
    }
}
