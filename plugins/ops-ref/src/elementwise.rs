//! Elementwise unary ops: `relu`, `neg`, `exp`, `log`, `sqrt`, `abs`, `tanh`, `sigmoid`, `gelu`.
//!
//! Every op maps `input` (any shape, float dtype) to an output of the same shape and dtype, and
//! its backward maps the upstream gradient to `dx` of the input's shape. Forward and backward are
//! plain `pub fn`s over [`Array`] so other plugins' tests can call them directly.

use crate::common::{req, same_as_input};
use crate::special::{normal_cdf, normal_pdf};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;

/// Applies `f` to every element.
fn map(x: &Array, f: impl Fn(f64) -> f64) -> Array {
    Array { shape: x.shape.clone(), data: x.data.iter().map(|&v| f(v)).collect() }
}

/// `dx[i] = d(x[i], y[i], dy[i])` for a unary op's backward.
fn map_grad(a: &BackwardArgs, d: impl Fn(f64, f64, f64) -> f64) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let (y, g) = (&a.outputs[0], &a.grads[0]);
    let data = x.data.iter().zip(&y.data).zip(&g.data).map(|((&x, &y), &g)| d(x, y, g)).collect();
    Ok(vec![Some(Array { shape: x.shape.clone(), data })])
}

/// Declares a unary op: its forward and backward functions and its registration.
macro_rules! unary_op {
    (
        $STATIC:ident, $name:literal, [$($api:literal),*], $alias:literal, $doc:literal,
        $fwd:ident = |$x:ident| $f:expr,
        $bwd:ident = |$bx:ident, $by:ident, $bg:ident| $df:expr $(,)?
    ) => {
        #[doc = concat!("Forward of `", $name, "`: ", $doc, " Shape and dtype of the input.")]
        pub fn $fwd(ins: &[Option<Array>], _attrs: &Attrs) -> Result<Vec<Array>, String> {
            Ok(vec![map(req(ins, 0)?, |$x| $f)])
        }

        #[doc = concat!("Backward of `", $name, "`: `dx = dy · f'(x)` (see the source for `f'`).")]
        #[allow(unused_variables)]
        pub fn $bwd(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
            map_grad(a, |$bx, $by, $bg| $df)
        }

        reference_op! {
            $STATIC {
                name: $name,
                version: 1,
                api_names: [$($api),*],
                aliases: [$alias],
                deprecated: [],
                doc: $doc,
                inputs: [ArgDesc::tensor("input")],
                outputs: [ArgDesc::tensor("out")],
                attrs: [],
                dispatch_input: 0,
                dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
                shape: same_as_input,
                forward: $fwd,
                backward: some($bwd),
            }
        }
    };
}

unary_op!(RELU, "ferrite::relu", ["nn.functional.relu", "relu", "Tensor.relu"], "aten::relu",
    "Rectified linear unit max(x, 0); gradient 0 at 0 (as PyTorch).",
    relu_forward = |x| x.max(0.0),
    relu_backward = |x, y, g| if x > 0.0 { g } else { 0.0 });

unary_op!(NEG, "ferrite::neg", ["neg", "Tensor.neg", "negative"], "aten::neg",
    "Negation -x.",
    neg_forward = |x| -x,
    neg_backward = |x, y, g| -g);

unary_op!(EXP, "ferrite::exp", ["exp", "Tensor.exp"], "aten::exp",
    "Exponential e^x (inf on overflow).",
    exp_forward = |x| x.exp(),
    exp_backward = |x, y, g| g * y);

unary_op!(LOG, "ferrite::log", ["log", "Tensor.log"], "aten::log",
    "Natural logarithm (-inf at 0, NaN below 0); gradient 1/x.",
    log_forward = |x| x.ln(),
    log_backward = |x, y, g| g / x);

unary_op!(SQRT, "ferrite::sqrt", ["sqrt", "Tensor.sqrt"], "aten::sqrt",
    "Square root (NaN below 0); gradient 1/(2 sqrt(x)), inf at 0 (as PyTorch).",
    sqrt_forward = |x| x.sqrt(),
    sqrt_backward = |x, y, g| g / (2.0 * y));

unary_op!(ABS, "ferrite::abs", ["abs", "Tensor.abs", "absolute"], "aten::abs",
    "Absolute value |x|; gradient sign(x), 0 at 0 (as PyTorch).",
    abs_forward = |x| x.abs(),
    abs_backward = |x, y, g| if x > 0.0 { g } else if x < 0.0 { -g } else { 0.0 });

unary_op!(TANH, "ferrite::tanh", ["nn.functional.tanh", "tanh", "Tensor.tanh"], "aten::tanh",
    "Hyperbolic tangent; gradient 1 - tanh(x)^2.",
    tanh_forward = |x| x.tanh(),
    tanh_backward = |x, y, g| g * (1.0 - y * y));

unary_op!(SIGMOID, "ferrite::sigmoid", ["nn.functional.sigmoid", "sigmoid", "Tensor.sigmoid"], "aten::sigmoid",
    "Logistic sigmoid 1/(1+e^-x), evaluated without overflow; gradient s(1-s).",
    sigmoid_forward = |x| sigmoid_f64(x),
    sigmoid_backward = |x, y, g| g * y * (1.0 - y));

/// Overflow-free logistic sigmoid (`e^x/(1+e^x)` for negative `x`).
pub fn sigmoid_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_C: f64 = 0.044715;

/// Reads gelu's `approximate` attribute: `false` for `"none"`, `true` for `"tanh"`.
fn gelu_tanh_mode(attrs: &Attrs) -> Result<bool, String> {
    let s = if attrs.is_none(0) { "none" } else { attrs.str(0).map_err(|e| format!("gelu: {e}"))? };
    match s {
        "none" => Ok(false),
        "tanh" => Ok(true),
        other => Err(format!("gelu: approximate must be \"none\" or \"tanh\", got {other:?}")),
    }
}

/// Forward of `ferrite::gelu` (matches PyTorch's `F.gelu`): `x·Φ(x)` with the exact normal CDF
/// for `approximate = "none"`, or `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` for `"tanh"`.
/// Shape and dtype of the input; an unknown `approximate` is an error.
pub fn gelu_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    let y = if gelu_tanh_mode(attrs)? {
        map(x, |x| 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x)).tanh()))
    } else {
        map(x, |x| x * normal_cdf(x))
    };
    Ok(vec![y])
}

/// Backward of `ferrite::gelu`: `dx = dy·(Φ(x) + xφ(x))` (erf form) or the derivative of the tanh
/// form, `½(1+t) + ½x(1-t²)·√(2/π)(1 + 3·0.044715x²)`.
pub fn gelu_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    if gelu_tanh_mode(&a.attrs)? {
        map_grad(a, |x, _, g| {
            let t = (SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x)).tanh();
            g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * x * x))
        })
    } else {
        map_grad(a, |x, _, g| g * (normal_cdf(x) + x * normal_pdf(x)))
    }
}

reference_op! {
    GELU {
        name: "ferrite::gelu",
        version: 1,
        api_names: ["nn.functional.gelu", "gelu"],
        aliases: ["aten::gelu"],
        deprecated: [],
        doc: "Gaussian error linear unit x*Phi(x); approximate = \"none\" (erf) or \"tanh\".",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::str("approximate", "none")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: same_as_input,
        forward: gelu_forward,
        backward: some(gelu_backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use ferrite_sdk::kernel::Attr;

    type Fwd = fn(&[Option<Array>], &Attrs) -> Result<Vec<Array>, String>;
    type Bwd = fn(&BackwardArgs) -> Result<Vec<Option<Array>>, String>;

    #[test]
    fn forwards_match_hand_values() {
        let x = vec1(&[-2.0, -0.5, 0.0, 0.5, 3.0]);
        let none = attrs(vec![]);
        let run = |f: Fwd| f(&some(&[&x]), &none).unwrap().remove(0).data;
        assert_eq!(run(relu_forward), vec![0.0, 0.0, 0.0, 0.5, 3.0]);
        assert_eq!(run(neg_forward), vec![2.0, 0.5, -0.0, -0.5, -3.0]);
        assert_eq!(run(abs_forward), vec![2.0, 0.5, 0.0, 0.5, 3.0]);
        assert_close(&run(exp_forward), &[0.1353352832366127, 0.6065306597126334, 1.0, 1.6487212707001282, 20.085536923187668], 1e-15, "exp");
        assert_close(&run(tanh_forward), &[-0.9640275800758169, -0.46211715726000974, 0.0, 0.46211715726000974, 0.9950547536867305], 1e-15, "tanh");
        assert_close(&run(sigmoid_forward), &[0.11920292202211755, 0.3775406687981454, 0.5, 0.6224593312018546, 0.9525741268224334], 1e-15, "sigmoid");
        let p = vec1(&[0.0, 0.25, 1.0, 4.0]);
        assert_eq!(sqrt_forward(&some(&[&p]), &none).unwrap()[0].data, vec![0.0, 0.5, 1.0, 2.0]);
        let l = log_forward(&some(&[&p]), &none).unwrap().remove(0).data;
        assert_eq!(l[0], f64::NEG_INFINITY);
        assert_close(&l[1..], &[-1.3862943611198906, 0.0, 1.3862943611198906], 1e-15, "log");
        // Extremes do not overflow to NaN.
        let big = vec1(&[-1000.0, 1000.0]);
        assert_eq!(sigmoid_forward(&some(&[&big]), &none).unwrap()[0].data, vec![0.0, 1.0]);
    }

    #[test]
    fn gelu_matches_pytorch_values() {
        // torch.nn.functional.gelu(x) and gelu(x, approximate="tanh") in float64.
        let x = vec1(&[-3.0, -1.0, 0.0, 0.5, 2.0]);
        let erf = gelu_forward(&some(&[&x]), &attrs(vec![Attr::from("none")])).unwrap().remove(0);
        assert_close(&erf.data, &[-0.004049694094890287, -0.15865525393145707, 0.0, 0.34573123063700656, 1.9544997361036416], 1e-9, "gelu erf");
        let tanh = gelu_forward(&some(&[&x]), &attrs(vec![Attr::from("tanh")])).unwrap().remove(0);
        assert_close(&tanh.data, &[-0.0036373920817729943, -0.15880800939172324, 0.0, 0.34571400982514394, 1.954597694087775], 1e-9, "gelu tanh");
        // Default (attribute unset) is the erf form; bad mode is an error.
        assert_eq!(gelu_forward(&some(&[&x]), &attrs(vec![])).unwrap()[0], erf);
        assert!(gelu_forward(&some(&[&x]), &attrs(vec![Attr::from("fast")])).unwrap_err().contains("gelu"));
        // Far left tail: relative accuracy kept (x·Φ(x) with Φ(-10) from CPython `math.erfc`).
        let t = gelu_forward(&some(&[&vec1(&[-10.0])]), &attrs(vec![])).unwrap().remove(0);
        assert_close(&t.data, &[-7.619853024160593e-23], 1e-13, "gelu tail");
    }

    #[test]
    fn backwards_match_finite_differences() {
        let x = rand_array(&[2, 3], 1);
        let pos = Array { shape: x.shape.clone(), data: x.data.iter().map(|v| v.abs() + 0.1).collect() };
        let none = attrs(vec![]);
        let ops: [(Fwd, Bwd, &Array); 8] = [
            (relu_forward, relu_backward, &x),
            (neg_forward, neg_backward, &x),
            (exp_forward, exp_backward, &x),
            (log_forward, log_backward, &pos),
            (sqrt_forward, sqrt_backward, &pos),
            (abs_forward, abs_backward, &x),
            (tanh_forward, tanh_backward, &x),
            (sigmoid_forward, sigmoid_backward, &x),
        ];
        for (i, (f, b, input)) in ops.into_iter().enumerate() {
            check_grad(f, b, &some(&[input]), &none, &[0], i as u64);
        }
        let wide = Array { shape: vec![8], data: vec![-6.0, -3.1, -1.2, -0.3, 0.2, 0.9, 2.5, 5.5] };
        for mode in ["none", "tanh"] {
            check_grad(gelu_forward, gelu_backward, &some(&[&wide]), &attrs(vec![Attr::from(mode)]), &[0], 9);
        }
    }

    #[test]
    fn kinks_use_pytorch_subgradients() {
        let x = vec1(&[0.0]);
        let a = BackwardArgs {
            grads: vec![vec1(&[1.0])],
            inputs: some(&[&x]),
            outputs: vec![vec1(&[0.0])],
            attrs: attrs(vec![]),
            needs: vec![true],
        };
        assert_eq!(relu_backward(&a).unwrap()[0].as_ref().unwrap().data, vec![0.0]);
        assert_eq!(abs_backward(&a).unwrap()[0].as_ref().unwrap().data, vec![0.0]);
    }
}
