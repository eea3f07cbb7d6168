//! Per-op overhead: a 16-element f32 add through the sdk, the host table, the dispatcher and the
//! plugin ABI, without and with autograd recording.

use super::report::{verdict_ratio, Row};
use super::timing::measure;
use super::{rand_tensor, registered_plugin, Ctx};
use anyhow::Result;
use ferrite_core::host_api::to_sdk;
use ferrite_sdk::functional as F;

fn row(ctx: &Ctx, case: &str, ns: f64, peer_key: &str, goal_ns: f64, note: String) -> Row {
    let mut r = Row::new("per-op overhead", case);
    r.ferrite = format!("{ns:.0} ns/op");
    if let Some(p) = ctx.peer_num(peer_key) {
        r.peer = format!("PyTorch eager {p:.0} ns/op");
        r.ratio = Some(ns / p);
    }
    r.goal = format!("≤ {goal_ns:.0} ns/op");
    r.verdict = if ns <= goal_ns {
        format!("met ({ns:.0} ns)")
    } else {
        format!("missed by {:.2}× ({ns:.0} ns)", ns / goal_ns)
    };
    let vs = verdict_ratio(r.ratio, 1.0);
    r.note = format!("{note}; vs PyTorch: {vs}");
    r
}

/// Runs the add loops.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>> {
    let n: usize = if ctx.quick { 20_000 } else { 200_000 };
    let host = ferrite_core::host();
    let a = to_sdk(&rand_tensor(&[16], 30)?);
    let b = to_sdk(&rand_tensor(&[16], 31)?);
    let plain = host.no_grad(|| {
        measure(&ctx.budget, 3, || {
            for _ in 0..n {
                F::add(&a, &b)?;
            }
            Ok(())
        })
    })?;
    let (ag, bg) = (a.detach().requires_grad_(true)?, b.detach().requires_grad_(true)?);
    let recorded = measure(&ctx.budget, 3, || {
        for _ in 0..n {
            F::add(&ag, &bg)?;
        }
        Ok(())
    })?;
    let plugin = registered_plugin("ferrite::add")?;
    let per = |t: f64| t / n as f64 * 1e9;
    Ok(vec![
        row(ctx, "add 16 f32, no grad", per(plain.median_s), "add16_ns", 150.0, format!("kernel {plugin}; loops of {n}")),
        row(ctx, "add 16 f32, recording autograd", per(recorded.median_s), "add16_grad_ns", 500.0, format!("kernel {plugin}; node built and freed per op")),
    ])
}
