//! The value checks: every collective on float32, float64 and bfloat16 against its definition
//! (`torch.distributed` semantics), with inputs every rank can compute for every other rank.

use anyhow::{bail, Result};
use ferrite_core::comm::ProcessGroup;
use ferrite_core::Tensor;
use ferrite_sdk::abi::comm::reduce_op;
use ferrite_sdk::DType;

/// Elements per rank of the reductions (odd, so no chunking lines up by accident).
const N_ELEMS: usize = 37;
/// Elements per rank-chunk of all_gather and reduce_scatter.
const CHUNK: usize = 7;

/// Rank `r`'s element `i`: small signed integers, exact in bfloat16 and their sums too.
fn value(r: u32, i: usize) -> f64 {
    let v = ((r + 1) as f64) * ((i % 5) + 1) as f64;
    if i.is_multiple_of(2) {
        v
    } else {
        -v
    }
}

/// Relative tolerance per dtype (bfloat16 keeps 8 significant bits; AVG divides).
fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::BF16 => 1.0 / 128.0,
        DType::F32 => 1e-6,
        _ => 1e-12,
    }
}

fn expect(pg: &ProcessGroup, what: &str, dtype: DType, got: &Tensor, want: &[f64]) -> Result<()> {
    let got = got.to_f64_vec();
    let tol = tolerance(dtype);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if (g - w).abs() > tol * w.abs().max(1.0) {
            bail!("rank {}: {what} on {dtype} gave {g} at element {i}, expected {w}", pg.rank());
        }
    }
    Ok(())
}

fn inputs(r: u32, n: usize, dtype: DType) -> Result<Tensor> {
    let v: Vec<f64> = (0..n).map(|i| value(r, i)).collect();
    Ok(Tensor::from_f64(&[n as i64], &v, dtype)?)
}

fn all_reduce(pg: &ProcessGroup, dtype: DType, op: u32) -> Result<()> {
    let world = pg.world_size();
    let t = inputs(pg.rank(), N_ELEMS, dtype)?;
    pg.wait(pg.all_reduce(&t, op)?)?;
    let want: Vec<f64> = (0..N_ELEMS)
        .map(|i| {
            let all = (0..world).map(|r| value(r, i));
            match op {
                reduce_op::SUM => all.sum(),
                reduce_op::AVG => all.sum::<f64>() / world as f64,
                reduce_op::MAX => all.fold(f64::MIN, f64::max),
                _ => all.fold(f64::MAX, f64::min),
            }
        })
        .collect();
    expect(pg, &format!("all_reduce({})", reduce_op::name(op).unwrap_or("?")), dtype, &t, &want)
}

fn broadcast(pg: &ProcessGroup, dtype: DType) -> Result<()> {
    // The last rank as root, so a backend that ignores `root` (and keeps rank 0's) fails.
    let root = pg.world_size() - 1;
    let t = inputs(pg.rank(), N_ELEMS, dtype)?;
    pg.wait(pg.broadcast(&t, root)?)?;
    let want: Vec<f64> = (0..N_ELEMS).map(|i| value(root, i)).collect();
    expect(pg, &format!("broadcast(root {root})"), dtype, &t, &want)
}

fn all_gather(pg: &ProcessGroup, dtype: DType) -> Result<()> {
    let world = pg.world_size() as usize;
    let input = inputs(pg.rank(), CHUNK, dtype)?;
    let output = Tensor::zeros(&[(world * CHUNK) as i64], dtype)?;
    pg.wait(pg.all_gather(&input, &output)?)?;
    let want: Vec<f64> = (0..world * CHUNK).map(|j| value((j / CHUNK) as u32, j % CHUNK)).collect();
    expect(pg, "all_gather", dtype, &output, &want)
}

fn reduce_scatter(pg: &ProcessGroup, dtype: DType) -> Result<()> {
    let world = pg.world_size();
    let input = inputs(pg.rank(), world as usize * CHUNK, dtype)?;
    let output = Tensor::zeros(&[CHUNK as i64], dtype)?;
    pg.wait(pg.reduce_scatter(&input, &output, reduce_op::SUM)?)?;
    let base = pg.rank() as usize * CHUNK;
    let want: Vec<f64> = (0..CHUNK).map(|i| (0..world).map(|r| value(r, base + i)).sum()).collect();
    expect(pg, "reduce_scatter(sum)", dtype, &output, &want)
}

/// Runs every check in the same order on every rank. `after_first` runs after the first
/// check; when it returns true this rank stops there (returns `Ok(true)`).
///
/// # Errors
/// A wrong value (rank, collective, dtype, element, expected value) or a comm error.
pub fn check_all(pg: &ProcessGroup, after_first: impl FnOnce() -> bool) -> Result<bool> {
    all_reduce(pg, DType::F32, reduce_op::SUM)?;
    if after_first() {
        return Ok(true);
    }
    for dtype in [DType::F32, DType::F64, DType::BF16] {
        for op in [reduce_op::SUM, reduce_op::AVG, reduce_op::MAX, reduce_op::MIN] {
            all_reduce(pg, dtype, op)?;
        }
        broadcast(pg, dtype)?;
        all_gather(pg, dtype)?;
        reduce_scatter(pg, dtype)?;
    }
    pg.wait(pg.barrier()?)?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::value;

    #[test]
    fn inputs_differ_by_rank_and_sign() {
        assert_eq!(value(0, 0), 1.0);
        assert_eq!(value(1, 1), -4.0);
        assert_ne!(value(0, 3), value(1, 3));
    }
}
