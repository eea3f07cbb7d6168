//! parallel.ddp over comm.local: replicas equal one process on the combined batch, no_sync
//! accumulation equals the large batch, unused parameters, a dead rank is a clear error.

mod parallel_common;

use parallel_common::*;
use std::time::{Duration, Instant};

fn ddp_config(extra: &str, opt: &str) -> String {
    format!("{extra}\n{opt}")
}

#[test]
fn ddp_two_and_four_ranks_match_one_process_on_the_combined_batch() {
    let host = setup();
    let init = snapshot(&model(host));
    for (world, (spec, opt), cap) in [(2, sgd(), "bucket_cap_mb = 25"), (4, adamw(), "bucket_cap_mb = 0.01")] {
        let single = single_process(host, &init, &spec, world, 3);
        assert_moved(&init, &single);
        let reps = replicas(host, "parallel.ddp", &ddp_config(cap, opt), world, &init);
        let out = train_replicas(reps, world, 3, 1);
        assert_matches(&out, &single, 2e-5);
    }
}

#[test]
fn ddp_no_sync_accumulation_equals_the_large_batch() {
    let host = setup();
    let init = snapshot(&model(host));
    let (spec, opt) = sgd();
    let single = single_process(host, &init, &spec, 2, 2);
    // Each rank: 2 micro-batches of B/2 per step, the first under no_sync.
    let reps = replicas(host, "parallel.ddp", &ddp_config("bucket_cap_mb = 0.005", opt), 2, &init);
    let out = train_replicas(reps, 2, 2, 2);
    assert_matches(&out, &single, 2e-5);
}

#[test]
fn ddp_unused_parameters_are_named_or_tolerated() {
    let host = setup();
    for find_unused in [false, true] {
        let reps: Vec<_> = groups(2, Duration::from_secs(20))
            .into_iter()
            .map(|g| {
                let rank = g.rank();
                let cfg = format!("find_unused_parameters = {find_unused}\n[optimizer]\nkind = \"sgd\"\nlr = 0.5\n");
                (rank, ferrite_host::distributed::strategy::HostedStrategy::new("parallel.ddp", g, &cfg, host).unwrap())
            })
            .collect();
        let results = ferrite_host::distributed::launch::run_ranks(reps, |mut s| {
            let host = ferrite_core::host();
            let used = host.ones(&[3], ferrite_sdk::DType::F32)?.requires_grad_(true)?;
            let unused = host.ones(&[2], ferrite_sdk::DType::F32)?.requires_grad_(true)?;
            s.setup_tensors(vec![("used".into(), used.clone()), ("unused".into(), unused.clone())], vec![])?;
            // Rank r's loss: (r + 1) · sum(used) → averaged gradient 1.5 on every element.
            used.sum_all()?.mul_scalar(s.rank() as f64 + 1.0)?.backward()?;
            s.post_backward()?;
            let g = used.grad().unwrap().to_vec::<f32>()?;
            Ok((g, unused.grad().is_none()))
        });
        if find_unused {
            for r in results {
                let (g, unused_none) = r.unwrap();
                assert_eq!(g, vec![1.5; 3]);
                assert!(unused_none, "a parameter no rank used keeps grad None");
            }
        } else {
            for r in results {
                let e = format!("{:#}", r.unwrap_err());
                assert!(e.contains("unused") && e.contains("find_unused_parameters"), "{e}");
            }
        }
    }
}

#[test]
fn ddp_dead_rank_is_a_clear_error_on_the_others_within_the_timeout() {
    let host = setup();
    let init = snapshot(&model(host));
    let (_, opt) = sgd();
    let timeout = Duration::from_millis(1500);
    let reps: Vec<_> = groups(3, timeout)
        .into_iter()
        .map(|g| {
            let rank = g.rank();
            let m = model(host);
            restore(host, &m, &init);
            let s = ferrite_host::distributed::strategy::HostedStrategy::new("parallel.ddp", g, opt, host).unwrap();
            (rank, Replica { model: m, strategy: s })
        })
        .collect();
    let t0 = Instant::now();
    let results = ferrite_host::distributed::launch::run_ranks(reps, |mut r: Replica| {
        let host = ferrite_core::host();
        let rank = r.strategy.rank();
        r.strategy.setup(&r.model)?;
        for s in 0..4 {
            if rank == 1 && s == 2 {
                // "Killed": this rank stops taking part and its communicator goes away.
                drop(r);
                return Ok(());
            }
            let (x, y) = batch(host, s, 3 * B);
            loss_backward(&mut r.model, &rows(&x, rank * B, rank * B + B), &rows(&y, rank * B, rank * B + B), 1.0);
            r.strategy.post_backward()?;
            r.strategy.step()?;
            r.strategy.zero_grad();
        }
        Ok(())
    });
    // Not a speed goal: the point is that the survivors neither hang nor succeed.
    assert!(t0.elapsed() < Duration::from_secs(30), "survivors hung");
    for (rank, r) in results.into_iter().enumerate() {
        if rank == 1 {
            r.unwrap();
        } else {
            let e = format!("{:#}", r.unwrap_err());
            assert!(e.contains("rank 1") || e.contains("left") || e.contains("did not finish"), "rank {rank}: {e}");
        }
    }
}
