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

/// The module of a parameter: its dotted name without the last part (parallel.zero's grouping).
fn module_name(param: &str) -> String {
    param.rsplit_once('.').map_or("", |(m, _)| m).to_string()
}

/// Modules with at least one gathered (not released) parameter.
fn gathered_modules(m: &ferrite_host::hosted::HostedModel) -> BTreeSet<String> {
    m.named_parameters()
        .iter()
        .filter(|(_, p)| !p.is_storage_released())
        .map(|(n, _)| module_name(n))
        .collect()
}

#[test]
fn zero3_gathers_one_module_at_a_time_in_forward_and_backward() {
    let host = setup();
    let init = snapshot(&model(host));
    let (_, opt) = sgd();
    let cfg = format!("stage = 3\nlive_modules = 1\n{opt}");
    let modules: BTreeSet<String> = model(host).named_parameters().iter().map(|(n, _)| module_name(n)).collect();
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

/// Two modules `a` (w, b) and `c` (w) used by one op together, with `live_modules = 1`: the
/// fetch of `c` cannot free `a.w` (pinned: an input of the same op), so `a` stays partly
/// gathered; the next fetch of `a` must not rewrite `a.w`, which a matmul saved for backward.
/// Gradients and the step equal DDP's.
#[test]
fn zero3_partial_eviction_keeps_saved_weights_valid() {
    use ferrite_host::distributed::strategy::HostedStrategy;
    use ferrite_sdk::DType;
    let host = setup();
    let run = |name: &str, cfg: &str| -> Vec<Vec<f32>> {
        let reps: Vec<(u32, HostedStrategy)> = groups(2, std::time::Duration::from_secs(30))
            .into_iter()
            .map(|g| (g.rank(), HostedStrategy::new(name, g, cfg, host).unwrap()))
            .collect();
        let out = run_ranks(reps, |mut s: HostedStrategy| {
            let host = ferrite_core::host();
            let v = |n: usize, k: f32| (0..n).map(|i| (i as f32 * 0.37 + k).sin()).collect::<Vec<f32>>();
            let aw = host.from_slice(&v(6, 0.1), &[3, 2])?.requires_grad_(true)?;
            let ab = host.from_slice(&v(2, 0.2), &[2])?.requires_grad_(true)?;
            let cw = host.from_slice(&v(6, 0.3), &[3, 2])?.requires_grad_(true)?;
            let params = vec![("a.w".to_string(), aw.clone()), ("a.b".to_string(), ab.clone()), ("c.w".to_string(), cw.clone())];
            s.setup_tensors(params, Vec::new())?;
            for step in 0..2 {
                s.pre_forward()?;
                let x = host.from_slice(&v(12, step as f32 + s.rank() as f32), &[4, 3])?;
                let y = F::matmul(&x, &aw)?; // saves a.w
                let both = F::add(&aw, &cw)?; // a.w and c.w pinned together
                let out = F::add(&y, &ab)?; // fetches a again (a.b was freed)
                let loss = F::add(&out.sum_all()?, &F::mul(&both, &both)?.sum_all()?)?;
                loss.backward()?;
                s.post_backward()?;
                s.step()?;
                s.zero_grad();
            }
            s.summon_full_params()?;
            Ok([aw, ab, cw].iter().map(|t| t.detach().to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap()).collect::<Vec<_>>())
        });
        let mut out: Vec<Vec<Vec<f32>>> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(out[0], out[1], "{name}: replicas differ");
        out.remove(0)
    };
    let (_, opt) = sgd();
    let ddp = run("parallel.ddp", opt);
    let zero = run("parallel.zero", &format!("stage = 3\nlive_modules = 1\n{opt}"));
    assert_eq!(ddp.len(), zero.len());
    for (d, z) in ddp.iter().zip(&zero) {
        for (p, q) in d.iter().zip(z) {
            assert!((p - q).abs() < 1e-5, "ZeRO-3 {z:?} vs DDP {d:?}");
        }
    }
}
