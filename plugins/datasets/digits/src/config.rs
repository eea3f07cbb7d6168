//! The `datasets.digits` configuration (TOML), with defaults and validation.

use serde::Deserialize;

/// Largest accepted `size`: a guard against typos (a batch of 256 samples at 512×512 is already 256 MiB of f32).
pub const MAX_SIZE: u32 = 512;

/// Configuration of `datasets.digits`. Every key is optional; unknown keys are errors.
///
/// ```toml
/// size = 16            # input side in pixels (8 = native; others = bilinear resize)
/// test_fraction = 0.2  # per-class fraction held out for the test split
/// seed = 0             # seed of the stratified split
/// normalize = true     # pixel/16, then (x - mean) / std with the train split's statistics
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigitsConfig {
    /// Side of the square input in pixels, `1..=MAX_SIZE`. 8 is the native resolution; any other
    /// value resizes the 8×8 image with bilinear interpolation (`align_corners=false`, as
    /// PyTorch's `F.interpolate(mode="bilinear")`).
    pub size: u32,
    /// Fraction of each class held out for the test split, in `[0, 1)`; the per-class count is
    /// `round(test_fraction * class_count)`.
    pub test_fraction: f64,
    /// Seed of the stratified split (same seed, same split).
    pub seed: u64,
    /// If true, pixels are scaled to `[0, 1]` (divided by 16) and then standardised with the
    /// mean and standard deviation of the train split (at the configured size). If false,
    /// inputs are the raw pixel values 0..=16 as f32.
    pub normalize: bool,
}

impl Default for DigitsConfig {
    fn default() -> Self {
        DigitsConfig { size: 8, test_fraction: 0.2, seed: 0, normalize: true }
    }
}

impl DigitsConfig {
    /// Parses and validates a TOML string (empty means all defaults).
    ///
    /// # Errors
    /// A one-line message for malformed TOML, unknown keys, wrong types or out-of-range values.
    pub fn parse(toml_text: &str) -> Result<DigitsConfig, String> {
        let cfg: DigitsConfig = toml::from_str(toml_text).map_err(|e| format!("config: {}", one_line(e.message())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks value ranges.
    ///
    /// # Errors
    /// A one-line message naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.size == 0 || self.size > MAX_SIZE {
            return Err(format!("config: size must be in 1..={MAX_SIZE}, got {}", self.size));
        }
        if !self.test_fraction.is_finite() || !(0.0..1.0).contains(&self.test_fraction) {
            return Err(format!("config: test_fraction must be in [0, 1), got {}", self.test_fraction));
        }
        Ok(())
    }

    /// The configuration as TOML (for reports and run records).
    pub fn to_toml(&self) -> String {
        format!(
            "size = {}\ntest_fraction = {}\nseed = {}\nnormalize = {}\n",
            self.size, self.test_fraction, self.seed, self.normalize
        )
    }
}

/// Collapses whitespace (including newlines) so that an error fits on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_gives_defaults() {
        assert_eq!(DigitsConfig::parse("").unwrap(), DigitsConfig::default());
        assert_eq!(DigitsConfig::parse("  \n# comment\n").unwrap().size, 8);
    }

    #[test]
    fn all_keys_parse() {
        let c = DigitsConfig::parse("size = 16\ntest_fraction = 0.25\nseed = 7\nnormalize = false").unwrap();
        assert_eq!(c, DigitsConfig { size: 16, test_fraction: 0.25, seed: 7, normalize: false });
        assert_eq!(DigitsConfig::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn unknown_key_is_a_one_line_error() {
        let e = DigitsConfig::parse("sise = 16").unwrap_err();
        assert!(e.contains("sise"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn bad_values_are_rejected() {
        for bad in [
            "size = 0",
            "size = -3",
            "size = 100000",
            "size = \"big\"",
            "test_fraction = 1.0",
            "test_fraction = -0.1",
            "test_fraction = nan",
            "normalize = 1",
            "seed = -1",
            "size = ",
        ] {
            let e = DigitsConfig::parse(bad).expect_err(bad);
            assert!(e.starts_with("config: "), "{bad}: {e}");
            assert!(!e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn any_positive_size_is_accepted() {
        for s in [1, 3, 8, 12, 16, 32, 224] {
            assert_eq!(DigitsConfig::parse(&format!("size = {s}")).unwrap().size, s);
        }
    }
}
