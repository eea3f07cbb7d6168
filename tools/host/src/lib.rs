//! # ferrite-host — the `ferrite` binary's library
//!
//! The parts of the host that do not need the core, one job per module:
//! [`config`] (the training configuration: TOML file + flags + validation), [`cli`] (clap
//! command line), [`metrics`] (per-epoch records and their CSV), [`plot`] (loss/accuracy PNG),
//! [`atomic`] (write-then-rename file replacement used by both).

#![warn(missing_docs)]

pub mod atomic;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod plot;

pub use config::{ConfigError, ConfigOverrides, OptimizerKind, TrainConfig};
pub use metrics::{EpochRecord, MetricsLog};
