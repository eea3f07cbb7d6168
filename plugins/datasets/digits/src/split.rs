//! Seeded stratified train/test split.

use ferrite_sdk::rng::Rng;

/// Sample indices (into the full data set) of the two splits, each in ascending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Training samples.
    pub train: Vec<usize>,
    /// Held-out test samples.
    pub test: Vec<usize>,
}

/// Splits samples by class: for each class in ascending label order, that class's indices (in
/// data order) are shuffled with one [`Rng`] seeded by `seed`, and the first
/// `round(test_fraction * count)` go to the test split, the rest to train. Both outputs are
/// sorted ascending. The same `(labels, test_fraction, seed)` always gives the same split.
///
/// `labels[i]` is the class of sample `i`; classes need not be contiguous.
pub fn stratified_split(labels: &[u8], test_fraction: f64, seed: u64) -> Split {
    let mut rng = Rng::new(seed);
    let mut train = Vec::with_capacity(labels.len());
    let mut test = Vec::new();
    for class in 0..=u8::MAX {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        if idx.is_empty() {
            continue;
        }
        rng.shuffle(&mut idx);
        let n_test = ((test_fraction * idx.len() as f64).round() as usize).min(idx.len());
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Split { train, test }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::{load_embedded, NUM_CLASSES};

    #[test]
    fn split_is_disjoint_complete_and_stratified() {
        let raw = load_embedded().unwrap();
        let n = raw.labels.len();
        let s = stratified_split(&raw.labels, 0.2, 0);
        assert_eq!(s.train.len() + s.test.len(), n);
        let mut seen = vec![0u8; n];
        for &i in s.train.iter().chain(&s.test) {
            seen[i] += 1;
        }
        assert!(seen.iter().all(|&c| c == 1), "every sample exactly once");
        for class in 0..NUM_CLASSES as u8 {
            let total = raw.labels.iter().filter(|&&l| l == class).count();
            let in_test = s.test.iter().filter(|&&i| raw.labels[i] == class).count();
            assert_eq!(in_test, (0.2 * total as f64).round() as usize, "class {class}");
            let frac = in_test as f64 / total as f64;
            assert!((frac - 0.2).abs() < 0.01, "class {class}: {frac}");
        }
        // Per-class rounding: sum of round(0.2 * count) over the ten classes.
        assert_eq!(s.test.len(), 359);
    }

    #[test]
    fn split_is_deterministic_by_seed() {
        let raw = load_embedded().unwrap();
        let a = stratified_split(&raw.labels, 0.2, 42);
        let b = stratified_split(&raw.labels, 0.2, 42);
        let c = stratified_split(&raw.labels, 0.2, 43);
        assert_eq!(a, b);
        assert_ne!(a.test, c.test);
        assert_eq!(a.test.len(), c.test.len());
    }

    #[test]
    fn edge_fractions() {
        let labels = [0u8, 0, 1, 1, 1, 5];
        let s = stratified_split(&labels, 0.0, 1);
        assert!(s.test.is_empty());
        assert_eq!(s.train, vec![0, 1, 2, 3, 4, 5]);
        let s = stratified_split(&labels, 0.5, 1);
        // round(1.0)=1, round(1.5)=2, round(0.5)=1 (rounds half away from zero).
        assert_eq!(s.test.len(), 4);
        assert!(stratified_split(&[], 0.3, 0).train.is_empty());
    }
}
