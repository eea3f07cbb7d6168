//! The core mechanisms ZeRO-3 and overlapped gradient reduction are built on: fetch hooks that
//! restore a released storage when an op (forward or backward) reads it, pins that keep an
//! op's inputs from being released by another input's fetch, and post-accumulate gradient
//! hooks (`register_post_accumulate_grad_hook`).

use ferrite_sdk::functional as F;
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::with_ops_ref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn leaf(host: &Host, v: &[f64], shape: &[usize]) -> Tensor {
    host.from_slice(v, shape).unwrap().requires_grad_(true).unwrap()
}

/// Installs a hook that restores `w` to `values` and counts its calls.
fn fetchable(w: &Tensor, values: Vec<f64>) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let (c, me) = (calls.clone(), w.detach());
    w.set_fetch_hook(move || {
        c.fetch_add(1, Ordering::SeqCst);
        unsafe { me.restore_storage_()? };
        let host = me.host();
        host.no_grad(|| me.copy_(&host.from_slice(&values, &me.shape())?))
    })
    .unwrap();
    calls
}

#[test]
fn a_released_parameter_is_fetched_in_forward_and_again_in_backward() {
    let host = with_ops_ref();
    let wv = vec![1.0, -2.0, 0.5, 3.0];
    let w = leaf(&host, &wv, &[2, 2]);
    let calls = fetchable(&w, wv.clone());
    let x = host.from_slice(&[1.0f64, 2.0, -1.0, 0.5], &[2, 2]).unwrap();
    assert!(unsafe { w.release_storage_().unwrap() });
    let y = F::matmul(&x, &w).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "fetched once for the forward");
    // Released again before backward: the saved weight is fetched back, and its version is
    // unchanged, so autograd accepts it.
    assert!(unsafe { w.release_storage_().unwrap() });
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "fetched again for the backward");
    // d/dW sum(x W) = xᵀ 1; d/dx needs W itself (x does not require grad, so only W's grad).
    let g = w.grad().unwrap().to_vec_f64().unwrap();
    assert_eq!(g, vec![0.0, 0.0, 2.5, 2.5]);
    assert_eq!(y.to_vec_f64().unwrap(), vec![1.0 + 1.0, -2.0 + 6.0, -1.0 + 0.25, 2.0 + 1.5]);
}

#[test]
fn a_fetch_cannot_release_another_input_of_the_same_op() {
    let host = with_ops_ref();
    let a = leaf(&host, &[1.0, 2.0], &[2]);
    let b = leaf(&host, &[3.0, 4.0], &[2]);
    // b's fetch tries to evict a (an input of the same add): the pin refuses.
    let refused = Arc::new(Mutex::new(None));
    let (r, a2, b2) = (refused.clone(), a.detach(), b.detach());
    b.set_fetch_hook(move || {
        *r.lock().unwrap() = Some(unsafe { a2.release_storage_()? });
        unsafe { b2.restore_storage_()? };
        let host = b2.host();
        host.no_grad(|| b2.copy_(&host.from_slice(&[3.0f64, 4.0], &[2])?))
    })
    .unwrap();
    fetchable(&a, vec![1.0, 2.0]);
    assert!(unsafe { b.release_storage_().unwrap() });
    let s = F::add(&a, &b).unwrap();
    assert_eq!(*refused.lock().unwrap(), Some(false), "a was pinned while the add ran");
    assert_eq!(s.to_vec_f64().unwrap(), vec![4.0, 6.0]);
    // Outside an op nothing is pinned.
    assert!(unsafe { a.release_storage_().unwrap() });
}

#[test]
fn failing_and_missing_fetches_are_errors_naming_the_op() {
    let host = with_ops_ref();
    let w = leaf(&host, &[1.0, 2.0], &[2]);
    unsafe { w.release_storage_().unwrap() };
    let e = w.mul_scalar(2.0).unwrap_err().to_string();
    assert!(e.contains("released") && e.contains("mul"), "{e}");
    w.set_fetch_hook(|| ferrite_sdk::bail!("peer 1 is gone")).unwrap();
    let e = w.mul_scalar(2.0).unwrap_err().to_string();
    assert!(e.contains("peer 1 is gone"), "{e}");
    // A hook that forgets to restore.
    w.set_fetch_hook(|| Ok(())).unwrap();
    let e = w.mul_scalar(2.0).unwrap_err().to_string();
    assert!(e.contains("without restoring"), "{e}");
    // A panicking hook is an error, not an abort.
    w.set_fetch_hook(|| panic!("boom")).unwrap();
    let e = w.mul_scalar(2.0).unwrap_err().to_string();
    assert!(e.contains("panicked"), "{e}");
    w.clear_fetch_hook().unwrap();
    assert!(w.mul_scalar(2.0).is_err());
}

#[test]
fn post_accumulate_hook_sees_the_total_gradient_once_and_may_take_it() {
    let host = with_ops_ref();
    let x = leaf(&host, &[1.0, 2.0], &[2]);
    let seen: Arc<Mutex<Vec<Vec<f64>>>> = Arc::default();
    let s = seen.clone();
    x.register_post_accumulate_grad_hook(move |p| {
        s.lock().unwrap().push(p.grad().unwrap().to_vec_f64().unwrap());
        p.set_grad(None).unwrap();
    })
    .unwrap();
    // x used twice (x·x + 3x): one call with the accumulated total 2x + 3.
    let y = F::add(&F::mul(&x, &x).unwrap(), &x.mul_scalar(3.0).unwrap()).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![vec![5.0, 7.0]]);
    assert!(x.grad().is_none(), "the hook took the gradient");
    // With an existing .grad the hook sees old + new (accumulation happened first).
    let z = leaf(&host, &[1.0], &[1]);
    let seen2: Arc<Mutex<Vec<f64>>> = Arc::default();
    let s2 = seen2.clone();
    z.register_post_accumulate_grad_hook(move |p| s2.lock().unwrap().push(p.grad().unwrap().to_vec_f64().unwrap()[0])).unwrap();
    for _ in 0..2 {
        z.mul_scalar(4.0).unwrap().sum_all().unwrap().backward().unwrap();
    }
    assert_eq!(*seen2.lock().unwrap(), vec![4.0, 8.0]);
    // Only leaves that require grad take one.
    assert!(host.ones(&[1], DType::F64).unwrap().register_post_accumulate_grad_hook(|_| {}).is_err());
    assert!(x.mul_scalar(1.0).unwrap().register_post_accumulate_grad_hook(|_| {}).is_err());
}
