//! Every collective against a naive computation, world sizes 1..=5, lengths 0..200, all dtypes.

use super::{decode, encode, mix, naive, on_ranks, ring, small_values};
use abi_stable::std_types::{RSlice, RSliceMut};
use ferrite_sdk::abi::comm::reduce_op;
use ferrite_sdk::DType;
use proptest::prelude::*;

fn dtype() -> impl Strategy<Value = DType> {
    (0..DType::ALL.len()).prop_map(|i| DType::ALL[i])
}

/// A reduce op valid for `dtype` (AVG only on floats, as PyTorch requires).
fn op_for(dtype: DType, pick: u32) -> u32 {
    if pick == reduce_op::AVG && !dtype.is_float() {
        reduce_op::SUM
    } else {
        pick
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn all_reduce_matches_naive(world in 1u32..=5, len in 0usize..200, dtype in dtype(), pick in 0u32..4, seed: u64) {
        let op = op_for(dtype, pick);
        let inputs: Vec<Vec<f64>> = (0..world as usize).map(|r| small_values(dtype, seed, r, len)).collect();
        let want = naive(dtype, op, &inputs);
        let got = on_ranks(ring(world, 30_000), |r, c| {
            let mut buf = encode(dtype, &inputs[r]);
            c.all_reduce(RSliceMut::from_mut_slice(&mut buf), dtype, op).into_result().map(|_| buf)
        });
        for (r, g) in got.into_iter().enumerate() {
            prop_assert_eq!(g.as_ref().map_err(|e| e.to_string()), Ok(&want), "rank {} of {}, {} op {}", r, world, dtype, op);
        }
    }

    #[test]
    fn reduce_scatter_matches_naive(world in 1u32..=5, chunk in 0usize..40, dtype in dtype(), pick in 0u32..4, seed: u64) {
        let op = op_for(dtype, pick);
        let inputs: Vec<Vec<f64>> = (0..world as usize).map(|r| small_values(dtype, seed, r, chunk * world as usize)).collect();
        let want = naive(dtype, op, &inputs);
        let size = dtype.size();
        let got = on_ranks(ring(world, 30_000), |r, c| {
            let send = encode(dtype, &inputs[r]);
            let mut recv = vec![0xAAu8; chunk * size];
            c.reduce_scatter(RSlice::from_slice(&send), RSliceMut::from_mut_slice(&mut recv), dtype, op).into_result().map(|_| recv)
        });
        for (r, g) in got.into_iter().enumerate() {
            let mine = &want[r * chunk * size..(r + 1) * chunk * size];
            prop_assert_eq!(g.as_deref().map_err(|e| e.to_string()), Ok(mine), "rank {} of {}", r, world);
        }
    }

    #[test]
    fn all_gather_concatenates_in_rank_order(world in 1u32..=5, len in 0usize..200, dtype in dtype(), seed: u64) {
        let inputs: Vec<Vec<u8>> = (0..world as usize).map(|r| encode(dtype, &small_values(dtype, seed, r, len))).collect();
        let want: Vec<u8> = inputs.concat();
        let got = on_ranks(ring(world, 30_000), |r, c| {
            let mut recv = vec![0xAAu8; want.len()];
            c.all_gather(RSlice::from_slice(&inputs[r]), RSliceMut::from_mut_slice(&mut recv)).into_result().map(|_| recv)
        });
        for g in got {
            prop_assert_eq!(g.map_err(|e| e.to_string()), Ok(want.clone()));
        }
    }

    /// One ring broadcasts from every root in turn, with a barrier between (sequence numbers
    /// keep counting across collectives of different kinds).
    #[test]
    fn broadcast_from_every_root(world in 1u32..=5, len in 0usize..200, dtype in dtype(), seed: u64) {
        let inputs: Vec<Vec<u8>> = (0..world as usize).map(|r| encode(dtype, &small_values(dtype, seed, r, len))).collect();
        let got = on_ranks(ring(world, 30_000), |r, c| {
            let mut seen = Vec::new();
            for root in 0..world {
                let mut buf = inputs[r].clone();
                c.broadcast(RSliceMut::from_mut_slice(&mut buf), root).into_result().map_err(|e| e.to_string())?;
                c.barrier().into_result().map_err(|e| e.to_string())?;
                seen.push(buf);
            }
            Ok::<_, String>(seen)
        });
        for g in got {
            let seen = g.map_err(|e| e.to_string());
            prop_assert_eq!(seen, Ok(inputs.clone()));
        }
    }

    /// Non-integer floats: every rank ends with the same bits, close to the exact sum/mean.
    #[test]
    fn float_all_reduce_is_bit_identical_on_every_rank(world in 2u32..=5, len in 0usize..200, fi in 0usize..4, avg: bool, seed: u64) {
        let dtype = [DType::F32, DType::F64, DType::F16, DType::BF16][fi];
        let op = if avg { reduce_op::AVG } else { reduce_op::SUM };
        let inputs: Vec<Vec<u8>> = (0..world as usize)
            .map(|r| encode(dtype, &(0..len).map(|i| (mix(seed, r, i) % 2001) as f64 / 1000.0 - 1.0).collect::<Vec<_>>()))
            .collect();
        let got = on_ranks(ring(world, 30_000), |r, c| {
            let mut buf = inputs[r].clone();
            c.all_reduce(RSliceMut::from_mut_slice(&mut buf), dtype, op).into_result().map(|_| buf).map_err(|e| e.to_string())
        });
        let first = got[0].clone();
        prop_assert!(first.is_ok(), "{:?}", first);
        for g in &got {
            prop_assert_eq!(g, &first);
        }
        let tol = match dtype { DType::F64 => 1e-12, DType::F32 => 1e-5, DType::F16 => 2e-2, _ => 0.15 };
        let vals: Vec<Vec<f64>> = inputs.iter().map(|b| decode(dtype, b)).collect();
        for (i, v) in decode(dtype, &first.unwrap()).into_iter().enumerate() {
            let sum: f64 = vals.iter().map(|x| x[i]).sum();
            let exact = if avg { sum / world as f64 } else { sum };
            prop_assert!((v - exact).abs() <= tol, "element {}: {} vs exact {}", i, v, exact);
        }
    }
}

#[test]
fn barrier_returns_on_every_rank_for_every_world_size() {
    for world in 1..=5 {
        let got = on_ranks(ring(world, 30_000), |_, c| (0..3).map(|_| c.barrier().into_result()).collect::<Result<Vec<_>, _>>());
        assert!(got.iter().all(Result::is_ok), "world {world}: {got:?}");
    }
}

#[test]
fn avg_divides_by_world_size_once() {
    // 1 + 2 + 4 = 7 over 3 ranks: 7/3 rounded once in f32 (and in f16 from the f32 quotient).
    let got = on_ranks(ring(3, 30_000), |r, c| {
        let mut buf = encode(DType::F16, &[[1.0, 2.0, 4.0][r]]);
        c.all_reduce(RSliceMut::from_mut_slice(&mut buf), DType::F16, reduce_op::AVG).into_result().map(|_| buf)
    });
    for g in got {
        assert_eq!(g.unwrap(), half::f16::from_f32(7.0f32 / 3.0).to_ne_bytes().to_vec());
    }
}
