//! The dataset itself, independent of the ABI: split, preprocessing and batching.

use crate::config::DigitsConfig;
use crate::csv::{load_embedded, RawDigits, MAX_PIXEL, NUM_CLASSES, PIXELS, SIDE};
use crate::resize::resize_bilinear;
use crate::split::{stratified_split, Split};
use crate::stats::resized_mean_std;
use ferrite_sdk::abi::plugin::split as split_id;

/// Where the data comes from, for [`Digits::describe`].
pub const SOURCE: &str = "UCI optical recognition of handwritten digits (Alpaydin & Kaynak 1998, \
                          UCI ML Repository, CC BY 4.0, via scikit-learn)";

/// The prepared data set: the stratified split and the preprocessing of one configuration.
/// Samples are resized and normalised on demand in [`Digits::batch`], so any `size` costs no
/// more memory than the raw 8×8 images.
#[derive(Clone, Debug)]
pub struct Digits {
    config: DigitsConfig,
    /// Images as f64, row-major 8×8: pixel/16 if normalising, raw 0..=16 otherwise.
    images: Vec<[f64; PIXELS]>,
    labels: Vec<u8>,
    split: Split,
    /// `(x - mean) / std` is applied after resizing; `(0, 1)` when not normalising.
    mean: f64,
    std: f64,
}

impl Digits {
    /// Loads the embedded file and prepares it for `config`.
    ///
    /// # Errors
    /// One-line messages for a corrupt embedded file or an unusable configuration.
    pub fn new(config: DigitsConfig) -> Result<Digits, String> {
        Digits::from_raw(load_embedded()?, config)
    }

    /// Prepares already-parsed samples for `config` (validated again here).
    ///
    /// # Errors
    /// If the configuration is invalid, or the split leaves the train split empty.
    pub fn from_raw(raw: RawDigits, config: DigitsConfig) -> Result<Digits, String> {
        config.validate()?;
        if raw.pixels.len() != raw.labels.len() {
            return Err(format!("{} images but {} labels", raw.pixels.len(), raw.labels.len()));
        }
        let split = stratified_split(&raw.labels, config.test_fraction, config.seed);
        if split.train.is_empty() {
            return Err("the train split is empty; lower test_fraction".to_string());
        }
        let scale = if config.normalize { 1.0 / MAX_PIXEL as f64 } else { 1.0 };
        let images: Vec<[f64; PIXELS]> = raw.pixels.iter().map(|p| p.map(|v| v as f64 * scale)).collect();
        let (mean, std) = if config.normalize {
            let (m, s) = resized_mean_std(split.train.iter().map(|&i| &images[i][..]), SIDE, config.size as usize);
            if s.is_nan() || s <= 1e-12 {
                return Err("train pixels have zero variance; cannot normalise".to_string());
            }
            (m, s)
        } else {
            (0.0, 1.0)
        };
        Ok(Digits { config, images, labels: raw.labels, split, mean, std })
    }

    /// The configuration in force.
    pub fn config(&self) -> &DigitsConfig {
        &self.config
    }

    /// Indices into the full data set of a split ([`split_id::TRAIN`] or [`split_id::TEST`]),
    /// ascending; `None` for an unknown split id.
    pub fn split_indices(&self, split: u32) -> Option<&[usize]> {
        match split {
            split_id::TRAIN => Some(&self.split.train),
            split_id::TEST => Some(&self.split.test),
            _ => None,
        }
    }

    /// Number of samples in a split (0 for an unknown split id).
    pub fn len(&self, split: u32) -> usize {
        self.split_indices(split).map_or(0, |s| s.len())
    }

    /// True if the split has no samples (or the id is unknown).
    pub fn is_empty(&self, split: u32) -> bool {
        self.len(split) == 0
    }

    /// Labels 0..=9 of a split in sample order (empty for an unknown split id).
    pub fn labels(&self, split: u32) -> Vec<i64> {
        self.split_indices(split).map_or_else(Vec::new, |s| s.iter().map(|&i| self.labels[i] as i64).collect())
    }

    /// Number of classes: 10.
    pub fn num_classes(&self) -> u32 {
        NUM_CLASSES as u32
    }

    /// Shape of one sample: `[1, size, size]` (channels, height, width).
    pub fn sample_shape(&self) -> [usize; 3] {
        let s = self.config.size as usize;
        [1, s, s]
    }

    /// Normalisation statistics `(mean, std)` of the train split at the configured size, on the
    /// `[0, 1]` pixel scale; `(0, 1)` when `normalize = false`.
    pub fn mean_std(&self) -> (f64, f64) {
        (self.mean, self.std)
    }

    /// A batch for the given positions within a split: inputs, row-major `[B, 1, size, size]`
    /// f32 (resized, then normalised), and targets `[B]` as i64 labels 0..=9.
    ///
    /// # Errors
    /// An unknown split id or a position `>= len(split)`.
    pub fn batch(&self, split: u32, positions: &[u64]) -> Result<(Vec<f32>, Vec<i64>), String> {
        let idx = self
            .split_indices(split)
            .ok_or_else(|| format!("datasets.digits: unknown split {split} (0 = train, 1 = test)"))?;
        let side = self.config.size as usize;
        let mut inputs = Vec::with_capacity(positions.len() * side * side);
        let mut targets = Vec::with_capacity(positions.len());
        for &p in positions {
            let &i = usize::try_from(p).ok().and_then(|p| idx.get(p)).ok_or_else(|| {
                format!(
                    "datasets.digits: index {p} out of range for the {} split ({} samples)",
                    split_name(split),
                    idx.len()
                )
            })?;
            let img = &self.images[i];
            let pixels = if side == SIDE { img.to_vec() } else { resize_bilinear(img, SIDE, SIDE, side, side) };
            inputs.extend(pixels.iter().map(|&v| ((v - self.mean) / self.std) as f32));
            targets.push(self.labels[i] as i64);
        }
        Ok((inputs, targets))
    }

    /// One line: source, licence, sizes, split and preprocessing.
    pub fn describe(&self) -> String {
        let s = self.config.size;
        let pre = if self.config.normalize {
            format!("pixel/16 standardised with train mean {:.4} std {:.4}", self.mean, self.std)
        } else {
            "raw pixels 0..16".to_string()
        };
        format!(
            "datasets.digits: {SOURCE}; {} images 8x8 -> [1, {s}, {s}], {NUM_CLASSES} classes; \
             stratified split seed {}: train {} / test {}; {pre}",
            self.images.len(),
            self.config.seed,
            self.split.train.len(),
            self.split.test.len(),
        )
    }
}

/// Human name of a split id.
fn split_name(split: u32) -> &'static str {
    match split {
        split_id::TRAIN => "train",
        split_id::TEST => "test",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(toml: &str) -> Digits {
        Digits::new(DigitsConfig::parse(toml).unwrap()).unwrap()
    }

    #[test]
    fn default_split_sizes_and_shapes() {
        let d = digits("");
        assert_eq!(d.len(split_id::TRAIN), 1438);
        assert_eq!(d.len(split_id::TEST), 359);
        assert_eq!(d.len(7), 0);
        assert_eq!(d.num_classes(), 10);
        assert_eq!(d.sample_shape(), [1, 8, 8]);
        assert_eq!(d.labels(split_id::TEST).len(), 359);
        assert!(d.labels(split_id::TRAIN).iter().all(|&l| (0..10).contains(&l)));
        let line = d.describe();
        assert!(!line.contains('\n') && line.contains("CC BY 4.0") && line.contains("train 1438 / test 359"), "{line}");
    }

    #[test]
    fn normalised_train_split_has_zero_mean_unit_std() {
        for size in [8u32, 16, 5] {
            let d = digits(&format!("size = {size}"));
            let all: Vec<u64> = (0..d.len(split_id::TRAIN) as u64).collect();
            let (x, y) = d.batch(split_id::TRAIN, &all).unwrap();
            assert_eq!(x.len(), all.len() * (size * size) as usize);
            assert_eq!(y.len(), all.len());
            let n = x.len() as f64;
            let m = x.iter().map(|&v| v as f64).sum::<f64>() / n;
            let v = x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n;
            assert!(m.abs() < 1e-5 && (v.sqrt() - 1.0).abs() < 1e-5, "size {size}: mean {m} std {}", v.sqrt());
        }
    }

    #[test]
    fn raw_pixels_when_not_normalising() {
        let d = digits("normalize = false");
        let (x, y) = d.batch(split_id::TRAIN, &[0]).unwrap();
        let i = d.split_indices(split_id::TRAIN).unwrap()[0];
        let raw = load_embedded().unwrap();
        assert_eq!(x, raw.pixels[i].iter().map(|&v| v as f32).collect::<Vec<_>>());
        assert_eq!(y, vec![raw.labels[i] as i64]);
    }

    #[test]
    fn upsampled_batch_is_bilinear_of_the_8x8() {
        let d8 = digits("normalize = false");
        let d16 = digits("normalize = false\nsize = 16");
        let (x8, _) = d8.batch(split_id::TEST, &[3]).unwrap();
        let (x16, _) = d16.batch(split_id::TEST, &[3]).unwrap();
        let src: Vec<f64> = x8.iter().map(|&v| v as f64).collect();
        let want = resize_bilinear(&src, 8, 8, 16, 16);
        assert_eq!(x16, want.iter().map(|&v| v as f32).collect::<Vec<_>>());
    }

    #[test]
    fn bad_indices_and_splits_are_errors() {
        let d = digits("");
        assert!(d.batch(split_id::TEST, &[359]).unwrap_err().contains("out of range for the test split (359 samples)"));
        assert!(d.batch(9, &[0]).unwrap_err().contains("unknown split 9"));
        assert_eq!(d.batch(split_id::TRAIN, &[]).unwrap(), (vec![], vec![]));
    }

    #[test]
    fn same_seed_same_data_different_seed_different_split() {
        let a = digits("seed = 5\nsize = 16");
        let b = digits("seed = 5\nsize = 16");
        let c = digits("seed = 6\nsize = 16");
        assert_eq!(a.batch(split_id::TEST, &[0, 1, 2]).unwrap(), b.batch(split_id::TEST, &[0, 1, 2]).unwrap());
        assert_eq!(a.labels(split_id::TRAIN), b.labels(split_id::TRAIN));
        assert_ne!(a.split_indices(split_id::TEST), c.split_indices(split_id::TEST));
    }

    #[test]
    fn empty_train_split_is_rejected() {
        let raw = RawDigits { pixels: vec![[1; PIXELS]], labels: vec![3] };
        let cfg = DigitsConfig { test_fraction: 0.9, ..DigitsConfig::default() };
        assert!(Digits::from_raw(raw, cfg).unwrap_err().contains("train split is empty"));
    }
}
