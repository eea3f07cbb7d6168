//! parallel.zero stages 1–3 over comm.local: the same parameters as DDP / one process on the
//! combined batch, and exact resumption from per-rank (sharded) state.

mod parallel_common;

use ferrite_host::distributed::launch::run_ranks;
use ferrite_sdk::Tensor;
use parallel_common::*;

fn zero_config(stage: u32, opt: &str) -> String {
    format!("stage = {stage}\n{opt}")
}

#[test]
fn zero_stages_match_ddp_and_one_process() {
    let host = setup();
    let init = snapshot(&model(host));
    let (spec, opt) = adamw();
    let single = single_process(host, &init, &spec, 2, 3);
    assert_moved(&init, &single);
    let ddp = train_replicas(replicas(host, "parallel.ddp", opt, 2, &init), 2, 3, 1);
    assert_matches(&ddp, &single, 2e-5);
    for stage in 1..=3 {
        let out = train_replicas(replicas(host, "parallel.zero", &zero_config(stage, opt), 2, &init), 2, 3, 1);
        assert_matches(&out, &ddp[0], 2e-5);
    }
    // Four ranks (shards of unequal padding), SGD with momentum, stage 3.
    let (spec, opt) = sgd();
    let single = single_process(host, &init, &spec, 4, 2);
    let out = train_replicas(replicas(host, "parallel.zero", &zero_config(3, opt), 4, &init), 4, 2, 1);
    assert_matches(&out, &single, 2e-5);
}

#[test]
fn zero_gradient_accumulation_with_no_sync_equals_the_large_batch() {
    let host = setup();
    let init = snapshot(&model(host));
    let (spec, opt) = sgd();
    let single = single_process(host, &init, &spec, 2, 2);
    for stage in [2, 3] {
        let out = train_replicas(replicas(host, "parallel.zero", &zero_config(stage, opt), 2, &init), 2, 2, 2);
        assert_matches(&out, &single, 2e-5);
    }
}

/// Trains steps `from..to` on replicas; returns each rank's strategy state and parameters.
fn run_steps(reps: Vec<(u32, Replica)>, world: usize, from: usize, to: usize, load: Option<Vec<Vec<(String, Vec<f32>)>>>) -> Vec<(Vec<(String, Vec<f32>)>, Vec<Vec<f32>>)> {
    let load = load.map(|l| l.into_iter().map(Some).collect::<Vec<_>>()).unwrap_or_else(|| vec![None; world]);
    let reps: Vec<(u32, (Replica, Option<Vec<(String, Vec<f32>)>>))> =
        reps.into_iter().zip(load).map(|((r, rep), l)| (r, (rep, l))).collect();
    let results = run_ranks(reps, |(mut r, state): (Replica, Option<Vec<(String, Vec<f32>)>>)| {
        let host = ferrite_core::host();
        let rank = r.strategy.rank();
        r.strategy.setup(&r.model)?;
        if let Some(state) = state {
            let tensors: Vec<(String, Tensor)> =
                state.iter().map(|(n, v)| (n.clone(), host.from_slice(v, &[v.len()]).unwrap())).collect();
            // Step counts are saved as 1-element tensors; shapes must round-trip.
            let tensors = tensors
                .into_iter()
                .map(|(n, t)| if n.ends_with(".step") { (n, t.reshape(&[]).unwrap()) } else { (n, t) })
                .collect();
            r.strategy.load_state_dict(tensors)?;
        }
        for s in from..to {
            let (x, y) = batch(host, s, world * B);
            r.strategy.pre_forward()?;
            loss_backward(&mut r.model, &rows(&x, rank * B, rank * B + B), &rows(&y, rank * B, rank * B + B), 1.0);
            r.strategy.post_backward()?;
            r.strategy.step()?;
            r.strategy.zero_grad();
        }
        let state: Vec<(String, Vec<f32>)> =
            r.strategy.state_dict()?.into_iter().map(|(n, t)| (n, t.to_dtype(ferrite_sdk::DType::F32).unwrap().to_vec::<f32>().unwrap())).collect();
        r.strategy.summon_full_params()?;
        Ok((state, snapshot(&r.model)))
    });
    results.into_iter().map(|r| r.unwrap()).collect()
}

#[test]
fn zero_resume_from_sharded_state_matches_an_uninterrupted_run_step_for_step() {
    let host = setup();
    let init = snapshot(&model(host));
    let (_, opt) = adamw();
    for stage in 1..=3 {
        let cfg = zero_config(stage, opt);
        let full = run_steps(replicas(host, "parallel.zero", &cfg, 2, &init), 2, 0, 4, None);
        let half = run_steps(replicas(host, "parallel.zero", &cfg, 2, &init), 2, 0, 2, None);
        // Each rank's shard is a different part of the state (that is the point of ZeRO).
        assert_ne!(half[0].0, half[1].0);
        // Fresh replicas (their own random initialisation), resumed from the shards.
        let fresh = snapshot(&model(host));
        let resumed = run_steps(replicas(host, "parallel.zero", &cfg, 2, &fresh), 2, 2, 4, Some(half.iter().map(|h| h.0.clone()).collect()));
        for r in 0..2 {
            assert_eq!(resumed[r].1, full[r].1, "stage {stage} rank {r}: parameters after resuming differ");
            assert_eq!(resumed[r].0, full[r].0, "stage {stage} rank {r}: optimizer state after resuming differs");
        }
    }
}

#[test]
fn loss_scaling_skips_an_overflowing_step_on_every_rank_and_unscales_exactly() {
    let host = setup();
    let init = snapshot(&model(host));
    let (_, opt) = sgd();
    for (name, cfg) in [("parallel.ddp", opt.to_string()), ("parallel.zero", zero_config(3, opt))] {
        let plain = train_replicas(replicas(host, name, &cfg, 2, &init), 2, 1, 1);
        let results = run_ranks(replicas(host, name, &cfg, 2, &init), |mut r: Replica| {
            let host = ferrite_core::host();
            let rank = r.strategy.rank();
            r.strategy.setup(&r.model)?;
            let (x, y) = batch(host, 0, 2 * B);
            let (xs, ys) = (rows(&x, rank * B, rank * B + B), rows(&y, rank * B, rank * B + B));
            // An overflowing scale on rank 0 only: both ranks must skip.
            r.strategy.pre_forward()?;
            loss_backward(&mut r.model, &xs, &ys, if rank == 0 { 1e300 } else { 1.0 });
            r.strategy.post_backward()?;
            let skipped = r.strategy.unscale_grads(1.0)?;
            r.strategy.zero_grad();
            // A power-of-two scale unscales exactly: the step equals the unscaled one.
            r.strategy.pre_forward()?;
            loss_backward(&mut r.model, &xs, &ys, 1024.0);
            r.strategy.post_backward()?;
            let clean = r.strategy.unscale_grads(1.0 / 1024.0)?;
            r.strategy.step()?;
            r.strategy.zero_grad();
            r.strategy.summon_full_params()?;
            Ok((skipped, clean, snapshot(&r.model)))
        });
        for (rank, res) in results.into_iter().enumerate() {
            let (skipped, clean, params) = res.unwrap();
            assert!(skipped, "{name} rank {rank}: the overflow must be seen on every rank");
            assert!(!clean, "{name} rank {rank}");
            assert_eq!(params, plain[rank], "{name} rank {rank}: scaled step differs from the plain one");
        }
    }
}
