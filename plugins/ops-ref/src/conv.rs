//! 2-D convolution (cross-correlation, as PyTorch's `conv2d`) with input, weight and bias gradients.

use crate::common::req;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};
pub use ferrite_sdk::shape::conv::{conv2d_geom, conv2d_shape, Conv2dGeom};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;

/// Reference-loop helpers on the shared geometry.
trait TermLoop {
    /// Calls `f(x_flat, w_flat, out_flat)` for every product term of the convolution sum
    /// (padding positions skipped): `out[n,o,y,x] += in[n,c,y·s-p+ky·d, x·s-p+kx·d] · w[o,c',ky,kx]`.
    fn for_each_term(&self, f: impl FnMut(usize, usize, usize));
}

impl TermLoop for Conv2dGeom {
    fn for_each_term(&self, mut f: impl FnMut(usize, usize, usize)) {
        let cg = self.c / self.groups;
        let og = self.o / self.groups;
        let [oh, ow] = self.out;
        for n in 0..self.n {
            for o in 0..self.o {
                let g = o / og;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let oi = ((n * self.o + o) * oh + oy) * ow + ox;
                        for ci in 0..cg {
                            let c = g * cg + ci;
                            for ky in 0..self.k[0] {
                                let iy = (oy * self.stride[0] + ky * self.dilation[0]) as isize - self.padding[0] as isize;
                                if iy < 0 || iy >= self.h as isize {
                                    continue;
                                }
                                for kx in 0..self.k[1] {
                                    let ix = (ox * self.stride[1] + kx * self.dilation[1]) as isize - self.padding[1] as isize;
                                    if ix < 0 || ix >= self.w as isize {
                                        continue;
                                    }
                                    let xi = ((n * self.c + c) * self.h + iy as usize) * self.w + ix as usize;
                                    let wi = ((o * cg + ci) * self.k[0] + ky) * self.k[1] + kx;
                                    f(xi, wi, oi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn opt(ins: &[Option<Array>], i: usize) -> Option<&Array> {
    ins.get(i).and_then(|x| x.as_ref())
}

/// 2-D cross-correlation: input `[N, C, H, W]`, weight `[O, C/groups, kH, kW]`, bias `[O]` →
/// `[N, O, H', W']`, zero padding, stride, dilation and groups. Matches PyTorch's
/// `torch.nn.functional.conv2d` (4-d input only).
pub fn conv2d_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (x, w, b) = (req(ins, 0)?, req(ins, 1)?, opt(ins, 2));
    let g = conv2d_geom(&x.shape, &w.shape, b.map(|b| &b.shape[..]), attrs)?;
    let mut out = Array::zeros(&g.out_shape());
    if let Some(b) = b {
        let plane = g.out[0] * g.out[1];
        for (i, v) in out.data.iter_mut().enumerate() {
            *v = b.data[(i / plane) % g.o];
        }
    }
    g.for_each_term(|xi, wi, oi| out.data[oi] += x.data[xi] * w.data[wi]);
    Ok(vec![out])
}

/// Backward of [`conv2d_forward`]: `dx` (transposed convolution of `dy`), `dW` (correlation of
/// `x` with `dy`) and `db = Σ_{n,y,x} dy`.
pub fn conv2d_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (x, w, b) = (req(&a.inputs, 0)?, req(&a.inputs, 1)?, opt(&a.inputs, 2));
    let g = conv2d_geom(&x.shape, &w.shape, b.map(|b| &b.shape[..]), &a.attrs)?;
    let dy = &a.grads[0];
    let (mut dx, mut dw) = (Array::zeros(&x.shape), Array::zeros(&w.shape));
    g.for_each_term(|xi, wi, oi| {
        dx.data[xi] += dy.data[oi] * w.data[wi];
        dw.data[wi] += dy.data[oi] * x.data[xi];
    });
    let db = b.map(|_| {
        let plane = g.out[0] * g.out[1];
        let mut db = Array::zeros(&[g.o]);
        for (i, v) in dy.data.iter().enumerate() {
            db.data[(i / plane) % g.o] += v;
        }
        db
    });
    Ok(vec![Some(dx), Some(dw), db])
}

reference_op! {
    CONV2D {
        name: "ferrite::conv2d",
        version: 1,
        api_names: ["nn.functional.conv2d", "conv2d"],
        aliases: ["aten::conv2d"],
        deprecated: [],
        doc: "2-D cross-correlation [N, C, H, W] * [O, C/groups, kH, kW] (+ bias [O]) with stride, padding, dilation, groups.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("weight"), ArgDesc::tensor("bias").optional()],
        outputs: [ArgDesc::tensor("out")],
        attrs: [
            AttrDesc::ints("stride", &[1, 1]),
            AttrDesc::ints("padding", &[0, 0]),
            AttrDesc::ints("dilation", &[1, 1]),
            AttrDesc::int("groups", 1),
        ],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: conv2d_shape,
        forward: conv2d_forward,
        backward: some(conv2d_backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fd::{assert_close, check_grads, Rng};
    use ferrite_sdk::kernel::Attr;
    use proptest::prelude::*;

    fn attrs(s: [i64; 2], p: [i64; 2], d: [i64; 2], g: i64) -> Attrs {
        Attrs(vec![Attr::Ints(s.to_vec()), Attr::Ints(p.to_vec()), Attr::Ints(d.to_vec()), Attr::Int(g)])
    }

    /// Independent formulation: explicit zero-padded input, then im2col + matmul per group.
    fn conv_im2col(x: &Array, w: &Array, b: Option<&Array>, s: [usize; 2], p: [usize; 2], d: [usize; 2], groups: usize) -> Array {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        let (hp, wp) = (h + 2 * p[0], wd + 2 * p[1]);
        let mut xp = vec![0.0; n * c * hp * wp];
        for (i, v) in x.data.iter().enumerate() {
            let (xx, yy, cc, nn) = (i % wd, (i / wd) % h, (i / (wd * h)) % c, i / (wd * h * c));
            xp[((nn * c + cc) * hp + yy + p[0]) * wp + xx + p[1]] = *v;
        }
        let oh = (hp - d[0] * (kh - 1) - 1) / s[0] + 1;
        let ow = (wp - d[1] * (kw - 1) - 1) / s[1] + 1;
        let og = o / groups;
        let mut out = Array::zeros(&[n, o, oh, ow]);
        for nn in 0..n {
            for g in 0..groups {
                // columns: [cg*kh*kw, oh*ow]
                let rows = cg * kh * kw;
                let mut col = vec![0.0; rows * oh * ow];
                for r in 0..rows {
                    let (ci, ky, kx) = (r / (kh * kw), (r / kw) % kh, r % kw);
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let (iy, ix) = (oy * s[0] + ky * d[0], ox * s[1] + kx * d[1]);
                            col[r * oh * ow + oy * ow + ox] = xp[((nn * c + g * cg + ci) * hp + iy) * wp + ix];
                        }
                    }
                }
                for oo in 0..og {
                    let oc = g * og + oo;
                    for q in 0..oh * ow {
                        let mut acc = b.map_or(0.0, |b| b.data[oc]);
                        for r in 0..rows {
                            acc += w.data[oc * rows + r] * col[r * oh * ow + q];
                        }
                        out.data[(nn * o + oc) * oh * ow + q] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn conv2d_hand_example() {
        // 1x1x3x3 input 1..9, 2x2 kernel of ones: sums of 2x2 windows.
        let x = Array::new(vec![1, 1, 3, 3], (1..=9).map(f64::from).collect()).unwrap();
        let w = Array::full(&[1, 1, 2, 2], 1.0);
        let b = Array::new(vec![1], vec![0.5]).unwrap();
        let y = conv2d_forward(&[Some(x), Some(w), Some(b)], &attrs([1, 1], [0, 0], [1, 1], 1)).unwrap();
        assert_eq!(y[0].shape, vec![1, 1, 2, 2]);
        assert_eq!(y[0].data, vec![12.5, 16.5, 24.5, 28.5]);
    }

    #[test]
    fn conv2d_errors() {
        let x = Some(Array::zeros(&[1, 4, 3, 3]));
        let w = Some(Array::zeros(&[6, 2, 2, 2]));
        assert!(conv2d_forward(&[x.clone(), w.clone(), None], &attrs([1, 1], [0, 0], [1, 1], 2)).is_ok());
        assert!(conv2d_forward(&[x.clone(), w.clone(), None], &attrs([1, 1], [0, 0], [1, 1], 3)).is_err());
        assert!(conv2d_forward(&[x.clone(), w.clone(), None], &attrs([1, 1], [0, 0], [1, 1], 1)).is_err());
        assert!(conv2d_forward(&[x.clone(), w.clone(), None], &attrs([0, 1], [0, 0], [1, 1], 2)).is_err());
        assert!(conv2d_forward(&[x.clone(), w.clone(), None], &attrs([1, 1], [0, 0], [3, 3], 2)).is_err());
        assert!(conv2d_forward(&[x.clone(), w.clone(), Some(Array::zeros(&[5]))], &attrs([1, 1], [0, 0], [1, 1], 2)).is_err());
        assert!(conv2d_forward(&[Some(Array::zeros(&[4, 3, 3])), w, None], &Attrs::default()).is_err());
        let err = conv2d_forward(&[x, Some(Array::zeros(&[6, 4, 5, 5])), None], &Attrs::default()).unwrap_err();
        assert!(err.starts_with("conv2d:") && !err.contains('\n'), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn conv2d_matches_im2col_and_fd(
            n in 1usize..3, cg in 1usize..3, og in 1usize..3, groups in 1usize..3,
            h in 1usize..6, w in 1usize..6, kh in 1usize..4, kw in 1usize..4,
            s in (1usize..3, 1usize..3), p in (0usize..3, 0usize..3), d in (1usize..3, 1usize..3),
            bias in any::<bool>(), seed in 0u64..10_000,
        ) {
            let (s, p, d) = ([s.0, s.1], [p.0, p.1], [d.0, d.1]);
            prop_assume!(h + 2 * p[0] > d[0] * (kh - 1) && w + 2 * p[1] > d[1] * (kw - 1));
            let mut r = Rng::new(seed);
            let x = r.array(&[n, cg * groups, h, w]);
            let wt = r.array(&[og * groups, cg, kh, kw]);
            let b = bias.then(|| r.array(&[og * groups]));
            let at = attrs([s[0] as i64, s[1] as i64], [p[0] as i64, p[1] as i64], [d[0] as i64, d[1] as i64], groups as i64);
            let ins = [Some(x.clone()), Some(wt.clone()), b.clone()];
            let y = conv2d_forward(&ins, &at).unwrap();
            let e = conv_im2col(&x, &wt, b.as_ref(), s, p, d, groups);
            prop_assert_eq!(&y[0].shape, &e.shape);
            assert_close("conv2d", &y[0].data, &e.data, 1e-12);
            let wrt: Vec<usize> = if bias { vec![0, 1, 2] } else { vec![0, 1] };
            check_grads(conv2d_forward, conv2d_backward, &ins, &at, &wrt, &[0], seed);
        }
    }
}
