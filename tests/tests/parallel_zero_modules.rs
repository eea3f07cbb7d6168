//! parallel.zero module by module: stage 3 gathers each module's parameters when an op first
//! reads them (forward, and again in backward) and keeps at most `live_modules` gathered;
//! stages 2/3 reduce a module's gradients from gradient hooks while backward goes on.

mod parallel_common;

use ferrite_host::distributed::launch::run_ranks;
use ferrite_sdk::functional::{self as F, Reduction};
use parallel_common::*;
use std::collections::BTreeSet;

/// Number in `describe()` just before `marker` (e.g. "gathers so far").
fn count_before(describe: &str, marker: &str) -> u64 {
    let head = &describe[..describe.find(marker).unwrap_or_else(|| panic!("no `{marker}` in {describe}"))];
    let digits: String = head.trim_end().chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    digits.chars().rev().collect::<String>().parse().unwrap()
}

/// Modules with at least one gathered (not released) parameter.
fn gathered_modules(m: &ferrite_host::hosted::HostedModel) -> BTreeSet<String> {
    m.named_parameters()
        .iter()
        .filter(|(_, p)| !p.is_storage_released())
        .map(|(n, _)| n.rsplit_once('.').map_or("", |(m, _)| m).to_string())
        .collect()
}

#[test]
fn zero3_gathers_one_module_at_a_time_in_forward_and_backward() {
    let host = setup();
    let init = snapshot(&model(host));
    let (_, opt) = sgd();
    let cfg = format!("stage = 3\nlive_modules = 1\n{opt}");
    let modules: BTreeSet<String> =
        model(host).named_parameters().iter().map(|(n, _)| n.rsplit_once('.').map_or("", |(m, _)| m).to_string()).collect();
    assert!(modules.len() >= 3, "the test model needs several modules: {modules:?}");
    let results = run_ranks(replicas(host, "parallel.zero", &cfg, 2, &init), |mut r: Replica| {
        let host = ferrite_core::host();
        let rank = r.strategy.rank();
        r.strategy.setup(&r.model)?;
        let (x, y) = batch(host, 0, 2 * B);
        r.strategy.pre_forward()?;
        let before = gathered_modules(&r.model);
        let logits = r.model.forward(&rows(&x, rank * B, rank * B + B))?;
        let after_forward = gathered_modules(&r.model);
        let fetches_forward = count_before(&r.strategy.describe(), "gathers so far");
        let loss = F::cross_entropy(&logits, &rows(&y, rank * B, rank * B + B), None, -100, 0.0, Reduction::Mean)?;
        loss.backward()?;
        let describe = r.strategy.describe();
        r.strategy.post_backward()?;
        let after_backward = gathered_modules(&r.model);
        r.strategy.step()?;
        Ok((before, after_forward, fetches_forward, describe, after_backward))
    });
    for (rank, res) in results.into_iter().enumerate() {
        let (before, after_forward, fetches_forward, describe, after_backward) = res.unwrap();
        assert!(before.is_empty(), "rank {rank}: parameters gathered before the forward: {before:?}");
        assert!(after_forward.len() <= 1, "rank {rank}: more than live_modules = 1 gathered: {after_forward:?}");
        assert_eq!(fetches_forward, modules.len() as u64, "rank {rank}: one gather per module in forward");
        // Backward needs the weights again (matmul/conv gradients): gathered again, one by one.
        let total = count_before(&describe, "gathers so far");
        assert!(total > fetches_forward, "rank {rank}: no gather in backward: {describe}");
        assert!(count_before(&describe, "module reductions launched during backward") >= 1, "{describe}");
        assert!(after_backward.is_empty(), "rank {rank}: still gathered after post_backward: {after_backward:?}");
    }
}

#[test]
fn zero3_with_one_live_module_still_matches_ddp() {
    let host = setup();
    let init = snapshot(&model(host));
    let (_, opt) = adamw();
    let ddp = train_replicas(replicas(host, "parallel.ddp", opt, 2, &init), 2, 3, 1);
    for live in [1, 2, 100] {
        let cfg = format!("stage = 3\nlive_modules = {live}\n{opt}");
        let out = train_replicas(replicas(host, "parallel.zero", &cfg, 2, &init), 2, 3, 1);
        assert_matches(&out, &ddp[0], 2e-5);
    }
}

#[test]
fn zero2_reduces_gradients_during_backward() {
    let host = setup();
    let init = snapshot(&model(host));
    let (_, opt) = sgd();
    for stage in [1, 2] {
        let cfg = format!("stage = {stage}\n{opt}");
        let results = run_ranks(replicas(host, "parallel.zero", &cfg, 2, &init), |mut r: Replica| {
            let host = ferrite_core::host();
            let rank = r.strategy.rank();
            r.strategy.setup(&r.model)?;
            let (x, y) = batch(host, 0, 2 * B);
            r.strategy.pre_forward()?;
            loss_backward(&mut r.model, &rows(&x, rank * B, rank * B + B), &rows(&y, rank * B, rank * B + B), 1.0);
            // Before post_backward: the hooks already launched the reductions, and dropped the
            // full-size gradients of the modules they launched.
            let launched = count_before(&r.strategy.describe(), "module reductions launched during backward");
            let left = r.model.named_parameters().iter().filter(|(_, p)| p.grad().is_some()).count();
            r.strategy.post_backward()?;
            r.strategy.step()?;
            Ok((launched, left))
        });
        for res in results {
            let (launched, left) = res.unwrap();
            assert!(launched >= 2, "stage {stage}: {launched} reductions launched during backward");
            assert_eq!(left, 0, "stage {stage}: {left} full gradients still held after backward");
        }
    }
}
