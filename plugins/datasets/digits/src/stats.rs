//! Exact mean and standard deviation of resized images without materialising them.
//!
//! Resizing is linear: `y = R x` with `R` of shape `[out², in²]`. Over one image,
//! `Σ y = c·x` with `c = colsum(R)`, and `Σ y² = xᵀ G x` with `G = RᵀR`. Both `c` and `G` are
//! built once from the per-axis taps, so the statistics of the train split at any output size
//! cost `O(images × in⁴)` instead of `O(images × out²)`.

use crate::resize::taps;

/// Mean and (population) standard deviation of all pixels of all `images` after resizing each
/// `in_side × in_side` image to `out_side × out_side` with [`crate::resize::resize_bilinear`].
///
/// Returns `(0, 0)` for no images. `images` are row-major, each of length `in_side²`.
pub fn resized_mean_std<'a>(
    images: impl IntoIterator<Item = &'a [f64]>,
    in_side: usize,
    out_side: usize,
) -> (f64, f64) {
    let n_in = in_side * in_side;
    let t = taps(in_side, out_side);
    // The (up to) four source pixels of each output pixel with their weights.
    let mut c = vec![0.0; n_in];
    let mut g = vec![0.0; n_in * n_in];
    let mut src: [(usize, f64); 4] = [(0, 0.0); 4];
    for ty in &t {
        for tx in &t {
            src[0] = (ty.i0 * in_side + tx.i0, ty.w0 * tx.w0);
            src[1] = (ty.i0 * in_side + tx.i1, ty.w0 * tx.w1);
            src[2] = (ty.i1 * in_side + tx.i0, ty.w1 * tx.w0);
            src[3] = (ty.i1 * in_side + tx.i1, ty.w1 * tx.w1);
            for &(a, wa) in &src {
                c[a] += wa;
                for &(b, wb) in &src {
                    g[a * n_in + b] += wa * wb;
                }
            }
        }
    }
    let (mut s1, mut s2, mut count) = (0.0, 0.0, 0usize);
    for x in images {
        s1 += c.iter().zip(x).map(|(ci, xi)| ci * xi).sum::<f64>();
        for a in 0..n_in {
            if x[a] != 0.0 {
                s2 += x[a] * g[a * n_in..(a + 1) * n_in].iter().zip(x).map(|(gab, xb)| gab * xb).sum::<f64>();
            }
        }
        count += 1;
    }
    if count == 0 {
        return (0.0, 0.0);
    }
    let n = (count * out_side * out_side) as f64;
    let mean = s1 / n;
    let var = (s2 / n - mean * mean).max(0.0);
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resize::resize_bilinear;
    use ferrite_sdk::rng::Rng;

    fn brute(images: &[Vec<f64>], side: usize, out: usize) -> (f64, f64) {
        let ys: Vec<f64> = images.iter().flat_map(|x| resize_bilinear(x, side, side, out, out)).collect();
        let m = ys.iter().sum::<f64>() / ys.len() as f64;
        let v = ys.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / ys.len() as f64;
        (m, v.sqrt())
    }

    #[test]
    fn matches_brute_force_at_many_sizes() {
        let mut rng = Rng::new(3);
        let images: Vec<Vec<f64>> = (0..20).map(|_| (0..64).map(|_| (rng.below(17) as f64) / 16.0).collect()).collect();
        for out in [1, 3, 5, 8, 11, 16, 24] {
            let (m, s) = resized_mean_std(images.iter().map(|v| v.as_slice()), 8, out);
            let (bm, bs) = brute(&images, 8, out);
            assert!((m - bm).abs() < 1e-12 && (s - bs).abs() < 1e-12, "out {out}: {m},{s} vs {bm},{bs}");
        }
    }

    #[test]
    fn empty_input() {
        assert_eq!(resized_mean_std(std::iter::empty(), 8, 16), (0.0, 0.0));
    }
}
