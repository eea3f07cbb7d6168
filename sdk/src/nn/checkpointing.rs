//! Activation checkpointing (`torch.utils.checkpoint.checkpoint`, reentrant variant; Chen et
//! al. 2016, "Training Deep Nets with Sublinear Memory Cost"): trade compute for memory by
//! not keeping a segment's activations and recomputing them during backward.

use crate::abi::host::HostApi;
use crate::error::Result;
use crate::tensor::{AutocastState, Tensor};

/// Restores grad mode when dropped.
struct GradMode(&'static HostApi, bool);

impl GradMode {
    fn set(api: &'static HostApi, on: bool) -> GradMode {
        GradMode(api, (api.set_grad_enabled)(on))
    }
}

impl Drop for GradMode {
    fn drop(&mut self) {
        (self.0.set_grad_enabled)(self.1);
    }
}

/// Runs `f(inputs)` without keeping its intermediate activations
/// (`torch.utils.checkpoint.checkpoint(f, *inputs, use_reentrant=True)`).
///
/// Forward runs `f` under no_grad and keeps only `inputs`. Backward re-runs `f` with grad mode
/// on, on detached copies of the inputs, with the random generator re-seeded as in the
/// forward (so dropout draws the same mask) and the forward's autocast state; it then
/// backpropagates the outputs' gradients through the recomputed graph — parameters `f` uses
/// get their `.grad` accumulated as usual — and hands the inputs' gradients to the outer
/// backward. Unlike PyTorch's reentrant variant, parameter gradients flow even when no input
/// requires grad. With grad mode off, `f(inputs)` simply runs.
///
/// Shapes: any; `f` must be deterministic apart from the core's random generator, and must
/// return the same outputs (shapes, dtypes) when recomputed.
///
/// The forward draws one seed from the core generator and re-seeds it with that seed (so the
/// random stream differs from an unchecked run; masks still match between forward and
/// recompute); the recompute re-seeds the generator afterwards from a seed drawn before it.
///
/// # Errors
/// [`crate::Error::Invalid`] without inputs; the errors of `f`. In backward: an input written
/// in place after the forward ("modified by an inplace operation"), or a recomputed output
/// whose shape differs, is reported by the outer `backward()` call.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::checkpoint;
/// let w = host.randn(&[8, 8], 0.0, 0.3, DType::F32)?.requires_grad_(true)?;
/// let x = host.randn(&[4, 8], 0.0, 1.0, DType::F32)?.requires_grad_(true)?;
/// let wc = w.clone();
/// let y = checkpoint(move |xs| Ok(vec![xs[0].matmul(&wc)?.relu()?.matmul(&wc)?]), &[x.clone()])?;
/// y[0].sum_all()?.backward()?;
/// assert!(w.grad().is_some() && x.grad().is_some());
/// # Ok(())
/// # }
/// ```
pub fn checkpoint<F>(f: F, inputs: &[Tensor]) -> Result<Vec<Tensor>>
where
    F: Fn(&[Tensor]) -> Result<Vec<Tensor>> + Send + Sync + 'static,
{
    let Some(first) = inputs.first() else {
        crate::bail!("checkpoint: at least one input tensor is needed");
    };
    let host = first.host();
    if !host.is_grad_enabled() {
        return f(inputs);
    }
    let seed = host.next_seed();
    host.manual_seed(seed);
    let autocast = host.autocast_state();
    let outputs = host.no_grad(|| f(inputs))?;
    let saved: Vec<(Tensor, u64, bool)> = inputs.iter().map(|t| (t.detach(), t.version(), t.requires_grad())).collect();
    let out_shapes: Vec<Vec<usize>> = outputs.iter().map(|o| o.shape()).collect();
    let backward = move |grads: &[Tensor]| -> Result<Vec<Option<Tensor>>> {
        recompute_backward(&f, &saved, &out_shapes, seed, autocast, grads)
    };
    host.custom_function(inputs, &outputs, backward)
}

/// The backward of [`checkpoint`]: recompute, then backpropagate `grads`.
fn recompute_backward<F>(
    f: &F,
    saved: &[(Tensor, u64, bool)],
    out_shapes: &[Vec<usize>],
    seed: u64,
    autocast: AutocastState,
    grads: &[Tensor],
) -> Result<Vec<Option<Tensor>>>
where
    F: Fn(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let host = saved[0].0.host();
    for (i, (t, v, _)) in saved.iter().enumerate() {
        if t.version() != *v {
            crate::bail!(
                "checkpoint: input {i} was modified by an inplace operation after the forward (version {} instead of {v})",
                t.version()
            );
        }
    }
    let inputs: Vec<Tensor> = saved
        .iter()
        .map(|(t, _, rg)| if *rg { t.detach().requires_grad_(true) } else { Ok(t.detach()) })
        .collect::<Result<_>>()?;
    // Replay the forward's random stream, then continue from a fresh seed drawn before.
    let after = host.next_seed();
    host.manual_seed(seed);
    let outputs = {
        let _grad = GradMode::set(host.api(), true);
        let r = host.with_autocast(autocast, || f(&inputs))?;
        host.manual_seed(after);
        r?
    };
    if outputs.len() != grads.len() || outputs.iter().zip(out_shapes).any(|(o, s)| &o.shape() != s) {
        crate::bail!("checkpoint: the recomputed outputs differ in number or shape from the forward's");
    }
    let live: Vec<(&Tensor, &Tensor)> = outputs.iter().zip(grads).filter(|(o, _)| o.requires_grad()).collect();
    match live.as_slice() {
        [] => {}
        [(o, g)] => o.backward_with(Some(g), false)?,
        _ => {
            // One backward for several outputs: d/dθ Σ_i <o_i, g_i> = Σ_i J_iᵀ g_i, and the
            // gradients reaching each o_i are exactly g_i (sum → ones, mul by g_i).
            let _grad = GradMode::set(host.api(), true);
            let mut total: Option<Tensor> = None;
            for (o, g) in &live {
                let term = o.mul(&g.to_dtype(o.dtype())?)?.sum_all()?.to_dtype(crate::DType::F64)?;
                total = Some(match total {
                    Some(t) => t.add(&term)?,
                    None => term,
                });
            }
            if let Some(t) = total {
                t.backward()?;
            }
        }
    }
    Ok(inputs.iter().zip(saved).map(|(t, (_, _, rg))| if *rg { t.grad() } else { None }).collect())
}
