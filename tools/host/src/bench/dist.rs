//! `ferrite bench --distributed`: the distributed-training table, written as its own section
//! of `docs/benchmarks.md` (between [`START`] and [`END`], below the notes marker that
//! `ferrite bench` keeps), measured in one run:
//!
//! * training throughput (samples/s) of `models.spp_net` on `datasets.digits`, 1 vs 2 ranks of
//!   `parallel.ddp` over `comm.local` (ranks are threads of this process);
//! * `comm.local` all-reduce bandwidth, 1–64 MiB, beside this machine's memory-copy bandwidth;
//! * peak tensor memory per ZeRO stage (0 = DDP) on 2 ranks beside `ferrite mem`'s estimates.

use crate::config::TrainConfig;
use crate::distributed::launch::{process_groups, root_cause, run_ranks};
use crate::distributed::rank::{train_epoch, RankState};
use crate::distributed::strategy::HostedStrategy;
use crate::distributed::train::optimizer_table;
use crate::distributed::ParallelConfig;
use crate::mem::measure::{measure, rel, MeasureSpec};
use crate::mem::peak::Strategy;
use crate::mem::{estimate, MemPlan, Optimizer, Precision};
use anyhow::{Context, Result};
use ferrite_core::comm::ProcessGroup;
use ferrite_core::Tensor;
use ferrite_sdk::abi::comm::reduce_op;
use ferrite_sdk::DType;
use std::path::Path;
use std::time::Instant;

/// First line of the section.
pub const START: &str = "<!-- bench-dist: start (rewritten by `ferrite bench --distributed`) -->";
/// Last line of the section.
pub const END: &str = "<!-- bench-dist: end -->";

/// Epochs timed after one warm-up epoch.
const TIMED_EPOCHS: u32 = 3;

/// (samples, seconds) of [`TIMED_EPOCHS`] digits epochs after a warm-up one, `world` ranks of
/// DDP (`zero_stage = 0`) or ZeRO of that stage (samples summed over ranks, seconds of the
/// slowest rank).
fn throughput(world: u32, zero_stage: u32) -> Result<(usize, f64)> {
    let host = ferrite_core::host();
    host.manual_seed(0);
    let mut cfg = TrainConfig::default();
    cfg.parallel = match zero_stage {
        0 => ParallelConfig { strategy: "ddp".into(), world_size: world, ..Default::default() },
        s => ParallelConfig { strategy: "zero".into(), zero_stage: s, world_size: world, ..Default::default() },
    };
    let groups = process_groups(&cfg.parallel, &[])?;
    let toml = cfg.parallel.strategy_toml(&optimizer_table(&cfg));
    let mut states = Vec::new();
    for g in groups {
        let rank = g.rank();
        let s = HostedStrategy::new(&cfg.parallel.strategy_name(), g, &toml, host)?;
        states.push((rank, RankState::new(&cfg, s, host)?));
    }
    let lr = cfg.lr();
    let results = run_ranks(states, |mut st: RankState| -> Result<(usize, f64)> {
        st.strategy.setup(&st.model)?;
        train_epoch(&mut st, &cfg, 1, lr)?;
        let g = st.strategy.group().clone();
        g.wait(g.barrier()?)?;
        let t0 = Instant::now();
        let mut samples = 0;
        for epoch in 2..=1 + TIMED_EPOCHS {
            samples += train_epoch(&mut st, &cfg, epoch, lr)?.iter().map(|s| s.2).sum::<usize>();
        }
        g.wait(g.barrier()?)?;
        Ok((samples, t0.elapsed().as_secs_f64()))
    });
    let v = root_cause(results)?;
    let samples = v.iter().map(|r| r.0).sum();
    let seconds = v.iter().map(|r| r.1).fold(0.0, f64::max);
    Ok((samples, seconds))
}

/// Bytes/s of `copy_from_slice` over a 256 MiB buffer (best of 5; each byte read once and
/// written once, counted once, as STREAM's "Copy" counts it twice: this is half STREAM's figure).
pub fn memcpy_bandwidth() -> f64 {
    let n = 256 << 20;
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t0 = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
        best = best.min(t0.elapsed().as_secs_f64());
    }
    n as f64 / best
}

/// Mean seconds of an f32 SUM all-reduce of `bytes` per rank (slowest rank), after a warm-up.
fn time_all_reduce(g: &ProcessGroup, bytes: usize, iters: u32) -> Result<f64> {
    let t = Tensor::full(&[(bytes / 4) as i64], 1.0, DType::F32)?;
    g.wait(g.all_reduce(&t, reduce_op::SUM)?)?;
    g.wait(g.barrier()?)?;
    let t0 = Instant::now();
    for _ in 0..iters {
        g.wait(g.all_reduce(&t, reduce_op::SUM)?)?;
    }
    let mine = Tensor::from_f64(&[1], &[t0.elapsed().as_secs_f64() / f64::from(iters)], DType::F64)?;
    g.wait(g.all_reduce(&mine, reduce_op::MAX)?)?;
    Ok(mine.get_f64(0))
}

/// (bytes, seconds) of comm.local all-reduces on 2 ranks for 1, 4, 16, 64 MiB.
fn all_reduce_rows(quick: bool) -> Result<Vec<(usize, f64)>> {
    let cfg = ParallelConfig { strategy: "ddp".into(), world_size: 2, ..Default::default() };
    let groups = process_groups(&cfg, &[])?;
    let sizes: Vec<usize> = [1usize, 4, 16, 64].iter().map(|m| m << 20).collect();
    let iters = if quick { 3 } else { 10 };
    let states = groups.into_iter().map(|g| (g.rank(), g)).collect();
    let results = run_ranks(states, |g| sizes.iter().map(|&b| Ok((b, time_all_reduce(&g, b, iters)?))).collect::<Result<Vec<_>>>());
    Ok(root_cause(results)?.swap_remove(0))
}

fn mib(b: f64) -> String {
    format!("{:.1} MiB", b / (1u64 << 20) as f64)
}

/// Runs the three parts and returns the markdown section.
///
/// # Errors
/// Plugins missing, op or communication errors.
pub fn section(quick: bool, command_line: &str) -> Result<String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut s = format!("{START}\n## Distributed training (`ferrite bench --distributed`)\n\n");
    // Other work on the machine changes every timing here; the reader gets the load with them.
    let load = std::fs::read_to_string("/proc/loadavg").map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_else(|_| "unknown".into());
    s += &format!("Command: `{command_line}`; {cores} CPU core(s), load average at start {load}; every rank is a thread of one process (`comm.local`).\n\n");
    eprintln!("bench: distributed throughput ...");
    let (n1, t1) = throughput(1, 0)?;
    let r1 = n1 as f64 / t1;
    s += "### Training throughput: `models.spp_net` on `datasets.digits` (sizes 8 and 16, batch 64 per rank, SGD)\n\n";
    s += "| ranks (comm.local) | strategy | samples in 3 timed epochs | seconds | samples/s | speed-up vs 1 rank |\n|---|---|---|---|---|---|\n";
    s += &format!("| 1 | parallel.ddp | {n1} | {t1:.2} | {r1:.0} | 1.00× |\n");
    // ZeRO-3 re-gathers every module in forward and backward: the price of its memory.
    for (stage, name) in [(0, "parallel.ddp"), (1, "parallel.zero stage 1"), (2, "parallel.zero stage 2"), (3, "parallel.zero stage 3")] {
        let (n2, t2) = throughput(2, stage)?;
        let r2 = n2 as f64 / t2;
        s += &format!("| 2 | {name} | {n2} | {t2:.2} | {r2:.0} | {:.2}× |\n", r2 / r1);
    }
    s += "\n";
    eprintln!("bench: all-reduce bandwidth ...");
    let copy = memcpy_bandwidth();
    let rows = all_reduce_rows(quick)?;
    s += &format!("### comm.local all-reduce (2 ranks, f32 SUM) against memory bandwidth\n\nMemory copy on this machine, same run: **{:.2} GB/s** (`copy_from_slice` of 256 MiB, best of 5, bytes copied / s).\n\n", copy / 1e9);
    s += "| size per rank | time | algbw (GB/s) | busbw (GB/s) | busbw / memcpy |\n|---|---|---|---|---|\n";
    for (b, t) in &rows {
        let alg = *b as f64 / t;
        // nccl-tests: busbw = algbw · 2(n−1)/n, n = 2.
        let bus = alg;
        s += &format!("| {} | {:.2} ms | {:.2} | {:.2} | {:.0}% |\n", mib(*b as f64), t * 1e3, alg / 1e9, bus / 1e9, 100.0 * bus / copy);
    }
    eprintln!("bench: peak memory per ZeRO stage ...");
    s += "\n### Peak tensor memory per ZeRO stage (2 ranks, fp32, AdamW, 8 × Linear(707, 707) ≈ 4.0M parameters, batch 4)\n\n";
    s += "| stage | paper model states, 2 ranks (`ferrite mem --precision fp32`) | Ferrite estimate, 2 ranks (`ferrite mem --measure`) | estimated peak phase | measured peak | error |\n|---|---|---|---|---|---|\n";
    for stage in 0..=3u8 {
        let strategy = if stage == 0 { Strategy::Ddp } else { Strategy::Zero(stage) };
        let c = measure(&MeasureSpec { params: 4.0e6, layers: 8, batch: 4, optimizer: Optimizer::Adamw, strategy, world_size: 2, steps: 3 })?;
        let plan = MemPlan {
            params: c.shape.params as f64,
            precision: Precision::Fp32,
            optimizer: Optimizer::Adamw,
            zero_stage: stage,
            world_size: 2,
            activations: None,
        };
        let paper = estimate(&plan).map_err(anyhow::Error::msg)?.model_states() * 2.0;
        let est = c.est_peak.total() * 2.0;
        s += &format!(
            "| {} | {} | {} | {} | {} | {:+.1}% |\n",
            if stage == 0 { "0 (DDP)".to_string() } else { stage.to_string() },
            mib(paper),
            mib(est),
            c.est_peak.name,
            mib(c.peak),
            100.0 * rel(c.peak, est)
        );
    }
    s += &format!("\n{END}\n");
    Ok(s)
}

/// Puts `section` into the page at `out`: replaces an earlier one, else appends it (below the
/// notes marker, so `ferrite bench` keeps it).
///
/// # Errors
/// The file cannot be read or written.
pub fn write_section(out: &Path, section: &str) -> Result<()> {
    let old = std::fs::read_to_string(out).unwrap_or_default();
    let page = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if b > a => format!("{}{}{}", &old[..a], section, old[b + END.len()..].trim_start_matches('\n')),
        _ if old.contains(super::doc::NOTES_MARKER) => format!("{}\n{section}", old.trim_end()),
        _ => format!("{}\n\n{}\n{section}", old.trim_end(), super::doc::NOTES_MARKER),
    };
    crate::atomic::write_atomic(out, page.as_bytes()).with_context(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_appended_once_then_replaced_in_place() {
        let dir = std::env::temp_dir().join(format!("ferrite-bench-dist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("benchmarks.md");
        std::fs::write(&out, format!("# table\n\n{}\nnotes\n", super::super::doc::NOTES_MARKER)).unwrap();
        write_section(&out, &format!("{START}\nfirst\n{END}\n")).unwrap();
        std::fs::write(&out, std::fs::read_to_string(&out).unwrap() + "after\n").unwrap();
        write_section(&out, &format!("{START}\nsecond\n{END}\n")).unwrap();
        let page = std::fs::read_to_string(&out).unwrap();
        assert!(page.starts_with("# table") && page.contains("notes\n") && page.ends_with("after\n"), "{page}");
        assert!(page.contains("second") && !page.contains("first") && page.matches(START).count() == 1, "{page}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
