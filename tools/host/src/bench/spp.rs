//! One SPP-net training step (He et al. 2014) built from the sdk's nn modules: batch 64 of
//! 1×28×28, conv3×3 pad 1 1→16, ReLU, maxpool 2, conv3×3 pad 1 16→32, ReLU, SPP {1,2,4} (max),
//! linear 672→10, cross-entropy, SGD step.

use super::report::{verdict_ratio, Row};
use super::timing::{fmt_s, measure};
use super::{rand_tensor, registered_plugin, Ctx};
use anyhow::Result;
use ferrite_core::host_api::to_sdk;
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::nn::{Conv2d, Conv2dConfig, Linear, MaxPool2d, Module, PoolMode, SpatialPyramidPool};
use ferrite_sdk::optim::{Optimizer, Sgd, SgdConfig};
use ferrite_sdk::DType;

/// Runs the SPP-net step.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>> {
    let host = ferrite_core::host();
    host.manual_seed(0);
    let pad1 = Conv2dConfig { padding: [1, 1], ..Default::default() };
    let conv1 = Conv2d::new(&host, 1, 16, [3, 3], pad1, DType::F32)?;
    let conv2 = Conv2d::new(&host, 16, 32, [3, 3], pad1, DType::F32)?;
    let pool = MaxPool2d::new([2, 2]);
    let spp = SpatialPyramidPool::new(&[1, 2, 4], PoolMode::Max)?;
    let fc = Linear::new(&host, spp.output_features(32), 10, true, DType::F32)?;
    let params: Vec<_> = [conv1.parameters(), conv2.parameters(), fc.parameters()].concat();
    let mut opt = Sgd::new(params, SgdConfig { lr: 0.01, ..Default::default() })?;
    let x = to_sdk(&rand_tensor(&[64, 1, 28, 28], 3)?);
    let labels: Vec<i64> = (0..64).map(|i| (i * 7 % 10) as i64).collect();
    let y = host.from_slice(&labels, &[64])?;
    let t = measure(&ctx.budget, 3, || {
        let h = F::relu(&conv1.forward(&x)?)?;
        let h = F::relu(&conv2.forward(&pool.forward(&h)?)?)?;
        let logits = fc.forward(&spp.forward(&h)?)?;
        let loss = F::cross_entropy(&logits, &y, None, -100, 0.0, Reduction::Mean)?;
        opt.zero_grad();
        loss.backward()?;
        opt.step()?;
        Ok(())
    })?;
    let kernels = ["ferrite::conv2d", "ferrite::linear", "ferrite::spatial_pyramid_pool"]
        .iter()
        .map(|op| Ok(format!("{} {}", op.trim_start_matches("ferrite::"), registered_plugin(op)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut r = Row::new("SPP-net training step", "batch 64, 1×28×28, fwd+bwd+SGD");
    r.ferrite = fmt_s(t.median_s);
    if let Some(p) = ctx.peer_num("spp_step_s") {
        r.peer = format!("PyTorch {}", fmt_s(p));
        r.ratio = Some(t.median_s / p);
    }
    r.goal = "≤ 0.5× PyTorch time".into();
    r.verdict = verdict_ratio(r.ratio, 0.5);
    r.note = format!("kernels: {}; {} timed steps", kernels.join(", "), t.iters);
    Ok(vec![r])
}
