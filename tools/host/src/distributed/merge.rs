//! `ferrite merge-shards RUN_DIR`: turns a parallel run's per-rank shards into one full
//! checkpoint in single-process layout — every parameter under its model name, and the
//! optimizer state per parameter (`optimizer.state.{i}.{field}`, PyTorch's layout), so a
//! ZeRO run can be inspected, evaluated or continued without its world size.

use super::progress::Progress;
use super::shards::{shard_path, state_model_path, strategy_json, verify_shard, FORMAT, FORMAT_KEY, LAYOUT_KEY};
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
    /// Checks that every index the layout implies stays inside the shards, so a damaged or
    /// hand-edited layout is an error instead of a panic.
    fn validate(&self, world_size: usize) -> Result<()> {
        let n = self.names.len();
        anyhow::ensure!(
            self.shapes.len() == n && self.offsets.len() == n && self.group_of.len() == n,
            "bad ZeRO layout: {n} names but {} shapes, {} offsets, {} group indices",
            self.shapes.len(),
            self.offsets.len(),
            self.group_of.len()
        );
        let mut end_of_pieces = 0usize;
        for (g, gr) in self.groups.iter().enumerate() {
            let end = gr.shard_offset.checked_add(gr.piece).filter(|&e| e <= self.shard);
            anyhow::ensure!(end.is_some(), "bad ZeRO layout: module {g}'s piece [{}, +{}) lies outside the shard of {}", gr.shard_offset, gr.piece, self.shard);
            end_of_pieces = end_of_pieces.max(end.unwrap_or(0));
        }
        for i in 0..n {
            let g = self.group_of[i];
            let gr = self.groups.get(g).with_context(|| format!("bad ZeRO layout: `{}` is in module {g} of {}", self.names[i], self.groups.len()))?;
            let numel = self.shapes[i].iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let padded = gr.piece.checked_mul(world_size);
            let fits = numel.zip(padded).and_then(|(k, p)| self.offsets[i].checked_add(k).map(|e| e <= p)).unwrap_or(false);
            anyhow::ensure!(fits, "bad ZeRO layout: `{}` of shape {:?} at offset {} does not fit its module", self.names[i], self.shapes[i], self.offsets[i]);
        }
        Ok(())
    }

    /// Every parameter's values from the ranks' flat shard-length tensors.
    fn unshard(&self, parts: &[&Tensor]) -> Result<Vec<Vec<f32>>> {
        self.validate(parts.len())?;
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

fn read_shards(run_dir: &Path) -> Result<(ShardInfo, Vec<Vec<(String, Tensor)>>, PathBuf)> {
    let host = ferrite_core::host();
    anyhow::ensure!(run_dir.is_dir(), "run folder {} does not exist", run_dir.display());
    anyhow::ensure!(
        run_dir.join("shards").is_dir(),
        "{} has no shards/ folder: only runs trained with --parallel write per-rank shards",
        run_dir.display()
    );
    let progress = Progress::load(run_dir)?;
    let first = shard_path(run_dir, progress.epoch, 0, progress.world_size);
    let dir = first.parent().context("shard folder")?.to_path_buf();
    anyhow::ensure!(dir.is_dir(), "{} is missing: progress.json points at the state of epoch {}", dir.display(), progress.epoch);
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors") && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("rank-")))
        .collect();
    found.sort();
    let Some(any) = found.first() else { bail!("{} holds no shards", dir.display()) };
    let md = load_safetensors_metadata(any)?;
    anyhow::ensure!(md.get(FORMAT_KEY).map(String::as_str) == Some(FORMAT), "{} is not a Ferrite shard ({FORMAT})", any.display());
    let info: ShardInfo = serde_json::from_str(md.get(LAYOUT_KEY).context("shard without strategy metadata")?)
        .with_context(|| format!("strategy metadata of {}", any.display()))?;
    let reference = strategy_json(any, &md)?;
    anyhow::ensure!(
        progress.world_size == info.world_size,
        "progress.json says {} ranks, the shards {}",
        progress.world_size,
        info.world_size
    );
    let mut shards = Vec::new();
    for r in 0..info.world_size {
        let p = shard_path(run_dir, progress.epoch, r, info.world_size);
        anyhow::ensure!(p.is_file(), "shard {} of {} is missing: {}", r, info.world_size, p.display());
        // Every shard must be this rank's, of this run, from the epoch progress.json records.
        verify_shard(&p, r, info.world_size, progress.run_id, progress.epoch)?;
        // The same strategy, stage, optimizer and layout on every rank.
        anyhow::ensure!(
            strategy_json(&p, &load_safetensors_metadata(&p)?)? == reference,
            "{} describes another strategy or layout than {}",
            p.display(),
            any.display()
        );
        shards.push(load_safetensors(&host, &p)?);
    }
    // The model saved with these shards (the run's model.safetensors may be one epoch ahead
    // after an interrupted save).
    Ok((info, shards, state_model_path(run_dir, progress.epoch)))
}

/// Merges the shards of `run_dir` into `output`; returns the tensors written (names).
///
/// # Errors
/// Missing or foreign shards, inconsistent layouts.
pub fn merge(run_dir: &Path, output: &Path) -> Result<Vec<String>> {
    let host = ferrite_core::host();
    let (info, shards, model) = read_shards(run_dir)?;
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
            out.extend(load_safetensors(&host, &model).with_context(|| format!("reading {}", model.display()))?);
            out.extend(shards.into_iter().next().unwrap_or_default());
        }
    }
    // The model checkpoint's metadata (model, config, dataset, sizes), so `ferrite eval`
    // reads the merged file like model.safetensors (it skips the `optimizer.` entries).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        serde_json::from_str(
            r#"{"names":["a.w","a.b","c.w"],"shapes":[[2,3],[2],[5]],"offsets":[0,6,0],"group_of":[0,0,1],
                "groups":[{"piece":4,"shard_offset":0},{"piece":3,"shard_offset":4}],"shard":7}"#,
        )
        .unwrap()
    }

    #[test]
    fn unshard_reassembles_modules_from_rank_pieces() {
        let host = ferrite_core::host();
        // Module a (8 elements) as pieces of 4, module c (5 elements, padded to 6) as pieces of 3.
        let r0 = host.from_slice(&[0f32, 1., 2., 3., 100., 101., 102.], &[7]).unwrap();
        let r1 = host.from_slice(&[4f32, 5., 6., 7., 103., 104., 0.], &[7]).unwrap();
        let v = layout().unshard(&[&r0, &r1]).unwrap();
        assert_eq!(v, vec![vec![0., 1., 2., 3., 4., 5.], vec![6., 7.], vec![100., 101., 102., 103., 104.]]);
    }

    #[test]
    fn damaged_layouts_are_errors_not_panics() {
        let mut bad = Vec::new();
        let mut l = layout();
        l.shapes[0] = vec![16, 1, 3, 4];
        bad.push(l);
        let mut l = layout();
        l.groups[1].piece = 2000;
        bad.push(l);
        let mut l = layout();
        l.groups[1].shard_offset = usize::MAX;
        bad.push(l);
        let mut l = layout();
        l.group_of = vec![0, 0, 7];
        bad.push(l);
        let mut l = layout();
        l.offsets.pop();
        bad.push(l);
        let mut l = layout();
        l.shapes[2] = vec![usize::MAX, 3];
        bad.push(l);
        for l in bad {
            let e = l.validate(2).unwrap_err().to_string();
            assert!(e.starts_with("bad ZeRO layout"), "{e}");
        }
        layout().validate(2).unwrap();
    }
}
