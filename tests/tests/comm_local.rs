//! `comm.local` loaded as a plugin, driven through the core's process groups
//! (`ferrite_core::comm::ProcessGroup`) and the sdk's `torch.distributed`-style API
//! (`ferrite_sdk::distributed`), one thread per rank.

use ferrite_core::comm::{group_ref, ProcessGroup as CoreGroup};
use ferrite_core::Runtime;
use ferrite_sdk::distributed::{ProcessGroup, ReduceOp};
use ferrite_sdk::{Host, Tensor};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Loads ops-ref (tensor ops) and comm.local once; returns the host.
fn host() -> Host {
    static LOADED: OnceLock<()> = OnceLock::new();
    let host = ferrite_tests::with_ops_ref();
    LOADED.get_or_init(|| {
        Runtime::global().load_plugin(&ferrite_tests::plugin_path("ferrite-comm-local")).expect("load comm.local");
    });
    host
}

/// The core's process groups over a fresh `comm.local` ring (wait timeout 60 s).
fn groups(world: usize) -> Vec<Arc<CoreGroup>> {
    host();
    let comms = Runtime::global().create_comm("comm.local", &format!("world_size = {world}")).expect("create comm.local");
    assert_eq!(comms.len(), world);
    comms.into_iter().map(|c| Arc::new(CoreGroup::new(c, Duration::from_secs(60)))).collect()
}

/// Runs `f(host, sdk group, core group)` on one thread per rank; results in rank order.
fn on_ranks<T: Send>(groups: Vec<Arc<CoreGroup>>, f: impl Fn(Host, ProcessGroup, Arc<CoreGroup>) -> T + Sync) -> Vec<T> {
    let host = host();
    std::thread::scope(|s| {
        let f = &f;
        let hs: Vec<_> = groups
            .into_iter()
            .map(|g| {
                s.spawn(move || {
                    // SAFETY: `g` (the core group) is kept alive by `f` for as long as it uses `pg`.
                    let pg = unsafe { ProcessGroup::from_raw(host.api(), group_ref(&g)) };
                    f(host, pg, g)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("rank thread panicked")).collect()
    })
}

fn vals(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().expect("read f32 tensor")
}

#[test]
fn comm_local_collectives_through_the_sdk() {
    let out = on_ranks(groups(4), |host, pg, g| {
        let r = pg.rank() as f32;
        assert_eq!(pg.world_size(), 4);
        assert_eq!(g.describe(), format!("comm.local rank {}/4, ring over in-process channels, timeout 30000 ms", pg.rank()));
        // 7 elements over 4 ranks: chunk boundaries that do not divide evenly.
        let x = host.from_slice(&(0..7).map(|i| r * 10.0 + i as f32).collect::<Vec<_>>(), &[7]).unwrap();
        pg.all_reduce(&x, ReduceOp::Sum).unwrap().wait().unwrap();
        let avg = host.from_slice(&[r, 2.0 * r], &[2]).unwrap();
        pg.all_reduce(&avg, ReduceOp::Avg).unwrap().wait().unwrap();
        let mx = host.from_slice(&[r, -r], &[2]).unwrap();
        pg.all_reduce(&mx, ReduceOp::Max).unwrap().wait().unwrap();
        let b = host.from_slice(&[r, r + 0.5, r + 0.25], &[3]).unwrap();
        pg.broadcast(&b, 2).unwrap().wait().unwrap();
        let gin = host.from_slice(&[r, -r], &[2]).unwrap();
        let gout = host.zeros(&[8], ferrite_sdk::DType::F32).unwrap();
        pg.all_gather(&gin, &gout).unwrap().wait().unwrap();
        let sin = host.from_slice(&(0..8).map(|i| r + i as f32).collect::<Vec<_>>(), &[4, 2]).unwrap();
        let sout = host.zeros(&[2], ferrite_sdk::DType::F32).unwrap();
        pg.reduce_scatter(&sin, &sout, ReduceOp::Sum).unwrap().wait().unwrap();
        pg.barrier().unwrap().wait().unwrap();
        (vals(&x), vals(&avg), vals(&mx), vals(&b), vals(&gout), vals(&sout))
    });
    for (rank, (x, avg, mx, b, gout, sout)) in out.into_iter().enumerate() {
        // Σ_r (10 r + i) = 60 + 4 i.
        assert_eq!(x, (0..7).map(|i| 60.0 + 4.0 * i as f32).collect::<Vec<_>>(), "rank {rank}");
        assert_eq!(avg, vec![1.5, 3.0]);
        assert_eq!(mx, vec![3.0, 0.0]);
        assert_eq!(b, vec![2.0, 2.5, 2.25]);
        assert_eq!(gout, vec![0.0, 0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0]);
        // Chunk `rank` = elements 2·rank, 2·rank+1: Σ_r (r + i) = 6 + 4 i.
        let i = 2.0 * rank as f32;
        assert_eq!(sout, vec![6.0 + 4.0 * i, 6.0 + 4.0 * (i + 1.0)], "rank {rank}");
    }
}

#[test]
fn comm_local_queued_collectives_keep_their_order_when_waited_in_reverse() {
    let out = on_ranks(groups(4), |host, pg, _g| {
        let r = pg.rank() as f32;
        let x = host.from_slice(&[r + 1.0, 2.0 * r], &[2]).unwrap();
        let gout = host.zeros(&[4], ferrite_sdk::DType::F32).unwrap();
        let sum = host.from_slice(&[r], &[1]).unwrap();
        // Order matters: all_reduce then broadcast from 1 gives the sum everywhere (10, 12);
        // the reverse would give 4 × rank 1's value (8, 8). Then x is gathered and doubled.
        let works = vec![
            pg.all_reduce(&x, ReduceOp::Sum).unwrap(),
            pg.broadcast(&x, 1).unwrap(),
            pg.all_gather(&x.slice(0, 0, 1, 1).unwrap(), &gout).unwrap(),
            pg.all_reduce(&x, ReduceOp::Sum).unwrap(),
            pg.barrier().unwrap(),
            pg.all_reduce(&sum, ReduceOp::Max).unwrap(),
        ];
        for w in works.into_iter().rev() {
            w.wait().unwrap();
        }
        (vals(&x), vals(&gout), vals(&sum))
    });
    for (x, gout, sum) in out {
        assert_eq!(x, vec![40.0, 48.0]);
        assert_eq!(gout, vec![10.0; 4]);
        assert_eq!(sum, vec![3.0]);
    }
}

#[test]
fn comm_local_refuses_non_contiguous_tensors_and_wrong_sizes() {
    let out = on_ranks(groups(2), |host, pg, _g| {
        let m = host.from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
        let errs = vec![
            pg.all_reduce(&m.t().unwrap(), ReduceOp::Sum).err().map(|e| e.to_string()),
            pg.broadcast(&m, 2).err().map(|e| e.to_string()),
            pg.all_gather(&m, &host.zeros(&[6], ferrite_sdk::DType::F32).unwrap()).err().map(|e| e.to_string()),
            pg.reduce_scatter(&m, &host.zeros(&[2], ferrite_sdk::DType::F32).unwrap(), ReduceOp::Sum).err().map(|e| e.to_string()),
            pg.all_reduce(&host.from_slice(&[1i64, 2], &[2]).unwrap(), ReduceOp::Avg).err().map(|e| e.to_string()),
        ];
        // Refused calls never reach the backend: the group still works afterwards.
        pg.all_reduce(&m, ReduceOp::Sum).unwrap().wait().unwrap();
        (errs, vals(&m))
    });
    for (errs, m) in out {
        let errs: Vec<String> = errs.into_iter().map(|e| e.expect("refused")).collect();
        assert!(errs[0].contains("must be contiguous"), "{}", errs[0]);
        assert!(errs[1].contains("root 2 is not a rank of this group"), "{}", errs[1]);
        assert!(errs[2].contains("all_gather") && errs[2].contains("not world size 2"), "{}", errs[2]);
        assert!(errs[3].contains("reduce_scatter") && errs[3].contains("not world size 2"), "{}", errs[3]);
        assert!(errs[4].contains("AVG needs a float tensor"), "{}", errs[4]);
        assert_eq!(m, vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
    }
}

#[test]
fn comm_local_rank_that_leaves_fails_the_others_with_a_clear_error() {
    let out = on_ranks(groups(4), |host, pg, g| {
        if pg.rank() == 3 {
            drop(g); // stops participating: its communicator is dropped with the group
            return None;
        }
        let x = host.from_slice(&[1.0f32; 5], &[5]).unwrap();
        let first = pg.all_reduce(&x, ReduceOp::Sum).unwrap().wait().unwrap_err().to_string();
        let later = pg.barrier().unwrap().wait().unwrap_err().to_string();
        Some((first, later))
    });
    for (rank, o) in out.into_iter().enumerate().take(3) {
        let (first, later) = o.expect("ranks 0..3 report");
        // The disconnection path (not the 30 s backend or 60 s group timeout) names rank 3.
        assert!(first.contains(&format!("rank {rank}: all_reduce #1 failed")), "{first}");
        assert!(first.contains("rank 3 left (its communicator was dropped)"), "{first}");
        assert!(later.contains("broken by an earlier error") && later.contains("rank 3 left"), "{later}");
    }
}
