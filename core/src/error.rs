//! The core's error type.

use thiserror::Error;

/// Every error the core reports. Messages are one line and say what to do where possible.
#[derive(Debug, Error)]
pub enum CoreError {
    /// A shape, dtype, dimension or argument is invalid.
    #[error("{0}")]
    Invalid(String),
    /// No loaded plugin exports this name.
    #[error("unknown op `{0}`: no loaded plugin exports it (see `ferrite-registry list`)")]
    UnknownOp(String),
    /// The op exists but has no kernel for this device and dtype.
    #[error("{op}: no kernel for {device}/{dtype} (available: {available})")]
    NoKernel {
        /// Canonical op name.
        op: String,
        /// Device asked for.
        device: String,
        /// Dtype asked for.
        dtype: String,
        /// What exists.
        available: String,
    },
    /// A kernel or shape function returned an error or panicked.
    #[error("{op}: {msg}")]
    Kernel {
        /// Canonical op name.
        op: String,
        /// The kernel's message.
        msg: String,
    },
    /// Autograd misuse (backward twice, in-place write to a saved tensor, non-scalar root...).
    #[error("autograd: {0}")]
    Autograd(String),
    /// A plugin could not be loaded.
    #[error("plugin {path}: {msg}")]
    Plugin {
        /// File involved.
        path: String,
        /// One-line reason.
        msg: String,
    },
}

/// Result alias of the core.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// `Err(CoreError::Invalid(format!(...)))`.
macro_rules! invalid {
    ($($t:tt)*) => { Err($crate::error::CoreError::Invalid(format!($($t)*))) };
}
pub(crate) use invalid;
