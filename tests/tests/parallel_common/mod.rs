//! Shared harness of the parallel-strategy suites: N ranks of models.spp_net as threads over
//! comm.local, compared with one process training on the combined batch.

#![allow(dead_code)] // each suite uses part of it

use ferrite_core::comm::ProcessGroup;
use ferrite_core::Runtime;
use ferrite_host::distributed::launch::run_ranks;
use ferrite_host::distributed::strategy::HostedStrategy;
use ferrite_host::hosted::HostedModel;
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::optim::OptimizerSpec;
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::{plugin_path, with_ops_cpu};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Per-rank batch.
pub const B: usize = 6;

/// Loads ops, the model, comm.local and the strategy plugins once.
pub fn setup() -> Host {
    static LOADED: OnceLock<()> = OnceLock::new();
    let host = with_ops_cpu();
    LOADED.get_or_init(|| {
        let rt = Runtime::global();
        for c in ["ferrite-model-spp-net", "ferrite-comm-local", "ferrite-parallel-ddp", "ferrite-parallel-zero"] {
            let p = plugin_path(c);
            rt.load_plugin(&p).unwrap_or_else(|e| panic!("loading {c}: {e}"));
        }
    });
    host
}

/// A fresh spp_net (f32, hidden layer, no BN/dropout: replicas must compute the same thing).
pub fn model(host: Host) -> HostedModel {
    let m = Runtime::global().create_model("models.spp_net", "hidden = 16\nchannels = [4, 8]\nlevels = [1, 2]").expect("model");
    HostedModel::new("models.spp_net", m, host)
}

/// Copies of the parameter values (for restarting from the same point).
pub fn snapshot(m: &HostedModel) -> Vec<Vec<f32>> {
    m.named_parameters().iter().map(|(_, t)| t.to_vec::<f32>().unwrap()).collect()
}

/// Overwrites the model's parameters with `values`.
pub fn restore(host: Host, m: &HostedModel, values: &[Vec<f32>]) {
    host.no_grad(|| {
        for ((_, p), v) in m.named_parameters().iter().zip(values) {
            let shape = p.shape();
            p.copy_(&host.from_slice(v, &shape).unwrap()).unwrap();
        }
    });
}

/// Deterministic inputs `[n, 1, 8, 8]` and labels `[n]` of step `s`.
pub fn batch(host: Host, s: usize, n: usize) -> (Tensor, Tensor) {
    let x: Vec<f32> = (0..n * 64).map(|i| (((i * 37 + s * 101) % 97) as f32 / 48.0) - 1.0).collect();
    let y: Vec<i64> = (0..n).map(|i| ((i * 7 + s * 3) % 10) as i64).collect();
    (host.from_slice(&x, &[n, 1, 8, 8]).unwrap(), host.from_slice(&y, &[n]).unwrap())
}

/// Rows `[start, end)` of a batch.
pub fn rows(t: &Tensor, start: usize, end: usize) -> Tensor {
    t.slice(0, start, end, 1).unwrap().contiguous().unwrap()
}

/// Mean cross-entropy of the model on a batch, scaled by `scale`, backpropagated.
pub fn loss_backward(m: &mut HostedModel, x: &Tensor, y: &Tensor, scale: f64) {
    let logits = m.forward(x).unwrap();
    let loss = F::cross_entropy(&logits, y, None, -100, 0.0, Reduction::Mean).unwrap();
    let loss = if scale != 1.0 { loss.mul_scalar(scale).unwrap() } else { loss };
    loss.backward().unwrap();
}

/// One process, `steps` optimizer steps on the combined batches of `world` ranks.
pub fn single_process(host: Host, init: &[Vec<f32>], opt: &OptimizerSpec, world: usize, steps: usize) -> Vec<Vec<f32>> {
    let mut m = model(host);
    restore(host, &m, init);
    let mut o = opt.build(m.named_parameters().into_iter().map(|(_, t)| t).collect()).unwrap();
    for s in 0..steps {
        let (x, y) = batch(host, s, world * B);
        loss_backward(&mut m, &x, &y, 1.0);
        o.step().unwrap();
        o.zero_grad();
    }
    snapshot(&m)
}

/// comm.local process groups for `world` ranks.
pub fn groups(world: usize, timeout: Duration) -> Vec<Arc<ProcessGroup>> {
    let cfg = format!("world_size = {world}\ntimeout_ms = {}", timeout.as_millis());
    Runtime::global()
        .create_comm("comm.local", &cfg)
        .unwrap()
        .into_iter()
        .map(|c| Arc::new(ProcessGroup::new(c, timeout)))
        .collect()
}

/// One rank's replica: model + strategy.
pub struct Replica {
    /// Model.
    pub model: HostedModel,
    /// Strategy.
    pub strategy: HostedStrategy,
}

/// Builds `world` replicas of the strategy `name` with `config` (TOML); rank 0 starts from
/// `init`, the others from their own random initialisation (the strategy must broadcast).
pub fn replicas(host: Host, name: &str, config: &str, world: usize, init: &[Vec<f32>]) -> Vec<(u32, Replica)> {
    groups(world, Duration::from_secs(30))
        .into_iter()
        .map(|g| {
            let rank = g.rank();
            let model = model(host);
            if rank == 0 {
                restore(host, &model, init);
            }
            let strategy = HostedStrategy::new(name, g, config, host).unwrap();
            (rank, Replica { model, strategy })
        })
        .collect()
}

/// Trains every replica `steps` steps, each step made of `micro` micro-batches (no_sync on all
/// but the last); rank r's micro-batch j of step s is its share of the combined batch.
pub fn train_replicas(reps: Vec<(u32, Replica)>, world: usize, steps: usize, micro: usize) -> Vec<Vec<Vec<f32>>> {
    let results = run_ranks(reps, |mut r: Replica| {
        let host = ferrite_core::host();
        let rank = r.strategy.rank();
        r.strategy.setup(&r.model)?;
        for s in 0..steps {
            let (x, y) = batch(host, s, world * B);
            let per = B / micro;
            for j in 0..micro {
                r.strategy.set_grad_sync(j + 1 == micro);
                r.strategy.pre_forward()?;
                let start = rank * B + j * per;
                loss_backward(&mut r.model, &rows(&x, start, start + per), &rows(&y, start, start + per), 1.0 / micro as f64);
                r.strategy.post_backward()?;
            }
            r.strategy.step()?;
            r.strategy.zero_grad();
        }
        r.strategy.summon_full_params()?;
        Ok(snapshot(&r.model))
    });
    results.into_iter().map(|r| r.unwrap()).collect()
}

/// Largest absolute difference between two parameter sets.
pub fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs())).fold(0.0, f32::max)
}

/// Asserts that all replicas are bit-identical and close to the single-process result.
pub fn assert_matches(reps: &[Vec<Vec<f32>>], single: &[Vec<f32>], tol: f32) {
    for (r, p) in reps.iter().enumerate() {
        assert_eq!(p, &reps[0], "rank {r} differs from rank 0");
    }
    let d = max_diff(&reps[0], single);
    assert!(d <= tol, "replicas differ from single-process training by {d} (tolerance {tol})");
    assert!(max_diff(&reps[0], &reps[0]) == 0.0);
}

/// SGD with momentum and AdamW as strategy `[optimizer]` tables and specs.
pub fn sgd() -> (OptimizerSpec, &'static str) {
    (OptimizerSpec::Sgd { lr: 0.1, momentum: 0.9, weight_decay: 1e-3 }, "[optimizer]\nkind = \"sgd\"\nlr = 0.1\nmomentum = 0.9\nweight_decay = 0.001\n")
}

/// AdamW.
pub fn adamw() -> (OptimizerSpec, &'static str) {
    (
        OptimizerSpec::AdamW { lr: 0.01, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.01 },
        "[optimizer]\nkind = \"adamw\"\nlr = 0.01\nweight_decay = 0.01\n",
    )
}

/// Sanity: a model trained for a step really changes (so equality tests can fail).
pub fn assert_moved(init: &[Vec<f32>], after: &[Vec<f32>]) {
    assert!(max_diff(init, after) > 1e-4, "training did not change the parameters");
}

/// The dtype all suites use.
pub const DTYPE: DType = DType::F32;
