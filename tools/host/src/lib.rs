//! # ferrite-host — the `ferrite` binary's library
//!
//! One job per module: [`config`] (the training configuration: TOML file + flags +
//! validation), [`cli`] (clap command line), [`plugins`] (finding, building, loading plugins),
//! [`hosted`] (safe wrappers over plugin models and datasets), [`train`] and [`eval`] (the
//! commands), [`evaluate`] (test loss/accuracy), [`metrics`] (per-epoch CSV), [`plot`]
//! (loss/accuracy PNG), [`atomic`] (write-then-rename), [`watch`] (hot swap of rebuilt plugins, gated by
//! conformance), [`bench`] (`ferrite bench`), [`new_plugin`]
//! (`ferrite new-plugin`).

#![warn(missing_docs)]

pub mod atomic;
pub mod bench;
pub mod cli;
pub mod collectives;
pub mod config;
pub mod conformance;
pub mod distributed;
pub mod eval;
pub mod evaluate;
pub mod hosted;
pub mod mem;
pub mod metrics;
pub mod new_plugin;
pub mod plot;
pub mod plugins;
pub mod precision;
pub mod train;
pub mod trust;
pub mod watch;

pub use config::{ConfigError, ConfigOverrides, OptimizerKind, TrainConfig};
pub use metrics::{EpochRecord, MetricsLog};

/// Restores the default `SIGPIPE` action, so `ferrite ... | head` ends quietly like other Unix
/// tools instead of panicking on a closed pipe (Rust ignores `SIGPIPE` by default).
pub fn restore_sigpipe() {
    // SAFETY: setting a signal disposition to its default at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
