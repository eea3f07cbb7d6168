//! Generator primitives shared by every per-op strategy (and by `tests/tests/ops_ref_gradcheck.rs`):
//! a small deterministic value generator seeded by proptest, memory layouts, shapes, and the
//! helpers that derive broadcast shapes, reduction dims and class targets from a seed.
//!
//! Proptest owns the *structure* of a case (shapes, layouts, attribute choices, the seed), so
//! failures shrink to small shapes; the values come from [`Rng`] seeded by a shrinkable `u64`.

use proptest::prelude::*;

/// A small deterministic generator (splitmix64) for the values of a case; proptest picks the seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    pub fn unif(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
    /// `n` values in `[lo, hi)`, each exactly representable in f32 (so f32 and f64 runs see the
    /// same inputs).
    pub fn vals(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| f32r(lo + (hi - lo) * self.unif())).collect()
    }
    /// A random permutation of `0..n`.
    pub fn perm(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, self.below(i + 1));
        }
        p
    }
    /// `n` distinct values in `[lo, hi)`, at least `0.25·(hi-lo)/n` apart (no ties for max/min).
    pub fn distinct(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        let step = (hi - lo) / n.max(1) as f64;
        self.perm(n).into_iter().map(|k| f32r(lo + step * (k as f64 + 0.25 + 0.5 * self.unif()))).collect()
    }
    /// `n` values with distinct magnitudes in `[0.1, ...)` and random signs: no ties, no zeros.
    pub fn distinct_nonzero(&mut self, n: usize) -> Vec<f64> {
        self.perm(n)
            .into_iter()
            .map(|k| {
                let m = 0.1 + 0.25 * k as f64 + 0.1 * self.unif();
                f32r(if self.coin() { m } else { -m })
            })
            .collect()
    }
    /// Magnitudes in `[lo, hi)` with random signs.
    pub fn signed(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let m = lo + (hi - lo) * self.unif();
                f32r(if self.coin() { m } else { -m })
            })
            .collect()
    }
    /// `n` small integers in `[lo, hi]` as f64 (exact in every dtype; ties on purpose).
    pub fn ints(&mut self, n: usize, lo: i64, hi: i64) -> Vec<f64> {
        (0..n).map(|_| (lo + self.below((hi - lo + 1) as usize) as i64) as f64).collect()
    }
}

/// Rounds to the nearest f32 (and back).
pub fn f32r(v: f64) -> f64 {
    v as f32 as f64
}

/// Number of elements of a shape.
pub fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// Memory layout of a generated tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Compact row-major.
    Contig,
    /// A `transpose(-2, -1)` view of a compact tensor (falls back to `Sliced` for 1-d).
    Transposed,
    /// Every other element of a wider last dim (`slice(-1, 1, 2n+1, 2)`): stride 2, offset 1,
    /// junk in between.
    Sliced,
    /// A stride-0 broadcast view (`expand`) along dim 0: the values are equal along that dim
    /// (the generator makes them so, see [`crate::case::Input::new`]).
    Expanded,
}

/// What a strategy may generate: the gradient-check suite uses [`Opts::gradcheck`], the
/// conformance runner [`Opts::conformance`].
#[derive(Clone, Debug)]
pub struct Opts {
    /// Largest size of one dimension.
    pub max_dim: usize,
    /// Largest number of elements of one generated shape (leading dims are cut to fit).
    pub max_numel: usize,
    /// Whether dimensions of size 0 occur.
    pub zero_sizes: bool,
    /// Whether extreme values occur: large magnitudes, `-inf` where the op allows it.
    pub extremes: bool,
    /// Layouts to draw from.
    pub layouts: Vec<Layout>,
}

impl Opts {
    /// Small shapes (dims 1..=4), finite moderate values, compact/transposed/sliced layouts:
    /// what finite differences through the whole stack can afford.
    pub fn gradcheck() -> Opts {
        Opts { max_dim: 4, max_numel: 256, zero_sizes: false, extremes: false, layouts: vec![Layout::Contig, Layout::Transposed, Layout::Sliced] }
    }
    /// Dims up to 7 (odd sizes), size-0 dims, extreme values, every layout including stride-0
    /// broadcast views.
    pub fn conformance() -> Opts {
        Opts {
            max_dim: 7,
            max_numel: 160,
            zero_sizes: true,
            extremes: true,
            layouts: vec![Layout::Contig, Layout::Transposed, Layout::Sliced, Layout::Expanded],
        }
    }
}

/// One of `opts.layouts`.
pub fn layout(opts: &Opts) -> BoxedStrategy<Layout> {
    prop::sample::select(opts.layouts.clone()).boxed()
}

/// A shape of `min_nd..=max_nd` dims, each `1..=opts.max_dim` (sometimes 0 when
/// `opts.zero_sizes`), with leading dims reduced until it has at most `opts.max_numel` elements.
pub fn shape(opts: &Opts, min_nd: usize, max_nd: usize) -> BoxedStrategy<Vec<usize>> {
    let dim: BoxedStrategy<usize> =
        if opts.zero_sizes { prop_oneof![12 => 1..=opts.max_dim, 1 => Just(0usize)].boxed() } else { (1..=opts.max_dim).boxed() };
    let cap = opts.max_numel;
    prop::collection::vec(dim, min_nd..=max_nd).prop_map(move |s| fit(s, cap)).boxed()
}

/// A shape of `min_nd..=max_nd` dims, each `1..=max_dim` (never 0).
pub fn shape_nonzero(opts: &Opts, min_nd: usize, max_nd: usize) -> BoxedStrategy<Vec<usize>> {
    shape(&Opts { zero_sizes: false, ..opts.clone() }, min_nd, max_nd)
}

/// Reduces leading dims (to 1) until the shape has at most `cap` elements.
pub fn fit(mut s: Vec<usize>, cap: usize) -> Vec<usize> {
    let mut i = 0;
    while numel(&s) > cap && i < s.len() {
        let rest: usize = s.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &d)| d).product();
        s[i] = (cap / rest.max(1)).clamp(1, s[i]);
        i += 1;
    }
    s
}

/// A value scale: 1, or (with `opts.extremes`) sometimes `big`.
pub fn scale(opts: &Opts, big: f64) -> BoxedStrategy<f64> {
    if opts.extremes {
        prop_oneof![4 => Just(1.0), 1 => Just(big)].boxed()
    } else {
        Just(1.0).boxed()
    }
}

/// Reduces `full` for broadcasting: maybe drops leading dims, sets some dims to 1.
pub fn bshape(r: &mut Rng, full: &[usize]) -> Vec<usize> {
    let drop = if r.below(3) == 0 { r.below(full.len() + 1) } else { 0 };
    full[drop..].iter().map(|&d| if r.below(3) == 0 { 1 } else { d }).collect()
}

/// A dim index of an `nd`-d tensor, negative half the time.
pub fn pick_dim(r: &mut Rng, nd: usize) -> isize {
    let d = r.below(nd.max(1)) as isize;
    if r.coin() {
        d - nd.max(1) as isize
    } else {
        d
    }
}

/// Dims for a reduction: those set in `mask` (some negative), empty meaning all.
pub fn reduce_dims(r: &mut Rng, s: &[usize], mask: &[bool]) -> Vec<isize> {
    let nd = s.len();
    (0..nd).filter(|&d| mask[d]).map(|d| if r.coin() { d as isize - nd as isize } else { d as isize }).collect()
}

/// Targets for `n` samples of `c` classes and the ignore_index: `ign` 0 = none ignored
/// (default -100), 1 = some targets are -100, 2 = class 0 is the ignore_index. Sample 0 is never
/// ignored, so a mean has a non-zero normaliser.
pub fn class_targets(r: &mut Rng, n: usize, c: usize, ign: usize) -> (Vec<i64>, i64) {
    let mut t: Vec<i64> = (0..n).map(|_| r.below(c) as i64).collect();
    match ign {
        1 => {
            for v in t.iter_mut().skip(1) {
                if r.below(3) == 0 {
                    *v = -100;
                }
            }
            (t, -100)
        }
        2 if c >= 2 => {
            t[0] = 1 + r.below(c - 1) as i64;
            (t, 0)
        }
        _ => (t, -100),
    }
}

/// The loss reductions, as attribute strings.
pub const REDUCTIONS: [&str; 3] = ["none", "mean", "sum"];
