//! `ferrite`: the host binary. `train` with no arguments trains `models.spp_net` on
//! `datasets.digits` at 8×8 and 16×16, loading ops, model and dataset from plugin `.so` files.

use anyhow::{Context, Result};
use clap::Parser;
use ferrite_host::cli::{Cli, Command};
use ferrite_host::{bench, conformance, eval, plugins, train};
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
            plugins::load_default_plugins_with(&cfg.plugin_path, cfg.ops)?;
            let s = train::train(&cfg)?;
            for (size, acc) in &s.test_accuracy {
                println!("final test accuracy at {size}x{size}: {:.2}%", 100.0 * acc);
            }
            println!("run folder: {} (model.safetensors, metrics.csv, metrics.png, config.toml)", s.run_dir.display());
            println!("total time: {:.1}s", s.seconds);
            let m = ferrite_core::alloc::stats();
            println!(
                "tensor memory: peak {:.1} MiB, cached {:.1} MiB ({} allocations reused, {} from the OS)",
                m.peak_bytes as f64 / (1 << 20) as f64,
                m.cached_bytes as f64 / (1 << 20) as f64,
                m.hits,
                m.misses
            );
            Ok(())
        }
        Command::Eval(args) => {
            plugins::load_default_plugins(&args.plugin_path)?;
            for (size, loss, acc) in eval::eval_checkpoint(&args.checkpoint, args.size)? {
                println!("test accuracy at {size}x{size}: {:.2}% (loss {loss:.4})", 100.0 * acc);
            }
            Ok(())
        }
        Command::Bench(args) => {
            plugins::load_default_plugins(&[])?;
            for p in &args.plugin {
                let report = ferrite_core::Runtime::global().load_plugin(p).with_context(|| format!("loading {}", p.display()))?;
                for w in report.warnings {
                    eprintln!("ferrite warning: {w}");
                }
            }
            let command_line = std::env::args().collect::<Vec<_>>().join(" ");
            bench::run(&args, &command_line)
        }
        Command::Plugins(args) => {
            plugins::load_default_plugins(&args.plugin_path)?;
            plugins::print_plugins();
            Ok(())
        }
        Command::Conformance(args) => {
            let failed = conformance::run(&args)?;
            anyhow::ensure!(failed == 0, "{failed} kernel(s) failed conformance (see the counterexamples above)");
            Ok(())
        }
    }
}
