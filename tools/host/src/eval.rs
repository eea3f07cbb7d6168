//! `ferrite eval --checkpoint`: rebuilds the model recorded in a checkpoint, loads its weights
//! and reports test loss and accuracy at each recorded (or requested) input size.

use crate::evaluate::evaluate;
use crate::hosted::{HostedDataset, HostedModel};
use crate::train::meta;
use anyhow::{anyhow, Context, Result};
use ferrite_core::Runtime;
use ferrite_sdk::abi::plugin::split;
use std::path::Path;

/// Accuracy (fraction) per size of the checkpoint's model on the dataset's test split.
pub fn eval_checkpoint(path: &Path, size: Option<u32>) -> Result<Vec<(u32, f64, f64)>> {
    let host = ferrite_core::host();
    let rt = Runtime::global();
    // The sdk's errors already name the file.
    let md = ferrite_sdk::checkpoint::load_safetensors_metadata(path)?;
    let get = |k: &str| md.get(k).cloned().ok_or_else(|| anyhow!("{}: not a ferrite checkpoint (metadata `{k}` missing)", path.display()));
    let format = get(meta::FORMAT)?;
    anyhow::ensure!(
        format == meta::FORMAT_V1,
        "{}: checkpoint format `{format}` is not supported (this ferrite reads `{}`)",
        path.display(),
        meta::FORMAT_V1
    );
    let (model_name, dataset_name) = (get(meta::MODEL)?, get(meta::DATASET)?);
    let mut model = HostedModel::new(&model_name, rt.create_model(&model_name, &get(meta::MODEL_CONFIG)?)?, host);
    // A merged training checkpoint (`ferrite merge-shards`) also holds optimizer state.
    let weights: Vec<_> =
        ferrite_sdk::checkpoint::load_safetensors(&host, path)?.into_iter().filter(|(n, _)| !n.starts_with("optimizer.")).collect();
    ferrite_sdk::nn::state::load_into(&model.state_dict(), &weights, true)
        .with_context(|| format!("loading weights from {}", path.display()))?;
    let sizes: Vec<u32> = match size {
        Some(s) => vec![s],
        None => get(meta::SIZES)?.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>().context("bad sizes metadata")?,
    };
    let base: toml::Table = toml::from_str(&get(meta::DATASET_CONFIG)?).context("bad dataset config metadata")?;
    let mut out = Vec::new();
    for s in sizes {
        let mut dc = base.clone();
        dc.insert("size".into(), toml::Value::Integer(s as i64));
        let data = HostedDataset::new(s, rt.create_dataset(&dataset_name, &toml::to_string(&dc)?)?, host);
        let (loss, acc) = evaluate(&mut model, &data, split::TEST, 256)?;
        out.push((s, loss, acc));
    }
    Ok(out)
}
