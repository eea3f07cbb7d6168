//! The markdown page `ferrite bench` writes: how it was produced, on what, the table, and the
//! allocator's counters. Hand-written notes below [`NOTES_MARKER`] in an existing page are kept.

use super::report::{markdown, Row};
use super::timing::mib;
use super::Ctx;
use std::path::Path;

/// Everything after this line in the existing file survives a rewrite.
pub const NOTES_MARKER: &str = "<!-- notes: kept by `ferrite bench` -->";

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}

fn cpu_flags() -> String {
    let s = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = s.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"];
    let have: Vec<&str> = wanted.iter().copied().filter(|w| flags.split_whitespace().any(|f| f == *w)).collect();
    have.join(", ")
}

fn first_line(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.lines().next().unwrap_or("").to_string()).unwrap_or_else(|_| "unknown".into())
}

fn command_version(cmd: &str, arg: &str) -> String {
    std::process::Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn mem_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")))
        .unwrap_or_else(|| "unknown".into())
}

/// Notes kept from an existing page at `out`.
pub fn kept_notes(out: &Path) -> Option<String> {
    let old = std::fs::read_to_string(out).ok()?;
    old.find(NOTES_MARKER).map(|i| old[i..].to_string())
}

/// The page.
pub fn page(ctx: &Ctx, rows: &[Row], command_line: &str) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let versions = match &ctx.peer {
        Some(p) => format!(
            "PyTorch {} (torch.set_num_threads({})), numpy {} with {}, Python {}",
            p.str("versions/torch").unwrap_or_default(),
            ctx.threads,
            p.str("versions/numpy").unwrap_or_default(),
            p.str("versions/blas").unwrap_or_default(),
            p.str("versions/python").unwrap_or_default()
        ),
        None => "PyTorch was not measured (run with `--pytorch PYTHON` to add it)".into(),
    };
    let plugins: Vec<String> = ferrite_core::Runtime::global()
        .plugins()
        .iter()
        .map(|p| format!("{} {} ({})", p.meta.name, p.meta.version, p.meta.path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default()))
        .collect();
    let m = ferrite_core::alloc::stats();
    format!(
        "# Ferrite benchmarks\n\n\
         Produced by `ferrite bench` (tools/host/src/bench/) and `tools/host/bench/pytorch_bench.py`.\n\n\
         Command:\n\n```sh\n{command_line}\n```\n\n\
         - Machine: {} · {cores} logical CPUs ({}) · {} RAM · transparent huge pages: {}\n\
         - Threads: {} for Ferrite's pool and for PyTorch/OpenBLAS; fp32 peak used for %: {:.0} GFLOP/s\n\
         - Ferrite {} ({}) · plugins: {}\n\
         - Peer: {versions}\n\
         - Mode: {}; times are medians of repeated calls after one warm-up (slow reference kernels: one call)\n\
         - Ratios are Ferrite's time / the peer's time (below 1.0× = Ferrite faster).\n\n\
         {}\n\
         Allocator at the end of the run: peak {} live, {} cached, {} hits / {} misses, {} huge-page blocks.\n\n{}\n",
        cpu_model(),
        cpu_flags(),
        mem_total(),
        first_line("/sys/kernel/mm/transparent_hugepage/enabled"),
        ctx.threads,
        super::PEAK_GFLOPS_2_CORES / 2.0 * ctx.threads as f64,
        env!("CARGO_PKG_VERSION"),
        command_version("rustc", "-V"),
        plugins.join(", "),
        if ctx.quick { "--quick (fewer sizes, 0.5 s per case)" } else { "full (2 s per case)" },
        markdown(rows),
        mib(m.peak_bytes),
        mib(m.cached_bytes),
        m.hits,
        m.misses,
        m.mapped_blocks,
        NOTES_MARKER,
    )
}
