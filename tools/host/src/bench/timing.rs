//! Timing and memory probes shared by every benchmark.

use anyhow::Result;
use std::time::Instant;

/// How long each case may repeat, and when a case is too slow to run at all.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Seconds of repetitions per case (after one warm-up call).
    pub per_case_s: f64,
    /// A case whose estimated single run exceeds this many seconds is skipped.
    pub max_single_s: f64,
}

/// Median and minimum of repeated runs.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Median seconds per call.
    pub median_s: f64,
    /// Fastest call.
    pub min_s: f64,
    /// Timed calls.
    pub iters: usize,
}

/// Times `f`: one warm-up call (which also fills the allocator's cache), then calls until
/// `budget.per_case_s` has passed and at least `min_iters` were made. A warm-up slower than the
/// whole budget counts as the only sample (slow reference kernels run once).
pub fn measure(budget: &Budget, min_iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    let t0 = Instant::now();
    f()?;
    let warm = t0.elapsed().as_secs_f64();
    if warm > budget.per_case_s {
        return Ok(Timing { median_s: warm, min_s: warm, iters: 1 });
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < min_iters.max(1) || start.elapsed().as_secs_f64() < budget.per_case_s {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
        if times.len() >= 100_000 {
            break;
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(Timing { median_s: times[times.len() / 2], min_s: times[0], iters: times.len() })
}

fn status_bytes(field: &str) -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse::<usize>().ok().map(|kb| kb * 1024)
}

/// Extra memory of one call: tensor bytes from the core allocator's peak, and resident bytes
/// of the whole process (kernel scratch included) from `VmHWM` after resetting it.
#[derive(Clone, Copy, Debug)]
pub struct MemUse {
    /// Peak live tensor bytes above those live before the call.
    pub tensor_bytes: usize,
    /// Peak resident bytes above those resident before the call (`None` without /proc).
    pub resident_bytes: Option<usize>,
}

/// Runs `f` once, cold (allocator cache emptied first so reuse hides nothing), and reports its
/// extra memory.
pub fn memory_of(f: impl FnOnce() -> Result<()>) -> Result<MemUse> {
    let alloc = ferrite_core::alloc::global();
    alloc.empty_cache();
    alloc.reset_peak();
    let live = alloc.stats().live_bytes;
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss = status_bytes("VmRSS:");
    f()?;
    let hwm = status_bytes("VmHWM:");
    let resident_bytes = match (reset, rss, hwm) {
        (true, Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Ok(MemUse { tensor_bytes: alloc.stats().peak_bytes.saturating_sub(live), resident_bytes })
}

/// Bytes as MiB with one decimal.
pub fn mib(b: usize) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

/// Seconds in the most readable unit.
pub fn fmt_s(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.0} ns", s * 1e9)
    }
}
