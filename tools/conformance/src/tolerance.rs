//! The one tolerance table: how far a kernel's result may be from ops-ref's f64 result, per
//! dtype. Every comparison of the suite (forward, backward against ops-ref, backward against
//! finite differences) goes through [`Tolerance::allows`].
//!
//! The reference computes in f64 on the *same* inputs the kernel saw (rounded to its dtype), so
//! only the kernel's own rounding is measured: a few units of its dtype's epsilon, relative to
//! the element (`rtol`) or to the largest magnitude of the whole output (`atol`, which absorbs
//! cancellation in sums).

use ferrite_sdk::DType;

/// Absolute and relative tolerance of one dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute part, scaled by `max(1, max |reference|)` of the output.
    pub atol: f64,
    /// Relative part, scaled by `|reference|` of the element.
    pub rtol: f64,
}

/// The table (dtype, tolerance): f64, f32, f16 (eps 2^-11) and bf16 (eps 2^-8). Integer and
/// bool outputs must match exactly.
pub const TABLE: [(DType, Tolerance); 4] = [
    (DType::F64, Tolerance { atol: 1e-10, rtol: 1e-9 }),
    (DType::F32, Tolerance { atol: 1e-5, rtol: 1e-4 }),
    (DType::F16, Tolerance { atol: 2e-3, rtol: 2e-3 }),
    (DType::BF16, Tolerance { atol: 1.6e-2, rtol: 1.6e-2 }),
];

/// Exact agreement (integer and bool outputs, and dtypes not in the table).
pub const EXACT: Tolerance = Tolerance { atol: 0.0, rtol: 0.0 };

/// Finite differences: step `H·max(1, |x|)`, and the tolerance of an analytic f64 gradient
/// against the central difference.
pub const FD_STEP: f64 = 1e-6;
/// Tolerance of an f64 gradient against central finite differences.
pub const FD: Tolerance = Tolerance { atol: 1e-6, rtol: 1e-5 };

impl Tolerance {
    /// The tolerance of `dtype` ([`EXACT`] for non-float dtypes).
    pub fn of(dtype: DType) -> Tolerance {
        TABLE.iter().find(|(d, _)| *d == dtype).map_or(EXACT, |(_, t)| *t)
    }

    /// Whether `got` is close enough to `want`, where `scale` is `max |want|` over the output.
    /// NaN matches NaN, infinities must match exactly.
    pub fn allows(&self, got: f64, want: f64, scale: f64) -> bool {
        if got == want || (got.is_nan() && want.is_nan()) {
            return true;
        }
        if !got.is_finite() || !want.is_finite() {
            return false;
        }
        (got - want).abs() <= self.atol * scale.max(1.0) + self.rtol * want.abs()
    }

    /// `|got - want|` in units of the allowed error (> 1 fails); infinite for a NaN/inf mismatch.
    pub fn excess(&self, got: f64, want: f64, scale: f64) -> f64 {
        if got == want || (got.is_nan() && want.is_nan()) {
            return 0.0;
        }
        if !got.is_finite() || !want.is_finite() {
            return f64::INFINITY;
        }
        let bound = self.atol * scale.max(1.0) + self.rtol * want.abs();
        if bound == 0.0 {
            return f64::INFINITY;
        }
        (got - want).abs() / bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_orders_dtypes_by_precision() {
        let (a, b, c, d) = (Tolerance::of(DType::F64), Tolerance::of(DType::F32), Tolerance::of(DType::F16), Tolerance::of(DType::BF16));
        assert!(a.rtol < b.rtol && b.rtol < c.rtol && c.rtol < d.rtol);
        assert_eq!(Tolerance::of(DType::I64), EXACT);
        assert!(Tolerance::of(DType::F32).allows(1.0 + 1e-5, 1.0, 1.0));
        assert!(!Tolerance::of(DType::F32).allows(1.001, 1.0, 1.0));
        assert!(Tolerance::of(DType::F32).allows(f64::NAN, f64::NAN, 1.0));
        assert!(!Tolerance::of(DType::F32).allows(f64::INFINITY, 1e300, 1.0));
        assert!(!EXACT.allows(1.0, 2.0, 1.0));
    }
}
