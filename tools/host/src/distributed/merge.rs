//! `ferrite merge-shards RUN_DIR`: turns a parallel run's per-rank shards into one full
//! checkpoint in single-process layout — every parameter under its model name, and the
//! optimizer state per parameter (`optimizer.state.{i}.{field}`, PyTorch's layout), so a
//! ZeRO run can be inspected, evaluated or continued without its world size.

use super::progress::Progress;
use super::shards::{shard_path, verify_shard, FORMAT, FORMAT_KEY, LAYOUT_KEY};
use anyhow::{bail, Context, Result};
use clap::Args;
use ferrite_sdk::checkpoint::{load_safetensors, load_safetensors_metadata, save_safetensors};
use ferrite_sdk::{DType, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `ferrite merge-shards`.
#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// Run folder of a parallel run (with model.safetensors, progress.json and shards/).
    pub run_dir: PathBuf,
    /// Output file (default RUN_DIR/full.safetensors).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What a shard's metadata says about the run (the fields merging needs).
#[derive(serde::Deserialize)]
struct ShardInfo {
    strategy: String,
    world_size: usize,
    #[serde(default)]
    layout: Option<Layout>,
}

/// parallel.zero's layout (its `layout.rs`): parameters grouped by module, each group padded
/// and split into `world_size` pieces; a rank's master shard is its pieces in group order.
#[derive(serde::Deserialize)]
struct Layout {
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    /// Offset of each parameter inside its group.
    offsets: Vec<usize>,
    group_of: Vec<usize>,
    groups: Vec<Group>,
    shard: usize,
}

#[derive(serde::Deserialize)]
struct Group {
    piece: usize,
    shard_offset: usize,
}

impl Layout {
    /// Every parameter's values from the ranks' flat shard-length tensors.
    fn unshard(&self, parts: &[&Tensor]) -> Result<Vec<Vec<f32>>> {
        let flat: Vec<Vec<f32>> = parts.iter().map(|t| Ok(t.to_dtype(DType::F32)?.to_vec::<f32>()?)).collect::<Result<_>>()?;
        for (r, f) in flat.iter().enumerate() {
            anyhow::ensure!(f.len() == self.shard, "rank {r}'s shard holds {} elements, the layout says {}", f.len(), self.shard);
        }
        // Each group's full (padded) vector: the ranks' pieces one after the other.
        let groups: Vec<Vec<f32>> = self
            .groups
            .iter()
            .map(|g| flat.iter().flat_map(|f| f[g.shard_offset..g.shard_offset + g.piece].iter().copied()).collect())
            .collect();
        Ok(self
            .shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| {
                let n: usize = shape.iter().product();
                groups[self.group_of[i]][self.offsets[i]..self.offsets[i] + n].to_vec()
            })
            .collect())
    }
}

fn read_shards(run_dir: &Path) -> Result<(ShardInfo, Vec<Vec<(String, Tensor)>>)> {
    let host = ferrite_core::host();
    let first = shard_path(run_dir, 0, 1);
    let dir = first.parent().context("shard folder")?.to_path_buf();
    anyhow::ensure!(
        dir.is_dir(),
        "{} has no shards/ folder: only runs trained with --parallel write per-rank shards",
        run_dir.display()
    );
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    found.sort();
    let Some(any) = found.first() else { bail!("{} holds no shards", dir.display()) };
    let md = load_safetensors_metadata(any)?;
    anyhow::ensure!(md.get(FORMAT_KEY).map(String::as_str) == Some(FORMAT), "{} is not a Ferrite shard ({FORMAT})", any.display());
    let info: ShardInfo = serde_json::from_str(md.get(LAYOUT_KEY).context("shard without strategy metadata")?)
        .with_context(|| format!("strategy metadata of {}", any.display()))?;
    let progress = Progress::load(run_dir)?;
    anyhow::ensure!(
        progress.world_size == info.world_size,
        "progress.json says {} ranks, the shards {}",
        progress.world_size,
        info.world_size
    );
    let mut shards = Vec::new();
    for r in 0..info.world_size {
        let p = shard_path(run_dir, r, info.world_size);
        anyhow::ensure!(p.is_file(), "shard {} of {} is missing: {}", r, info.world_size, p.display());
        // Every shard must be this rank's, of this run, from the epoch progress.json records.
        verify_shard(&p, r, info.world_size, progress.run_id, progress.epoch)?;
        shards.push(load_safetensors(&host, &p)?);
    }
    Ok((info, shards))
}

/// Merges the shards of `run_dir` into `output`; returns the tensors written (names).
///
/// # Errors
/// Missing or foreign shards, inconsistent layouts.
pub fn merge(run_dir: &Path, output: &Path) -> Result<Vec<String>> {
    let host = ferrite_core::host();
    let (info, shards) = read_shards(run_dir)?;
    let mut out: Vec<(String, Tensor)> = Vec::new();
    match &info.layout {
        // ZeRO: the parameters are the concatenated fp32 master shards; flat optimizer state
        // of shard length is split the same way, per parameter.
        Some(l) => {
            let by_name: Vec<HashMap<&str, &Tensor>> = shards.iter().map(|s| s.iter().map(|(n, t)| (n.as_str(), t)).collect()).collect();
            let split = |parts: &[&Tensor], out: &mut Vec<(String, Tensor)>, name: &dyn Fn(usize) -> String| -> Result<()> {
                for (i, v) in l.unshard(parts)?.into_iter().enumerate() {
                    out.push((name(i), host.from_slice(&v, &l.shapes[i])?));
                }
                Ok(())
            };
            let masters: Vec<&Tensor> = by_name.iter().map(|m| m.get("master").copied().context("a ZeRO shard without `master`")).collect::<Result<_>>()?;
            split(&masters, &mut out, &|i| l.names[i].clone())?;
            let keys: Vec<&str> = by_name[0].keys().copied().filter(|k| k.starts_with("optimizer.state.0.")).collect();
            let mut keys = keys;
            keys.sort();
            for k in keys {
                let field = &k["optimizer.state.0.".len()..];
                let parts: Vec<&Tensor> = by_name.iter().map(|m| m.get(k).copied().with_context(|| format!("a shard without `{k}`"))).collect::<Result<_>>()?;
                if parts[0].numel() == l.shard {
                    split(&parts, &mut out, &|i| format!("optimizer.state.{i}.{field}"))?;
                } else {
                    // Per-shard scalars (step counts) are the same on every rank.
                    for i in 0..l.names.len() {
                        out.push((format!("optimizer.state.{i}.{field}"), parts[0].clone()));
                    }
                }
            }
        }
        // DDP: every rank holds the full optimizer state; the parameters are model.safetensors.
        None => {
            let model = run_dir.join("model.safetensors");
            out.extend(load_safetensors(&host, &model).with_context(|| format!("reading {}", model.display()))?);
            out.extend(shards.into_iter().next().unwrap_or_default());
        }
    }
    // The model checkpoint's metadata (model, config, dataset, sizes), so `ferrite eval`
    // reads the merged file like model.safetensors (it skips the `optimizer.` entries).
    let model = run_dir.join("model.safetensors");
    let mut md = load_safetensors_metadata(&model).with_context(|| format!("reading {}", model.display()))?;
    md.insert("ferrite.merged_from".to_string(), format!("{} ({} ranks)", info.strategy, info.world_size));
    save_safetensors(output, &out, Some(md)).with_context(|| format!("writing {}", output.display()))?;
    Ok(out.into_iter().map(|(n, _)| n).collect())
}

/// The command.
///
/// # Errors
/// As [`merge`].
pub fn run(args: &MergeArgs) -> Result<()> {
    let output = args.output.clone().unwrap_or_else(|| args.run_dir.join("full.safetensors"));
    // Never overwrite what the run needs to resume.
    let canon = |p: &Path| p.parent().and_then(|d| d.canonicalize().ok()).map(|d| d.join(p.file_name().unwrap_or_default()));
    let out = canon(&output);
    let run = args.run_dir.canonicalize().ok();
    if let (Some(out), Some(run)) = (&out, &run) {
        let protected = ["model.safetensors", "progress.json", "config.toml", "metrics.csv"].iter().any(|f| *out == run.join(f));
        anyhow::ensure!(
            !protected && !out.starts_with(run.join("shards")),
            "refusing to write {}: it is part of the run (write the merged checkpoint elsewhere)",
            output.display()
        );
    }
    let names = merge(&args.run_dir, &output)?;
    println!("wrote {} ({} tensors)", output.display(), names.len());
    Ok(())
}
