//! The stable plugin ABI, version 1. Everything here is `repr(C)` and layout-checked by
//! abi_stable when a plugin loads; changing a type is a breaking change.

pub mod comm;
pub mod dtype;
pub mod host;
pub mod kernel;
pub mod op;
pub mod parallel;
pub mod plugin;
pub mod schema;
pub mod view;

/// SDK ABI major version: plugins built for another major are refused.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::ABI_MAJOR;
/// // A plugin's root module records the major it was built for; the loader refuses others.
/// assert_eq!(ABI_MAJOR, 1);
/// ```
pub const ABI_MAJOR: u32 = 1;
/// SDK ABI minor version: new trailing fields and ops only.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::{ABI_MAJOR, ABI_MINOR};
/// // A core of (1, m) loads plugins built for any minor <= m of major 1.
/// assert!((ABI_MAJOR, ABI_MINOR) >= (1, 2));
/// ```
pub const ABI_MINOR: u32 = 2;
