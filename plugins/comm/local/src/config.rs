//! The `comm.local` TOML config.

use serde::Deserialize;

/// Default receive timeout (30 s, the order of Gloo's per-operation timeouts on one machine).
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Largest accepted world size: every rank is a thread of this process, so more ranks than
/// this is a typo, not a plan.
pub const MAX_WORLD_SIZE: u32 = 1024;

/// `comm.local` config, e.g. `world_size = 4` or `world_size = 2\ntimeout_ms = 500`.
///
/// Unknown keys are errors (a misspelled `timeout_ms` must not silently keep the default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Number of ranks (threads), `1..=1024`; required.
    pub world_size: u32,
    /// How long one receive waits for the previous rank of the ring, in milliseconds (>= 1).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl LocalConfig {
    /// Parses and validates a TOML config.
    ///
    /// # Errors
    /// One line: invalid TOML, a missing `world_size`, an unknown key, `world_size` outside
    /// `1..=1024`, `timeout_ms = 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_comm_local::config::LocalConfig;
    /// let c = LocalConfig::parse("world_size = 4").unwrap();
    /// assert_eq!((c.world_size, c.timeout_ms), (4, 30_000));
    /// assert!(LocalConfig::parse("world_size = 0").is_err());
    /// assert!(LocalConfig::parse("world_size = 2\ntimeout = 5").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<LocalConfig, String> {
        let cfg: LocalConfig =
            toml::from_str(text).map_err(|e| {
            // toml's messages may span lines ("invalid array\nexpected `]`"): keep one line.
            let msg: Vec<&str> = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            format!("comm.local config: {}", msg.join(": "))
        })?;
        if cfg.world_size == 0 || cfg.world_size > MAX_WORLD_SIZE {
            return Err(format!("comm.local config: world_size must be in 1..={MAX_WORLD_SIZE}, got {}", cfg.world_size));
        }
        if cfg.timeout_ms == 0 {
            return Err("comm.local config: timeout_ms must be at least 1".into());
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_explicit_timeout() {
        assert_eq!(LocalConfig::parse("world_size = 3").unwrap(), LocalConfig { world_size: 3, timeout_ms: 30_000 });
        assert_eq!(LocalConfig::parse("world_size = 1\ntimeout_ms = 200").unwrap().timeout_ms, 200);
    }

    #[test]
    fn bad_configs_are_one_line_errors() {
        for (text, needle) in [
            ("", "world_size"),
            ("world_size = 0", "1..=1024"),
            ("world_size = 5000", "1..=1024"),
            ("world_size = -1", "comm.local config"),
            ("world_size = 2\ntimeout_ms = 0", "at least 1"),
            ("world_size = 2\ntimeout = 10", "timeout"),
            ("world_size = [", "comm.local config"),
            ("world_size = \"four\"", "comm.local config"),
        ] {
            let e = LocalConfig::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{text:?}: multi-line error {e:?}");
        }
    }
}
