//! The command line: `ferrite train | eval | plugins | bench | conformance | new-plugin` (clap
//! derive).

use crate::config::{ConfigError, ConfigOverrides, OptimizerKind, TrainConfig};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::SystemTime;

/// Ferrite: a deep-learning framework whose ops, models and datasets are plugins.
#[derive(Parser, Debug)]
#[command(name = "ferrite", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Load plugins that are not in the lock file, changed since locked, or writable by other
    /// users, with a warning (development only; also FERRITE_ALLOW_UNLOCKED=1).
    #[arg(long, global = true)]
    pub allow_unlocked: bool,
    /// Plugin lock file to honour, or to write with `plugins lock` (default:
    /// $FERRITE_PLUGIN_LOCK, else ./ferrite-plugins.lock).
    #[arg(long, global = true, value_name = "FILE")]
    pub lock: Option<PathBuf>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing buys nothing
pub enum Command {
    /// Train a model on a dataset, once per input size (defaults: models.spp_net on
    /// datasets.digits at sizes 8 and 16).
    Train(TrainArgs),
    /// Evaluate a checkpoint on the test split.
    Eval(EvalArgs),
    /// List the plugins found on the plugin path and what they export.
    Plugins(PluginsArgs),
    /// Benchmark sgemm, the SPP-net step, a transformer block, attention and per-op overhead,
    /// optionally against PyTorch, and write a markdown table.
    Bench(crate::bench::BenchArgs),
    /// Check every kernel of a plugin against ops-ref (proptest, shrunk counterexamples);
    /// prints a pass/fail table, records it, exits non-zero on any failure.
    Conformance(ConformanceArgs),
    /// Write a standalone plugin crate (op, model, dataset, parallel strategy or comm backend) with a working example, unit
    /// tests and a check script, depending on ferrite-sdk only.
    NewPlugin(NewPluginArgs),
    /// Estimate per-device training memory (weights, gradients, optimizer state, activations)
    /// by precision, optimizer, ZeRO stage and world size.
    Mem(crate::mem::MemArgs),
    /// Check every collective of a comm backend (comm.local, comm.mpi) against its definition
    /// and time all-reduce (algorithm and bus bandwidth, as nccl-tests).
    Collectives(crate::collectives::CollectivesArgs),
    /// Merge a parallel run's per-rank shards (ZeRO) into one full checkpoint: parameters and
    /// per-parameter optimizer state in single-process layout.
    MergeShards(crate::distributed::merge::MergeArgs),
}

/// `ferrite train`: every key of the config file has a flag; flags win over the file.
/// Negative numbers are accepted as values (`--lr -1` reaches validation, which explains it).
#[derive(Args, Debug, Default, Clone)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// TOML config file (all keys optional; unknown keys are errors).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run name; the run directory defaults to runs/NAME.
    #[arg(long)]
    pub name: Option<String>,
    /// Exported name of the model factory.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Exported name of the dataset factory.
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
    /// Input sizes in pixels per side, comma-separated (e.g. 8,16).
    #[arg(long, value_name = "N,..", value_delimiter = ',', num_args = 1..)]
    pub sizes: Option<Vec<u32>>,
    /// Passes over the train split.
    #[arg(long, value_name = "N")]
    pub epochs: Option<u32>,
    /// Samples per batch (per rank with --parallel; an optimizer step takes
    /// --grad-accumulation batches).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<u32>,
    /// Optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Op library: `cpu` (fast kernels, default) or `ref` (reference kernels only).
    #[arg(long, value_enum)]
    pub ops: Option<crate::config::OpsKind>,
    /// Learning rate (default 0.05 for sgd, 0.001 for adamw).
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    /// SGD momentum in [0, 1).
    #[arg(long, value_name = "M")]
    pub momentum: Option<f64>,
    /// Weight decay (default 5e-4 for sgd, 0.01 for adamw).
    #[arg(long, value_name = "WD")]
    pub weight_decay: Option<f64>,
    /// Seed of initialisation, shuffling and the dataset split.
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
    /// Output directory (default runs/NAME, or runs/YYYYmmdd-HHMMSS in UTC).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Plugin file or directory to load (repeatable; replaces the file's list).
    #[arg(long = "plugin-path", value_name = "PATH")]
    pub plugin_path: Vec<PathBuf>,
    /// TOML merged into the model config, e.g. --model-config 'dropout = 0.1' (repeatable).
    #[arg(long = "model-config", value_name = "TOML")]
    pub model_config: Vec<String>,
    /// TOML merged into the dataset config, e.g. --dataset-config 'test_fraction = 0.25'
    /// (repeatable; `size` comes from --sizes).
    #[arg(long = "dataset-config", value_name = "TOML")]
    pub dataset_config: Vec<String>,
    /// Watch the loaded plugin files: a rebuilt plugin is checked against ops-ref by the
    /// conformance suite and hot-swapped in between optimizer steps only if it passes; every
    /// decision is printed and appended to <run_dir>/plugins.log.
    #[arg(long = "watch-plugins")]
    pub watch_plugins: bool,
    /// Distributed training.
    #[command(flatten)]
    pub parallel: crate::distributed::args::ParallelArgs,
    /// Compute precision: f32, bf16 (autocast) or f16 (autocast + dynamic loss scaling).
    #[arg(long, value_enum)]
    pub precision: Option<crate::precision::Precision>,
}

impl TrainArgs {
    /// The flags as [`ConfigOverrides`].
    pub fn overrides(&self) -> ConfigOverrides {
        ConfigOverrides {
            name: self.name.clone(),
            model: self.model.clone(),
            dataset: self.dataset.clone(),
            sizes: self.sizes.clone(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer,
            ops: self.ops,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            seed: self.seed,
            run_dir: self.run_dir.clone(),
            plugin_path: self.plugin_path.clone(),
            model_config: self.model_config.clone(),
            dataset_config: self.dataset_config.clone(),
            watch_plugins: self.watch_plugins.then_some(true),
        }
    }

    /// Loads `--config` (or the defaults), applies the flags, resolves and validates.
    ///
    /// # Errors
    /// Any [`ConfigError`].
    pub fn load_config(&self, now: SystemTime) -> Result<TrainConfig, ConfigError> {
        if let Some(dir) = &self.parallel.resume {
            // A resumed run keeps its own configuration; only its length may change.
            let changed = self.config.is_some()
                || self.overrides() != ConfigOverrides { epochs: self.epochs, ..Default::default() }
                || self.precision.is_some()
                || crate::distributed::args::ParallelArgs {
                    resume: None,
                    stop_after_epoch: None,
                    ..self.parallel.clone()
                }
                .any_set();
            if changed {
                return Err(ConfigError::Invalid(format!(
                    "--resume {} continues the run with its saved config.toml; only --epochs and --stop-after-epoch may be given",
                    dir.display()
                )));
            }
            let mut cfg = TrainConfig::load(&dir.join("config.toml"))?;
            if !cfg.parallel.enabled() {
                return Err(ConfigError::Invalid(format!("--resume {}: only parallel runs (--parallel ...) can be resumed", dir.display())));
            }
            if let Some(e) = self.epochs {
                cfg.epochs = e;
            }
            cfg.run_dir = Some(dir.clone());
            cfg.parallel.resume = Some(dir.clone());
            cfg.parallel.stop_after_epoch = self.parallel.stop_after_epoch;
            return cfg.resolve(now);
        }
        let mut cfg = match &self.config {
            Some(path) => TrainConfig::load(path)?,
            None => TrainConfig::default(),
        };
        cfg.apply(&self.overrides())?;
        self.parallel.apply(&mut cfg.parallel).map_err(ConfigError::Invalid)?;
        if let Some(p) = self.precision {
            cfg.precision = p;
        }
        cfg.resolve(now)
    }
}

/// `ferrite eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// Checkpoint to evaluate (safetensors, as written by `ferrite train`).
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Input size in pixels per side (default: the size the checkpoint was trained at).
    #[arg(long, value_name = "N")]
    pub size: Option<u32>,
    /// Plugin file or directory to load (repeatable).
    #[arg(long = "plugin-path", value_name = "PATH")]
    pub plugin_path: Vec<PathBuf>,
}

/// `ferrite plugins [lock]`.
#[derive(Args, Debug, Clone, Default)]
pub struct PluginsArgs {
    /// Plugin file or directory to load (repeatable).
    #[arg(long = "plugin-path", value_name = "PATH")]
    pub plugin_path: Vec<PathBuf>,
    /// `lock`: record the plugins found instead of listing them.
    #[command(subcommand)]
    pub action: Option<PluginsAction>,
}

/// What `ferrite plugins` does besides listing.
#[derive(Subcommand, Debug, Clone)]
pub enum PluginsAction {
    /// Write a lock file (--lock FILE, else ./ferrite-plugins.lock) with the name, version, file
    /// name and SHA-256 of every plugin found (defaults and plugin path); later loads refuse
    /// changed or unknown files.
    Lock(PluginsLockArgs),
}

/// `ferrite plugins lock`.
#[derive(Args, Debug, Clone, Default)]
pub struct PluginsLockArgs {
    /// Plugin file or directory to load and lock as well (repeatable).
    #[arg(long = "plugin-path", value_name = "PATH")]
    pub plugin_path: Vec<PathBuf>,
}

/// `ferrite conformance`.
#[derive(Args, Debug, Clone)]
pub struct ConformanceArgs {
    /// The plugin file (`.so`) to check.
    #[arg(long, value_name = "PATH")]
    pub plugin: PathBuf,
    /// Only this op (canonical or exported name).
    #[arg(long, value_name = "NAME")]
    pub op: Option<String>,
    /// Proptest cases per (op, device, dtype) kernel.
    #[arg(long, value_name = "N", default_value_t = ferrite_conformance::runner::DEFAULT_CASES)]
    pub cases: u32,
    /// The reference plugin file (default: ops-ref from the plugin path).
    #[arg(long, value_name = "PATH")]
    pub reference: Option<PathBuf>,
    /// Do not record the results in the conformance database.
    #[arg(long)]
    pub no_record: bool,
}

/// `ferrite new-plugin`.
#[derive(Args, Debug, Clone)]
pub struct NewPluginArgs {
    /// Crate and plugin name: lowercase letters, digits, `-`, `_` (e.g. `my-swish`).
    pub name: String,
    /// Which example the crate holds.
    #[arg(long, value_enum)]
    pub kind: crate::new_plugin::PluginKind,
    /// The crate's directory (default ./NAME); must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Path of ferrite-sdk written into Cargo.toml (default: this checkout's sdk).
    #[arg(long, value_name = "PATH")]
    pub sdk_path: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::time::UNIX_EPOCH;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ferrite").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn train_with_no_arguments_uses_defaults() {
        let Command::Train(args) = parse(&["train"]).unwrap().command else { panic!("not train") };
        let cfg = args.load_config(UNIX_EPOCH).unwrap();
        assert_eq!(cfg.model, "models.spp_net");
        assert_eq!(cfg.dataset, "datasets.digits");
        assert_eq!(cfg.sizes, vec![8, 16]);
        assert_eq!(cfg.run_dir, Some(PathBuf::from("runs/19700101-000000")));
    }

    #[test]
    fn every_flag_overrides() {
        let Command::Train(args) = parse(&[
            "train",
            "--name",
            "x",
            "--model",
            "m",
            "--dataset",
            "d",
            "--sizes",
            "8,12,16",
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--optimizer",
            "adamw",
            "--lr",
            "0.01",
            "--momentum",
            "0.5",
            "--weight-decay",
            "0",
            "--seed",
            "11",
            "--run-dir",
            "out",
            "--plugin-path",
            "a",
            "--plugin-path",
            "b",
            "--model-config",
            "k = 1",
            "--dataset-config",
            "test_fraction = 0.3",
        ])
        .unwrap()
        .command
        else {
            panic!("not train")
        };
        let c = args.load_config(UNIX_EPOCH).unwrap();
        assert_eq!(c.name.as_deref(), Some("x"));
        assert_eq!((c.model.as_str(), c.dataset.as_str()), ("m", "d"));
        assert_eq!(c.sizes, vec![8, 12, 16]);
        assert_eq!((c.epochs, c.batch_size, c.seed), (3, 16, 11));
        assert_eq!(c.optimizer, OptimizerKind::Adamw);
        assert_eq!((c.lr(), c.momentum, c.weight_decay()), (0.01, 0.5, 0.0));
        assert_eq!(c.run_dir, Some(PathBuf::from("out")));
        assert_eq!(c.plugin_path, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(c.model_config["k"].as_integer(), Some(1));
        assert_eq!(c.dataset_config["test_fraction"].as_float(), Some(0.3));
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let dir = std::env::temp_dir().join(format!("ferrite-host-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("train.toml");
        std::fs::write(&file, "epochs = 4\nbatch_size = 8\nsizes = [16]\n").unwrap();
        let Command::Train(args) =
            parse(&["train", "--config", file.to_str().unwrap(), "--epochs", "9"]).unwrap().command
        else {
            panic!("not train")
        };
        let c = args.load_config(UNIX_EPOCH).unwrap();
        assert_eq!((c.epochs, c.batch_size, c.sizes.clone()), (9, 8, vec![16]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_flags_are_rejected() {
        assert!(parse(&["train", "--optimizer", "adam"]).is_err());
        assert!(parse(&["train", "--epochs", "-1"]).is_err());
        assert!(parse(&["train", "--bogus"]).is_err());
        assert!(parse(&["eval"]).is_err(), "--checkpoint is required");
        assert!(parse(&[]).is_err(), "a subcommand is required");
        let Command::Train(args) = parse(&["train", "--epochs", "0"]).unwrap().command else { panic!() };
        assert!(args.load_config(UNIX_EPOCH).unwrap_err().to_string().contains("epochs"));
    }

    #[test]
    fn eval_and_plugins_parse() {
        let Command::Eval(e) =
            parse(&["eval", "--checkpoint", "runs/x/model.safetensors", "--size", "16"]).unwrap().command
        else {
            panic!()
        };
        assert_eq!((e.checkpoint, e.size), (PathBuf::from("runs/x/model.safetensors"), Some(16)));
        let Command::Plugins(p) = parse(&["plugins", "--plugin-path", "target/debug"]).unwrap().command else {
            panic!()
        };
        assert_eq!(p.plugin_path, vec![PathBuf::from("target/debug")]);
    }

    #[test]
    fn plugins_lock_and_trust_flags_parse() {
        let cli = parse(&["plugins", "lock", "--plugin-path", "d", "--lock", "x.lock", "--allow-unlocked"]).unwrap();
        assert!(cli.allow_unlocked);
        assert_eq!(cli.lock, Some(PathBuf::from("x.lock")));
        let Command::Plugins(PluginsArgs { action: Some(PluginsAction::Lock(l)), .. }) = cli.command else { panic!() };
        assert_eq!(l.plugin_path, vec![PathBuf::from("d")]);
        let cli = parse(&["--allow-unlocked", "plugins"]).unwrap();
        assert!(cli.allow_unlocked && cli.lock.is_none());
        let Command::Plugins(p) = cli.command else { panic!() };
        assert!(p.action.is_none());
    }

    #[test]
    fn conformance_parses() {
        let Command::Conformance(c) = parse(&["conformance", "--plugin", "x.so", "--op", "add", "--cases", "5"]).unwrap().command else {
            panic!()
        };
        assert_eq!((c.plugin, c.op.as_deref(), c.cases, c.no_record), (PathBuf::from("x.so"), Some("add"), 5, false));
        let Command::Conformance(c) = parse(&["conformance", "--plugin", "x.so"]).unwrap().command else { panic!() };
        assert_eq!(c.cases, ferrite_conformance::runner::DEFAULT_CASES);
        assert!(parse(&["conformance"]).is_err(), "--plugin is required");
    }

    #[test]
    fn new_plugin_parses() {
        let Command::NewPlugin(n) = parse(&["new-plugin", "my-op", "--kind", "op", "--dir", "d"]).unwrap().command else { panic!() };
        assert_eq!((n.name.as_str(), n.kind, n.dir), ("my-op", crate::new_plugin::PluginKind::Op, Some(PathBuf::from("d"))));
        let Command::NewPlugin(n) = parse(&["new-plugin", "x", "--kind", "parallel"]).unwrap().command else { panic!() };
        assert_eq!(n.kind, crate::new_plugin::PluginKind::Parallel);
        assert!(parse(&["new-plugin", "x", "--kind", "device"]).is_err());
        assert!(parse(&["new-plugin", "x"]).is_err(), "--kind is required");
    }
}
