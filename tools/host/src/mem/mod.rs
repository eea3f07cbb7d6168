//! `ferrite mem`: how much memory training a model takes per device, by precision, optimizer,
//! ZeRO stage and data-parallel world size.
//!
//! Model states follow Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion
//! Parameter Models" (SC 2020), §3.1 and Figure 1: with Ψ parameters, mixed-precision AdamW keeps
//! 2Ψ bytes of 16-bit weights, 2Ψ of 16-bit gradients and KΨ = 12Ψ of fp32 master weights, momentum
//! and variance. Stage 1 shards the K part over the world size N_d, stage 2 also the gradients,
//! stage 3 also the weights. Activations of a transformer follow Korthikanti et al., "Reducing
//! Activation Recomputation in Large Transformer Models" (2022), eq. (2): per layer
//! `s·b·h·(34 + 5·a·s/h)` bytes in 16-bit without recomputation.
//!
//! [`peak`] is Ferrite's own per-rank accounting, phase by phase, of what its fp32 training
//! really allocates (flat buffers, transient copies, the optimizer's temporaries), and
//! [`measure`] (`ferrite mem --measure`) checks it against the allocator's measured peak.

mod cli;
pub mod measure;
mod model;
pub mod peak;

pub use cli::{run, run_measure, MemArgs};
pub use model::{estimate, Activations, MemEstimate, MemPlan, Optimizer, Precision};
