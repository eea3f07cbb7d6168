//! A small deterministic random generator (SplitMix64) for initialisers and sampling.
//! Seeds come from the core's generator (`HostApi::next_seed`), so `manual_seed` makes whole
//! runs reproducible.

/// SplitMix64 (Steele, Lea, Flood 2014): fast, statistically solid for initialisation.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::rng::Rng;
/// let mut a = Rng::new(7);
/// let mut b = Rng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64()); // deterministic
/// let u = a.uniform();
/// assert!((0.0..1.0).contains(&u));
/// assert!(a.below(10) < 10);
/// let _z = a.normal();
/// let mut xs = [1, 2, 3, 4, 5];
/// a.shuffle(&mut xs);
/// xs.sort();
/// assert_eq!(xs, [1, 2, 3, 4, 5]);
/// ```
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::rng::Rng;
    /// let mut a = Rng::new(42);
    /// assert_eq!(a.next_u64(), Rng::new(42).next_u64());
    /// assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    /// ```
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator's whole state: `Rng::new(r.state())` continues exactly where `r` is
    /// (for checkpoints that resume a run).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::rng::Rng;
    /// let mut a = Rng::new(7);
    /// a.next_u64();
    /// let mut b = Rng::new(a.state());
    /// assert_eq!(a.next_u64(), b.next_u64());
    /// ```
    pub fn state(&self) -> u64 {
        self.0
    }

    /// Next 64 random bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::rng::Rng;
    /// let mut r = Rng::new(0);
    /// let (x, y) = (r.next_u64(), r.next_u64());
    /// assert_ne!(x, y);
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::rng::Rng;
    /// let mut r = Rng::new(3);
    /// assert!((0..1000).map(|_| r.uniform()).all(|u| (0.0..1.0).contains(&u)));
    /// ```
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::rng::Rng;
    /// let mut r = Rng::new(5);
    /// let mean = (0..10_000).map(|_| r.normal()).sum::<f64>() / 10_000.0;
    /// assert!(mean.abs() < 0.05);
    /// ```
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform integer in `0..n` (`n > 0`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::rng::Rng;
    /// let mut r = Rng::new(9);
    /// assert!((0..1000).all(|_| r.below(6) < 6));
    /// assert_eq!(r.below(1), 0);
    /// ```
    pub fn below(&mut self, n: u64) -> u64 {
        // Lemire's multiply-shift; the tiny bias is irrelevant for shuffling data.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Fisher-Yates shuffle in place.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::rng::Rng;
    /// let mut order: Vec<usize> = (0..10).collect();
    /// Rng::new(1).shuffle(&mut order); // same seed, same epoch order
    /// let mut again: Vec<usize> = (0..10).collect();
    /// Rng::new(1).shuffle(&mut again);
    /// assert_eq!(order, again);
    /// order.sort();
    /// assert_eq!(order, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_and_normal_moments() {
        let mut r = Rng::new(7);
        let n = 20000;
        let u: f64 = (0..n).map(|_| r.uniform()).sum::<f64>() / n as f64;
        assert!((u - 0.5).abs() < 0.02);
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.03 && (v - 1.0).abs() < 0.05, "mean {m} var {v}");
    }
}
