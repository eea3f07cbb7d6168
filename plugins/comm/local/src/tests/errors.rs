//! Failures are clear one-line errors on every rank, never a hang, a panic or garbage.

use super::{on_ranks, ring};
use abi_stable::std_types::{RSlice, RSliceMut, RStr};
use ferrite_sdk::abi::comm::{reduce_op, CommBox};
use ferrite_sdk::DType;

fn all_reduce(c: &mut CommBox, len: usize) -> Result<(), String> {
    let mut buf = vec![0u8; len];
    c.all_reduce(RSliceMut::from_mut_slice(&mut buf), DType::F32, reduce_op::SUM).into_result().map_err(|e| e.into_string())
}

#[test]
fn dropped_peer_is_reported_at_once_and_named() {
    // 30 s timeout: the test only finishes promptly (and with "left") through the
    // disconnection path, not through the timeout.
    let mut comms = ring(3, 30_000);
    drop(comms.remove(1));
    let got = on_ranks(comms, |_, c| all_reduce(c, 12));
    for e in got {
        let e = e.unwrap_err();
        assert!(e.contains("rank 1 left (its communicator was dropped) during all_reduce #1"), "{e}");
    }
}

#[test]
fn stuck_peer_times_out_with_its_rank_named() {
    let mut comms = ring(2, 200);
    let _stuck = comms.pop(); // alive but never calls
    let e = all_reduce(&mut comms[0], 8).unwrap_err();
    assert_eq!(e, "comm.local rank 0: no message from rank 1 within 200 ms in all_reduce #1 (peer dead or stuck)");
    // The communicator is now broken: later calls fail at once with the first error.
    let again = comms[0].barrier().into_result().unwrap_err().into_string();
    assert!(again.contains("broken by an earlier error") && again.contains("no message from rank 1"), "{again}");
}

#[test]
fn stuck_peer_fails_every_waiting_rank() {
    let mut comms = ring(3, 200);
    let _stuck = comms.pop(); // rank 2
    let got = on_ranks(comms, |_, c| all_reduce(c, 40));
    let e0 = got[0].clone().unwrap_err();
    assert!(e0.contains("no message from rank 2 within 200 ms"), "{e0}");
    // Rank 1 either receives rank 0's abort or times out itself; both name a dead/stuck peer.
    let e1 = got[1].clone().unwrap_err();
    assert!(e1.contains("rank 0") && (e1.contains("aborted") || e1.contains("within 200 ms")), "{e1}");
}

#[test]
fn mismatched_lengths_fail_on_every_rank() {
    let got = on_ranks(ring(3, 30_000), |r, c| all_reduce(c, if r == 2 { 16 } else { 12 }));
    for e in &got {
        let e = e.clone().unwrap_err();
        assert!(e.contains("over 12 bytes") && e.contains("over 16 bytes") && e.contains("same sizes"), "{e}");
    }
}

#[test]
fn different_collective_on_peer_is_reported() {
    let got = on_ranks(ring(2, 30_000), |r, c| {
        let mut buf = vec![0u8; 8];
        let b = RSliceMut::from_mut_slice(&mut buf);
        let res = if r == 0 { c.all_reduce(b, DType::F32, reduce_op::SUM) } else { c.broadcast(b, 0) };
        res.into_result().map_err(|e| e.into_string())
    });
    for e in got {
        let e = e.unwrap_err();
        assert!(e.contains("all_reduce(sum, f32) #1 over 8 bytes") && e.contains("broadcast(root 0) #1 over 8 bytes"), "{e}");
    }
}

#[test]
fn partial_elements_and_avg_on_integers_are_refused() {
    for world in [1, 2] {
        let got = on_ranks(ring(world, 30_000), |_, c| all_reduce(c, 6));
        for e in got {
            assert!(e.unwrap_err().contains("6 bytes is not a whole number of f32 elements"));
        }
        let got = on_ranks(ring(world, 30_000), |_, c| {
            let mut buf = vec![0u8; 16];
            c.all_reduce(RSliceMut::from_mut_slice(&mut buf), DType::I64, reduce_op::AVG).into_result().map_err(|e| e.into_string())
        });
        for e in got {
            assert!(e.unwrap_err().contains("ReduceOp.AVG needs a float dtype, got i64"));
        }
    }
}

#[test]
fn wrong_gather_scatter_sizes_and_bad_root_are_refused() {
    let mut c = ring(1, 30_000).pop().unwrap();
    let (send, mut recv) = ([0u8; 8], [0u8; 12]);
    let e = c.all_gather(RSlice::from_slice(&send), RSliceMut::from_mut_slice(&mut recv)).into_result().unwrap_err();
    assert!(e.contains("recv has 12 bytes, expected world size 1 × send's 8 bytes"), "{e}");
    let mut c = ring(1, 30_000).pop().unwrap();
    let e = c.reduce_scatter(RSlice::from_slice(&send), RSliceMut::from_mut_slice(&mut recv), DType::F32, 0).into_result().unwrap_err();
    assert!(e.contains("send has 8 bytes, expected world size 1 × recv's 12 bytes"), "{e}");
    let mut c = ring(1, 30_000).pop().unwrap();
    let e = c.broadcast(RSliceMut::from_mut_slice(&mut recv), 1).into_result().unwrap_err();
    assert!(e.contains("root 1 is not a rank of this group (0..1)"), "{e}");
}

#[test]
fn describe_and_bad_config_through_the_factory() {
    let comms = ring(4, 30_000);
    assert_eq!(comms[1].describe().as_str(), "comm.local rank 1/4, ring over in-process channels, timeout 30000 ms");
    assert_eq!((comms[3].rank(), comms[3].world_size()), (3, 4));
    let e = (crate::COMM_LOCAL.create)(std::ptr::null(), RStr::from_str("world_size = 2\nwold = 3")).into_result().err().unwrap();
    assert!(e.contains("unknown field") && e.contains("wold"), "{e}");
    let e = (crate::COMM_LOCAL.create)(std::ptr::null(), RStr::from_str("timeout_ms = 5")).into_result().err().unwrap();
    assert!(e.contains("missing field") && e.contains("world_size"), "{e}");
    assert_eq!((crate::COMM_LOCAL.create)(std::ptr::null(), RStr::from_str("world_size = 5")).into_result().map(|v| v.len()).ok(), Some(5));
}
