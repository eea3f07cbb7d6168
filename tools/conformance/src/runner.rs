//! The runner: for every (op, device, dtype) kernel of a plugin, proptest's [`TestRunner`] runs
//! the op's strategy through [`check_case`]; a failure is shrunk to a minimal case, which is
//! kept (printed in full by the report) with the error it produces.

use crate::case::Case;
use crate::cases;
use crate::check::{check_case, Mismatch, Target};
use crate::gen::Opts;
use ferrite_core::provider::kernels_of;
use ferrite_core::Runtime;
use ferrite_sdk::abi::dtype::device_type_name;
use ferrite_sdk::DType;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::Cell;

/// Default proptest cases per kernel.
pub const DEFAULT_CASES: u32 = 32;
/// Default most input elements perturbed by finite differences per case.
pub const DEFAULT_FD_ELEMENTS: usize = 24;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Name of the (loaded) plugin under test.
    pub plugin: String,
    /// Name of the (loaded) reference plugin.
    pub reference: String,
    /// Only this op (any exported name, or the canonical name); all when `None`.
    pub op: Option<String>,
    /// Proptest cases per kernel.
    pub cases: u32,
    /// Most input elements perturbed by finite differences per case (0 turns them off).
    pub fd_elements: usize,
    /// Generator options.
    pub opts: Opts,
}

impl RunConfig {
    /// Every op of `plugin` against `ops-ref`, [`DEFAULT_CASES`] cases, conformance generators.
    pub fn new(plugin: &str) -> RunConfig {
        RunConfig {
            plugin: plugin.to_string(),
            reference: "ops-ref".to_string(),
            op: None,
            cases: DEFAULT_CASES,
            fd_elements: DEFAULT_FD_ELEMENTS,
            opts: Opts::conformance(),
        }
    }
}

/// Outcome of one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every case agreed with the reference.
    Pass,
    /// A case disagreed.
    Fail,
    /// No reference kernel: every case agreed with the plugin's own f64 kernel (and, for f64,
    /// its backward with finite differences of its forward), on inputs generated from the schema.
    SelfPass,
    /// No reference kernel, and a self-consistency case failed.
    SelfFail,
    /// Not checked; the reason.
    Untested(String),
}

impl Status {
    /// `pass`, `fail`, `pass (self)`, `fail (self)` or `untested`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::SelfPass => "pass (self)",
            Status::SelfFail => "fail (self)",
            Status::Untested(_) => "untested",
        }
    }
    /// A failure, against the reference or in self-consistency mode.
    pub fn is_fail(&self) -> bool {
        matches!(self, Status::Fail | Status::SelfFail)
    }
    /// A pass, against the reference or in self-consistency mode.
    pub fn is_pass(&self) -> bool {
        matches!(self, Status::Pass | Status::SelfPass)
    }
    /// Checked in self-consistency mode (no reference kernel).
    pub fn is_self(&self) -> bool {
        matches!(self, Status::SelfPass | Status::SelfFail)
    }
}

/// A failure: the shrunk case and what it got wrong.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The minimal counterexample proptest shrank to.
    pub case: Case,
    /// What differs on it.
    pub mismatch: Mismatch,
}

/// One row of the report: one kernel.
#[derive(Clone, Debug)]
pub struct Row {
    /// Canonical op name.
    pub op: String,
    /// `cpu`, `cuda`.
    pub device: String,
    /// Kernel dtype.
    pub dtype: DType,
    /// Outcome.
    pub status: Status,
    /// Cases run (including the failing one, before shrinking).
    pub cases: u32,
    /// Largest error of passing cases, in units of the tolerance (≤ 1).
    pub worst: f64,
    /// Cases both the plugin and the reference rejected with an error (counted in `cases`).
    pub rejected: u32,
    /// The shrunk counterexample, for failures.
    pub failure: Option<Failure>,
}

/// The result of running the suite on one plugin.
#[derive(Clone, Debug)]
pub struct Report {
    /// Plugin name.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// SHA-256 of the plugin file.
    pub sha256: String,
    /// One row per kernel, sorted by op, device, dtype.
    pub rows: Vec<Row>,
}

impl Report {
    /// Whether no kernel failed (untested kernels do not fail the run).
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| !r.status.is_fail())
    }
    /// The row of `(op, dtype)`.
    pub fn row(&self, op: &str, dtype: DType) -> Option<&Row> {
        self.rows.iter().find(|r| r.op == op && r.dtype == dtype)
    }
}

/// Canonical name of `op` (an exported name), or `op` itself.
fn canonical(op: &str) -> String {
    let reg = Runtime::global().registry();
    reg.resolve(op).and_then(|(id, _)| reg.op(id)).map_or_else(|| op.to_string(), |e| e.name.clone())
}

/// Runs one kernel. When the reference has no kernel of the op, a float kernel is checked in
/// self-consistency mode instead: inputs come from the op's schema ([`cases::schema`]) and the
/// plugin's own cpu f64 kernel serves as the reference (forward and backward), and the f64
/// kernel's backward is checked against finite differences of its forward.
fn run_kernel(
    cfg: &RunConfig,
    k: &ferrite_core::provider::KernelInfo,
    own_kernels: &[ferrite_core::provider::KernelInfo],
    ref_kernels: &[ferrite_core::provider::KernelInfo],
) -> Row {
    let (op, device, dtype, backward) = (k.op.as_str(), device_type_name(k.device_type), k.dtype, k.has_backward);
    let mut row = Row { op: op.to_string(), device: device.to_string(), dtype, status: Status::Pass, cases: 0, worst: 0.0, rejected: 0, failure: None };
    let ref_dt = if dtype.is_float() { DType::F64 } else { dtype };
    let is_cpu_f64 = |kk: &&ferrite_core::provider::KernelInfo| kk.op == op && kk.dtype == ref_dt && device_type_name(kk.device_type) == "cpu";
    let (reference, ref_backward, strategy) = match ref_kernels.iter().find(is_cpu_f64) {
        Some(rk) => {
            let Some(strategy) = cases::strategy(op, &cfg.opts) else {
                row.status = Status::Untested("no input generator for this op".into());
                return row;
            };
            (cfg.reference.clone(), rk.has_backward, strategy)
        }
        None => {
            let own = own_kernels.iter().find(is_cpu_f64).filter(|_| dtype.is_float());
            let (Some(own), Some(strategy)) = (own, cases::schema::strategy(op, &cfg.opts)) else {
                row.status = Status::Untested(format!(
                    "{} has no cpu/{} kernel of {op}, and no self-consistency check applies (needs a float op with a cpu/f64 kernel and a schema the generic generator handles)",
                    cfg.reference,
                    ref_dt.short()
                ));
                return row;
            };
            row.status = Status::SelfPass;
            (cfg.plugin.clone(), own.has_backward, strategy)
        }
    };
    let self_mode = row.status == Status::SelfPass;
    if device != "cpu" {
        row.status = Status::Untested(format!("device {device}: inputs are built on the cpu"));
        return row;
    }
    let target = Target {
        plugin: cfg.plugin.clone(),
        reference,
        dtype,
        backward,
        ref_backward,
        fd_elements: cfg.fd_elements,
    };
    let config = Config { cases: cfg.cases, failure_persistence: None, max_shrink_iters: 2048, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    // Cases counted until the first failure (shrinking runs more, which are not counted).
    let (count, worst, failed, rejected) = (Cell::new(0u32), Cell::new(0.0f64), Cell::new(false), Cell::new(0u32));
    let result = runner.run(&strategy, |case| {
        if !failed.get() {
            count.set(count.get() + 1);
        }
        match check_case(&case, &target) {
            Ok(p) => {
                if !failed.get() {
                    worst.set(worst.get().max(p.worst));
                    rejected.set(rejected.get() + p.rejected as u32);
                }
                Ok(())
            }
            Err(m) => {
                failed.set(true);
                Err(TestCaseError::fail(format!("{}: {}", m.part, m.detail)))
            }
        }
    });
    row.cases = count.get().min(cfg.cases);
    row.worst = worst.get();
    row.rejected = rejected.get();
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => {
            row.status = if self_mode { Status::SelfFail } else { Status::Fail };
            let mismatch = check_case(&case, &target).err().unwrap_or(Mismatch {
                part: "check".into(),
                max_abs_err: f64::NAN,
                detail: reason.to_string(),
            });
            row.failure = Some(Failure { case, mismatch });
        }
        Err(TestError::Abort(reason)) => row.status = Status::Untested(format!("aborted: {reason}")),
    }
    row
}

/// Runs the suite on every kernel of `cfg.plugin` (both plugins must be loaded; `cfg.plugin`
/// may also be the label of a staged candidate build, see `Runtime::stage`).
///
/// # Errors
/// When either plugin is not loaded.
pub fn run(cfg: &RunConfig) -> Result<Report, String> {
    // An installed plugin, or a candidate build staged under that label (`Runtime::stage`).
    let meta = Runtime::global().plugin_named(&cfg.plugin).map(|p| p.meta).ok_or_else(|| format!("plugin `{}` is not loaded", cfg.plugin))?;
    let kernels = kernels_of(&cfg.plugin).map_err(|e| e.to_string())?;
    let ref_kernels = kernels_of(&cfg.reference).map_err(|e| e.to_string())?;
    let only = cfg.op.as_deref().map(canonical);
    let mut rows: Vec<Row> = kernels
        .iter()
        .filter(|k| only.as_ref().is_none_or(|o| *o == k.op))
        .map(|k| run_kernel(cfg, k, &kernels, &ref_kernels))
        .collect();
    rows.sort_by(|a, b| (&a.op, &a.device, a.dtype.short()).cmp(&(&b.op, &b.device, b.dtype.short())));
    Ok(Report { plugin: meta.name.clone(), version: meta.version.clone(), sha256: meta.sha256.clone(), rows })
}
