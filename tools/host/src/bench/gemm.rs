//! sgemm n×n×n (f32) through the registered `ferrite::matmul` kernel: once via the sdk (op id →
//! host table → dispatcher → kernel) and once straight into the plugin's kernel
//! (`provider::forward_of`), so the dispatch overhead shows; against OpenBLAS (numpy) and
//! torch.mm.

use super::report::{verdict_ratio, Row};
use super::timing::{fmt_s, measure};
use super::{rand_tensor, registered_plugin, Ctx, PEAK_GFLOPS_2_CORES};
use anyhow::Result;
use ferrite_core::host_api::to_sdk;
use ferrite_core::provider::forward_of;
use ferrite_sdk::functional as F;

fn peak(threads: usize) -> f64 {
    PEAK_GFLOPS_2_CORES / 2.0 * threads as f64
}

fn perf(secs: f64, flops: f64, threads: usize) -> String {
    let g = flops / secs / 1e9;
    format!("{} · {g:.1} GFLOP/s ({:.0}% of peak)", fmt_s(secs), 100.0 * g / peak(threads))
}

/// Runs the sgemm cases.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>> {
    let sizes: &[i64] = if ctx.quick { &[256, 512, 1024] } else { &[256, 512, 1024, 2048] };
    let plugin = registered_plugin("ferrite::matmul")?;
    let host = ferrite_core::host();
    let mut rows = Vec::new();
    let mut secs_per_flop: Option<f64> = None;
    for &n in sizes {
        let flops = 2.0 * (n * n * n) as f64;
        if let Some(spf) = secs_per_flop {
            let est = spf * flops;
            if est > ctx.budget.max_single_s {
                let mut r = Row::new("sgemm", format!("{n}³ ({plugin})"));
                r.ferrite = "skipped".into();
                r.note = format!("estimated {est:.0} s per call with {plugin}; over --max-case-seconds");
                rows.push(r);
                continue;
            }
        }
        let (a, b) = (rand_tensor(&[n, n], 1)?, rand_tensor(&[n, n], 2)?);
        let (sa, sb) = (to_sdk(&a), to_sdk(&b));
        let via_sdk = host.no_grad(|| {
            measure(&ctx.budget, 3, || {
                F::matmul(&sa, &sb)?;
                Ok(())
            })
        })?;
        let direct = measure(&ctx.budget, 3, || {
            forward_of("ferrite::matmul", &plugin, &[Some(a.clone()), Some(b.clone())], &[])?;
            Ok(())
        })?;
        secs_per_flop = Some(via_sdk.median_s / flops);
        let blas = ctx.peer_num(&format!("sgemm/{n}/numpy_s"));
        let torch = ctx.peer_num(&format!("sgemm/{n}/torch_s"));
        let mut r = Row::new("sgemm", format!("{n}³ via sdk + dispatch ({plugin})"));
        r.ferrite = perf(via_sdk.median_s, flops, ctx.threads);
        if let Some(t) = blas {
            r.peer = format!("OpenBLAS (numpy) {}", perf(t, flops, ctx.threads));
            r.ratio = Some(via_sdk.median_s / t);
        }
        r.goal = "≤ 1.0× OpenBLAS time, ≥ 90% of peak".into();
        let pct = flops / via_sdk.median_s / 1e9 / peak(ctx.threads);
        r.verdict = format!(
            "{}; {}",
            verdict_ratio(r.ratio, 1.0),
            if pct >= 0.9 { format!("peak met ({:.0}%)", 100.0 * pct) } else { format!("peak missed ({:.0}% < 90%)", 100.0 * pct) }
        );
        r.note = format!("{} timed calls", via_sdk.iters);
        rows.push(r);
        let mut d = Row::new("sgemm", format!("{n}³ kernel direct ({plugin})"));
        d.ferrite = perf(direct.median_s, flops, ctx.threads);
        if let Some(t) = torch {
            d.peer = format!("torch.mm {}", perf(t, flops, ctx.threads));
            d.ratio = Some(direct.median_s / t);
        }
        d.note = if via_sdk.iters >= 3 && direct.iters >= 3 {
            format!("dispatch overhead {}", fmt_s((via_sdk.median_s - direct.median_s).max(0.0)))
        } else {
            "single calls: the difference from the dispatch row is noise".into()
        };
        rows.push(d);
    }
    Ok(rows)
}
