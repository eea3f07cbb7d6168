//! # ferrite-sdk
//!
//! Everything a Ferrite plugin author or Rust user needs, and nothing of the core:
//!
//! * [`abi`] — the stable plugin ABI v1: DLPack tensor views, the `extern "C"` kernel signature,
//!   op descriptors (schema + kernels by device × dtype + backward), the host service table and
//!   the root module each plugin exports.
//! * [`kernel`] — helpers to write kernels: strided reads/writes in any dtype, attributes, the
//!   panic firewall, and the f64 reference-kernel adapter.
//! * [`register`] — linkme registration and the `export_plugin!` / `reference_op!` macros.
//! * [`shape`] — the pure shape functions of the built-in ops, shared by ops-ref and fast plugins.
//! * [`Tensor`], [`functional`], [`nn`], [`optim`] — a safe tensor-handle API over the host
//!   table with PyTorch-style functional ops, modules and optimizers.

pub mod abi;
pub mod amp;
pub mod kernel;
pub mod register;
pub mod shape;

pub use abi_stable;
pub use linkme;
/// The `f16`/`bf16` types of [`Element`] and [`DType::F16`]/[`DType::BF16`] buffers, re-exported so
/// plugins (comm backends reducing raw bytes) convert with the same crate version as the sdk.
pub use half;

pub use abi::dtype::{DType, Device};

/// Version of this SDK crate (semver); recorded in every plugin.
///
/// # Examples
///
/// ```
/// let v = ferrite_sdk::SDK_VERSION;
/// assert_eq!(v.split('.').count(), 3); // semver: major.minor.patch
/// ```
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod distributed;
pub mod error;
pub mod functional;
pub mod rng;
pub mod tensor;

pub use error::{Error, Result};
pub use tensor::{Element, Host, Tensor};

pub mod checkpoint;
pub mod nn;
pub mod optim;

pub use checkpoint::{load_safetensors, save_safetensors, validate_safetensors, TensorRecord};
pub use error::{SafetensorsError, ShapeMismatch, StateDictError};
pub use nn::Module;
pub use optim::{AdamW, AdamWConfig, Optimizer, Sgd, SgdConfig};

#[cfg(test)]
mod test_host;
