//! Finding, building and loading the plugins a command needs.

use anyhow::{Context, Result};
use ferrite_core::{discovery, Runtime};
use std::path::{Path, PathBuf};

/// Workspace packages of the default plugins, built on demand when running from a checkout.
const DEFAULT_PACKAGES: [&str; 3] = ["ferrite-ops-ref", "ferrite-model-spp-net", "ferrite-dataset-digits"];

/// When this binary runs from a cargo workspace checkout (and no `FERRITE_PLUGIN_PATH` is set),
/// builds the default plugin crates with this binary's profile, so `cargo run -- train` needs
/// nothing else. A no-op (well under a second) when they are up to date.
pub fn build_default_plugins_if_in_workspace() -> Result<()> {
    if std::env::var_os("FERRITE_PLUGIN_PATH").is_some() || std::env::var_os("FERRITE_NO_BUILD").is_some() {
        return Ok(());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Ok(exe) = std::env::current_exe() else { return Ok(()) };
    let Some(profile_dir) = exe.parent() else { return Ok(()) };
    // Only when the executable lives in this workspace's target directory.
    let target = root.join("target");
    let (Ok(target), Ok(profile_abs)) = (target.canonicalize(), profile_dir.canonicalize()) else { return Ok(()) };
    if profile_abs.parent() != Some(target.as_path()) {
        return Ok(());
    }
    let profile = profile_abs.file_name().and_then(|s| s.to_str()).unwrap_or("debug").to_string();
    let mut cmd = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build").arg("--quiet").current_dir(&root);
    if profile != "debug" {
        cmd.args(["--profile", &profile]);
    }
    for p in DEFAULT_PACKAGES {
        cmd.args(["-p", p]);
    }
    eprintln!("ferrite: building plugins ({}) ...", DEFAULT_PACKAGES.join(", "));
    let status = cmd.status().context("running cargo to build the plugins")?;
    anyhow::ensure!(status.success(), "building the default plugins failed (see cargo's output above)");
    Ok(())
}

/// Loads the default plugins (ops, model, dataset) from `extra` directories, then
/// `FERRITE_PLUGIN_PATH`, then beside this executable.
pub fn load_default_plugins(extra: &[PathBuf]) -> Result<()> {
    build_default_plugins_if_in_workspace()?;
    let rt = Runtime::global();
    for name in discovery::DEFAULT_PLUGINS {
        let path = discovery::find_plugin_in(name, extra)?;
        let report = rt.load_plugin(&path).with_context(|| format!("loading plugin {name}"))?;
        for w in report.warnings {
            eprintln!("ferrite warning: {w}");
        }
    }
    Ok(())
}

/// Prints every loaded plugin with what it exports (`ferrite plugins`).
pub fn print_plugins() {
    let rt = Runtime::global();
    println!("{:<16} {:<8} {:<8} {:>4}  {:<40} FILE", "PLUGIN", "VERSION", "SDK", "OPS", "MODELS / DATASETS");
    for p in rt.plugins() {
        let exports: Vec<String> = p
            .models
            .iter()
            .map(|m| m.name.to_string())
            .chain(p.datasets.iter().map(|d| d.name.to_string()))
            .collect();
        println!(
            "{:<16} {:<8} {:<8} {:>4}  {:<40} {}",
            p.meta.name,
            p.meta.version,
            p.meta.sdk_version,
            p.ops.len(),
            if exports.is_empty() { "-".to_string() } else { exports.join(", ") },
            p.meta.path.display()
        );
    }
}
