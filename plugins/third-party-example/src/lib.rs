//! # ferrite-contrib-example
//!
//! An out-of-tree Ferrite plugin (it depends on `ferrite-sdk` and `abi_stable` only):
//!
//! - [`swish`]: `contrib::swish`, fused `x · σ(x)` with its backward;
//! - [`focal`]: `contrib::focal_loss`, the focal loss of Lin et al. 2017 on `[N, C]` logits and
//!   int64 targets `[N]`, with its backward;
//! - [`model`]: `models.contrib_mlp`, `Flatten → Linear → contrib::swish → Linear`.
//!
//! Both ops are registered for f32, f64 and bf16 (the math is written once in f64;
//! `reference_op!` adapts it to each dtype and to any strides).

pub mod focal;
pub mod model;
pub mod swish;

ferrite_sdk::export_plugin!(name: "contrib-example", version: env!("CARGO_PKG_VERSION"));
