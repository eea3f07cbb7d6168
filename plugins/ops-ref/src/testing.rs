//! Test helpers shared by the op families: array builders, a seeded random array, a shape-function
//! cross-check and the central finite-difference gradient check every backward is held to.

use ferrite_sdk::abi::dtype::DType;
use ferrite_sdk::kernel::reference::{RefBackward, RefForward, RefShape};
use ferrite_sdk::kernel::{Array, Attr, Attrs, BackwardArgs, Meta};
use ferrite_sdk::rng::Rng;

/// An array from a shape and data (panics on mismatch: tests only).
pub fn arr(shape: &[usize], data: &[f64]) -> Array {
    Array::new(shape.to_vec(), data.to_vec()).unwrap()
}

/// A 1-D array.
pub fn vec1(data: &[f64]) -> Array {
    arr(&[data.len()], data)
}

/// Uniform values in `[-2, 2)` from a seeded generator.
pub fn rand_array(shape: &[usize], seed: u64) -> Array {
    let mut r = Rng::new(seed);
    let n: usize = shape.iter().product();
    Array { shape: shape.to_vec(), data: (0..n).map(|_| r.uniform() * 4.0 - 2.0).collect() }
}

/// Attributes from a list.
pub fn attrs(v: Vec<Attr>) -> Attrs {
    Attrs(v)
}

/// Wraps arrays as present inputs.
pub fn some(v: &[&Array]) -> Vec<Option<Array>> {
    v.iter().map(|a| Some((*a).clone())).collect()
}

/// Asserts `a` and `b` agree elementwise within `tol` (absolute + relative); equal infinities
/// and NaN-vs-NaN count as agreeing.
pub fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths {} vs {}", a.len(), b.len());
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= tol * (1.0 + y.abs());
        assert!(ok, "{what}: element {i}: {x} vs {y} (tol {tol})\n  got {a:?}\n  expected {b:?}");
    }
}

/// Runs the shape function on metas built from `ins` (dtype per input from `dtypes`, F64 when
/// the list is short) and asserts it predicts the shapes of `outs`; returns the metas.
pub fn check_shape(shape: RefShape, ins: &[Option<Array>], dtypes: &[DType], a: &Attrs, outs: &[Array]) -> Vec<Meta> {
    let metas: Vec<Option<Meta>> = ins
        .iter()
        .enumerate()
        .map(|(i, x)| x.as_ref().map(|x| Meta::new(*dtypes.get(i).unwrap_or(&DType::F64), x.shape.clone())))
        .collect();
    let m = shape(&metas, a).expect("shape function failed");
    assert_eq!(m.len(), outs.len(), "number of outputs");
    for (m, o) in m.iter().zip(outs) {
        assert_eq!(m.shape, o.shape, "shape function vs forward");
    }
    m
}

/// Checks the backward of an op against central finite differences.
///
/// A random upstream gradient is drawn for output 0 (all other outputs get zeros, as the core
/// passes for outputs that received no gradient); the analytic gradient of
/// `L(x) = sum(out0 · upstream)` with respect to every input listed in `wrt` is compared with
/// `(L(x+h) - L(x-h)) / 2h`, `h = 1e-6`, elementwise within `1e-6` absolute + relative.
/// Gradients must have their input's exact shape.
pub fn check_grad(fwd: RefForward, bwd: RefBackward, ins: &[Option<Array>], a: &Attrs, wrt: &[usize], seed: u64) {
    let outs = fwd(ins, a).expect("forward failed");
    let up = rand_array(&outs[0].shape, seed ^ 0x5eed);
    let mut grads = vec![up.clone()];
    grads.extend(outs[1..].iter().map(|o| Array::zeros(&o.shape)));
    let needs: Vec<bool> = (0..ins.len()).map(|i| wrt.contains(&i)).collect();
    let args = BackwardArgs { grads, inputs: ins.to_vec(), outputs: outs.clone(), attrs: a.clone(), needs };
    let analytic = bwd(&args).expect("backward failed");
    assert_eq!(analytic.len(), ins.len(), "backward returns one gradient per input");
    let loss = |xs: &[Option<Array>]| -> f64 {
        let o = fwd(xs, a).expect("forward failed under perturbation");
        o[0].data.iter().zip(&up.data).map(|(x, u)| x * u).sum()
    };
    let h = 1e-6;
    for &w in wrt {
        let x = ins[w].as_ref().expect("differentiable input present");
        let g = analytic[w].as_ref().unwrap_or_else(|| panic!("no gradient for input {w}"));
        assert_eq!(g.shape, x.shape, "gradient {w} has the input's shape");
        let mut numeric = vec![0.0; x.numel()];
        for (k, num) in numeric.iter_mut().enumerate() {
            let mut p = ins.to_vec();
            p[w].as_mut().unwrap().data[k] += h;
            let lp = loss(&p);
            p[w].as_mut().unwrap().data[k] -= 2.0 * h;
            let lm = loss(&p);
            *num = (lp - lm) / (2.0 * h);
        }
        assert_close(&g.data, &numeric, 1e-6, &format!("gradient of input {w}"));
    }
}

#[test]
fn registered_ops_have_valid_schemas() {
    use ferrite_sdk::register::OPS;
    let mine = [
        "relu", "neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "gelu", "add", "sub", "mul", "div", "pow", "eq", "ne",
        "lt", "le", "gt", "ge", "where", "sum", "mean", "logsumexp", "max", "min", "argmax", "softmax", "log_softmax",
        "cross_entropy", "nll_loss", "mse_loss", "cat", "stack", "index_select", "gather", "embedding", "dropout",
    ];
    let mut names: Vec<&str> = OPS.iter().map(|o| o.name.as_str()).collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "duplicate canonical names");
    for n in mine {
        let full = format!("ferrite::{n}");
        let op = OPS.iter().find(|o| o.name.as_str() == full).unwrap_or_else(|| panic!("{full} not registered"));
        assert!((op.dispatch_input as usize) < op.inputs.len(), "{full}: dispatch_input");
        assert!(op.kernels.len() >= 4, "{full}: kernels for all reference floats");
        assert!(!op.api_names.is_empty() && !op.doc.is_empty(), "{full}: api names and doc");
        let variadic = op.inputs.iter().position(|a| a.variadic);
        assert!(variadic.is_none_or(|i| i + 1 == op.inputs.len()), "{full}: only the last input may be variadic");
    }
}
