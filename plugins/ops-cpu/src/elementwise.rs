//! Elementwise unary ops (`relu`, `neg`, `exp`, `log`, `sqrt`, `abs`, `tanh`, `sigmoid`, `gelu`):
//! one pass over contiguous typed buffers, chunked over the host's thread pool. Backwards
//! recompute from the input in the compute type (never from a rounded f16/bf16 output).

use crate::register::Call;
use crate::typed::{bwd_views, par_chunks, with_out, Float};
use crate::{cpu_op, with_float};
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::Attrs;
use ferrite_sdk::shape::{same_as_input, str_or};

/// Forward driver: `y = f(x)` for every element.
pub fn unary_forward<T: Float, F: Fn(T) -> T + Sync>(c: &Call<'_>, f: F) -> Result<(), String> {
    let xv = c.input(0)?;
    let yv = c.output(0).ok_or("missing output")?;
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let x = T::load(xv);
        with_out::<T>(yv, |y| {
            if y.len() != x.len() {
                return Err(format!("output has {} elements, input {}", y.len(), x.len()));
            }
            par_chunks(ctx, y, 1, 4, |s, ys| ys.iter_mut().zip(&x[s..]).for_each(|(o, &v)| *o = f(v)));
            Ok(())
        })
    }
}

/// Backward driver: `dx = d(x, dy)` for every element.
pub fn unary_backward<T: Float, F: Fn(T, T) -> T + Sync>(c: &Call<'_>, d: F) -> Result<(), String> {
    let b = bwd_views(c, 1)?;
    let Some(dxv) = b.dins[0] else { return Ok(()) };
    let ctx = c.ctx;
    // SAFETY: views of a kernel call are valid for its duration.
    unsafe {
        let (x, g) = (T::load(&b.inputs[0]), T::load(&b.grads[0]));
        if x.len() != g.len() {
            return Err(format!("gradient has {} elements, input {}", g.len(), x.len()));
        }
        with_out::<T>(dxv, |dx| {
            par_chunks(ctx, dx, 1, 4, |s, o| {
                for ((o, &xv), &gv) in o.iter_mut().zip(&x[s..]).zip(&g[s..]) {
                    *o = d(xv, gv);
                }
            });
            Ok(())
        })
    }
}

/// Overflow-free logistic sigmoid.
#[inline(always)]
pub fn sigmoid<T: Float>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

/// Declares one unary op: module `$m` with `forward`/`backward` kernels and its registration.
macro_rules! unary {
    ($STATIC:ident, $m:ident, $name:literal, [$($api:literal),*], $alias:literal, $doc:literal,
     |$x:ident| $f:expr, |$bx:ident, $g:ident| $df:expr) => {
        #[doc = concat!("Kernels of `", $name, "`.")]
        pub mod $m {
            use super::*;
            /// Forward kernel.
            pub fn forward(c: &Call<'_>) -> Result<(), String> {
                with_float!($name, c.input(0)?.dtype, T => unary_forward::<T, _>(c, |$x: T| $f))
            }
            /// Backward kernel (`dx = dy·f'(x)`).
            pub fn backward(c: &Call<'_>) -> Result<(), String> {
                with_float!($name, c.input(1)?.dtype, T => unary_backward::<T, _>(c, |$bx: T, $g: T| $df))
            }
        }
        cpu_op! {
            $STATIC {
                name: $name,
                version: 1,
                api_names: [$($api),*],
                aliases: [$alias],
                doc: $doc,
                inputs: [ArgDesc::tensor("input")],
                outputs: [ArgDesc::tensor("out")],
                attrs: [],
                dispatch_input: 0,
                shape: same_as_input,
                forward: $m::forward,
                backward: some($m::backward),
            }
        }
    };
}

unary!(RELU, relu, "ferrite::relu", ["nn.functional.relu", "relu", "Tensor.relu"], "aten::relu",
    "Rectified linear unit max(x, 0); gradient 0 at 0 (as PyTorch).",
    |x| if x > T::ZERO { x } else { T::ZERO },
    |x, g| if x > T::ZERO { g } else { T::ZERO });
unary!(NEG, neg, "ferrite::neg", ["neg", "Tensor.neg", "negative"], "aten::neg", "Negation -x.",
    |x| -x, |_x, g| -g);
unary!(EXP, exp, "ferrite::exp", ["exp", "Tensor.exp"], "aten::exp", "Exponential e^x (inf on overflow).",
    |x| x.exp(), |x, g| g * x.exp());
unary!(LOG, log, "ferrite::log", ["log", "Tensor.log"], "aten::log",
    "Natural logarithm (-inf at 0, NaN below 0); gradient 1/x.",
    |x| x.ln(), |x, g| g / x);
unary!(SQRT, sqrt, "ferrite::sqrt", ["sqrt", "Tensor.sqrt"], "aten::sqrt",
    "Square root (NaN below 0); gradient 1/(2 sqrt(x)), inf at 0 (as PyTorch).",
    |x| x.sqrt(), |x, g| g / (T::of(2.0) * x.sqrt()));
unary!(ABS, abs, "ferrite::abs", ["abs", "Tensor.abs", "absolute"], "aten::abs",
    "Absolute value |x|; gradient sign(x), 0 at 0 (as PyTorch).",
    |x| x.abs(), |x, g| if x > T::ZERO { g } else if x < T::ZERO { -g } else { T::ZERO });
unary!(TANH, tanh, "ferrite::tanh", ["nn.functional.tanh", "tanh", "Tensor.tanh"], "aten::tanh",
    "Hyperbolic tangent; gradient 1 - tanh(x)^2.",
    |x| x.tanh(), |x, g| { let t = x.tanh(); g * (T::ONE - t * t) });
unary!(SIGMOID, sigmoid_k, "ferrite::sigmoid", ["nn.functional.sigmoid", "sigmoid", "Tensor.sigmoid"], "aten::sigmoid",
    "Logistic sigmoid 1/(1+e^-x), evaluated without overflow; gradient s(1-s).",
    |x| sigmoid(x), |x, g| { let s = sigmoid(x); g * s * (T::ONE - s) });

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_C: f64 = 0.044715;
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// `true` for gelu's `approximate = "tanh"`, `false` for `"none"`; anything else is an error.
fn gelu_tanh_mode(attrs: &Attrs) -> Result<bool, String> {
    match str_or(attrs, 0, "none").map_err(|e| format!("gelu: {e}"))?.as_str() {
        "none" => Ok(false),
        "tanh" => Ok(true),
        other => Err(format!("gelu: approximate must be \"none\" or \"tanh\", got {other:?}")),
    }
}

/// Standard normal CDF `Φ(x) = ½·erfc(-x/√2)` (accurate in both tails).
#[inline(always)]
fn phi_cdf<T: Float>(x: T) -> T {
    T::of(0.5) * (-x * T::of(FRAC_1_SQRT_2)).erfc()
}

/// Gelu forward kernel: `x·Φ(x)` or the tanh approximation.
pub fn gelu_forward(c: &Call<'_>) -> Result<(), String> {
    let tanh = gelu_tanh_mode(&c.attrs)?;
    with_float!("gelu", c.input(0)?.dtype, T => if tanh {
        let (k, a) = (T::of(SQRT_2_OVER_PI), T::of(GELU_TANH_C));
        unary_forward::<T, _>(c, |x: T| T::of(0.5) * x * (T::ONE + (k * (x + a * x * x * x)).tanh()))
    } else {
        unary_forward::<T, _>(c, |x: T| x * phi_cdf(x))
    })
}

/// Gelu backward kernel: `dy·(Φ(x) + xφ(x))` or the derivative of the tanh form.
pub fn gelu_backward(c: &Call<'_>) -> Result<(), String> {
    let tanh = gelu_tanh_mode(&c.attrs)?;
    with_float!("gelu", c.input(1)?.dtype, T => if tanh {
        let (k, a) = (T::of(SQRT_2_OVER_PI), T::of(GELU_TANH_C));
        let half = T::of(0.5);
        unary_backward::<T, _>(c, |x: T, g: T| {
            let t = (k * (x + a * x * x * x)).tanh();
            g * (half * (T::ONE + t) + half * x * (T::ONE - t * t) * k * (T::ONE + T::of(3.0) * a * x * x))
        })
    } else {
        unary_backward::<T, _>(c, |x: T, g: T| g * (phi_cdf(x) + x * T::of(FRAC_1_SQRT_2PI) * (T::of(-0.5) * x * x).exp()))
    })
}

cpu_op! {
    GELU {
        name: "ferrite::gelu",
        version: 1,
        api_names: ["nn.functional.gelu", "gelu"],
        aliases: ["aten::gelu"],
        doc: "Gaussian error linear unit x*Phi(x); approximate = \"none\" (erf) or \"tanh\".",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::str("approximate", "none")],
        dispatch_input: 0,
        shape: same_as_input,
        forward: gelu_forward,
        backward: some(gelu_backward),
    }
}
