//! The training configuration: a TOML file (all keys optional, unknown keys rejected), then
//! command-line overrides, then defaults resolved and values validated.
//!
//! ```toml
//! name = "spp-digits"          # run name; run_dir defaults to runs/<name>
//! model = "models.spp_net"
//! dataset = "datasets.digits"
//! sizes = [8, 16]              # one training run per input size
//! epochs = 10
//! batch_size = 64
//! optimizer = "sgd"            # or "adamw"
//! lr = 0.05                    # default: 0.05 for sgd, 0.001 for adamw
//! momentum = 0.9               # sgd only
//! weight_decay = 5e-4          # default: 5e-4 for sgd, 0.01 for adamw
//! seed = 0
//! plugin_path = ["target/debug"]
//!
//! [model_config]               # passed verbatim (as TOML) to the model factory
//! [dataset_config]             # passed to the dataset factory; `size` is set from `sizes`
//! test_fraction = 0.2
//!
//! [op_versions]                # pin ops to a loaded version (default: the newest loaded)
//! "test::add_flavor" = 1
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest accepted input size (pixels per side).
pub const MAX_SIZE: u32 = 512;

/// Errors while loading, overriding or validating a [`TrainConfig`]; each displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error (shown in the message, so not also reported as a `source`).
        error: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type, in a file or a command-line value.
    #[error("{origin}: {message}")]
    Parse {
        /// Where the text came from (a file path or a flag such as `--model-config`).
        origin: String,
        /// The parser's message, on one line.
        message: String,
    },
    /// A value out of range or inconsistent with another.
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// Which op library computes the model: the fast CPU kernels (default) or the reference ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OpsKind {
    /// `ops-cpu`, loaded after `ops-ref` so its kernels win where it has them.
    #[default]
    Cpu,
    /// `ops-ref` only: plain f64 loops, the oracle.
    Ref,
}

/// Which optimizer trains the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with (heavy-ball) momentum and L2 weight decay.
    #[default]
    Sgd,
    /// AdamW (decoupled weight decay, betas 0.9 / 0.999); ignores momentum.
    Adamw,
}

impl OptimizerKind {
    /// Learning rate used when none is configured: 0.05 for SGD, 0.001 for AdamW.
    pub fn default_lr(self) -> f64 {
        match self {
            OptimizerKind::Sgd => 0.05,
            OptimizerKind::Adamw => 1e-3,
        }
    }

    /// Weight decay used when none is configured: 5e-4 for SGD, 0.01 for AdamW (PyTorch's).
    pub fn default_weight_decay(self) -> f64 {
        match self {
            OptimizerKind::Sgd => 5e-4,
            OptimizerKind::Adamw => 1e-2,
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adamw => "adamw",
        })
    }
}

/// Everything `ferrite train` needs. Load with [`TrainConfig::load`] or
/// [`TrainConfig::from_toml_str`], apply [`ConfigOverrides`], then [`TrainConfig::resolve`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Run name (letters, digits, `.`, `_`, `-`); the default run directory is `runs/<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Exported name of the model factory.
    pub model: String,
    /// Exported name of the dataset factory.
    pub dataset: String,
    /// Input sizes in pixels per side; one training run per size, each passed to the dataset as
    /// its `size` key. Non-empty, distinct, each in `1..=MAX_SIZE`.
    pub sizes: Vec<u32>,
    /// Number of passes over the train split (>= 1).
    pub epochs: u32,
    /// Samples per optimizer step (>= 1).
    pub batch_size: u32,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Learning rate (> 0); `None` means the optimizer's default ([`OptimizerKind::default_lr`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// SGD momentum in `[0, 1)`; ignored by AdamW.
    pub momentum: f64,
    /// Weight decay (>= 0); `None` means the optimizer's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Seed of the core's generator (initialisation, shuffling) and of the dataset split.
    pub seed: u64,
    /// Where metrics, plots and checkpoints go; `None` means `runs/<name>` or
    /// `runs/<UTC timestamp YYYYmmdd-HHMMSS>` (filled in by [`TrainConfig::resolve`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<PathBuf>,
    /// Plugin files or directories to load, in order.
    pub plugin_path: Vec<PathBuf>,
    /// Configuration of the model, passed to its factory as a TOML string.
    pub model_config: toml::Table,
    /// Configuration of the dataset, passed to its factory as a TOML string (plus `size`).
    pub dataset_config: toml::Table,
    /// Op library: `"cpu"` (fast kernels, default) or `"ref"` (reference kernels only).
    pub ops: OpsKind,
    /// Watch the loaded plugin files: a new build at the same path is checked by the
    /// conformance suite and hot-swapped in between optimizer steps only if it passes
    /// (decisions go to stdout and `<run_dir>/plugins.log`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub watch_plugins: bool,
    /// Op version pins: op name (canonical, API name or alias) → the version its names resolve
    /// to, instead of the newest loaded one. Applied after the plugins are loaded and before
    /// training ([`TrainConfig::pin_op_versions`]); each pinned version must be loaded.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub op_versions: std::collections::BTreeMap<String, u32>,
    /// Distributed training (`[parallel]`): strategy, comm backend, world size.
    pub parallel: crate::distributed::ParallelConfig,
    /// Compute precision: `"f32"`, or `"bf16"`/`"f16"` mixed precision (autocast over the f32
    /// parameters, which act as master weights; `f16` adds dynamic loss scaling).
    pub precision: crate::precision::Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            name: None,
            model: "models.spp_net".into(),
            dataset: "datasets.digits".into(),
            sizes: vec![8, 16],
            epochs: 10,
            batch_size: 64,
            optimizer: OptimizerKind::Sgd,
            lr: None,
            momentum: 0.9,
            weight_decay: None,
            seed: 0,
            run_dir: None,
            plugin_path: Vec::new(),
            model_config: toml::Table::new(),
            dataset_config: toml::Table::new(),
            ops: OpsKind::Cpu,
            watch_plugins: false,
            op_versions: std::collections::BTreeMap::new(),
            parallel: crate::distributed::ParallelConfig::default(),
            precision: crate::precision::Precision::F32,
        }
    }
}

/// Values given on the command line; each `Some` (or non-empty list) replaces the file's value,
/// except the `*_config` snippets, which are merged key by key into the tables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigOverrides {
    /// See [`TrainConfig::name`].
    pub name: Option<String>,
    /// See [`TrainConfig::model`].
    pub model: Option<String>,
    /// See [`TrainConfig::dataset`].
    pub dataset: Option<String>,
    /// See [`TrainConfig::sizes`].
    pub sizes: Option<Vec<u32>>,
    /// See [`TrainConfig::epochs`].
    pub epochs: Option<u32>,
    /// See [`TrainConfig::batch_size`].
    pub batch_size: Option<u32>,
    /// See [`TrainConfig::optimizer`].
    pub optimizer: Option<OptimizerKind>,
    /// See [`TrainConfig::lr`].
    pub lr: Option<f64>,
    /// See [`TrainConfig::momentum`].
    pub momentum: Option<f64>,
    /// See [`TrainConfig::weight_decay`].
    pub weight_decay: Option<f64>,
    /// See [`TrainConfig::seed`].
    pub seed: Option<u64>,
    /// See [`TrainConfig::run_dir`].
    pub run_dir: Option<PathBuf>,
    /// Replaces [`TrainConfig::plugin_path`] when non-empty.
    pub plugin_path: Vec<PathBuf>,
    /// TOML snippets (`"dropout = 0.1"`) merged into [`TrainConfig::model_config`], in order.
    pub model_config: Vec<String>,
    /// TOML snippets merged into [`TrainConfig::dataset_config`], in order.
    pub dataset_config: Vec<String>,
    /// See [`TrainConfig::ops`].
    pub ops: Option<OpsKind>,
    /// See [`TrainConfig::watch_plugins`].
    pub watch_plugins: Option<bool>,
}

impl TrainConfig {
    /// One line of the settings a newcomer cannot see elsewhere in the output: the model
    /// config given (e.g. `checkpoint = true`) and the precision, or `None` when all default.
    pub fn settings_line(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.model_config.is_empty() {
            let text = toml::to_string(&self.model_config).unwrap_or_default();
            parts.push(format!("model config: {}", text.trim().replace('\n', ", ")));
        }
        match self.precision {
            crate::precision::Precision::F32 => {}
            crate::precision::Precision::Bf16 => parts.push("precision: bf16 autocast over f32 parameters".into()),
            crate::precision::Precision::F16 => parts.push("precision: f16 autocast over f32 parameters, dynamic loss scaling".into()),
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Parses TOML text; `origin` names it in errors. Missing keys take their defaults.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for bad syntax, unknown keys or wrong types.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<TrainConfig, ConfigError> {
        toml::from_str(text).map_err(|e| parse_error(origin, text, &e))
    }

    /// Reads and parses a TOML file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`].
    pub fn load(path: &Path) -> Result<TrainConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError::Read { path: path.display().to_string(), error })?;
        TrainConfig::from_toml_str(&text, &path.display().to_string())
    }

    /// Applies command-line overrides.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] if a `--model-config`/`--dataset-config` snippet is not a TOML
    /// table.
    pub fn apply(&mut self, o: &ConfigOverrides) -> Result<(), ConfigError> {
        fn set<T: Clone>(dst: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *dst = v.clone();
            }
        }
        if o.name.is_some() {
            self.name = o.name.clone();
        }
        set(&mut self.model, &o.model);
        set(&mut self.dataset, &o.dataset);
        set(&mut self.sizes, &o.sizes);
        set(&mut self.epochs, &o.epochs);
        set(&mut self.batch_size, &o.batch_size);
        set(&mut self.optimizer, &o.optimizer);
        if o.lr.is_some() {
            self.lr = o.lr;
        }
        set(&mut self.momentum, &o.momentum);
        if o.weight_decay.is_some() {
            self.weight_decay = o.weight_decay;
        }
        set(&mut self.seed, &o.seed);
        set(&mut self.ops, &o.ops);
        set(&mut self.watch_plugins, &o.watch_plugins);
        if o.run_dir.is_some() {
            self.run_dir = o.run_dir.clone();
        }
        if !o.plugin_path.is_empty() {
            self.plugin_path = o.plugin_path.clone();
        }
        merge_snippets(&mut self.model_config, &o.model_config, "--model-config")?;
        merge_snippets(&mut self.dataset_config, &o.dataset_config, "--dataset-config")?;
        Ok(())
    }

    /// Fills in the defaults that depend on other keys or on the time (`lr`, `weight_decay`,
    /// `run_dir`; `now` names an unnamed run) and validates everything.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first bad key.
    pub fn resolve(mut self, now: SystemTime) -> Result<TrainConfig, ConfigError> {
        self.parallel.normalize();
        self.lr.get_or_insert(self.optimizer.default_lr());
        self.weight_decay.get_or_insert(self.optimizer.default_weight_decay());
        self.validate()?;
        if self.run_dir.is_none() {
            let leaf = self.name.clone().unwrap_or_else(|| utc_stamp(now));
            self.run_dir = Some(Path::new("runs").join(leaf));
        }
        Ok(self)
    }

    /// Checks every value (unset optional values are fine).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with a one-line reason naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        self.parallel.validate().map_err(ConfigError::Invalid)?;
        if let Some(stop) = self.parallel.stop_after_epoch.filter(|&s| s >= self.epochs) {
            return bad(format!("--stop-after-epoch {stop} must be below --epochs {} (the run ends after epoch {} anyway)", self.epochs, self.epochs));
        }
        if let Some(name) = &self.name {
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                || name.starts_with('.')
            {
                return bad(format!(
                    "name {name:?} must be non-empty, use only letters, digits, '.', '_', '-', and not start with '.'"
                ));
            }
        }
        if self.model.trim().is_empty() {
            return bad("model must name a model factory (e.g. \"models.spp_net\")".into());
        }
        if self.dataset.trim().is_empty() {
            return bad("dataset must name a dataset factory (e.g. \"datasets.digits\")".into());
        }
        if self.sizes.is_empty() {
            return bad("sizes must list at least one input size".into());
        }
        for (i, &s) in self.sizes.iter().enumerate() {
            if s == 0 || s > MAX_SIZE {
                return bad(format!("sizes: {s} is outside 1..={MAX_SIZE}"));
            }
            if self.sizes[..i].contains(&s) {
                return bad(format!("sizes: {s} is listed twice"));
            }
        }
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if let Some(lr) = self.lr {
            if !(lr.is_finite() && lr > 0.0) {
                return bad(format!("lr must be a positive number, got {lr}"));
            }
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return bad(format!("momentum must be in [0, 1), got {}", self.momentum));
        }
        if let Some(wd) = self.weight_decay {
            if !(wd.is_finite() && wd >= 0.0) {
                return bad(format!("weight_decay must be >= 0, got {wd}"));
            }
        }
        if let Some(name) = self.op_versions.keys().find(|n| n.trim().is_empty() || n.contains('@')) {
            return bad(format!("op_versions: key {name:?} must be an op name without an `@` version"));
        }
        if self.dataset_config.contains_key("size") {
            return bad("dataset_config.size is set from `sizes`; remove it and use sizes = [...]".into());
        }
        Ok(())
    }

    /// Applies [`TrainConfig::op_versions`] to the global runtime (call after loading the
    /// plugins, before training).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`], one line, when an op is not loaded or the pinned version of
    /// it is not (the message lists the loaded versions).
    pub fn pin_op_versions(&self) -> Result<(), ConfigError> {
        let rt = ferrite_core::Runtime::global();
        for (name, &version) in &self.op_versions {
            rt.pin_op_version(name, version).map_err(|e| ConfigError::Invalid(format!("op_versions: {e}")))?;
        }
        Ok(())
    }

    /// Learning rate in force (the configured one or the optimizer's default).
    pub fn lr(&self) -> f64 {
        self.lr.unwrap_or(self.optimizer.default_lr())
    }

    /// Weight decay in force (the configured one or the optimizer's default).
    pub fn weight_decay(&self) -> f64 {
        self.weight_decay.unwrap_or(self.optimizer.default_weight_decay())
    }

    /// The model factory's config as a TOML string.
    pub fn model_config_toml(&self) -> String {
        toml::to_string(&self.model_config).unwrap_or_default()
    }

    /// The dataset factory's config for one input size: `dataset_config` plus `size = <size>`.
    pub fn dataset_config_toml(&self, size: u32) -> String {
        let mut t = self.dataset_config.clone();
        t.insert("size".into(), toml::Value::Integer(size.into()));
        toml::to_string(&t).unwrap_or_default()
    }

    /// The whole configuration as TOML (loadable again with [`TrainConfig::from_toml_str`]).
    ///
    /// # Errors
    /// Only if a value cannot be written as TOML (e.g. a non-UTF-8 path).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Invalid(format!("cannot write config as TOML: {e}")))
    }
}

/// Merges each TOML snippet's keys into `table` (later snippets win).
fn merge_snippets(table: &mut toml::Table, snippets: &[String], origin: &str) -> Result<(), ConfigError> {
    for s in snippets {
        let t: toml::Table = toml::from_str(s).map_err(|e| parse_error(origin, s, &e))?;
        table.extend(t);
    }
    Ok(())
}

/// A [`ConfigError::Parse`] on one line: the parser's message, then the line number and the
/// offending line's text when the parser reports a position.
fn parse_error(origin: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let mut message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(span) = e.span() {
        let start = span.start.min(text.len());
        let line_no = text[..start].matches('\n').count() + 1;
        let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
        message.push_str(&format!(" (line {line_no}: `{line}`)"));
    }
    ConfigError::Parse { origin: origin.to_string(), message }
}

/// `YYYYmmdd-HHMMSS` in UTC (times before 1970 print as the epoch).
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
