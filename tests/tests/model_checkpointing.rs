//! Activation checkpointing in a real model: `models.spp_net` with `checkpoint = true` trains to
//! the same parameters as without it, holds less memory through forward and backward, and with
//! ZeRO-3 its recompute gathers the sharded parameters again.

mod parallel_common;

use ferrite_core::tensor::storage;
use ferrite_core::Runtime;
use ferrite_host::hosted::HostedModel;
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::optim::{Optimizer, OptimizerSpec};
use parallel_common::*;

fn spp(host: ferrite_sdk::Host, checkpoint: bool, init: Option<&[Vec<f32>]>) -> HostedModel {
    let cfg = format!("hidden = 16\nchannels = [8, 16]\nlevels = [1, 2]\ncheckpoint = {checkpoint}");
    let m = HostedModel::new("models.spp_net", Runtime::global().create_model("models.spp_net", &cfg).unwrap(), host);
    if let Some(v) = init {
        restore(host, &m, v);
    }
    m
}

#[test]
fn checkpointed_blocks_train_to_the_same_parameters() {
    let host = setup();
    let init = snapshot(&spp(host, false, None));
    let train = |checkpoint: bool| {
        let mut m = spp(host, checkpoint, Some(&init));
        let params = m.named_parameters().into_iter().map(|(_, t)| t).collect();
        let mut opt = OptimizerSpec::Sgd { lr: 0.1, momentum: 0.9, weight_decay: 0.0 }.build(params).unwrap();
        for s in 0..3 {
            let (x, y) = batch(host, s, 16);
            loss_backward(&mut m, &x, &y, 1.0);
            opt.step().unwrap();
            opt.zero_grad();
        }
        snapshot(&m)
    };
    let (plain, ckpt) = (train(false), train(true));
    assert_moved(&init, &plain);
    let d = max_diff(&plain, &ckpt);
    assert!(d <= 1e-6, "checkpointing changed the result by {d}");
}

#[test]
fn checkpointing_keeps_fewer_activations_and_lowers_the_peak() {
    let host = setup();
    let init = snapshot(&spp(host, false, None));
    // 128 images of 32×32: the conv activations dominate the parameters.
    let x = host.randn(&[128, 1, 32, 32], 0.0, 1.0, ferrite_sdk::DType::F32).unwrap();
    let y = host.from_slice(&(0..128).map(|i| (i % 10) as i64).collect::<Vec<_>>(), &[128]).unwrap();
    // (bytes held for backward at the end of forward, peak of forward + backward)
    let measure = |checkpoint: bool| {
        let mut m = spp(host, checkpoint, Some(&init));
        let base = storage::live_bytes();
        storage::reset_peak_bytes();
        let logits = m.forward(&x).unwrap();
        let loss = F::cross_entropy(&logits, &y, None, -100, 0.0, Reduction::Mean).unwrap();
        let saved = storage::live_bytes() - base;
        loss.backward().unwrap();
        (saved, storage::peak_bytes() - base)
    };
    let ((saved, peak), (saved_ck, peak_ck)) = (measure(false), measure(true));
    // Without: every conv/ReLU/pool output of both blocks; with: the blocks' inputs and outputs.
    assert!((saved_ck as f64) < 0.4 * saved as f64, "saved for backward: {saved_ck} B checkpointed vs {saved} B");
    // The peak is the recompute of the larger block plus its backward, so it drops less.
    assert!(peak_ck < peak, "peak {peak_ck} B checkpointed vs {peak} B");
}

#[test]
fn checkpointing_refuses_batch_norm() {
    setup();
    let e = Runtime::global().create_model("models.spp_net", "batch_norm = true\ncheckpoint = true").err().unwrap().to_string();
    assert!(e.contains("checkpoint") && e.contains("batch_norm"), "{e}");
}

#[test]
fn zero3_recomputes_checkpointed_blocks_with_gathered_parameters() {
    use ferrite_host::distributed::strategy::HostedStrategy;
    let host = setup();
    let init = snapshot(&spp(host, false, None));
    let reps = |name: &str, cfg: &str, checkpoint: bool| -> Vec<(u32, Replica)> {
        groups(2, std::time::Duration::from_secs(30))
            .into_iter()
            .map(|g| {
                let rank = g.rank();
                let model = spp(host, checkpoint, (rank == 0).then_some(&init[..]));
                (rank, Replica { model, strategy: HostedStrategy::new(name, g, cfg, host).unwrap() })
            })
            .collect()
    };
    let (_, opt) = sgd();
    let ddp = train_replicas(reps("parallel.ddp", opt, false), 2, 2, 1);
    let zero = train_replicas(reps("parallel.zero", &format!("stage = 3\nlive_modules = 1\n{opt}"), true), 2, 2, 1);
    assert_matches(&zero, &ddp[0], 2e-5);
}
