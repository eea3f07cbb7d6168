//! The ABI side: the `datasets.digits` factory and its [`DatasetObj`] implementation.

use crate::config::DigitsConfig;
use crate::digits::Digits;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RStr, RString, RVec, Tuple2};
use ferrite_sdk::abi::host::{HostApi, TensorHandle};
use ferrite_sdk::abi::plugin::{DatasetBox, DatasetDesc, DatasetObj, DatasetObj_TO};
use ferrite_sdk::Host;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Exported name users type.
pub const NAME: &str = "datasets.digits";

/// The dataset object handed to the host: [`Digits`] plus the host table that creates tensors.
pub struct DigitsDataset {
    host: Host,
    data: Digits,
}

impl DigitsDataset {
    /// Wraps prepared data with the host that will own the tensors.
    pub fn new(host: Host, data: Digits) -> DigitsDataset {
        DigitsDataset { host, data }
    }

    fn get_inner(&self, split: u32, indices: &[u64]) -> Result<Tuple2<TensorHandle, TensorHandle>, String> {
        let (x, y) = self.data.batch(split, indices)?;
        let [c, h, w] = self.data.sample_shape();
        let b = indices.len();
        let inputs = self.host.from_slice(&x, &[b, c, h, w]).map_err(|e| format!("{NAME}: inputs: {e}"))?;
        let targets = self.host.from_slice(&y, &[b]).map_err(|e| format!("{NAME}: targets: {e}"))?;
        Ok(Tuple2(inputs.into_raw(), targets.into_raw()))
    }
}

impl DatasetObj for DigitsDataset {
    fn len(&self, split: u32) -> usize {
        self.data.len(split)
    }

    fn get(&self, split: u32, indices: RSlice<'_, u64>) -> RResult<Tuple2<TensorHandle, TensorHandle>, RString> {
        match catch_unwind(AssertUnwindSafe(|| self.get_inner(split, indices.as_slice()))) {
            Ok(Ok(t)) => ROk(t),
            Ok(Err(e)) => RErr(e.into()),
            Err(_) => RErr(format!("{NAME}: get panicked").into()),
        }
    }

    fn labels(&self, split: u32) -> RVec<i64> {
        self.data.labels(split).into()
    }

    fn num_classes(&self) -> u32 {
        self.data.num_classes()
    }

    fn sample_shape(&self) -> RVec<i64> {
        self.data.sample_shape().iter().map(|&d| d as i64).collect()
    }

    fn describe(&self) -> RString {
        self.data.describe().into()
    }
}

/// Parses the config and builds the dataset (the pure part of the registered `create` factory).
///
/// # Errors
/// One-line messages from [`DigitsConfig::parse`] and [`Digits::new`].
pub fn build(config_toml: &str) -> Result<Digits, String> {
    Digits::new(DigitsConfig::parse(config_toml)?)
}

/// The factory registered under `datasets.digits`: `config` is TOML (see [`DigitsConfig`]).
/// Errors are one line and do not repeat the dataset's name (the core prefixes it).
extern "C" fn create(host: *const HostApi, config: RStr<'_>) -> RResult<DatasetBox, RString> {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<DatasetBox, String> {
        if host.is_null() {
            return Err("null host table".to_string());
        }
        // SAFETY: the core passes its static host table, which outlives the process.
        let host = unsafe { Host::from_raw(host) };
        let data = build(config.as_str())?;
        Ok(DatasetObj_TO::from_value(DigitsDataset::new(host, data), TD_Opaque))
    }));
    match result {
        Ok(Ok(b)) => ROk(b),
        Ok(Err(e)) => RErr(e.into()),
        Err(_) => RErr("create panicked (a bug in the plugin)".into()),
    }
}

#[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::DATASETS)]
#[linkme(crate = ferrite_sdk::linkme)]
static DIGITS_DESC: DatasetDesc = DatasetDesc {
    name: RStr::from_str(NAME),
    version: 1,
    doc: RStr::from_str(
        "UCI handwritten digits (1797 8x8 images, 10 classes, CC BY 4.0); config: size, test_fraction, seed, normalize",
    ),
    create,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_in_the_dataset_slice() {
        let found: Vec<_> = ferrite_sdk::register::DATASETS.iter().filter(|d| d.name.as_str() == NAME).collect();
        assert_eq!(found.len(), 1);
        assert!(found[0].doc.as_str().contains("CC BY 4.0"));
    }

    #[test]
    fn create_rejects_null_host_and_bad_config_without_a_core() {
        let e = create(std::ptr::null(), RStr::from_str("")).err().unwrap();
        assert!(e.as_str().contains("null host"));
        assert!(build("bogus = 1").unwrap_err().contains("bogus"));
        assert_eq!(build("size = 16").unwrap().sample_shape(), [1, 16, 16]);
    }
}
