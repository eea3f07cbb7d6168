//! # ops-cpu — fast CPU kernels
//!
//! The same ops, under the same canonical names and schemas as `ops-ref`, written for speed:
//! GEMM through the `gemm` crate, conv2d via im2col + GEMM, vectorisable loops, threads from the
//! core's pool (`ferrite_sdk::kernel::parallel`), f16/bf16 stored narrow with f32 accumulation,
//! and FlashAttention. Loaded after ops-ref, its kernels take precedence for the (op, dtype)
//! pairs it covers; every kernel must pass `ferrite conformance` against ops-ref.

pub mod common;
pub mod flash_attention;
pub mod register;
pub mod gemm;
pub mod im2col;
pub mod matmul;
pub mod linear;
pub mod conv;
#[cfg(test)]
mod dense_testing;
pub mod typed;
pub mod layout;
pub mod elementwise;
pub mod binary;
pub mod reduce;
pub mod softmax;
pub mod norm;
pub mod loss;
pub mod pool;
pub mod adaptive;
#[cfg(test)]
mod cpu_testing;
#[cfg(test)]
mod tests_basic;
#[cfg(test)]
mod tests_nn;
#[cfg(test)]
mod tests_pool;

ferrite_sdk::export_plugin!(name: "ops-cpu", version: env!("CARGO_PKG_VERSION"));
