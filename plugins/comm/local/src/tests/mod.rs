//! Thread-driven tests of the communicators (one thread per rank) against naive references.

mod collectives;
mod errors;

use crate::create_comms;
use ferrite_sdk::abi::comm::{reduce_op, CommBox};
use ferrite_sdk::DType;
use half::{bf16, f16};

/// The communicators of a fresh ring.
pub(crate) fn ring(world: u32, timeout_ms: u64) -> Vec<CommBox> {
    create_comms(&format!("world_size = {world}\ntimeout_ms = {timeout_ms}")).expect("valid config").into_iter().collect()
}

/// Runs `f(rank, comm)` on one thread per rank; results in rank order.
pub(crate) fn on_ranks<T: Send>(comms: Vec<CommBox>, f: impl Fn(usize, &mut CommBox) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = comms.into_iter().enumerate().map(|(r, mut c)| s.spawn(move || f(r, &mut c))).collect();
        handles.into_iter().map(|h| h.join().expect("rank thread panicked")).collect()
    })
}

/// splitmix64: deterministic per-(seed, rank, index) values.
pub(crate) fn mix(seed: u64, rank: usize, i: usize) -> u64 {
    let mut z = seed ^ (rank as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Small integers valid in every dtype, so float sums over <= 5 ranks are exact:
/// `-8..=8` (u8: `0..=16`, bool: 0/1).
pub(crate) fn small_values(dtype: DType, seed: u64, rank: usize, len: usize) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let m = mix(seed, rank, i);
            match dtype {
                DType::BOOL => (m % 2) as f64,
                DType::U8 => (m % 17) as f64,
                _ => (m % 17) as f64 - 8.0,
            }
        })
        .collect()
}

/// Native-endian bytes of `values` in `dtype` (rounded to nearest for floats).
pub(crate) fn encode(dtype: DType, values: &[f64]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| match dtype {
            DType::F32 => (v as f32).to_ne_bytes().to_vec(),
            DType::F64 => v.to_ne_bytes().to_vec(),
            DType::F16 => f16::from_f64(v).to_ne_bytes().to_vec(),
            DType::BF16 => bf16::from_f64(v).to_ne_bytes().to_vec(),
            DType::I64 => (v as i64).to_ne_bytes().to_vec(),
            DType::I32 => (v as i32).to_ne_bytes().to_vec(),
            DType::U8 => vec![v as u8],
            DType::BOOL => vec![(v != 0.0) as u8],
            other => panic!("no encoding for {other}"),
        })
        .collect()
}

/// Values of native-endian bytes in `dtype`.
pub(crate) fn decode(dtype: DType, bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(dtype.size())
        .map(|b| match dtype {
            DType::F32 => f32::from_ne_bytes(b.try_into().unwrap()) as f64,
            DType::F64 => f64::from_ne_bytes(b.try_into().unwrap()),
            DType::F16 => f16::from_ne_bytes(b.try_into().unwrap()).to_f64(),
            DType::BF16 => bf16::from_ne_bytes(b.try_into().unwrap()).to_f64(),
            DType::I64 => i64::from_ne_bytes(b.try_into().unwrap()) as f64,
            DType::I32 => i32::from_ne_bytes(b.try_into().unwrap()) as f64,
            _ => b[0] as f64,
        })
        .collect()
}

/// Naive element-wise reduction over ranks of small-integer inputs (exact in f64), with
/// `AVG` divided once in the dtype's compute precision (f64 for f64, f32 otherwise), then
/// encoded in `dtype`. Bool follows PyTorch/NCCL: sum/max = or, min = and.
pub(crate) fn naive(dtype: DType, op: u32, inputs: &[Vec<f64>]) -> Vec<u8> {
    let n = inputs.len();
    let len = inputs.first().map_or(0, Vec::len);
    let out: Vec<f64> = (0..len)
        .map(|i| {
            let col = inputs.iter().map(|v| v[i]);
            let sum: f64 = col.clone().sum();
            match op {
                reduce_op::SUM if dtype == DType::BOOL => (sum > 0.0) as u8 as f64,
                reduce_op::SUM => sum,
                reduce_op::AVG if dtype == DType::F64 => sum / n as f64,
                reduce_op::AVG => ((sum as f32) / n as f32) as f64,
                reduce_op::MAX => col.fold(f64::NEG_INFINITY, f64::max),
                reduce_op::MIN => col.fold(f64::INFINITY, f64::min),
                other => panic!("op {other}"),
            }
        })
        .collect();
    encode(dtype, &out)
}
