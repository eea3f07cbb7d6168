//! # ops-ref — the reference CPU plugin
//!
//! Every op Ferrite exports, written as plain, obviously correct loops over f64
//! [`Array`](ferrite_sdk::kernel::Array)s, with forward and backward. Registered for f32, f64,
//! f16 and bf16 (inputs are widened to f64, results rounded once). This is the oracle every
//! other kernel is checked against, so clarity wins over speed everywhere.
//!
//! Layout: one file per op family; each file holds the math (`pub fn ..._forward/_backward`,
//! usable without the ABI) and its `reference_op!` registrations.

pub mod common;
pub mod elementwise;
pub mod special;
pub mod binary;
pub mod reduce;
pub mod softmax;
pub mod loss;
pub mod shape_ops;
pub mod indexing;
pub mod dropout;
#[cfg(test)]
pub(crate) mod testing;
// nn ops (matmul, conv, pooling, norms, attention)
pub mod nn_common;
pub mod matmul;
pub mod conv;
pub mod pool;
pub mod adaptive;
pub mod upsample;
pub mod norm;
pub mod attention;
#[cfg(test)]
pub mod fd;

ferrite_sdk::export_plugin!(name: "ops-ref", version: env!("CARGO_PKG_VERSION"));
