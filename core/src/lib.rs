//! # ferrite-core — the microkernel
//!
//! Owns what every plugin shares and none may own itself:
//! * [`alloc`] — the caching CPU allocator behind tensor storage (size classes, huge pages, stats);
//! * [`tensor`] — storage, shape/strides/offset views, dtypes f32, f64, f16, bf16, i64, i32, u8, bool;
//! * [`autograd`] — the define-by-run tape, `backward`, grad mode, version checks, hooks;
//! * [`dispatch`] — op id → kernel by (device, dtype) in an immutable registry snapshot;
//! * [`loader`] and [`runtime`] — loading plugins (`.so`) at run time, hot swap;
//! * [`trust`] — which plugin files may be loaded (permissions, lock file);
//! * [`comm`] — process groups: a communication queue per group over `comm.*` backends;
//! * [`host_api`] — the service table plugins and sdk users call.
//!
//! Plugins never link against this crate; they reach it only through
//! [`ferrite_sdk::abi::host::HostApi`].

pub mod alloc;
pub mod autocast;
pub mod autograd;
pub mod comm;
pub mod discovery;
pub mod dispatch;
pub mod error;
pub mod handles;
pub mod host_api;
pub mod loader;
pub mod ops;
pub mod provider;
pub mod runtime;
pub mod tensor;
pub mod threads;
pub mod trust;

pub use error::{CoreError, Result};
pub use host_api::{host, host_api};
pub use runtime::Runtime;
pub use tensor::Tensor;
