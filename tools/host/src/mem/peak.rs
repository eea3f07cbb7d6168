//! Ferrite's own peak: what the framework really allocates per rank while training in fp32,
//! phase by phase, read off the code that allocates it (the paper's steady-state model states
//! of [`super::model`] omit flat buffers, transient copies and the optimizer's temporaries).
//!
//! Every term names the code that owns the memory. Units are bytes of tensor storage as the
//! core's allocator counts them (`ferrite_core::tensor::storage::live_bytes`: requested bytes;
//! communication backends' own `Vec` staging is not tensor storage and is not counted).

use super::model::Optimizer;
use serde::Serialize;

/// How the gradients are synchronised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Strategy {
    /// One process, the optimizer over the parameters.
    None,
    /// `parallel.ddp`.
    Ddp,
    /// `parallel.zero` with this stage (1..=3).
    Zero(u8),
}

/// The training run whose per-rank peak is modelled (fp32 parameters).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RunShape {
    /// Parameters Ψ (elements).
    pub params: u64,
    /// Elements of the largest parameter tensor (the optimizer updates one tensor at a time).
    pub largest: u64,
    /// Elements of the largest module's parameters (ZeRO gathers and reduces module by module).
    pub largest_module: u64,
    /// ZeRO-3's `live_modules`: modules kept gathered at once (parallel.zero's default is 2).
    pub live_modules: u64,
    /// Number of modules with parameters (ZeRO's groups; all taken as large as the largest).
    pub modules: u64,
    /// Bytes of activations saved for backward at the end of the forward pass (per rank).
    pub activations: f64,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Strategy.
    pub strategy: Strategy,
    /// Ranks N (1 for [`Strategy::None`]).
    pub world_size: u64,
}

/// One named amount of memory and the code that holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Term {
    /// What it is.
    pub name: &'static str,
    /// Bytes.
    pub bytes: f64,
    /// The code that allocates it.
    pub source: &'static str,
}

/// Memory live at one moment of a training step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phase {
    /// The moment (`post_backward`, `optimizer step`, ...).
    pub name: &'static str,
    /// What is live.
    pub terms: Vec<Term>,
}

impl Phase {
    /// Sum of the terms, bytes.
    pub fn total(&self) -> f64 {
        self.terms.iter().map(|t| t.bytes).sum()
    }
}

const F32: f64 = 4.0;

/// Tensors one optimizer update allocates beyond its state and the gradient, at most at once,
/// each the size of one update chunk ([`update_elements`]), counted in `sdk/src/optim`: AdamW's
/// `lerp` (difference, scaled difference, result), its `v` block (`v·β₂`, `g·g`, `(1−β₂)g²`) and
/// its last line (`θ(1−γλ)`, the step, their sum) each hold 3; SGD with momentum holds 3
/// (`μb`, `μb + d`, `d`), without momentum 2 (`γd` and `θ − γd`); weight decay adds none (its
/// product is folded into `d` before the next temporary).
pub fn update_temporaries(optimizer: Optimizer) -> f64 {
    match optimizer {
        Optimizer::Adamw | Optimizer::Sgd => 3.0,
        Optimizer::SgdPlain => 2.0,
    }
}

/// Elements one update chunk of a tensor of `numel` elements has: the sdk optimizers update at
/// most [`ferrite_sdk::optim::UPDATE_CHUNK`] elements at a time (runs of rows; 1-D here).
pub fn update_elements(numel: u64) -> u64 {
    numel.min(ferrite_sdk::optim::UPDATE_CHUNK as u64)
}

/// Optimizer state per element updated: AdamW `exp_avg` + `exp_avg_sq`, SGD `momentum_buffer`.
pub fn state_per_element(optimizer: Optimizer) -> f64 {
    match optimizer {
        Optimizer::Adamw => 2.0,
        Optimizer::Sgd => 1.0,
        Optimizer::SgdPlain => 0.0,
    }
}

fn t(name: &'static str, bytes: f64, source: &'static str) -> Term {
    Term { name, bytes, source }
}

/// Bytes persistent after setup (before the first step), per rank.
///
/// # Errors
/// A ZeRO stage outside 1..=3 or a world size of 0.
pub fn after_setup(r: &RunShape) -> Result<Phase, String> {
    Ok(Phase { name: "after setup", terms: persistent(r, false)? })
}

/// Bytes persistent between steps once the optimizer state exists, per rank.
///
/// # Errors
/// As [`after_setup`].
pub fn between_steps(r: &RunShape) -> Result<Phase, String> {
    Ok(Phase { name: "between steps", terms: persistent(r, true)? })
}

fn geometry(r: &RunShape) -> Result<(f64, f64, f64), String> {
    if r.world_size == 0 {
        return Err("world size must be at least 1".into());
    }
    if let Strategy::Zero(s) = r.strategy {
        if !(1..=3).contains(&s) {
            return Err(format!("ZeRO stage must be 1, 2 or 3, got {s}"));
        }
    }
    let shard = r.params.div_ceil(r.world_size);
    // (P, s, Pp): parameters, one shard, the padded flat vector (`layout.rs`).
    Ok((F32 * r.params as f64, F32 * shard as f64, F32 * (shard * r.world_size) as f64))
}

fn persistent(r: &RunShape, with_state: bool) -> Result<Vec<Term>, String> {
    let (p, s, pp) = geometry(r)?;
    let st = if with_state { state_per_element(r.optimizer) } else { 0.0 };
    let mut v = Vec::new();
    match r.strategy {
        Strategy::None => {
            v.push(t("weights", p, "the model's parameters (nn::Linear)"));
            v.push(t("optimizer state", st * p, "sdk optim: exp_avg/exp_avg_sq or momentum_buffer per parameter"));
        }
        Strategy::Ddp => {
            v.push(t("weights", p, "the model's parameters"));
            v.push(t("gradient buckets", p, "parallel.ddp reducer.rs: Bucket::flat, one slot per parameter"));
            v.push(t("optimizer state", st * p, "sdk optim over the full parameters"));
        }
        Strategy::Zero(stage) => {
            // Stage 3 frees the parameters between uses (shared.rs release_all).
            v.push(t("weights", if stage == 3 { 0.0 } else { p }, "the model's parameters (released by stage 3)"));
            v.push(t("master shard", s, "parallel.zero shared.rs: Shared::master, fp32 shard"));
            v.push(t("optimizer state", st * s, "sdk optim over the master shard"));
            if stage == 1 {
                v.push(t("gradient buffer", pp, "parallel.zero shared.rs: Shared::grad_buffer (stage 1, every module padded)"));
            }
        }
    }
    Ok(v)
}

/// Every phase of a steady-state step (optimizer state allocated), per rank.
///
/// # Errors
/// As [`after_setup`].
pub fn phases(r: &RunShape) -> Result<Vec<Phase>, String> {
    let (p, s, _) = geometry(r)?;
    let base = persistent(r, true)?;
    let k = update_temporaries(r.optimizer);
    // One update chunk of the largest parameter, and of the master shard (ZeRO).
    let l = F32 * update_elements(r.largest) as f64;
    let sc = F32 * update_elements(r.params.div_ceil(r.world_size.max(1))) as f64;
    let with = |name: &'static str, extra: Vec<Term>| {
        let mut terms = base.clone();
        terms.extend(extra);
        Phase { name, terms }
    };
    let grads = || t("gradients", p, "autograd: one .grad per parameter after backward");
    let acts = t("activations", r.activations, "tensors saved for backward by the forward pass");
    let mut out = Vec::new();
    match r.strategy {
        Strategy::None | Strategy::Ddp => {
            out.push(with("end of forward", vec![acts]));
            out.push(with("end of backward", vec![grads()]));
            if r.strategy == Strategy::Ddp {
                // reducer.rs finish(): a fresh averaged gradient per parameter before set_grad drops the local one.
                out.push(with("post_backward", vec![grads(), t("fresh averaged gradient", l, "parallel.ddp reducer.rs finish()")]));
            }
            out.push(with("optimizer step", vec![grads(), t("update temporaries", k * l, "sdk optim: one update chunk of the largest parameter")]));
        }
        Strategy::Zero(stage) => {
            let n = r.world_size as f64;
            // One module's parameters in fp32 (its padded flat vector), and a rank's piece.
            let m = F32 * r.largest_module as f64;
            let (g, live) = (r.modules.max(1), r.live_modules.max(1));
            let shard_grad = || t("shard gradient", s, "parallel.zero reduce.rs: Shared::shard_grad");
            let gather = || t("gather buffer", m, "parallel.zero shared.rs gather_group: `full`, one module padded");
            // Backward, at the launch of the j-th module's reduction (modules in reverse): its
            // gradients, its flat copy and piece plus up to MAX_IN_FLIGHT older ones (stages 2/3;
            // stage 1 reduces its persistent buffer in place), and (stage 3) the modules still
            // gathered: those the forward left live and backward has not reached, or the
            // module itself, fetched again.
            let flights = |j: u64| if stage >= 2 { (j + 1).min(3) as f64 * (m + m / n) } else { 0.0 };
            let gathered = |j: u64| if stage == 3 { live.saturating_sub(j).max(1).min(g) as f64 * m } else { 0.0 };
            let worst = (0..g).max_by(|&a, &b| (flights(a) + gathered(a)).total_cmp(&(flights(b) + gathered(b)))).unwrap_or(0);
            let mut backward = vec![
                t("one module's gradients", m, "autograd: .grad of the module being reduced (dropped at launch)"),
                t("reductions in flight", flights(worst), "parallel.zero reduce.rs launch: flatten_group + reduce-scatter output, at most MAX_IN_FLIGHT + 1"),
                shard_grad(),
                acts.clone(),
            ];
            if stage == 3 {
                // Forward: the last module is fetched while `live_modules` others are live.
                let before = (g - 1).min(live) as f64;
                out.push(with(
                    "forward gather",
                    vec![t("gathered modules", (before + 1.0) * m, "parallel.zero shared.rs fetch: live modules + the one fetched"), gather(), acts.clone()],
                ));
                out.push(with("end of forward", vec![t("gathered modules", live.min(g) as f64 * m, "parallel.zero shared.rs: LRU of live modules"), acts.clone()]));
                backward.insert(0, t("gathered modules", gathered(worst), "parallel.zero shared.rs: modules gathered during backward"));
            } else {
                out.push(with("end of forward", vec![acts.clone()]));
            }
            out.push(with("backward", backward));
            out.push(with("optimizer step", vec![shard_grad(), t("update temporaries", k * sc, "sdk optim: one update chunk of the master shard")]));
            if stage < 3 {
                out.push(with("gather after step", vec![shard_grad(), gather()]));
            }
        }
    }
    Ok(out)
}

/// The phase with the most live bytes, per rank.
///
/// # Errors
/// As [`after_setup`].
pub fn peak(r: &RunShape) -> Result<Phase, String> {
    let ph = phases(r)?;
    Ok(ph.into_iter().fold(None::<Phase>, |best, p| match best {
        Some(b) if b.total() >= p.total() => Some(b),
        _ => Some(p),
    })
    .expect("at least one phase"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(optimizer: Optimizer, strategy: Strategy, n: u64) -> RunShape {
        RunShape { params: 1000, largest: 100, largest_module: 250, live_modules: 2, modules: 4, activations: 0.0, optimizer, strategy, world_size: n }
    }

    #[test]
    fn single_process_adamw_peak_is_the_update() {
        let p = peak(&shape(Optimizer::Adamw, Strategy::None, 1)).unwrap();
        // weights 4000 + state 8000 + grads 4000 + 3 temporaries × 400.
        assert_eq!((p.name, p.total()), ("optimizer step", 17_200.0));
    }

    #[test]
    fn zero_stages_shrink_persistent_memory_and_stage_1_keeps_its_buffer() {
        let between = |s| between_steps(&shape(Optimizer::Adamw, Strategy::Zero(s), 2)).unwrap().total();
        // P = 4000, s = 2000: stage 1 = P + s + 2s + Pp; stage 2 = P + 3s; stage 3 = 3s.
        assert_eq!([between(1), between(2), between(3)], [14_000.0, 10_000.0, 6_000.0]);
        let pk = |s| peak(&shape(Optimizer::Sgd, Strategy::Zero(s), 2)).unwrap().total();
        assert!(pk(3) < pk(2) && pk(2) < pk(1), "{} {} {}", pk(1), pk(2), pk(3));
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(phases(&shape(Optimizer::Sgd, Strategy::Zero(4), 2)).is_err());
        assert!(phases(&shape(Optimizer::Sgd, Strategy::Ddp, 0)).is_err());
    }
}
