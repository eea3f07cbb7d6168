//! All-reduce timing: algorithm and bus bandwidth as defined by nccl-tests
//! (`doc/PERFORMANCE.md`: busbw = algbw · 2(n−1)/n for all-reduce).

use anyhow::Result;
use ferrite_core::comm::ProcessGroup;
use ferrite_core::Tensor;
use ferrite_sdk::abi::comm::reduce_op;
use ferrite_sdk::DType;
use std::time::Instant;

/// One timed size.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// Bytes per rank (float32 elements × 4).
    pub bytes: usize,
    /// Mean seconds per all-reduce, the slowest rank's.
    pub seconds: f64,
    /// Algorithm bandwidth, bytes / second.
    pub algbw: f64,
    /// Bus bandwidth, bytes / second.
    pub busbw: f64,
}

/// nccl-tests' bus bandwidth of an all-reduce: `algbw · 2(n−1)/n` (what each link carries in
/// a ring; comparable with the hardware's peak whatever n is).
pub fn bus_bandwidth(algbw: f64, world: u32) -> f64 {
    algbw * 2.0 * (world as f64 - 1.0) / world as f64
}

/// Times `iters` float32 SUM all-reduces per size after one warm-up; every rank returns the
/// same rows (the time is all-reduced with MAX).
///
/// # Errors
/// A comm error or timeout.
pub fn run(pg: &ProcessGroup, sizes: &[usize], iters: u32) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for &size in sizes {
        let n = (size / 4).max(1);
        let t = Tensor::full(&[n as i64], 1.0, DType::F32)?;
        pg.wait(pg.all_reduce(&t, reduce_op::SUM)?)?;
        pg.wait(pg.barrier()?)?;
        let t0 = Instant::now();
        for _ in 0..iters {
            pg.wait(pg.all_reduce(&t, reduce_op::SUM)?)?;
        }
        let mine = t0.elapsed().as_secs_f64() / iters as f64;
        let slowest = Tensor::from_f64(&[1], &[mine], DType::F64)?;
        pg.wait(pg.all_reduce(&slowest, reduce_op::MAX)?)?;
        let seconds = slowest.get_f64(0);
        let bytes = n * 4;
        let algbw = bytes as f64 / seconds;
        rows.push(BenchRow { bytes, seconds, algbw, busbw: bus_bandwidth(algbw, pg.world_size()) });
    }
    Ok(rows)
}

/// Prints the nccl-tests-style table (GB/s = 1e9 bytes/s).
pub fn print_table(rows: &[BenchRow]) {
    println!("{:>12} {:>12} {:>12} {:>12}", "size (B)", "time (us)", "algbw (GB/s)", "busbw (GB/s)");
    for r in rows {
        println!("{:>12} {:>12.1} {:>12.3} {:>12.3}", r.bytes, r.seconds * 1e6, r.algbw / 1e9, r.busbw / 1e9);
    }
}

#[cfg(test)]
mod tests {
    use super::bus_bandwidth;

    #[test]
    fn bus_bandwidth_follows_nccl_tests() {
        assert_eq!(bus_bandwidth(10.0, 2), 10.0);
        assert_eq!(bus_bandwidth(8.0, 4), 12.0);
        assert_eq!(bus_bandwidth(5.0, 1), 0.0);
    }
}
