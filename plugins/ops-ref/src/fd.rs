//! Test support for the nn reference ops: a tiny deterministic RNG and a central
//! finite-difference gradient checker (f64, `h = 1e-6`).

use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};

/// xorshift64* generator: deterministic, dependency-free test data.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `[-1, 1)`.
    pub fn sym(&mut self) -> f64 {
        2.0 * self.unit() - 1.0
    }
    /// Uniform integer in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }
    /// An array of uniform `[-1, 1)` values.
    pub fn array(&mut self, shape: &[usize]) -> Array {
        let n = shape.iter().product();
        Array { shape: shape.to_vec(), data: (0..n).map(|_| self.sym()).collect() }
    }
    /// An array whose values are a random permutation of distinct, well separated numbers
    /// (no ties, so max-type ops are differentiable there).
    pub fn distinct(&mut self, shape: &[usize]) -> Array {
        let n: usize = shape.iter().product();
        let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.1 - n as f64 * 0.05).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
        Array { shape: shape.to_vec(), data: v }
    }
}

/// Asserts `|a - b| <= tol · max(1, |b|)` elementwise (NaN never passes), with context in the message.
pub fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * y.abs().max(1.0), "{what}[{i}]: got {x}, expected {y}\n got {a:?}\n exp {b:?}");
    }
}

/// Checks the analytic gradients of `loss = Σ_o sum(out_o · g_o)` (random upstream `g_o` for the
/// outputs listed in `diff_outs`, zero for the others) against central finite differences for
/// every input listed in `wrt`. Outputs that are not finite at the base point get no upstream
/// gradient. Panics on mismatch.
pub fn check_grads<F, B>(fwd: F, bwd: B, inputs: &[Option<Array>], attrs: &Attrs, wrt: &[usize], diff_outs: &[usize], seed: u64)
where
    F: Fn(&[Option<Array>], &Attrs) -> Result<Vec<Array>, String>,
    B: Fn(&BackwardArgs) -> Result<Vec<Option<Array>>, String>,
{
    let h = 1e-6;
    let outs = fwd(inputs, attrs).expect("forward");
    let mut rng = Rng::new(seed);
    let grads: Vec<Array> = outs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut g = if diff_outs.contains(&i) { rng.array(&o.shape) } else { Array::zeros(&o.shape) };
            // Non-finite outputs (e.g. -inf from an all-padding window) take no part in the loss.
            for (g, v) in g.data.iter_mut().zip(&o.data) {
                if !v.is_finite() {
                    *g = 0.0;
                }
            }
            g
        })
        .collect();
    let loss = |ins: &[Option<Array>]| -> f64 {
        let o = fwd(ins, attrs).expect("forward (perturbed)");
        o.iter().zip(&grads).map(|(o, g)| o.data.iter().zip(&g.data).filter(|(_, b)| **b != 0.0).map(|(a, b)| a * b).sum::<f64>()).sum()
    };
    let args = BackwardArgs {
        grads: grads.clone(),
        inputs: inputs.to_vec(),
        outputs: outs,
        attrs: attrs.clone(),
        needs: vec![true; inputs.len()],
    };
    let analytic = bwd(&args).expect("backward");
    assert_eq!(analytic.len(), inputs.len(), "backward must return one gradient per input");
    for &w in wrt {
        let x = inputs[w].as_ref().expect("wrt input present");
        let a = analytic[w].as_ref().unwrap_or_else(|| panic!("no gradient for input {w}"));
        assert_eq!(a.shape, x.shape, "gradient {w} shape");
        let mut num = vec![0.0; x.numel()];
        for (k, n) in num.iter_mut().enumerate() {
            let mut p = inputs.to_vec();
            p[w].as_mut().unwrap().data[k] += h;
            let lp = loss(&p);
            p[w].as_mut().unwrap().data[k] -= 2.0 * h;
            let lm = loss(&p);
            *n = (lp - lm) / (2.0 * h);
        }
        assert_close(&format!("grad of input {w}"), &a.data, &num, 1e-6);
    }
}
