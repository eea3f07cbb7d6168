//! The model's TOML configuration.

use serde::{Deserialize, Serialize};

/// Configuration of [`crate::SppNet`]; every key is optional.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SppNetConfig {
    /// Input channels `C` of `[N, C, H, W]`.
    pub in_channels: usize,
    /// Output classes.
    pub num_classes: usize,
    /// Output channels of the two 3×3 convolutions (padding 1).
    pub channels: [usize; 2],
    /// Pyramid levels; each level `l` pools to `l×l` bins.
    pub levels: Vec<usize>,
    /// `"max"` or `"avg"` pyramid pooling.
    pub pool_mode: String,
    /// Width of a hidden fully connected layer before the classifier (0: none).
    pub hidden: usize,
    /// Dropout before the classifier (0: none).
    pub dropout: f64,
    /// Batch normalisation after each convolution.
    pub batch_norm: bool,
    /// Activation checkpointing of the two conv blocks (`torch.utils.checkpoint`): only each
    /// block's input is kept for backward, the block is recomputed there (not with
    /// `batch_norm`, whose running statistics the recompute would update twice).
    pub checkpoint: bool,
}

impl Default for SppNetConfig {
    fn default() -> Self {
        SppNetConfig {
            in_channels: 1,
            num_classes: 10,
            channels: [16, 32],
            levels: vec![1, 2, 4],
            pool_mode: "max".into(),
            hidden: 0,
            dropout: 0.0,
            batch_norm: false,
            checkpoint: false,
        }
    }
}

impl SppNetConfig {
    /// Parses TOML (empty = defaults) and validates it; errors are one line.
    pub fn parse(text: &str) -> Result<SppNetConfig, String> {
        let cfg: SppNetConfig = toml::from_str(text).map_err(|e| format!("bad model config: {}", e.message()))?;
        if cfg.in_channels == 0 || cfg.num_classes == 0 || cfg.channels.contains(&0) {
            return Err("bad model config: in_channels, num_classes and channels must be positive".into());
        }
        if cfg.levels.is_empty() || cfg.levels.contains(&0) {
            return Err("bad model config: levels must be a non-empty list of positive integers".into());
        }
        // Bounds that keep every tensor of the model addressable; far beyond any useful value.
        let too_big = |what: &str, v: usize, max: usize| Err(format!("bad model config: {what} = {v} exceeds the limit {max}"));
        for (what, v, max) in [
            ("in_channels", cfg.in_channels, 1 << 16),
            ("num_classes", cfg.num_classes, 1 << 20),
            ("channels[0]", cfg.channels[0], 1 << 16),
            ("channels[1]", cfg.channels[1], 1 << 16),
            ("hidden", cfg.hidden, 1 << 16),
        ] {
            if v > max {
                return too_big(what, v, max);
            }
        }
        if let Some(&l) = cfg.levels.iter().find(|&&l| l > 64) {
            return too_big("a pyramid level", l, 64);
        }
        if cfg.pool_mode != "max" && cfg.pool_mode != "avg" {
            return Err(format!("bad model config: pool_mode must be \"max\" or \"avg\", got {:?}", cfg.pool_mode));
        }
        if !(0.0..1.0).contains(&cfg.dropout) {
            return Err(format!("bad model config: dropout must be in [0, 1), got {}", cfg.dropout));
        }
        if cfg.checkpoint && cfg.batch_norm {
            return Err("bad model config: checkpoint = true cannot be combined with batch_norm = true (the recompute would update the running statistics twice)".into());
        }
        Ok(cfg)
    }

    /// Features after the pyramid: `channels[1] · Σ l²`.
    pub fn spp_features(&self) -> usize {
        self.channels[1] * self.levels.iter().map(|l| l * l).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = SppNetConfig::parse("").unwrap();
        assert_eq!(c, SppNetConfig::default());
        assert_eq!(c.spp_features(), 32 * 21);
        assert!(SppNetConfig::parse("levels = []").is_err());
        assert!(SppNetConfig::parse("pool_mode = \"min\"").is_err());
        assert!(SppNetConfig::parse("colour = 3").unwrap_err().contains("unknown field"));
        assert!(SppNetConfig::parse("num_classes = 1000000000000").unwrap_err().contains("num_classes"));
        assert!(SppNetConfig::parse("levels = [4294967296]").unwrap_err().contains("level"));
        assert!(SppNetConfig::parse("channels = [1, 4611686018427387904]").unwrap_err().contains("channels[1]"));
        let c = SppNetConfig::parse("hidden = 64\ndropout = 0.25").unwrap();
        assert_eq!((c.hidden, c.dropout), (64, 0.25));
    }
}
