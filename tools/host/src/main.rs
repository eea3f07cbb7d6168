//! `ferrite`: the host binary. `train` with no arguments trains `models.spp_net` on
//! `datasets.digits` at 8×8 and 16×16, loading ops, model and dataset from plugin `.so` files.

use anyhow::{Context, Result};
use clap::Parser;
use ferrite_host::cli::{Cli, Command};
use ferrite_host::{eval, plugins, train};
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
            plugins::load_default_plugins(&cfg.plugin_path)?;
            let s = train::train(&cfg)?;
            for (size, acc) in &s.test_accuracy {
                println!("final test accuracy at {size}x{size}: {:.2}%", 100.0 * acc);
            }
            println!("run folder: {} (model.safetensors, metrics.csv, metrics.png, config.toml)", s.run_dir.display());
            println!("total time: {:.1}s", s.seconds);
            Ok(())
        }
        Command::Eval(args) => {
            plugins::load_default_plugins(&args.plugin_path)?;
            for (size, loss, acc) in eval::eval_checkpoint(&args.checkpoint, args.size)? {
                println!("test accuracy at {size}x{size}: {:.2}% (loss {loss:.4})", 100.0 * acc);
            }
            Ok(())
        }
        Command::Plugins(args) => {
            plugins::load_default_plugins(&args.plugin_path)?;
            plugins::print_plugins();
            Ok(())
        }
    }
}
