//! The little arithmetic autograd itself needs: accumulating gradients and reducing a
//! broadcast gradient back to an input's shape. Computed in f64, stored in the gradient's dtype.

use crate::error::{invalid, Result};
use crate::tensor::Tensor;

/// `a + b` for equal shapes (fresh contiguous tensor of `a`'s dtype).
pub fn add_grads(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.shape() != b.shape() {
        return invalid!("gradient shapes differ: {:?} vs {:?}", a.shape(), b.shape());
    }
    let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
    let sum: Vec<f64> = x.iter().zip(&y).map(|(p, q)| p + q).collect();
    Tensor::from_f64(a.shape(), &sum, a.dtype())
}

/// Sums `g` over the dimensions that broadcasting added or expanded, giving `shape`.
pub fn sum_to_shape(g: &Tensor, shape: &[i64]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let gs = g.shape().to_vec();
    if gs.len() < shape.len() {
        return invalid!("cannot reduce gradient {gs:?} to {shape:?}");
    }
    let lead = gs.len() - shape.len();
    let vals = g.to_f64_vec();
    let n_out: usize = shape.iter().map(|&d| d as usize).product();
    let mut out = vec![0.0; n_out];
    let mut idx = vec![0i64; gs.len()];
    for v in vals {
        let mut off = 0usize;
        for (d, &s) in shape.iter().enumerate() {
            let i = if s == 1 { 0 } else { idx[lead + d] };
            off = off * s as usize + i as usize;
        }
        out[off] += v;
        for d in (0..gs.len()).rev() {
            idx[d] += 1;
            if idx[d] < gs[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Tensor::from_f64(shape, &out, g.dtype())
}
