//! Nearest-neighbour 2-D upsampling (PyTorch's `mode="nearest"` with an explicit output size).

use crate::common::req;
use crate::nn_common::{check_float, planes};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs, Meta};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;

/// Source index of output position `dst` along an axis resized from `n_in` to `n_out`:
/// `floor(dst · n_in / n_out)` in exact integer arithmetic (the `ferrite::upsample_nearest2d`
/// contract; PyTorch computes the same with a float scale).
pub fn nearest_src(dst: usize, n_in: usize, n_out: usize) -> usize {
    (dst * n_in / n_out).min(n_in - 1)
}

/// (planes, h, w, oh, ow, output shape) of a validated call.
type Geom = (usize, usize, usize, usize, usize, Vec<usize>);

fn geom(shape: &[usize], attrs: &Attrs) -> Result<Geom, String> {
    let op = "upsample_nearest2d";
    if attrs.is_none(0) {
        return Err(format!("{op}: output_size is required"));
    }
    let os = attrs.ints(0)?;
    let (oh, ow) = match os[..] {
        [a] => (a, a),
        [a, b] => (a, b),
        _ => return Err(format!("{op}: output_size must have 1 or 2 values, got {os:?}")),
    };
    if oh < 1 || ow < 1 {
        return Err(format!("{op}: output_size must be >= 1, got {os:?}"));
    }
    let (np, h, w) = planes(op, shape)?;
    if h == 0 || w == 0 {
        return Err(format!("{op}: input spatial size must be non-empty, got {shape:?}"));
    }
    let out = [&shape[..shape.len() - 2], &[oh as usize, ow as usize]].concat();
    Ok((np, h, w, oh as usize, ow as usize, out))
}

/// Calls `f(out_flat, in_flat)` for every output element.
fn for_each_pair(np: usize, h: usize, w: usize, oh: usize, ow: usize, mut f: impl FnMut(usize, usize)) {
    for pl in 0..np {
        for y in 0..oh {
            let sy = nearest_src(y, h, oh);
            for x in 0..ow {
                f((pl * oh + y) * ow + x, (pl * h + sy) * w + nearest_src(x, w, ow));
            }
        }
    }
}

/// Shape of `ferrite::upsample_nearest2d`: `[.., oh, ow]`, input dtype. Errors on a non 3/4-d or
/// spatially empty input and on an `output_size` that is not 1 or 2 values ≥ 1.
pub fn upsample_nearest2d_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let x = req(ins, 0)?;
    check_float("upsample_nearest2d", "input", x)?;
    Ok(vec![Meta::new(x.dtype, geom(&x.shape, attrs)?.5)])
}

/// Nearest-neighbour resize `[N, C, H, W] -> [N, C, oh, ow]` (or 3-d) with attr `(output_size)`:
/// `out[y, x] = in[floor(y·H/oh), floor(x·W/ow)]`. Matches PyTorch's `upsample_nearest2d`
/// (`F.interpolate(mode="nearest", size=...)`), also for downsampling.
pub fn upsample_nearest2d_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let (np, h, w, oh, ow, shape) = geom(&x.shape, attrs)?;
    let mut out = Array::zeros(&shape);
    for_each_pair(np, h, w, oh, ow, |o, i| out.data[o] = x.data[i]);
    Ok(vec![out])
}

/// Backward of [`upsample_nearest2d_forward`]: every output gradient is ADDED to its source
/// element (an input copied to several outputs receives their sum).
pub fn upsample_nearest2d_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let (np, h, w, oh, ow, _) = geom(&x.shape, &a.attrs)?;
    let mut dx = Array::zeros(&x.shape);
    for_each_pair(np, h, w, oh, ow, |o, i| dx.data[i] += a.grads[0].data[o]);
    Ok(vec![Some(dx)])
}

reference_op! {
    UPSAMPLE_NEAREST2D {
        name: "ferrite::upsample_nearest2d",
        version: 1,
        api_names: ["nn.functional.upsample_nearest", "upsample_nearest2d"],
        aliases: ["aten::upsample_nearest2d"],
        deprecated: [],
        doc: "Nearest-neighbour resize [N, C, H, W] -> [N, C, oh, ow], source index floor(dst*in/out); backward accumulates.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::ints_required("output_size")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: upsample_nearest2d_shape,
        forward: upsample_nearest2d_forward,
        backward: some(upsample_nearest2d_backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fd::{check_grads, Rng};
    use ferrite_sdk::kernel::Attr;
    use proptest::prelude::*;

    fn os(h: usize, w: usize) -> Attrs {
        Attrs(vec![Attr::Ints(vec![h as i64, w as i64])])
    }

    fn grad_of(x: Array, at: Attrs, g: Vec<f64>) -> Vec<f64> {
        let out = upsample_nearest2d_forward(&[Some(x.clone())], &at).unwrap();
        let g = Array::new(out[0].shape.clone(), g).unwrap();
        let args = BackwardArgs { grads: vec![g], inputs: vec![Some(x)], outputs: out, attrs: at, needs: vec![true] };
        upsample_nearest2d_backward(&args).unwrap().remove(0).unwrap().data
    }

    #[test]
    fn c08_a_upsample_1d_gradient_accumulates() {
        // loss = sum(upsample(x, 4) * [1,2,3,4]) + sum(3x); as a 1x2 plane resized to 1x4.
        let x = Array::new(vec![1, 1, 1, 2], vec![1., 2.]).unwrap();
        let out = upsample_nearest2d_forward(&[Some(x.clone())], &os(1, 4)).unwrap();
        assert_eq!(out[0].data, vec![1., 1., 2., 2.]);
        let w = [1., 2., 3., 4.];
        let loss: f64 = out[0].data.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + 3.0 * x.data.iter().sum::<f64>();
        assert_eq!(loss, 26.0);
        let g: Vec<f64> = grad_of(x, os(1, 4), w.to_vec()).iter().map(|g| g + 3.0).collect();
        assert_eq!(g, vec![6., 10.]);
    }

    #[test]
    fn c08_a2_upsample_2d_gradient_accumulates() {
        // loss = sum(upsample(x, 4x4) * arange(16)) + sum(x*x): grad = upsample part + 2x.
        let x = Array::new(vec![1, 1, 2, 2], vec![1., 2., 3., 4.]).unwrap();
        let up = grad_of(x.clone(), os(4, 4), (0..16).map(f64::from).collect());
        let g: Vec<f64> = up.iter().zip(&x.data).map(|(u, x)| u + 2.0 * x).collect();
        assert_eq!(g, vec![12., 22., 48., 58.]);
    }

    #[test]
    fn upsample_errors() {
        let x = Some(Array::zeros(&[1, 1, 2, 2]));
        assert!(upsample_nearest2d_forward(std::slice::from_ref(&x), &os(0, 2)).is_err());
        assert!(upsample_nearest2d_forward(std::slice::from_ref(&x), &Attrs(vec![Attr::Ints(vec![1, 2, 3])])).is_err());
        assert!(upsample_nearest2d_forward(&[x], &Attrs::default()).is_err());
        assert!(upsample_nearest2d_forward(&[Some(Array::zeros(&[2, 2]))], &os(4, 4)).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn upsample_matches_float_rule_and_fd(h in 1usize..6, w in 1usize..6, oh in 1usize..12, ow in 1usize..12, seed in 0u64..10_000) {
            let x = Rng::new(seed).array(&[2, h, w]);
            let o = upsample_nearest2d_forward(&[Some(x.clone())], &os(oh, ow)).unwrap();
            for y in 0..oh {
                for xx in 0..ow {
                    let sy = ((y as f64) * h as f64 / oh as f64).floor() as usize;
                    let sx = ((xx as f64) * w as f64 / ow as f64).floor() as usize;
                    prop_assert_eq!(o[0].data[oh * ow + y * ow + xx], x.data[h * w + sy * w + sx]);
                }
            }
            check_grads(upsample_nearest2d_forward, upsample_nearest2d_backward, &[Some(x)], &os(oh, ow), &[0], &[0], seed);
        }
    }
}
