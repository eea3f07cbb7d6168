//! The sdk's error type.

use thiserror::Error;

/// Errors from tensor operations, modules, optimizers and checkpoints.
#[derive(Debug, Error)]
pub enum Error {
    /// The core rejected a call (bad shape, dtype, missing kernel, autograd misuse...).
    #[error("{0}")]
    Host(String),
    /// An argument was invalid before reaching the core.
    #[error("{0}")]
    Invalid(String),
    /// A checkpoint could not be read or written.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        /// File involved.
        path: String,
        /// What went wrong.
        msg: String,
    },
}

/// Result alias used throughout the sdk.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns `Err(Error::Invalid)` with a formatted message.
#[macro_export]
macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::Error::Invalid(format!($($t)*))) };
}
