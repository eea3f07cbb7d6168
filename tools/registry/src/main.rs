//! `ferrite-registry` — what a host can do: every exported op name with its plugin, version,
//! devices, dtypes and backward; `show NAME` for one op's schema and kernels.
//!
//! Plugins: the defaults (`ops-ref`, `model-spp-net`, `dataset-digits`) found on
//! `FERRITE_PLUGIN_PATH` or beside this executable, plus any `--plugin NAME|PATH`.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ferrite_core::{discovery, Runtime};
use ferrite_registry::OpSummary;

#[derive(Parser)]
#[command(name = "ferrite-registry", version, about = "List Ferrite's exported op names and their kernels")]
struct Cli {
    /// Extra plugin to load (a name searched on FERRITE_PLUGIN_PATH, or a path); repeatable.
    #[arg(long = "plugin", global = true)]
    plugins: Vec<String>,
    /// Load only the plugins given with --plugin.
    #[arg(long, global = true)]
    no_defaults: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every exported op: name, plugin, version, devices, dtypes, backward.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One op by any of its names: schema, names, kernels.
    Show {
        /// Canonical name, API name, alias or deprecated name.
        name: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn load(cli: &Cli) -> Result<()> {
    let rt = Runtime::global();
    if !cli.no_defaults {
        ferrite_host::plugins::build_default_plugins_if_in_workspace()?;
        for name in discovery::DEFAULT_PLUGINS {
            match discovery::find_plugin(name) {
                Ok(p) => {
                    rt.load_plugin(&p)?;
                }
                Err(e) => eprintln!("note: default plugin skipped: {e}"),
            }
        }
    }
    ferrite_host::plugins::load_path_plugins(&[])?;
    for name in &cli.plugins {
        let p = discovery::find_plugin(name)?;
        rt.load_plugin(&p).with_context(|| format!("loading {name}"))?;
    }
    if rt.plugins().is_empty() {
        bail!("no plugin loaded: build them (cargo build --release) or set FERRITE_PLUGIN_PATH");
    }
    Ok(())
}

fn print_table(ops: &[OpSummary]) {
    println!(
        "{:<38} {:<10} {:>3} {:<6} {:<24} {:<4} API NAMES",
        "NAME", "PLUGIN", "VER", "DEVICE", "DTYPES", "BWD"
    );
    for o in ops {
        let api: Vec<&str> = o.names.iter().filter(|n| n.kind == "api").map(|n| n.name.as_str()).collect();
        println!(
            "{:<38} {:<10} {:>3} {:<6} {:<24} {:<4} {}",
            o.name,
            o.plugins.join(","),
            o.version,
            o.devices.join(","),
            o.dtypes.join(","),
            if o.backward { "yes" } else { "no" },
            api.join(", ")
        );
    }
}

fn print_show(o: &OpSummary) {
    println!("{} (v{}, id {})", o.name, o.version, o.id);
    println!("  {}", o.doc);
    println!("  plugins: {}", o.plugins.join(", "));
    for n in &o.names {
        match &n.replacement {
            Some(r) => println!("  name: {} [{}; use {}]", n.name, n.kind, r),
            None => println!("  name: {} [{}]", n.name, n.kind),
        }
    }
    println!("  inputs: {}", o.inputs.join(", "));
    println!("  outputs: {}", o.outputs.join(", "));
    println!("  attrs: {}", if o.attrs.is_empty() { "-".to_string() } else { o.attrs.join(", ") });
    println!("  kernels:");
    for k in &o.kernels {
        println!(
            "    {}/{:<5} {} {}  backward: {}",
            k.device,
            k.dtype,
            k.plugin,
            k.plugin_version,
            if k.backward { "yes" } else { "no" }
        );
    }
    println!("  (`?` optional, `...` variadic, `!` no gradient)");
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    load(&cli)?;
    let reg = Runtime::global().registry();
    for w in &reg.warnings {
        eprintln!("warning: {w}");
    }
    match &cli.cmd {
        Cmd::List { json } => {
            let ops = reg.summaries();
            if *json {
                println!("{}", serde_json::to_string_pretty(&ops)?);
            } else {
                print_table(&ops);
            }
        }
        Cmd::Show { name, json } => {
            let Some((id, _)) = reg.resolve(name) else {
                bail!("no loaded plugin exports `{name}` (see `ferrite-registry list`)");
            };
            let op = reg.op(id).context("op vanished")?;
            let s = OpSummary::of(&reg, op);
            if *json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print_show(&s);
            }
        }
    }
    Ok(())
}
