//! The core's autograd semantics, driven through the sdk (host table) with ops-ref loaded:
//! retain_graph, saved-tensor version checks, no_grad, detach, requires_grad_ rules, gradient
//! hooks, accumulation, implicit gradients, views and dtype casts, fan-out.

use ferrite_sdk::functional as F;
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::with_ops_ref;
use std::sync::{Arc, Mutex};

fn leaf(host: &Host, v: &[f64], shape: &[usize]) -> Tensor {
    host.from_slice(v, shape).unwrap().requires_grad_(true).unwrap()
}

fn t(host: &Host, v: &[f64], shape: &[usize]) -> Tensor {
    host.from_slice(v, shape).unwrap()
}

fn vals(x: &Tensor) -> Vec<f64> {
    x.to_vec_f64().unwrap()
}

fn grad(x: &Tensor) -> Vec<f64> {
    vals(&x.grad().expect("a gradient"))
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length ({got:?} vs {want:?})");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{what}: got {got:?}, want {want:?}");
    }
}

fn err_of(r: ferrite_sdk::Result<()>, what: &str) -> String {
    match r {
        Ok(()) => panic!("{what}: expected an error"),
        Err(e) => e.to_string(),
    }
}

/// `sum(x * x)`: its graph saves tensors (a second backward needs them).
fn sum_sq(x: &Tensor) -> Tensor {
    F::mul(x, x).unwrap().sum_all().unwrap()
}

#[test]
fn second_backward_without_retain_graph_is_a_clear_error() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, -2.0, 3.0], &[3]);
    let loss = sum_sq(&x);
    loss.backward().unwrap();
    assert_close(&grad(&x), &[2.0, -4.0, 6.0], "first backward");
    let msg = err_of(loss.backward(), "second backward");
    assert!(msg.contains("second time") && msg.contains("retain_graph"), "unclear message: {msg}");
    // The failed call added nothing.
    assert_close(&grad(&x), &[2.0, -4.0, 6.0], "after the failed backward");
}

#[test]
fn retain_graph_allows_a_second_backward_that_doubles_the_gradient() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, -2.0, 3.0], &[3]);
    let loss = sum_sq(&x);
    loss.backward_with(None, true).unwrap();
    assert_close(&grad(&x), &[2.0, -4.0, 6.0], "first backward");
    loss.backward_with(None, false).unwrap();
    assert_close(&grad(&x), &[4.0, -8.0, 12.0], "second backward (retained)");
    // The second call did not retain: a third one fails.
    assert!(loss.backward().is_err(), "third backward after a non-retaining one");
}

#[test]
fn copy_into_a_saved_tensor_makes_backward_fail() {
    let host = with_ops_ref();
    // `a` is saved by mul (needed for x's gradient) and then overwritten.
    let x = leaf(&host, &[1.0, 2.0, 3.0], &[3]);
    let a = t(&host, &[4.0, 5.0, 6.0], &[3]);
    let loss = F::mul(&x, &a).unwrap().sum_all().unwrap();
    let v0 = a.version();
    a.copy_(&t(&host, &[0.0, 0.0, 0.0], &[3])).unwrap();
    assert!(a.version() > v0, "copy_ bumps the version counter");
    let msg = err_of(loss.backward(), "backward after copy_ into a saved input");
    assert!(msg.contains("modified by an inplace operation"), "message: {msg}");
    assert!(x.grad().is_none(), "no gradient may be accumulated");

    // Writing through a view of a saved tensor is caught too (shared version counter).
    let x = leaf(&host, &[1.0, 2.0, 3.0], &[3]);
    let a = t(&host, &[4.0, 5.0, 6.0], &[3]);
    let loss = F::mul(&x, &a).unwrap().sum_all().unwrap();
    a.slice(0, 1, 2, 1).unwrap().copy_(&t(&host, &[9.0], &[1])).unwrap();
    let msg = err_of(loss.backward(), "backward after copy_ into a view of a saved input");
    assert!(msg.contains("modified by an inplace operation"), "message: {msg}");

    // A saved output (exp saves its result) written under no_grad, then used by another op.
    let x = leaf(&host, &[0.5, 1.0], &[2]);
    let y = F::exp(&x).unwrap();
    let loss = F::mul(&y, &y).unwrap().sum_all().unwrap();
    host.no_grad(|| y.copy_(&t(&host, &[1.0, 1.0], &[2]))).unwrap();
    let msg = err_of(loss.backward(), "backward after copy_ into a saved output");
    assert!(msg.contains("modified by an inplace operation"), "message: {msg}");
}

#[test]
fn copy_into_a_leaf_that_requires_grad_needs_no_grad() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0], &[2]);
    assert!(x.copy_(&t(&host, &[3.0, 4.0], &[2])).is_err(), "in-place write into a leaf requiring grad");
    host.no_grad(|| x.copy_(&t(&host, &[3.0, 4.0], &[2]))).unwrap();
    assert_eq!(vals(&x), vec![3.0, 4.0]);
    assert!(x.requires_grad());
}

#[test]
fn copy_into_an_unsaved_view_or_cast_output_is_never_a_silently_wrong_gradient() {
    let host = with_ops_ref();
    // A reshape view of a leaf: writing into it writes the leaf (PyTorch refuses this).
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let v = x.reshape(&[4]).unwrap();
    assert!(v.copy_(&t(&host, &[0.0; 4], &[4])).is_err(), "copy_ into a view of a leaf that requires grad");
    assert_eq!(vals(&x), vec![1.0, 2.0, 3.0, 4.0], "the leaf is unchanged");

    // A dtype cast saves nothing for backward; overwriting its output must not leave a graph
    // that sends the old gradient to x.
    let x = leaf(&host, &[1.0, 2.0], &[2]);
    let y = x.to_dtype(DType::F32).unwrap();
    if y.copy_(&host.from_slice(&[5.0f32, 6.0], &[2]).unwrap()).is_ok() {
        // If the write is allowed, y no longer depends on x: x gets a zero gradient or none.
        let w = host.from_slice(&[1.0f32, 1.0], &[2]).unwrap();
        match F::mul(&y, &w).unwrap().sum_all().unwrap().backward() {
            Ok(()) => {
                let g = x.grad().map(|g| vals(&g)).unwrap_or_default();
                assert!(g.iter().all(|&v| v == 0.0), "silently wrong gradient {g:?} after overwriting a cast output");
            }
            Err(e) => assert!(e.to_string().contains("inplace"), "{e}"),
        }
    }
}

#[test]
fn no_grad_records_nothing_and_restores_grad_mode() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0], &[2]);
    assert!(host.is_grad_enabled());
    let (y, v, c) = host.no_grad(|| {
        assert!(!host.is_grad_enabled());
        (F::mul(&x, &x).unwrap(), x.reshape(&[2, 1]).unwrap(), x.to_dtype(DType::F32).unwrap())
    });
    assert!(host.is_grad_enabled(), "grad mode restored");
    for (what, r) in [("mul", &y), ("reshape", &v), ("to_dtype", &c)] {
        assert!(!r.requires_grad(), "{what} under no_grad requires grad");
    }
    assert!(y.sum_all().unwrap().backward().is_err(), "nothing to differentiate");
    assert!(x.grad().is_none());
    // Restored even when the closure panics.
    let r = std::panic::catch_unwind(|| host.no_grad(|| panic!("boom")));
    assert!(r.is_err());
    assert!(host.is_grad_enabled(), "grad mode restored after a panic");
}

#[test]
fn detach_cuts_the_graph_and_shares_data() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, -2.0, 3.0], &[3]);
    let d = x.detach();
    assert!(!d.requires_grad());
    assert_eq!(vals(&d), vals(&x));
    // x * detach(x): the gradient is x, not 2x.
    F::mul(&x, &d).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[1.0, -2.0, 3.0], "x * x.detach()");
    assert!(d.grad().is_none());
    // Detaching a non-leaf gives a leaf with no history.
    let y = F::exp(&x).unwrap().detach();
    assert!(!y.requires_grad());
    assert!(y.sum_all().unwrap().backward().is_err());
    // Shared storage: the detached tensor sees (and bumps) the same version counter.
    let v0 = x.version();
    host.no_grad(|| d.copy_(&t(&host, &[7.0, 8.0, 9.0], &[3]))).unwrap();
    assert_eq!(vals(&x), vec![7.0, 8.0, 9.0]);
    assert!(x.version() > v0);
}

#[test]
fn requires_grad_is_for_float_leaves_only() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0], &[2]);
    let y = F::exp(&x).unwrap();
    assert!(y.requires_grad());
    let e = y.clone().requires_grad_(false).unwrap_err().to_string();
    assert!(e.contains("leaf"), "message: {e}");
    assert!(y.clone().requires_grad_(true).is_err());
    let v = x.reshape(&[2, 1]).unwrap();
    assert!(v.requires_grad_(true).is_err(), "a recorded view is not a leaf");
    let i = host.from_slice(&[1i64, 2], &[2]).unwrap();
    assert!(i.requires_grad_(true).is_err(), "integer tensors cannot require grad");
    // A leaf may be switched off and on again.
    let x = x.requires_grad_(false).unwrap();
    assert!(!x.requires_grad());
    assert!(!F::exp(&x).unwrap().requires_grad());
    assert!(x.requires_grad_(true).unwrap().requires_grad());
}

#[test]
fn leaf_hook_sees_the_gradient_and_can_replace_it() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0, 3.0], &[3]);
    let seen: Arc<Mutex<Vec<Vec<f64>>>> = Arc::default();
    let s = seen.clone();
    x.register_hook(move |g| {
        s.lock().unwrap().push(g.to_vec_f64().unwrap());
        Some(g.mul_scalar(10.0).unwrap())
    })
    .unwrap();
    let w = t(&host, &[1.0, -1.0, 0.5], &[3]);
    F::mul(&x, &w).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![vec![1.0, -1.0, 0.5]], "the hook saw the gradient once");
    assert_close(&grad(&x), &[10.0, -10.0, 5.0], "replaced gradient");

    // A hook returning None keeps the gradient.
    let y = leaf(&host, &[1.0, 2.0], &[2]);
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    y.register_hook(move |_| {
        *c.lock().unwrap() += 1;
        None
    })
    .unwrap();
    sum_sq(&y).backward().unwrap();
    assert_eq!(*calls.lock().unwrap(), 1);
    assert_close(&grad(&y), &[2.0, 4.0], "kept gradient");

    // A tensor that does not require grad takes no hook.
    assert!(t(&host, &[1.0], &[1]).register_hook(|_| None).is_err());
}

#[test]
fn leaf_hook_runs_once_on_the_summed_gradient_of_a_fan_out() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0], &[2]);
    let seen: Arc<Mutex<Vec<Vec<f64>>>> = Arc::default();
    let s = seen.clone();
    // A non-linear hook (squares the gradient): running it per contribution would be wrong.
    x.register_hook(move |g| {
        s.lock().unwrap().push(g.to_vec_f64().unwrap());
        Some(F::mul(g, g).unwrap())
    })
    .unwrap();
    // x used three times: x * x + 3x → gradient 2x + 3.
    let y = F::add(&F::mul(&x, &x).unwrap(), &x.mul_scalar(3.0).unwrap()).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![vec![5.0, 7.0]], "one call with the total gradient");
    assert_close(&grad(&x), &[25.0, 49.0], "hooked gradient");
}

#[test]
fn non_leaf_hook_sees_and_replaces_the_gradient() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0, 3.0], &[3]);
    let h = x.mul_scalar(2.0).unwrap();
    let seen: Arc<Mutex<Vec<Vec<f64>>>> = Arc::default();
    let s = seen.clone();
    h.register_hook(move |g| {
        s.lock().unwrap().push(g.to_vec_f64().unwrap());
        Some(g.mul_scalar(-1.0).unwrap())
    })
    .unwrap();
    // loss = sum(h * h): dloss/dh = 2h = 4x; replaced by -4x; dx = 2 · (-4x).
    sum_sq(&h).backward().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![vec![4.0, 8.0, 12.0]]);
    assert_close(&grad(&x), &[-8.0, -16.0, -24.0], "gradient through the hooked non-leaf");
    assert!(h.grad().is_none(), "a non-leaf keeps no .grad");

    // On a view output too.
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let v = x.t().unwrap();
    v.register_hook(|g| Some(g.mul_scalar(3.0).unwrap())).unwrap();
    let w = t(&host, &[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    F::mul(&v, &w).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[3.0, 9.0, 6.0, 12.0], "hook on a transposed view");
}

#[test]
fn gradients_accumulate_across_backward_calls_until_cleared() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0], &[2]);
    sum_sq(&x).backward().unwrap();
    F::exp(&x).unwrap().sum_all().unwrap().backward().unwrap();
    let e = [1f64.exp(), 2f64.exp()];
    assert_close(&grad(&x), &[2.0 + e[0], 4.0 + e[1]], "accumulated");
    x.set_grad(None).unwrap();
    assert!(x.grad().is_none());
    sum_sq(&x).backward().unwrap();
    assert_close(&grad(&x), &[2.0, 4.0], "after clearing");
    // Accumulation does not write into a gradient tensor the caller already holds.
    let held = x.grad().unwrap();
    sum_sq(&x).backward().unwrap();
    assert_close(&vals(&held), &[2.0, 4.0], "held gradient unchanged");
    assert_close(&grad(&x), &[4.0, 8.0], "accumulated again");
    // A wrong-shaped gradient cannot be set.
    assert!(x.set_grad(Some(&t(&host, &[1.0], &[1]))).is_err());
}

#[test]
fn backward_needs_a_gradient_for_non_scalars() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0, 3.0], &[3]);
    let y = F::mul(&x, &x).unwrap();
    let msg = err_of(y.backward(), "backward of a 3-element output");
    assert!(msg.contains("scalar"), "message: {msg}");
    assert!(y.backward_with(Some(&t(&host, &[1.0, 1.0], &[2])), false).is_err(), "wrong gradient shape");
    y.backward_with(Some(&t(&host, &[1.0, 0.0, -1.0], &[3])), false).unwrap();
    assert_close(&grad(&x), &[2.0, 0.0, -6.0], "explicit output gradient");
    // A one-element non-0-d output takes an implicit gradient of 1.
    let x = leaf(&host, &[3.0], &[1, 1]);
    F::mul(&x, &x).unwrap().backward().unwrap();
    assert_close(&grad(&x), &[6.0], "[1, 1] output");
    // A tensor that does not require grad cannot be differentiated.
    assert!(t(&host, &[1.0], &[]).backward().is_err());
    // Backward from a leaf itself.
    let x = leaf(&host, &[3.0], &[]);
    x.backward().unwrap();
    assert_close(&grad(&x), &[1.0], "leaf root");
}

#[test]
fn reshape_and_flatten_route_gradients_back() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let w = t(&host, &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0], &[3, 2]);
    F::mul(&x.reshape(&[3, -1]).unwrap(), &w).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0], "reshape");
    // Reshape of a non-contiguous view (a copy) still routes to the right elements.
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let flat = x.t().unwrap().reshape(&[6]).unwrap(); // [x00, x10, x01, x11, x02, x12]
    let w = t(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[6]);
    F::mul(&flat, &w).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0], "reshape of a transpose");
    // unsqueeze / squeeze / flatten.
    let x = leaf(&host, &[1.0, 2.0], &[2]);
    let y = x.unsqueeze(0).unwrap().unsqueeze(2).unwrap().flatten(0, 2).unwrap();
    F::mul(&y, &t(&host, &[7.0, 8.0], &[2])).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[7.0, 8.0], "unsqueeze + flatten");
}

#[test]
fn permute_and_transpose_route_gradients_back() {
    let host = with_ops_ref();
    let xv: Vec<f64> = (0..24).map(|v| v as f64).collect();
    let x = leaf(&host, &xv, &[2, 3, 4]);
    let p = x.permute(&[2, 0, 1]).unwrap();
    assert_eq!(p.shape(), vec![4, 2, 3]);
    let wv: Vec<f64> = (0..24).map(|v| (v * 7 % 11) as f64 - 5.0).collect();
    let w = t(&host, &wv, &[4, 2, 3]);
    F::mul(&p, &w).unwrap().sum_all().unwrap().backward().unwrap();
    // grad[i, j, k] = w[k, i, j]
    let mut want = vec![0.0; 24];
    for i in 0..2 {
        for j in 0..3 {
            for k in 0..4 {
                want[(i * 3 + j) * 4 + k] = wv[(k * 2 + i) * 3 + j];
            }
        }
    }
    assert_close(&grad(&x), &want, "permute");

    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let w = t(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    F::mul(&x.transpose(0, 1).unwrap(), &w).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0], "transpose");
    // Through a matmul of a transposed operand: d/dx sum(x^T @ B) = (B · 1)ᵀ per row.
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = t(&host, &[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    x.t().unwrap().matmul(&b).unwrap().sum_all().unwrap().backward().unwrap();
    // sum_{j,m} x[k, j] b[k, m] → grad x[k, j] = sum_m b[k, m] = [3, 7]
    assert_close(&grad(&x), &[3.0, 3.0, 3.0, 7.0, 7.0, 7.0], "matmul of a transpose");
}

#[test]
fn slice_and_select_scatter_gradients_into_zeros() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0, 5.0], &[5]);
    let s = x.slice(0, 1, 5, 2).unwrap(); // elements 1 and 3
    assert_eq!(vals(&s), vec![2.0, 4.0]);
    F::mul(&s, &t(&host, &[10.0, 20.0], &[2])).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[0.0, 10.0, 0.0, 20.0, 0.0], "strided slice");
    // Two overlapping slices of the same tensor: contributions add.
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let a = x.slice(1, 0, 2, 1).unwrap();
    let b = x.slice(1, 1, 3, 1).unwrap();
    F::add(&a, &b).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[1.0, 2.0, 1.0, 1.0, 2.0, 1.0], "overlapping slices");
    // select removes the dim.
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let r = x.select(0, 1).unwrap();
    assert_eq!(r.shape(), vec![3]);
    F::mul(&r, &t(&host, &[1.0, 2.0, 3.0], &[3])).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[0.0, 0.0, 0.0, 1.0, 2.0, 3.0], "select");
}

#[test]
fn expand_sums_gradients_over_broadcast_dims() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0, 3.0], &[3, 1]);
    let e = x.expand(&[2, 3, 4]).unwrap();
    assert_eq!(e.shape(), vec![2, 3, 4]);
    let wv: Vec<f64> = (0..24).map(|v| v as f64).collect();
    F::mul(&e, &t(&host, &wv, &[2, 3, 4])).unwrap().sum_all().unwrap().backward().unwrap();
    // grad[i] = sum over (b, k) of w[b, i, k]
    let want: Vec<f64> = (0..3).map(|i| (0..2).flat_map(|b| (0..4).map(move |k| ((b * 3 + i) * 4 + k) as f64)).sum()).collect();
    assert_close(&grad(&x), &want, "expand");
    // expand with -1 keeps a dim.
    let x = leaf(&host, &[1.0, 2.0], &[1, 2]);
    x.expand(&[3, -1]).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[3.0, 3.0], "expand with -1");
}

#[test]
fn dtype_casts_and_contiguous_route_gradients_back() {
    let host = with_ops_ref();
    // f64 leaf through an f32 computation: the gradient arrives in f64.
    let x = leaf(&host, &[1.5, -2.0], &[2]);
    let y = x.to_dtype(DType::F32).unwrap();
    assert!(y.requires_grad());
    let w = host.from_slice(&[3.0f32, 0.25], &[2]).unwrap();
    F::mul(&y, &w).unwrap().sum_all().unwrap().backward().unwrap();
    let g = x.grad().unwrap();
    assert_eq!(g.dtype(), DType::F64);
    assert_close(&vals(&g), &[3.0, 0.25], "to_dtype f32");
    // f32 leaf through f64 and f16.
    let x = host.from_slice(&[1.0f32, 2.0], &[2]).unwrap().requires_grad_(true).unwrap();
    let y = x.to_dtype(DType::F64).unwrap();
    sum_sq(&y).backward().unwrap();
    assert_eq!(x.grad().unwrap().dtype(), DType::F32);
    assert_close(&grad(&x), &[2.0, 4.0], "to_dtype f64");
    let x = host.from_slice(&[1.0f32, 2.0], &[2]).unwrap().requires_grad_(true).unwrap();
    x.to_dtype(DType::F16).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[1.0, 1.0], "to_dtype f16");
    // Casting to an integer type ends the graph.
    assert!(!x.to_dtype(DType::I64).unwrap().requires_grad());
    // contiguous() of a transposed view.
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let c = x.t().unwrap().contiguous().unwrap();
    assert_eq!(vals(&c), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    F::mul(&c, &t(&host, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0], "contiguous of a transpose");
}

#[test]
fn fan_out_sums_gradients() {
    let host = with_ops_ref();
    // x used twice by one op and once more by another: d/dx (x·x + exp(x)) = 2x + e^x.
    let x = leaf(&host, &[0.5, -1.0], &[2]);
    let y = F::add(&F::mul(&x, &x).unwrap(), &F::exp(&x).unwrap()).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[1.0 + 0.5f64.exp(), -2.0 + (-1.0f64).exp()], "leaf fan-out");
    // A non-leaf used by several consumers, on paths of different lengths (a diamond):
    // h = 2x; out = h·h + exp(h) + h  →  dx = 2·(2h + e^h + 1).
    let x = leaf(&host, &[0.25, 1.0], &[2]);
    let h = x.mul_scalar(2.0).unwrap();
    let long = F::exp(&F::neg(&F::neg(&h).unwrap()).unwrap()).unwrap();
    let out = F::add(&F::add(&F::mul(&h, &h).unwrap(), &long).unwrap(), &h).unwrap();
    out.sum_all().unwrap().backward().unwrap();
    let want: Vec<f64> = [0.5f64, 2.0].iter().map(|h| 2.0 * (2.0 * h + h.exp() + 1.0)).collect();
    assert_close(&grad(&x), &want, "non-leaf fan-out");
    // Fan-out through views of one leaf: x + xᵀ.
    let x = leaf(&host, &[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let w = t(&host, &[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    F::mul(&F::add(&x, &x.t().unwrap()).unwrap(), &w).unwrap().sum_all().unwrap().backward().unwrap();
    // grad = w + wᵀ
    assert_close(&grad(&x), &[2.0, 5.0, 5.0, 8.0], "x + xᵀ");
}

#[test]
fn only_float_differentiable_outputs_carry_history() {
    let host = with_ops_ref();
    let x = leaf(&host, &[3.0, 1.0, 2.0, 5.0], &[2, 2]);
    let (v, i) = F::max_dim(&x, 1, false).unwrap();
    assert!(v.requires_grad());
    assert!(!i.requires_grad(), "indices carry no gradient");
    assert!(!F::argmax(&x, 1, false).unwrap().requires_grad());
    assert!(!F::gt(&x, &t(&host, &[2.0], &[1])).unwrap().requires_grad());
    v.sum_all().unwrap().backward().unwrap();
    assert_close(&grad(&x), &[1.0, 0.0, 0.0, 1.0], "max values");
}
