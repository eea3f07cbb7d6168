//! Forward+backward time and peak extra memory of ops-cpu's FlashAttention against a naive
//! attention (materialised `L×S` scores, `P` kept for backward as autograd would), f32,
//! batch 1, 8 heads, head dim 64, on a pool of 2 threads (a fake host's `parallel_for`).
//!
//! ```text
//! cargo run --release -p ferrite-ops-cpu --example flash_attention_bench [-- 1024 4096 8192]
//! ```
//! Environment: `THREADS` (default 2), `NAIVE_MAX` (longest sequence the naive version runs,
//! default 8192), `CAUSAL=1` for causal attention.

use ferrite_ops_cpu::flash_attention::{backward, forward};
use ferrite_sdk::abi::kernel::{attr_kind, status, AttrValue, KernelCtx};
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::parallel::parallel_for;
use ferrite_sdk::{DType, Device};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[path = "../src/flash_attention/testhost.rs"]
mod testhost;

/// Counts live heap bytes and their peak.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

fn peak_since(base: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

struct T {
    data: Vec<f32>,
    shape: Vec<i64>,
    strides: Vec<i64>,
}

impl T {
    fn new(shape: &[usize], data: Vec<f32>) -> T {
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

fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[derive(Clone, Copy)]
struct P(*mut f32);
unsafe impl Send for P {}
unsafe impl Sync for P {}

#[allow(clippy::too_many_arguments)]
unsafe fn mm(m: usize, n: usize, k: usize, dst: *mut f32, dst_rs: usize, read: bool, lhs: *const f32, l_rs: usize, l_cs: usize, rhs: *const f32, r_rs: usize, r_cs: usize, beta: f32) {
    gemm::gemm(
        m, n, k, dst, 1, dst_rs as isize, read, lhs, l_cs as isize, l_rs as isize, rhs, r_cs as isize, r_rs as isize, 1.0, beta, false, false, false,
        gemm::Parallelism::None,
    )
}

/// Naive attention per head: `S = scale·QKᵀ` (L×L), softmax → P (kept for all heads), `O = PV`;
/// backward `dV = Pᵀ dO`, `dP = dO Vᵀ` (L×L per head), `dS = P∘(dP − rowsum(P∘dP))`,
/// `dQ = scale·dS K`, `dK = scale·dSᵀ Q`. Returns (forward s, backward s).
fn naive(host: *const ferrite_sdk::abi::host::HostApi, h: usize, l: usize, d: usize, causal: bool, q: &[f32], k: &[f32], v: &[f32], d_o: &[f32]) -> (f64, f64, Vec<f32>) {
    let scale = 1.0 / (d as f32).sqrt();
    let mut o = vec![0f32; h * l * d];
    let mut p_all = vec![0f32; h * l * l];
    let (op, pp) = (P(o.as_mut_ptr()), P(p_all.as_mut_ptr()));
    let t0 = Instant::now();
    parallel_for(host, h, 1, |s, e| unsafe {
        let (pp, op) = (pp, op);
        for b in s..e {
            let pb = pp.0.add(b * l * l);
            mm(l, l, d, pb, l, false, q.as_ptr().add(b * l * d), d, 1, k.as_ptr().add(b * l * d), 1, d, scale);
            for i in 0..l {
                let row = std::slice::from_raw_parts_mut(pb.add(i * l), l);
                if causal {
                    row[i + 1..].fill(f32::NEG_INFINITY);
                }
                let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let mut z = 0.0;
                for x in row.iter_mut() {
                    *x = (*x - mx).exp();
                    z += *x;
                }
                row.iter_mut().for_each(|x| *x /= z);
            }
            mm(l, d, l, op.0.add(b * l * d), d, false, pb, l, 1, v.as_ptr().add(b * l * d), d, 1, 1.0);
        }
    });
    let tf = t0.elapsed().as_secs_f64();
    let (mut dq, mut dk, mut dv) = (vec![0f32; h * l * d], vec![0f32; h * l * d], vec![0f32; h * l * d]);
    let (dqp, dkp, dvp) = (P(dq.as_mut_ptr()), P(dk.as_mut_ptr()), P(dv.as_mut_ptr()));
    let t1 = Instant::now();
    parallel_for(host, h, 1, |s, e| unsafe {
        let (pp, dqp, dkp, dvp) = (pp, dqp, dkp, dvp);
        let mut dp = vec![0f32; l * l];
        for b in s..e {
            let pb = pp.0.add(b * l * l);
            let (dob, vb, qb, kb) = (d_o.as_ptr().add(b * l * d), v.as_ptr().add(b * l * d), q.as_ptr().add(b * l * d), k.as_ptr().add(b * l * d));
            mm(l, d, l, dvp.0.add(b * l * d), d, false, pb, 1, l, dob, d, 1, 1.0);
            mm(l, l, d, dp.as_mut_ptr(), l, false, dob, d, 1, vb, 1, d, 1.0);
            for i in 0..l {
                let prow = std::slice::from_raw_parts(pb.add(i * l), l);
                let drow = &mut dp[i * l..(i + 1) * l];
                let dd: f32 = prow.iter().zip(drow.iter()).map(|(a, b)| a * b).sum();
                for (x, &p) in drow.iter_mut().zip(prow) {
                    *x = p * (*x - dd);
                }
            }
            mm(l, d, l, dqp.0.add(b * l * d), d, false, dp.as_ptr(), l, 1, kb, d, 1, scale);
            mm(l, d, l, dkp.0.add(b * l * d), d, false, dp.as_ptr(), 1, l, qb, d, 1, scale);
        }
    });
    let tb = t1.elapsed().as_secs_f64();
    drop((dq, dk, dv, p_all));
    (tf, tb, o)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let seqs = if args.is_empty() { vec![1024, 4096, 8192] } else { args };
    let threads: usize = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(2);
    let naive_max: usize = std::env::var("NAIVE_MAX").ok().and_then(|t| t.parse().ok()).unwrap_or(8192);
    let causal = std::env::var("CAUSAL").map(|v| v == "1").unwrap_or(false);
    testhost::set_threads(threads);
    let (h, d) = (8usize, 64usize);
    let cx: KernelCtx = testhost::ctx(true);
    let mut attrs = [AttrValue::NONE; 2];
    attrs[0].kind = attr_kind::BOOL;
    attrs[0].int = causal as i64;
    println!("batch 1, heads {h}, head dim {d}, f32, {threads} threads, causal={causal}");
    println!("{:>6} | {:>10} {:>10} {:>10} {:>12} | {:>10} {:>10} {:>10} {:>12} | {:>8}", "seq", "flash fwd", "flash bwd", "flash f+b", "flash peak", "naive fwd", "naive bwd", "naive f+b", "naive peak", "max|dout|");
    for &l in &seqs {
        let shape = [1, h, l, d];
        let n = h * l * d;
        let (q, k, v, d_o) = (T::new(&shape, rand_vec(n, 1)), T::new(&shape, rand_vec(n, 2)), T::new(&shape, rand_vec(n, 3)), T::new(&shape, rand_vec(n, 4)));
        let out = T::new(&shape, vec![0.0; n]);
        let (dq, dk, dv) = (T::new(&shape, vec![0.0; n]), T::new(&shape, vec![0.0; n]), T::new(&shape, vec![0.0; n]));
        let base = reset_peak();
        let fin = [q.view(), k.view(), v.view(), TensorView::ABSENT];
        let t0 = Instant::now();
        let st = unsafe { forward(&cx, fin.as_ptr(), 4, [out.view()].as_ptr(), 1, attrs.as_ptr(), 2) };
        let tf = t0.elapsed().as_secs_f64();
        assert_eq!(st, status::OK, "{}", testhost::last_kernel_error());
        let bin = [d_o.view(), fin[0], fin[1], fin[2], fin[3], out.view()];
        let bout = [dq.view(), dk.view(), dv.view(), TensorView::ABSENT];
        let t1 = Instant::now();
        let st = unsafe { backward(&cx, bin.as_ptr(), 6, bout.as_ptr(), 4, attrs.as_ptr(), 2) };
        let tb = t1.elapsed().as_secs_f64();
        assert_eq!(st, status::OK, "{}", testhost::last_kernel_error());
        let flash_peak = peak_since(base);
        let ms = |x: f64| format!("{:.1} ms", x * 1e3);
        let mib = |x: usize| format!("{:.2} MiB", x as f64 / 1048576.0);
        let naive_cols = if l <= naive_max {
            let base = reset_peak();
            let (nf, nbk, o) = naive(&testhost::HOST, h, l, d, causal, &q.data, &k.data, &v.data, &d_o.data);
            // extra beyond the output and the three gradients (which both versions produce)
            let npk = peak_since(base).saturating_sub(4 * n * 4);
            let diff = o.iter().zip(&out.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            [ms(nf), ms(nbk), ms(nf + nbk), mib(npk), format!("{diff:.1e}")]
        } else {
            ["-".to_string(), "-".to_string(), "-".to_string(), "-".to_string(), "-".to_string()]
        };
        let [nf, nbk, nfb, npk, diff] = naive_cols;
        println!(
            "{l:>6} | {:>10} {:>10} {:>10} {:>12} | {nf:>10} {nbk:>10} {nfb:>10} {npk:>12} | {diff:>8}",
            ms(tf),
            ms(tb),
            ms(tf + tb),
            mib(flash_peak),
        );
    }
}
