//! # datasets-digits — the `datasets.digits` plugin
//!
//! The UCI "Optical Recognition of Handwritten Digits" test set (1,797 8×8 images, 10 classes;
//! Alpaydin & Kaynak 1998, UCI Machine Learning Repository, CC BY 4.0, via scikit-learn), shipped
//! inside the plugin (`data/digits.csv.gz`, see `data/README.md`), so nothing is downloaded.
//!
//! Config (TOML, all optional; unknown keys are errors): `size` (input side, default 8; other
//! sizes are bilinear resizes with `align_corners=false`), `test_fraction` (default 0.2), `seed`
//! (default 0), `normalize` (default true: pixel/16 then standardised with the train split's
//! mean and std). The split is stratified and deterministic for a given seed.
//!
//! `get(split, indices)` returns inputs F32 `[B, 1, size, size]` and targets I64 `[B]`.
//!
//! Layout: [`csv`] (embedded file), [`config`], [`split`], [`resize`], [`stats`], [`digits`]
//! (the pure data set), [`plugin`] (ABI object and registration).

#![warn(missing_docs)]

pub mod config;
pub mod csv;
pub mod digits;
pub mod plugin;
pub mod resize;
pub mod split;
pub mod stats;

pub use config::DigitsConfig;
pub use digits::Digits;
pub use plugin::DigitsDataset;

/// The root module export (the one symbol the loader looks for). In a private module so that
/// the macro's undocumented items do not trip `missing_docs`; `#[no_mangle]` exports it anyway.
mod export {
    ferrite_sdk::export_plugin!(name: "dataset-digits", version: env!("CARGO_PKG_VERSION"));
}
