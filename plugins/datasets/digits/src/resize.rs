//! Bilinear resizing of a single-channel image, matching PyTorch's
//! `F.interpolate(x, size=(out, out), mode="bilinear", align_corners=False)` (no antialiasing).

/// One output coordinate's two source taps and weights along one axis
/// (`out = w0 * in[i0] + w1 * in[i1]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap {
    /// Lower source index.
    pub i0: usize,
    /// Upper source index (equal to `i0` at the last input).
    pub i1: usize,
    /// Weight of `i0`.
    pub w0: f64,
    /// Weight of `i1`.
    pub w1: f64,
}

/// Source taps for each of `out_len` outputs from `in_len` inputs (`align_corners=false`):
/// `src = (dst + 0.5) * in/out - 0.5`, clamped below at 0, as in ATen's
/// `area_pixel_compute_source_index`. Requires `in_len >= 1` and `out_len >= 1`.
pub fn taps(in_len: usize, out_len: usize) -> Vec<Tap> {
    let scale = in_len as f64 / out_len as f64;
    (0..out_len)
        .map(|d| {
            let src = ((d as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(in_len - 1);
            let i1 = if i0 + 1 < in_len { i0 + 1 } else { i0 };
            let w1 = src - i0 as f64;
            Tap { i0, i1, w0: 1.0 - w1, w1 }
        })
        .collect()
}

/// Resizes a row-major `in_h × in_w` image to `out_h × out_w` with bilinear interpolation
/// (`align_corners=false`). Returns `out_h * out_w` values, row-major. Same-size resizing is the
/// identity.
///
/// # Panics
/// If `src.len() != in_h * in_w` or any side is zero (callers validate sizes first).
pub fn resize_bilinear(src: &[f64], in_h: usize, in_w: usize, out_h: usize, out_w: usize) -> Vec<f64> {
    assert!(in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0, "resize_bilinear: zero-sized image");
    assert_eq!(src.len(), in_h * in_w, "resize_bilinear: src has the wrong length");
    let ty = taps(in_h, out_h);
    let tx = taps(in_w, out_w);
    let mut out = Vec::with_capacity(out_h * out_w);
    for y in &ty {
        let r0 = &src[y.i0 * in_w..(y.i0 + 1) * in_w];
        let r1 = &src[y.i1 * in_w..(y.i1 + 1) * in_w];
        for x in &tx {
            let top = x.w0 * r0[x.i0] + x.w1 * r0[x.i1];
            let bottom = x.w0 * r1[x.i0] + x.w1 * r1[x.i1];
            out.push(y.w0 * top + y.w1 * bottom);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() < 1e-12, "element {i}: {x} vs {y}");
        }
    }

    /// `F.interpolate(torch.tensor([[[[1.,2.],[3.,4.]]]]), size=(4,4), mode="bilinear",
    /// align_corners=False)`, worked by hand: along one axis the sources are
    /// `(d+0.5)/2-0.5 = -0.25→0, 0.25, 0.75, 1.25→clamped to index 1`, so `[a,b] → [a, .75a+.25b,
    /// .25a+.75b, b]`.
    #[test]
    fn upsample_2x2_to_4x4_matches_pytorch() {
        let out = resize_bilinear(&[1.0, 2.0, 3.0, 4.0], 2, 2, 4, 4);
        #[rustfmt::skip]
        let expected = [
            1.00, 1.25, 1.75, 2.00,
            1.50, 1.75, 2.25, 2.50,
            2.50, 2.75, 3.25, 3.50,
            3.00, 3.25, 3.75, 4.00,
        ];
        close(&out, &expected);
    }

    #[test]
    fn same_size_is_identity() {
        let img: Vec<f64> = (0..64).map(|v| v as f64 * 0.25).collect();
        close(&resize_bilinear(&img, 8, 8, 8, 8), &img);
    }

    /// 4 → 2 (downsampling, no antialias): sources are `(d+0.5)*2-0.5 = 0.5, 2.5`, so
    /// `[a,b,c,d] → [(a+b)/2, (c+d)/2]`, and 1 → 3 replicates the single pixel.
    #[test]
    fn downsample_and_degenerate_sizes() {
        close(&resize_bilinear(&[1.0, 3.0, 5.0, 9.0], 1, 4, 1, 2), &[2.0, 7.0]);
        close(&resize_bilinear(&[7.0], 1, 1, 3, 3), &[7.0; 9]);
        close(&resize_bilinear(&[1.0, 2.0, 3.0, 4.0], 2, 2, 1, 1), &[2.5]);
    }

    #[test]
    fn constant_image_stays_constant() {
        let out = resize_bilinear(&[0.5; 64], 8, 8, 13, 13);
        assert!(out.iter().all(|&v| (v - 0.5).abs() < 1e-12));
    }
}
