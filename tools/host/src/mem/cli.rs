//! `ferrite mem` arguments and the printed table.

use super::model::{estimate, Activations, MemPlan, Optimizer, Precision};
use anyhow::Result;

/// `ferrite mem`: per-device memory of training by precision, optimizer, ZeRO stage and world
/// size (ZeRO paper §3.1; activations per Korthikanti et al. 2022).
#[derive(clap::Args, Debug, Clone)]
pub struct MemArgs {
    /// Number of parameters (e.g. 7e9).
    #[arg(long, value_name = "N")]
    pub params: f64,
    /// Training precision (default bf16; fp32 with --measure, which trains in fp32 only).
    #[arg(long, value_enum)]
    pub precision: Option<Precision>,
    /// Optimizer.
    #[arg(long, value_enum, default_value = "adamw")]
    pub optimizer: Optimizer,
    /// ZeRO stage (0 = plain data parallel, 1 = optimizer state, 2 = + gradients, 3 = + weights).
    #[arg(long, default_value_t = 0)]
    pub zero: u8,
    /// Data-parallel world size.
    #[arg(long, default_value_t = 1)]
    pub world_size: u64,
    /// Transformer activations: layers,hidden,heads,seq,batch (per device).
    #[arg(long, value_name = "L,H,A,S,B", value_delimiter = ',')]
    pub transformer: Option<Vec<u64>>,
    /// Train a real MLP of about `--params` parameters for a few steps (fp32; ZeRO/DDP over
    /// comm.local with `--world-size` ranks as threads) and print the measured peak of tensor
    /// memory beside Ferrite's per-phase estimate.
    #[arg(long)]
    pub measure: bool,
    /// `--measure`: Linear layers of the MLP.
    #[arg(long, default_value_t = 8, requires = "measure")]
    pub layers: usize,
    /// `--measure`: rows of each rank's batch.
    #[arg(long, default_value_t = 8, requires = "measure")]
    pub batch: usize,
    /// `--measure`: optimizer steps (at least 2).
    #[arg(long, default_value_t = 3, requires = "measure")]
    pub steps: usize,
}

/// `ferrite mem --measure` (plugins for ops must be loaded).
///
/// # Errors
/// A precision other than fp32, a bad stage or world size, op or communication errors.
pub fn run_measure(args: &MemArgs) -> Result<()> {
    use super::peak::Strategy;
    let precision = args.precision.unwrap_or(Precision::Fp32);
    anyhow::ensure!(
        precision == Precision::Fp32,
        "--measure trains in fp32 only (got --precision {}); drop --precision or pass fp32",
        format!("{precision:?}").to_lowercase()
    );
    let world_size = u32::try_from(args.world_size).map_err(|_| anyhow::anyhow!("--world-size too large"))?;
    let strategy = match (args.zero, world_size) {
        (0, 1) => Strategy::None,
        (0, _) => Strategy::Ddp,
        (s, _) => Strategy::Zero(s),
    };
    let spec = super::measure::MeasureSpec {
        params: args.params,
        layers: args.layers,
        batch: args.batch,
        optimizer: args.optimizer,
        strategy,
        world_size,
        steps: args.steps,
    };
    let c = super::measure::measure(&spec)?;
    print!("{}", super::measure::report(&c));
    Ok(())
}

fn gb(bytes: f64) -> String {
    format!("{:.1} GB", bytes / 1e9)
}

/// Prints the estimate (decimal GB, as the ZeRO paper).
pub fn run(args: &MemArgs) -> Result<()> {
    if let Some(v) = &args.transformer {
        anyhow::ensure!(v.len() == 5, "--transformer takes 5 numbers, layers,hidden,heads,seq,batch (e.g. 32,4096,32,2048,1); got {}", v.len());
    }
    let activations = args.transformer.as_ref().map(|v| Activations { layers: v[0], hidden: v[1], heads: v[2], seq: v[3], batch: v[4] });
    let plan = MemPlan {
        params: args.params,
        precision: args.precision.unwrap_or(Precision::Bf16),
        optimizer: args.optimizer,
        zero_stage: args.zero,
        world_size: args.world_size,
        activations,
    };
    let e = estimate(&plan).map_err(anyhow::Error::msg)?;
    println!(
        "{:.3e} parameters, {}, {}, ZeRO stage {}, world size {}",
        args.params,
        args.precision.unwrap_or(Precision::Bf16),
        args.optimizer.to_string(),
        args.zero,
        args.world_size
    );
    println!("  weights        {}", gb(e.params));
    println!("  gradients      {}", gb(e.grads));
    if args.precision.unwrap_or(Precision::Bf16) == Precision::Fp32 {
        println!("  optimizer      {}", gb(e.optimizer));
    } else {
        println!("  optimizer      {}  (incl. fp32 master weights under mixed precision)", gb(e.optimizer));
    }
    if activations.is_some() {
        println!("  activations    {}", gb(e.activations));
    }
    println!("  model states   {}  per device", gb(e.model_states()));
    if args.zero == 0 {
        // Without sharding every device holds all model states.
        println!("  ({:.0} bytes per parameter)", e.model_states() / args.params);
    }
    println!("  total          {}  per device", gb(e.total()));
    Ok(())
}
