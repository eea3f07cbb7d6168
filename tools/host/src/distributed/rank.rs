//! One rank's training: model replica, data, strategy, and the step loop.

use super::plan::rank_plan;
use super::strategy::HostedStrategy;
use crate::precision::{LossScale, Precision};
use crate::config::TrainConfig;
use crate::evaluate::{batch_stats, evaluate};
use crate::hosted::{HostedDataset, HostedModel};
use crate::metrics::EpochRecord;
use anyhow::{Context, Result};
use ferrite_core::Runtime;
use ferrite_sdk::abi::plugin::split;
use ferrite_sdk::distributed::DistributedSampler;
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::{DType, Host};

/// What one rank owns. Built on the launching thread in rank order (so initialisation draws
/// from the core's generator deterministically), then moved to the rank's thread.
pub struct RankState {
    /// Model replica.
    pub model: HostedModel,
    /// One dataset per input size.
    pub data: Vec<HostedDataset>,
    /// The strategy (owns the optimizer and the process group).
    pub strategy: HostedStrategy,
    /// Dynamic loss scale (f16 mixed precision only).
    pub loss_scale: Option<LossScale>,
}

impl RankState {
    /// Creates the model, the datasets and the strategy for one rank.
    ///
    /// # Errors
    /// Unknown names, bad configs.
    pub fn new(cfg: &TrainConfig, strategy: HostedStrategy, host: Host) -> Result<RankState> {
        let rt = Runtime::global();
        let model = HostedModel::new(&cfg.model, rt.create_model(&cfg.model, &cfg.model_config_toml())?, host);
        let data = cfg
            .sizes
            .iter()
            .map(|&s| Ok(HostedDataset::new(s, rt.create_dataset(&cfg.dataset, &cfg.dataset_config_toml(s))?, host)))
            .collect::<Result<_>>()?;
        let loss_scale = (cfg.precision == Precision::F16).then(LossScale::new);
        Ok(RankState { model, data, strategy, loss_scale })
    }
}

/// Per-size training sums of one epoch on one rank: (loss·n, correct, n).
pub type EpochSums = Vec<(f64, usize, usize)>;

/// Runs one epoch of training on this rank; returns its per-size sums (local, not reduced).
///
/// # Errors
/// Op, strategy or communication errors; a non-finite loss.
pub fn train_epoch(st: &mut RankState, cfg: &TrainConfig, epoch: u32, lr: f64) -> Result<EpochSums> {
    let host = ferrite_core::host();
    let p = &cfg.parallel;
    let (rank, world) = (st.strategy.rank(), st.strategy.world_size());
    let samplers: Vec<DistributedSampler> = st
        .data
        .iter()
        .enumerate()
        // One order per input size: the same permutation for every size would show each
        // image at both sizes in back-to-back steps.
        .map(|(i, d)| {
            let seed = cfg.seed ^ 0xD1B5_4A32_D192_ED03 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            DistributedSampler::new(d.len(split::TRAIN), world, rank, seed, true)
        })
        .collect::<Result<_, String>>()
        .map_err(anyhow::Error::msg)?;
    for (d, s) in st.data.iter().zip(&samplers) {
        anyhow::ensure!(
            s.num_samples() > 0,
            "world size {world} leaves no training sample of size {} per rank (the train split has {}); use fewer ranks",
            d.size,
            d.len(split::TRAIN)
        );
    }
    st.strategy.set_lr(lr);
    st.model.set_training(true);
    let plan = rank_plan(&samplers, u64::from(epoch), cfg.batch_size as usize);
    let mut sums = vec![(0.0f64, 0usize, 0usize); st.data.len()];
    for step in plan.chunks(p.grad_accumulation as usize) {
        for (j, (di, idx)) in step.iter().enumerate() {
            let sync = j + 1 == step.len();
            st.strategy.set_grad_sync(sync);
            st.strategy.pre_forward()?;
            let (x, y) = st.data[*di].batch(split::TRAIN, idx)?;
            let model = &mut st.model;
            // bf16 autocast over f32 parameters (f16 is refused with --parallel by validation).
            let mut run = || -> Result<(ferrite_sdk::Tensor, ferrite_sdk::Tensor)> {
                let logits = model.forward(&x)?;
                let loss = F::cross_entropy(&logits, &y, None, -100, 0.0, Reduction::Mean)?;
                Ok((logits, loss))
            };
            let (logits, loss) = match cfg.precision.autocast_dtype() {
                Some(dt) => host.autocast(dt, run)??,
                None => run()?,
            };
            let lv = loss.item()?;
            anyhow::ensure!(lv.is_finite(), "training diverged at epoch {epoch} (loss is {lv}); lower the learning rate");
            // k micro-batches of b samples = one batch of k·b: average, not sum.
            let mut factor = 1.0 / step.len() as f64;
            if let Some(ls) = &st.loss_scale {
                factor *= ls.scale; // f16: keep small gradients representable
            }
            let scaled = if factor != 1.0 { loss.mul_scalar(factor)? } else { loss };
            scaled.backward()?;
            st.strategy.post_backward()?;
            let (l, c) = host.no_grad(|| batch_stats(&logits.detach(), &y))?;
            let s = &mut sums[*di];
            s.0 += l;
            s.1 += c;
            s.2 += idx.len();
        }
        match st.loss_scale.as_mut() {
            Some(ls) => {
                // Skipped on every rank alike when any rank's gradients overflowed.
                let found_inf = st.strategy.unscale_grads(1.0 / ls.scale)?;
                if !found_inf {
                    st.strategy.step()?;
                }
                ls.update(found_inf);
            }
            None => st.strategy.step()?,
        }
        st.strategy.zero_grad();
    }
    Ok(sums)
}

/// Sums the epoch statistics over ranks (every rank gets the totals).
///
/// # Errors
/// Communication errors.
pub fn reduce_sums(st: &RankState, sums: &EpochSums) -> Result<EpochSums> {
    let flat: Vec<f64> = sums.iter().flat_map(|s| [s.0, s.1 as f64, s.2 as f64]).collect();
    let t = ferrite_core::Tensor::from_f64(&[flat.len() as i64], &flat, DType::F64)?;
    let g = st.strategy.group();
    g.wait(g.all_reduce(&t, ferrite_sdk::abi::comm::reduce_op::SUM)?)?;
    let v = t.to_f64_vec();
    Ok(v.chunks(3).map(|c| (c[0], c[1].round() as usize, c[2].round() as usize)).collect())
}

/// Evaluates on rank 0 (the others wait at a barrier) and returns rank 0's records.
///
/// # Errors
/// Op or communication errors.
pub fn evaluate_epoch(st: &mut RankState, epoch: u32, sums: &EpochSums, seconds: f64) -> Result<Vec<EpochRecord>> {
    // ZeRO-3 gathers parameters collectively: every rank takes part before rank 0 evaluates
    // (and the epoch's checkpoint is saved from these full parameters).
    st.strategy.summon_full_params()?;
    let mut out = Vec::new();
    if st.strategy.rank() == 0 {
        for (d, s) in st.data.iter().zip(sums) {
            let (test_loss, test_accuracy) = evaluate(&mut st.model, d, split::TEST, 256).with_context(|| format!("evaluating size {}", d.size))?;
            out.push(EpochRecord {
                epoch,
                size: d.size,
                train_loss: s.0 / s.2.max(1) as f64,
                train_accuracy: s.1 as f64 / s.2.max(1) as f64,
                test_loss,
                test_accuracy,
                seconds,
            });
        }
    }
    let g = st.strategy.group();
    g.wait(g.barrier()?)?;
    Ok(out)
}
