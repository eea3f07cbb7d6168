//! Throughput of ops-cpu's GEMM-based kernels, f32, called through their C ABI on a pool of
//! `THREADS` threads (default 2; a fake host's `parallel_for`, as the core would lend):
//! * `ferrite::matmul` square sgemm at 256, 512, 1024, 2048 → GFLOP/s (and 1 thread for scale);
//! * `ferrite::conv2d` 3×3, padding 1, batch 64, 28×28: 1→16 and 16→32, forward and backward
//!   (input, weight and bias gradients) wall time.
//!
//! ```text
//! cargo run --release -p ferrite-ops-cpu --example gemm_conv_bench
//! ```

use ferrite_ops_cpu::conv::CONV2D;
use ferrite_ops_cpu::matmul::MATMUL;
use ferrite_sdk::abi::kernel::{status, AttrValue, KernelCtx, KernelFn};
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::{DType, Device};
use std::time::Instant;

#[path = "../src/flash_attention/testhost.rs"]
mod testhost;

/// A contiguous f32 tensor.
struct T {
    data: Vec<f32>,
    shape: Vec<i64>,
    strides: Vec<i64>,
}

impl T {
    fn new(shape: &[usize], seed: u32) -> T {
        let n: usize = shape.iter().product();
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        let data = (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) - 0.5
            })
            .collect();
        let mut strides = vec![1i64; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1] as i64;
        }
        T { data, shape: shape.iter().map(|&d| d as i64).collect(), strides }
    }
    fn view(&self) -> TensorView {
        TensorView {
            data: self.data.as_ptr() as *mut _,
            device: Device::CPU,
            ndim: self.shape.len() as i32,
            dtype: DType::F32,
            shape: self.shape.as_ptr(),
            strides: self.strides.as_ptr(),
            byte_offset: 0,
        }
    }
}

fn run(cx: &KernelCtx, k: KernelFn, ins: &[Option<&T>], outs: &[Option<&T>], attrs: &[AttrValue]) {
    let iv: Vec<TensorView> = ins.iter().map(|t| t.map_or(TensorView::ABSENT, |t| t.view())).collect();
    let ov: Vec<TensorView> = outs.iter().map(|t| t.map_or(TensorView::ABSENT, |t| t.view())).collect();
    // SAFETY: views point into live tensors for the call.
    let st = unsafe { k(cx, iv.as_ptr(), iv.len(), ov.as_ptr(), ov.len(), attrs.as_ptr(), attrs.len()) };
    assert_eq!(st, status::OK, "{}", testhost::last_kernel_error());
}

/// Best of several timed runs (seconds), after one warm-up, for at least ~0.5 s in total.
fn best(mut f: impl FnMut()) -> f64 {
    f();
    let (mut best, mut total, mut reps) = (f64::INFINITY, 0.0, 0);
    while reps < 3 || (total < 0.5 && reps < 50) {
        let t = Instant::now();
        f();
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        total += s;
        reps += 1;
    }
    best
}

fn main() {
    let threads: usize = std::env::var("THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    testhost::set_threads(threads);
    let cx = testhost::ctx(true);
    println!("sgemm (ferrite::matmul forward, f32, square n×n @ n×n), {threads} threads:");
    for n in [256usize, 512, 1024, 2048] {
        let (a, b, c) = (T::new(&[n, n], 1), T::new(&[n, n], 2), T::new(&[n, n], 3));
        let flops = 2.0 * (n as f64).powi(3);
        testhost::set_threads(1);
        let t1 = best(|| run(&cx, MATMUL::forward, &[Some(&a), Some(&b)], &[Some(&c)], &[]));
        testhost::set_threads(threads);
        let tn = best(|| run(&cx, MATMUL::forward, &[Some(&a), Some(&b)], &[Some(&c)], &[]));
        println!("  n={n:5}: {:7.1} GFLOP/s ({:.2} ms)   [1 thread: {:6.1} GFLOP/s]", flops / tn / 1e9, tn * 1e3, flops / t1 / 1e9);
    }
    let attrs: Vec<Attr> = vec![Attr::Ints(vec![1, 1]), Attr::Ints(vec![1, 1]), Attr::Ints(vec![1, 1]), Attr::Int(1)];
    let av: Vec<AttrValue> = attrs.iter().map(|a| a.as_abi()).collect();
    println!("conv2d 3x3 pad 1, batch 64, 28x28, f32, {threads} threads:");
    for (cin, cout) in [(1usize, 16usize), (16, 32)] {
        let x = T::new(&[64, cin, 28, 28], 4);
        let w = T::new(&[cout, cin, 3, 3], 5);
        let b = T::new(&[cout], 6);
        let y = T::new(&[64, cout, 28, 28], 7);
        let g = T::new(&[64, cout, 28, 28], 8);
        let (dx, dw, db) = (T::new(&[64, cin, 28, 28], 0), T::new(&[cout, cin, 3, 3], 0), T::new(&[cout], 0));
        let tf = best(|| run(&cx, CONV2D::forward, &[Some(&x), Some(&w), Some(&b)], &[Some(&y)], &av));
        let tb = best(|| {
            run(&cx, CONV2D::backward, &[Some(&g), Some(&x), Some(&w), Some(&b), Some(&y)], &[Some(&dx), Some(&dw), Some(&db)], &av)
        });
        let tbw = best(|| run(&cx, CONV2D::backward, &[Some(&g), Some(&x), Some(&w), Some(&b), Some(&y)], &[None, Some(&dw), Some(&db)], &av));
        let gf = 2.0 * 64.0 * 28.0 * 28.0 * (cout * cin * 9) as f64 / 1e9;
        println!(
            "  {cin:2}->{cout:2}: forward {:6.2} ms ({:5.1} GFLOP/s), backward dx+dW+db {:6.2} ms, dW+db only {:6.2} ms, fwd+bwd {:6.2} ms",
            tf * 1e3,
            gf / tf,
            tb * 1e3,
            tbw * 1e3,
            (tf + tb) * 1e3
        );
    }
}
