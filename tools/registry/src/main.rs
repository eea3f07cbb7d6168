//! `ferrite-registry` — what a host can do: every exported op name with its plugin, version,
//! devices, dtypes and backward; `show NAME` for one op's schema and kernels.
//!
//! Each kernel shows its conformance status (`pass`, `fail`, `untested`; `reference` for
//! ops-ref itself), looked up by the plugin file's SHA-256 in the database `ferrite
//! conformance` writes (`$FERRITE_CONFORMANCE_DB`, else `~/.cache/ferrite/conformance.json`).
//!
//! `diff OLD.so NEW.so` compares two builds' exports; `check PATH.so` loads one in a child
//! process and runs its kernels against ops-ref (see [`diff_cmd`] and [`check`]).
//!
//! Plugins: the defaults (`ops-ref`, `model-spp-net`, `dataset-digits`) found on
//! `FERRITE_PLUGIN_PATH` or beside this executable, plus any `--plugin NAME|PATH`.

mod check;
mod diff_cmd;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ferrite_core::{discovery, Runtime};
use ferrite_conformance::record::{self, Db};
use ferrite_registry::{ConformanceStatus, OpSummary};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ferrite-registry", version, about = "List Ferrite's exported op names and their kernels")]
struct Cli {
    /// Plugin to load (a name searched on FERRITE_PLUGIN_PATH, or a path); repeatable. `list`
    /// then shows only the kernels of the plugins given this way.
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
        /// Only kernels for this device type (`cpu`, `cuda`).
        #[arg(long)]
        device: Option<String>,
    },
    /// One op by any of its names: schema, names, kernels. A bare name shows every loaded
    /// version of the op; `name@N` shows version N only.
    Show {
        /// Canonical name, API name, alias or deprecated name, optionally with `@N` (a version).
        name: String,
        /// JSON instead of text (an object; an array of objects when several versions are shown).
        #[arg(long)]
        json: bool,
    },
    /// What changed between two builds of a plugin: exported names, op versions, schemas,
    /// kernel coverage, models, datasets, plugin and sdk versions, ABI compatibility.
    ///
    /// Loads both files' descriptors without registering them. Exit status: 0 identical,
    /// 1 different, 2 error (e.g. a file that does not load; the error is reported).
    Diff {
        /// The old build (`.so`).
        old: PathBuf,
        /// The new build (`.so`).
        new: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Loads a plugin in a child process (a crash cannot take this tool down) and reports its
    /// ABI status, name, versions, exports and the conformance of its kernels against ops-ref.
    ///
    /// Exit status: 0 loaded and conformant, 1 crashed (signal reported), failed to load or
    /// failed conformance, 2 error of this tool.
    Check {
        /// The plugin file (`.so`).
        path: PathBuf,
        /// Proptest cases per kernel.
        #[arg(long, default_value_t = check::DEFAULT_CASES)]
        cases: u32,
        /// Reference plugin (default: ops-ref, found like the default plugins).
        #[arg(long)]
        reference: Option<PathBuf>,
        /// Also print the child's JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Internal: the child process of `check`.
    #[command(name = "__check-child", hide = true)]
    CheckChild {
        path: PathBuf,
        #[arg(long, default_value_t = check::DEFAULT_CASES)]
        cases: u32,
        #[arg(long)]
        reference: Option<PathBuf>,
    },
}

/// Loads the plugins and returns the names of those given with `--plugin`.
fn load(cli: &Cli) -> Result<Vec<String>> {
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
    let mut named = Vec::new();
    for name in &cli.plugins {
        let p = discovery::find_plugin(name)?;
        named.push(rt.load_plugin(&p).with_context(|| format!("loading {name}"))?.plugin.name.clone());
    }
    if rt.plugins().is_empty() {
        bail!("no plugin loaded: build them (cargo build --release) or set FERRITE_PLUGIN_PATH");
    }
    Ok(named)
}

/// Keeps only the kernels of `plugins` (all when empty) on `device` (all when `None`); `None`
/// when nothing is left. Coverage fields are recomputed from the kept kernels.
fn filter_summary(mut o: OpSummary, plugins: &[String], device: Option<&str>) -> Option<OpSummary> {
    if plugins.is_empty() && device.is_none() {
        return Some(o);
    }
    o.kernels.retain(|k| (plugins.is_empty() || plugins.contains(&k.plugin)) && device.is_none_or(|d| k.device == d));
    if o.kernels.is_empty() {
        return None;
    }
    let uniq = |v: Vec<String>| {
        let mut out: Vec<String> = Vec::new();
        for x in v {
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    };
    o.plugins = uniq(o.kernels.iter().map(|k| k.plugin.clone()).collect());
    o.devices = uniq(o.kernels.iter().map(|k| k.device.clone()).collect());
    o.dtypes = uniq(o.kernels.iter().map(|k| k.dtype.clone()).collect());
    o.backward = o.kernels.iter().all(|k| k.backward);
    Some(o)
}

/// Fills each kernel's conformance status from `db`.
fn add_conformance(ops: &mut [OpSummary], db: &Db) {
    for o in ops.iter_mut() {
        let name = o.name.clone();
        for k in o.kernels.iter_mut() {
            k.conformance = Some(if k.plugin == "ops-ref" {
                ConformanceStatus { status: "reference".into(), date: None, cases: None }
            } else {
                match db.lookup(&k.plugin_sha256, &name, &k.device, &k.dtype) {
                    Some(r) => ConformanceStatus { status: r.status.clone(), date: Some(r.date.clone()), cases: Some(r.cases) },
                    None => ConformanceStatus { status: "untested".into(), date: None, cases: None },
                }
            });
        }
    }
}

/// One word when every kernel agrees, else `dtype:status` per kernel.
fn conformance_column(o: &OpSummary) -> String {
    let st: Vec<&str> = o.kernels.iter().map(|k| k.conformance.as_ref().map_or("untested", |c| c.status.as_str())).collect();
    if !st.is_empty() && st.iter().all(|s| *s == st[0]) {
        return st[0].to_string();
    }
    o.kernels.iter().zip(&st).map(|(k, s)| format!("{}:{s}", k.dtype)).collect::<Vec<_>>().join(",")
}

fn print_table(ops: &[OpSummary]) {
    println!(
        "{:<38} {:<10} {:>3} {:<6} {:<24} {:<4} {:<11} API NAMES",
        "NAME", "PLUGIN", "VER", "DEVICE", "DTYPES", "BWD", "CONFORMANCE"
    );
    for o in ops {
        let api: Vec<&str> = o.names.iter().filter(|n| n.kind == "api").map(|n| n.name.as_str()).collect();
        println!(
            "{:<38} {:<10} {:>3} {:<6} {:<24} {:<4} {:<11} {}",
            o.name,
            o.plugins.join(","),
            o.version,
            o.devices.join(","),
            o.dtypes.join(","),
            if o.backward { "yes" } else { "no" },
            conformance_column(o),
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
        let conf = match &k.conformance {
            Some(ConformanceStatus { status, date: Some(d), cases: Some(n) }) => format!("{status} ({n} cases, {d})"),
            Some(c) => c.status.clone(),
            None => "untested".into(),
        };
        println!(
            "    {}/{:<5} {} {}  backward: {}  conformance: {conf}",
            k.device,
            k.dtype,
            k.plugin,
            k.plugin_version,
            if k.backward { "yes" } else { "no" }
        );
    }
    println!("  (`?` optional, `...` variadic, `!` no gradient)");
}

/// Under the op table: what the plugins (those named with `--plugin`, else all loaded) export
/// besides ops — models, datasets, comm backends, parallel strategies — so a plugin without
/// ops does not look empty.
fn print_other_exports(named: &[String]) {
    let mut lines = Vec::new();
    for p in Runtime::global().plugins() {
        if !named.is_empty() && !named.contains(&p.meta.name) {
            continue;
        }
        let mut parts = Vec::new();
        let mut add = |what: &str, names: Vec<&str>| {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        };
        add("models", p.models.iter().map(|d| d.name.as_str()).collect());
        add("datasets", p.datasets.iter().map(|d| d.name.as_str()).collect());
        add("comm backends", p.comms.iter().map(|d| d.name.as_str()).collect());
        add("parallel strategies", p.parallels.iter().map(|d| d.name.as_str()).collect());
        if !parts.is_empty() {
            lines.push(format!("  {} {}: {}", p.meta.name, p.meta.version, parts.join("; ")));
        }
    }
    if !lines.is_empty() {
        println!("other exports:");
        for l in lines {
            println!("{l}");
        }
    }
}

fn main() -> std::process::ExitCode {
    ferrite_host::restore_sigpipe();
    let cli = Cli::parse();
    let code = match &cli.cmd {
        Cmd::Diff { old, new, json } => Some(diff_cmd::run(old, new, *json)),
        Cmd::Check { path, cases, reference, json } => Some(check::run(path, *cases, reference.as_deref(), *json)),
        Cmd::CheckChild { path, cases, reference } => Some(check::child(path, *cases, reference.as_deref())),
        _ => None,
    };
    if let Some(code) = code {
        return std::process::ExitCode::from(code);
    }
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let named = load(&cli)?;
    let reg = Runtime::global().registry();
    for w in &reg.warnings {
        eprintln!("warning: {w}");
    }
    let db_path = record::default_path();
    let db = Db::load(&db_path).unwrap_or_else(|e| {
        eprintln!("warning: conformance database ignored: {e}");
        Db::default()
    });
    match &cli.cmd {
        Cmd::List { json, device } => {
            let mut ops: Vec<OpSummary> =
                reg.summaries().into_iter().filter_map(|o| filter_summary(o, &named, device.as_deref())).collect();
            add_conformance(&mut ops, &db);
            if *json {
                println!("{}", serde_json::to_string_pretty(&ops)?);
            } else {
                print_table(&ops);
                print_other_exports(&named);
            }
        }
        Cmd::Show { name, json } => {
            let (base, explicit) = ferrite_registry::split_version(name);
            let Some((id, _)) = reg.resolve(name) else {
                let versions = reg.versions_of(base);
                if explicit.is_some() && !versions.is_empty() {
                    let list: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
                    bail!("`{base}` has no loaded version {} (loaded versions: {})", explicit.unwrap_or(0), list.join(", "));
                }
                bail!("no loaded plugin exports `{name}` (see `ferrite-registry list`)");
            };
            let op = reg.op(id).context("op vanished")?;
            let entries = if explicit.is_some() { vec![op] } else { reg.op_versions(&op.name) };
            let mut s: Vec<OpSummary> = entries.into_iter().map(|o| OpSummary::of(&reg, o)).collect();
            add_conformance(&mut s, &db);
            if *json {
                if s.len() == 1 {
                    println!("{}", serde_json::to_string_pretty(&s[0])?);
                } else {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                }
            } else {
                for (i, o) in s.iter().enumerate() {
                    if i > 0 {
                        println!();
                    }
                    print_show(o);
                }
            }
        }
        Cmd::Diff { .. } | Cmd::Check { .. } | Cmd::CheckChild { .. } => unreachable!("handled in main"),
    }
    Ok(())
}
