//! A pre-norm transformer block (d_model 256, 4 heads, seq 256, batch 8, causal) forward and
//! backward, written with the sdk's functional ops: layer_norm, linear, scaled_dot_product_attention,
//! gelu, add.

use super::report::{verdict_ratio, Row};
use super::timing::{fmt_s, measure};
use super::{rand_tensor, registered_plugin, Ctx};
use anyhow::Result;
use ferrite_core::host_api::to_sdk;
use ferrite_sdk::functional as F;
use ferrite_sdk::{DType, Tensor};

const B: i64 = 8;
const S: i64 = 256;
const D: i64 = 256;
const H: i64 = 4;

fn param(shape: &[i64], seed: u64, scale: f64) -> Result<Tensor> {
    let t = to_sdk(&rand_tensor(shape, seed)?);
    Ok(t.mul_scalar(scale)?.detach().requires_grad_(true)?)
}

fn constant(v: f64) -> Result<Tensor> {
    Ok(ferrite_core::host().full(&[D as usize], v, DType::F32)?.requires_grad_(true)?)
}

/// Runs the block.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>> {
    let (w_qkv, b_qkv) = (param(&[3 * D, D], 10, 0.02)?, param(&[3 * D], 11, 0.02)?);
    let (w_o, b_o) = (param(&[D, D], 12, 0.02)?, param(&[D], 13, 0.02)?);
    let (w1, b1) = (param(&[4 * D, D], 14, 0.02)?, param(&[4 * D], 15, 0.02)?);
    let (w2, b2) = (param(&[D, 4 * D], 16, 0.02)?, param(&[D], 17, 0.02)?);
    let (ln1w, ln1b, ln2w, ln2b) = (constant(1.0)?, constant(0.0)?, constant(1.0)?, constant(0.0)?);
    let x = param(&[B, S, D], 18, 1.0)?;
    let (b, s, d, h) = (B as isize, S as isize, D as isize, H as isize);
    let t = measure(&ctx.budget, 3, || {
        let hh = F::layer_norm(&x, &[D as usize], Some(&ln1w), Some(&ln1b), 1e-5)?;
        let qkv = F::linear(&hh, &w_qkv, Some(&b_qkv))?.reshape(&[b, s, 3, h, d / h])?.permute(&[2, 0, 3, 1, 4])?;
        let (q, k, v) = (qkv.select(0, 0)?, qkv.select(0, 1)?, qkv.select(0, 2)?);
        let a = F::scaled_dot_product_attention(&q, &k, &v, None, true, None)?;
        let a = a.permute(&[0, 2, 1, 3])?.contiguous()?.reshape(&[b, s, d])?;
        let x1 = F::add(&x, &F::linear(&a, &w_o, Some(&b_o))?)?;
        let h2 = F::layer_norm(&x1, &[D as usize], Some(&ln2w), Some(&ln2b), 1e-5)?;
        let m = F::linear(&F::gelu(&F::linear(&h2, &w1, Some(&b1))?, "none")?, &w2, Some(&b2))?;
        let y = F::add(&x1, &m)?;
        F::sum(&y, &[], false)?.backward()?;
        Ok(())
    })?;
    let mut r = Row::new("transformer block", "d 256, 4 heads, seq 256, batch 8, causal, fwd+bwd");
    r.ferrite = fmt_s(t.median_s);
    if let Some(p) = ctx.peer_num("transformer_s") {
        r.peer = format!("PyTorch {}", fmt_s(p));
        r.ratio = Some(t.median_s / p);
    }
    r.goal = "≤ 0.9× PyTorch time".into();
    r.verdict = verdict_ratio(r.ratio, 0.9);
    r.note = format!(
        "kernels: linear {}, sdpa {}; {} timed steps (grads accumulate, as in PyTorch's loop)",
        registered_plugin("ferrite::linear")?,
        registered_plugin("ferrite::scaled_dot_product_attention")?,
        t.iters
    );
    Ok(vec![r])
}
