//! `ferrite`: the host binary. `train` with no arguments trains `models.spp_net` on
//! `datasets.digits` at 8×8 and 16×16, loading ops, model and dataset from plugin `.so` files.

use anyhow::{Context, Result};
use clap::Parser;
use ferrite_host::cli::{Cli, Command, PluginsAction, PluginsArgs};
use ferrite_host::{bench, conformance, eval, new_plugin, plugins, train, trust};
use std::process::ExitCode;
use std::time::SystemTime;

fn main() -> ExitCode {
    ferrite_host::restore_sigpipe();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let locking = matches!(&cli.command, Command::Plugins(PluginsArgs { action: Some(_), .. }));
    if !locking {
        trust::install_policy(cli.lock.as_deref(), cli.allow_unlocked)?;
    }
    match cli.command {
        Command::Train(args) => {
            let cfg = args.load_config(SystemTime::now()).context("ferrite train")?;
            plugins::load_default_plugins_with(&cfg.plugin_path, cfg.ops)?;
            cfg.pin_op_versions().context("ferrite train")?;
            let s = train::train(&cfg)?;
            if !s.primary {
                return Ok(()); // MPI rank > 0: rank 0 reports
            }
            for (size, acc) in &s.test_accuracy {
                println!("final test accuracy at {size}x{size}: {:.2}%", 100.0 * acc);
            }
            let extra = if cfg.parallel.enabled() { ", shards/, progress.json" } else { "" };
            println!("run folder: {} (model.safetensors, metrics.csv, metrics.png, config.toml{extra})", s.run_dir.display());
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
        Command::Mem(args) if args.measure => {
            plugins::load_default_plugins(&[])?;
            ferrite_host::mem::run_measure(&args)
        }
        Command::Mem(args) => ferrite_host::mem::run(&args),
        Command::Collectives(args) => ferrite_host::collectives::run(&args),
        Command::MergeShards(args) => ferrite_host::distributed::merge::run(&args),
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
        Command::Plugins(PluginsArgs { plugin_path, action: Some(PluginsAction::Lock(lock)) }) => {
            let paths: Vec<_> = plugin_path.into_iter().chain(lock.plugin_path).collect();
            let (file, locked) = trust::lock_plugins(cli.lock.as_deref(), cli.allow_unlocked, &paths)?;
            for e in &locked.plugins {
                println!("{:<16} {:<8} {:<32} {}", e.name, e.version, e.file, e.sha256);
            }
            println!("locked {} plugin file(s) in {}", locked.plugins.len(), file.display());
            Ok(())
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
        Command::NewPlugin(args) => {
            let sdk_path = match args.sdk_path {
                Some(p) => std::path::absolute(&p).with_context(|| format!("--sdk-path {}", p.display()))?,
                None => new_plugin::default_sdk_path()?,
            };
            let dir = args.dir.unwrap_or_else(|| args.name.clone().into());
            let p = new_plugin::NewPlugin { name: args.name, kind: args.kind, dir, sdk_path };
            new_plugin::generate(&p).context("ferrite new-plugin")?;
            let ident = p.name.replace('-', "_");
            println!("wrote {} ({} plugin exporting `{}`)", p.dir.display(), p.kind.as_str(), p.kind.export_name(&ident));
            println!("next: cd {} && cargo test --release && cargo build --release && ./check.sh", p.dir.display());
            Ok(())
        }
    }
}
