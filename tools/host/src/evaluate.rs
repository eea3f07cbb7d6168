//! Test-set evaluation: loss and accuracy without recording gradients.

use crate::hosted::{HostedDataset, HostedModel};
use anyhow::Result;
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::Tensor;

/// Summed loss and correct count of one batch (`logits [B, C]`, `targets [B]` i64).
pub fn batch_stats(logits: &Tensor, targets: &Tensor) -> Result<(f64, usize)> {
    let loss = F::cross_entropy(logits, targets, None, -100, 0.0, Reduction::Sum)?.item()?;
    let pred = logits.argmax(1)?.to_vec::<i64>()?;
    let truth = targets.to_vec::<i64>()?;
    Ok((loss, pred.iter().zip(&truth).filter(|(p, t)| p == t).count()))
}

/// Mean loss and accuracy (fraction) of `model` on split `which` of `data`.
pub fn evaluate(model: &mut HostedModel, data: &HostedDataset, which: u32, batch_size: usize) -> Result<(f64, f64)> {
    model.set_training(false);
    let n = data.len(which);
    anyhow::ensure!(
        n > 0,
        "the {} split at {}x{} has no samples (raise or lower the dataset's test_fraction)",
        if which == ferrite_sdk::abi::plugin::split::TEST { "test" } else { "train" },
        data.size,
        data.size
    );
    let host = ferrite_core::host();
    let (mut loss, mut correct) = (0.0, 0usize);
    host.no_grad(|| -> Result<()> {
        let all: Vec<u64> = (0..n as u64).collect();
        for chunk in all.chunks(batch_size.max(1)) {
            let (x, y) = data.batch(which, chunk)?;
            let logits = model.forward(&x)?;
            let (l, c) = batch_stats(&logits, &y)?;
            loss += l;
            correct += c;
        }
        Ok(())
    })?;
    Ok((loss / n as f64, correct as f64 / n as f64))
}
