//! The `comm.mpi` TOML configuration.

use serde::Deserialize;

/// Default bound on one collective, in milliseconds (the core's `DEFAULT_TIMEOUT`).
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// Keys of the backend config; unknown keys are errors (`deny_unknown_fields`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpiConfig {
    /// How long one collective may take before it fails as "peer dead or stuck", in ms (> 0).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Optional expectation: the number of processes mpirun started. MPI decides the world
    /// size; this only turns a wrong `-np` into an error instead of a silently smaller job.
    #[serde(default)]
    pub world_size: Option<u32>,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl MpiConfig {
    /// Parses and validates a TOML config (an empty string gives the defaults).
    ///
    /// # Errors
    /// Invalid TOML, an unknown key, a wrong type, `timeout_ms = 0`, `world_size = 0`.
    pub fn parse(toml_text: &str) -> Result<MpiConfig, String> {
        let c: MpiConfig = toml::from_str(toml_text).map_err(|e| format!("bad config: {}", e.message()))?;
        if c.timeout_ms == 0 {
            return Err("bad config: timeout_ms must be > 0".into());
        }
        if c.world_size == Some(0) {
            return Err("bad config: world_size must be > 0".into());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_keys() {
        assert_eq!(MpiConfig::parse("").unwrap(), MpiConfig { timeout_ms: 60_000, world_size: None });
        assert_eq!(MpiConfig::parse("timeout_ms = 5000\nworld_size = 2").unwrap(), MpiConfig { timeout_ms: 5000, world_size: Some(2) });
    }

    #[test]
    fn rejects_bad_configs() {
        let e = MpiConfig::parse("timeout = 5").unwrap_err();
        assert!(e.contains("unknown field `timeout`"), "{e}");
        assert!(MpiConfig::parse("timeout_ms = 0").unwrap_err().contains("timeout_ms must be > 0"));
        assert!(MpiConfig::parse("timeout_ms = \"x\"").is_err());
        assert!(MpiConfig::parse("world_size = 0").unwrap_err().contains("world_size"));
    }
}
