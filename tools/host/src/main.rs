//! `ferrite`: the host binary.
//!
//! Status: the command line, configuration, metrics and plotting are in place. Training,
//! evaluation and plugin listing need the core runtime (plugin loader, dispatcher, autograd),
//! which is being written separately; until it is wired in here, `train` resolves and prints its
//! configuration, and `eval` / `plugins` report that they are not available in this build.

use anyhow::{bail, Context, Result};
use clap::Parser;
use ferrite_host::cli::{Cli, Command};
use std::process::ExitCode;
use std::time::SystemTime;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => {
            let cfg = args.load_config(SystemTime::now()).context("ferrite train")?;
            // Wiring point for the core: load `cfg.plugin_path`, create `cfg.dataset` with
            // `cfg.dataset_config_toml(size)` and `cfg.model` with `cfg.model_config_toml()` for
            // each size, train, record `metrics::EpochRecord`s into `run_dir/metrics.csv` and
            // plot them with `plot::plot_metrics`.
            print!("{}", cfg.to_toml()?);
            eprintln!("ferrite train: configuration resolved; training is not wired to the core in this build yet");
            Ok(())
        }
        Command::Eval(args) => {
            bail!(
                "ferrite eval {}: evaluation needs the core runtime, which this build does not include yet",
                args.checkpoint.display()
            )
        }
        Command::Plugins(_) => {
            bail!("ferrite plugins: the plugin loader lives in the core, which this build does not include yet")
        }
    }
}
