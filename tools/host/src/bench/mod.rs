//! `ferrite bench`: the benchmarks of issue 3 §4, measured side by side with PyTorch (and
//! OpenBLAS through numpy) in one run, written as a markdown table.
//!
//! One file per benchmark: [`gemm`], [`spp`], [`transformer`], [`attention`], [`overhead`];
//! [`timing`] (repetition, memory probes), [`peer`] (the PyTorch script), [`report`] (rows and
//! markdown), [`doc`] (the page written to `docs/benchmarks.md`).

pub mod attention;
pub mod dist;
pub mod doc;
pub mod gemm;
pub mod overhead;
pub mod peer;
pub mod report;
pub mod spp;
pub mod timing;
pub mod transformer;

use anyhow::{Context, Result};
use clap::Args;
use ferrite_core::{Runtime, Tensor};
use ferrite_sdk::{DType, Device};
use peer::Peer;
use report::Row;
use std::path::PathBuf;
use timing::Budget;

/// Theoretical fp32 peak of this 2-core machine class (2 FMA pipes × 8 lanes × 2 flops × 3.6 GHz
/// per core), in GFLOP/s.
pub const PEAK_GFLOPS_2_CORES: f64 = 233.0;

/// Every benchmark section, in table order.
pub const SECTIONS: [&str; 5] = ["gemm", "spp", "transformer", "attention", "overhead"];

/// `ferrite bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Threads for Ferrite's kernels and for PyTorch/OpenBLAS.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,
    /// Plugin file to load after the defaults, so its kernels win (repeatable), e.g.
    /// target/release/libferrite_ops_cpu.so.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugin: Vec<PathBuf>,
    /// Python interpreter with torch and numpy: measure the PyTorch side in the same run.
    #[arg(long, value_name = "PYTHON")]
    pub pytorch: Option<PathBuf>,
    /// Fewer sizes and repetitions (sgemm to 1024, attention to 4k, shorter budgets).
    #[arg(long)]
    pub quick: bool,
    /// Sections to run, comma-separated (gemm,spp,transformer,attention,overhead).
    #[arg(long, value_delimiter = ',', default_value = "gemm,spp,transformer,attention,overhead")]
    pub sections: Vec<String>,
    /// Markdown file to write (the table, the command and the machine).
    #[arg(long, value_name = "FILE", default_value = "docs/benchmarks.md")]
    pub out: PathBuf,
    /// Do not write the markdown file (stdout only).
    #[arg(long)]
    pub no_write: bool,
    /// Run only the distributed-training benchmark (DDP throughput, comm.local all-reduce vs
    /// memory bandwidth, peak memory per ZeRO stage) and write it as its own section of --out.
    #[arg(long)]
    pub distributed: bool,
    /// A reference-kernel case estimated to take longer than this many seconds is skipped.
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub max_case_seconds: f64,
}

/// What every section needs.
pub struct Ctx {
    /// Repetition budget.
    pub budget: Budget,
    /// PyTorch's numbers, when measured.
    pub peer: Option<Peer>,
    /// `--quick`.
    pub quick: bool,
    /// Thread count.
    pub threads: usize,
}

impl Ctx {
    /// A peer number at a JSON path.
    pub fn peer_num(&self, path: &str) -> Option<f64> {
        self.peer.as_ref().and_then(|p| p.num(path))
    }
}

/// The plugin whose f32 CPU kernel dispatch picks for `op` now.
pub fn registered_plugin(op: &str) -> Result<String> {
    let reg = Runtime::global().registry();
    let (id, _) = reg.resolve(op).with_context(|| format!("no plugin exports {op}"))?;
    let entry = reg.op(id).with_context(|| format!("{op} has no entry"))?;
    let slot = entry.kernel(Device::CPU.device_type, DType::F32).with_context(|| format!("{op} has no f32 CPU kernel"))?;
    let plugin = entry.providers[slot.provider].plugin;
    Ok(reg.plugins[plugin].name.clone())
}

/// A contiguous f32 core tensor of uniform values in [-1, 1) from a fixed seed.
pub fn rand_tensor(shape: &[i64], seed: u64) -> Result<Tensor> {
    let n: i64 = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let vals: Vec<f64> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    Ok(Tensor::from_f64(shape, &vals, DType::F32)?)
}

/// Runs the benchmarks `args` asks for (plugins must be loaded) and prints/writes the table.
pub fn run(args: &BenchArgs, command_line: &str) -> Result<()> {
    if args.distributed {
        Runtime::global().set_num_threads(args.threads as usize);
        let section = dist::section(args.quick, command_line)?;
        println!("{section}");
        if !args.no_write {
            dist::write_section(&args.out, &section)?;
            eprintln!("bench: wrote the distributed section of {}", args.out.display());
        }
        return Ok(());
    }
    for s in &args.sections {
        anyhow::ensure!(SECTIONS.contains(&s.as_str()), "unknown section `{s}`; choose from {}", SECTIONS.join(","));
    }
    let threads = args.threads as usize;
    Runtime::global().set_num_threads(threads);
    let peer = match &args.pytorch {
        Some(py) => Some(peer::run(py, threads, &args.sections, args.quick)?),
        None => None,
    };
    let budget = if args.quick {
        Budget { per_case_s: 0.5, max_single_s: args.max_case_seconds.min(20.0) }
    } else {
        Budget { per_case_s: 2.0, max_single_s: args.max_case_seconds }
    };
    let ctx = Ctx { budget, peer, quick: args.quick, threads };
    let mut rows: Vec<Row> = Vec::new();
    for s in &args.sections {
        eprintln!("bench: {s} ...");
        let r = match s.as_str() {
            "gemm" => gemm::run(&ctx),
            "spp" => spp::run(&ctx),
            "transformer" => transformer::run(&ctx),
            "attention" => attention::run(&ctx),
            _ => overhead::run(&ctx),
        };
        rows.extend(r.with_context(|| format!("benchmark `{s}`"))?);
    }
    let mut page = doc::page(&ctx, &rows, command_line);
    println!("{page}");
    if !args.no_write {
        if let Some(notes) = doc::kept_notes(&args.out) {
            page = page.replacen(doc::NOTES_MARKER, notes.trim_end(), 1) + "\n";
        }
        if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crate::atomic::write_atomic(&args.out, page.as_bytes()).with_context(|| format!("writing {}", args.out.display()))?;
        eprintln!("bench: wrote {}", args.out.display());
    }
    Ok(())
}
