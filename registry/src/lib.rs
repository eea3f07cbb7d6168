//! # ferrite-registry
//!
//! The exported-name registry (in the spirit of TensorFlow's `tf_export`): every op a loaded
//! plugin exports, under its canonical name (`ferrite::conv2d`), its API names
//! (`nn.functional.conv2d`), aliases (`aten::conv2d`) and deprecated names (with replacement),
//! together with who provides which kernel for which device × dtype and whether a backward exists.
//!
//! A [`Registry`] is an immutable snapshot: the core builds a new one whenever a plugin is loaded
//! or swapped, and publishes it atomically. Op ids come from an [`IdTable`] that outlives
//! snapshots, so an id resolved once stays valid across hot swaps.

pub mod diff;
mod ids;
mod listing;
mod snapshot;

pub use ids::IdTable;
pub use listing::{ConformanceStatus, KernelSummary, NameSummary, OpSummary};
pub use snapshot::{split_version, version_key, KernelSlot, NameKind, OpEntry, PluginMeta, Provider, Registry};
