//! Scaled dot-product attention forward at seq 1k/4k/8k (batch 1, 8 heads, head dim 64, f32, no
//! mask): ops-ref's naive kernel (called directly) and whatever kernel dispatch picks, time and
//! peak extra memory, against PyTorch's fused SDPA.

use super::report::{verdict_ratio, Row};
use super::timing::{fmt_s, measure, memory_of, mib, Timing};
use super::{rand_tensor, registered_plugin, Ctx};
use anyhow::Result;
use ferrite_core::host_api::to_sdk;
use ferrite_core::provider::forward_of;
use ferrite_core::Tensor;
use ferrite_sdk::functional as F;
use std::time::Instant;

const OP: &str = "ferrite::scaled_dot_product_attention";
const HEADS: i64 = 8;
const HEAD_DIM: i64 = 64;

/// Calls `plugin`'s kernel directly, or through the sdk and dispatcher when `plugin` is `None`.
fn call(plugin: Option<&str>, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<()> {
    match plugin {
        Some(p) => {
            forward_of(OP, p, &[Some(q.clone()), Some(k.clone()), Some(v.clone()), None], &[])?;
        }
        None => {
            let _g = ferrite_core::autograd::NoGradGuard::new();
            F::scaled_dot_product_attention(&to_sdk(q), &to_sdk(k), &to_sdk(v), None, false, None)?;
        }
    }
    Ok(())
}

/// Runs the attention cases.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>> {
    let seqs: &[i64] = if ctx.quick { &[1024, 4096] } else { &[1024, 4096, 8192] };
    let registered = registered_plugin(OP)?;
    // (label, plugin for a direct call) — ops-ref's naive kernel is measured beside a faster one.
    let mut kernels: Vec<(String, Option<String>)> = Vec::new();
    if registered != "ops-ref" {
        kernels.push(("ops-ref naive (direct)".into(), Some("ops-ref".into())));
    }
    kernels.push((format!("{registered} (registered, via dispatch)"), None));
    let mut rows = Vec::new();
    for (label, plugin) in &kernels {
        let mut last: Option<(i64, f64)> = None;
        for &s in seqs {
            let mut r = Row::new("attention fwd", format!("seq {s}: {label}"));
            if let Some((s0, t0)) = last {
                let est = t0 * (s as f64 / s0 as f64).powi(2);
                if est > ctx.budget.max_single_s {
                    r.ferrite = "skipped".into();
                    r.note = format!("estimated {est:.0} s per call (time grows as S²); over --max-case-seconds");
                    rows.push(r);
                    continue;
                }
            }
            let shape = [1, HEADS, s, HEAD_DIM];
            let (q, k, v) = (rand_tensor(&shape, 20)?, rand_tensor(&shape, 21)?, rand_tensor(&shape, 22)?);
            let start = Instant::now();
            let mem = memory_of(|| call(plugin.as_deref(), &q, &k, &v))?;
            let cold = start.elapsed().as_secs_f64();
            let t = if cold > ctx.budget.per_case_s {
                Timing { median_s: cold, min_s: cold, iters: 1 }
            } else {
                measure(&ctx.budget, 2, || call(plugin.as_deref(), &q, &k, &v))?
            };
            last = Some((s, t.median_s));
            let resident = mem.resident_bytes.map_or("?".into(), mib);
            r.ferrite = format!("{} · extra {} tensors, {} resident", fmt_s(t.median_s), mib(mem.tensor_bytes), resident);
            if let Some(p) = ctx.peer_num(&format!("attention/{s}/seconds")) {
                let pm = ctx.peer_num(&format!("attention/{s}/extra_bytes")).map_or("?".into(), |b| mib(b as usize));
                r.peer = format!("PyTorch SDPA {} · extra {pm} resident", fmt_s(p));
                r.ratio = Some(t.median_s / p);
            }
            if plugin.is_none() {
                // O(S): well under one f32 score matrix; 8× the output is the bound used here.
                let output = (4 * HEADS * s * HEAD_DIM) as usize;
                let extra = mem.tensor_bytes.max(mem.resident_bytes.unwrap_or(0));
                let mem_ok = extra <= 8 * output;
                r.goal = "≤ 1.0× PyTorch time; extra memory O(S) (≤ 8× output here)".into();
                r.verdict = format!(
                    "{}; memory {}",
                    verdict_ratio(r.ratio, 1.0),
                    if mem_ok { "O(S) met".to_string() } else { format!("missed ({} > {})", mib(extra), mib(8 * output)) }
                );
            }
            r.note = format!("{} timed call(s)", t.iters);
            rows.push(r);
        }
    }
    Ok(rows)
}
