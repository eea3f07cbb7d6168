//! Finding, building and loading the plugins a command needs.

use anyhow::{Context, Result};
use ferrite_core::{discovery, Runtime};
use std::path::{Path, PathBuf};

/// Newest modification time of the files under `dir` (recursively).
fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let t = if p.is_dir() { newest_mtime(&p) } else { e.metadata().ok()?.modified().ok() };
        newest = newest.max(t);
    }
    newest
}

/// Whether every plugin of `names` exists in `dir` and is newer than the sources it is built from.
fn plugins_fresh(root: &Path, dir: &Path, names: &[&str]) -> bool {
    let sources = ["sdk", "plugins"].iter().filter_map(|d| newest_mtime(&root.join(d))).max();
    names.iter().all(|name| {
        let file = dir.join(&discovery::candidate_files(name)[0]);
        let built = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
        built.is_some() && built >= sources
    })
}

/// `(workspace root, target dir, profile dir)` when this binary runs from a cargo workspace
/// checkout's target directory (`target/`, or `CARGO_TARGET_DIR` as cargo itself reads it) and
/// plugins may be built (no `FERRITE_PLUGIN_PATH`, no `FERRITE_NO_BUILD`).
fn workspace_build_dirs() -> Option<(PathBuf, PathBuf, PathBuf)> {
    if std::env::var_os("FERRITE_PLUGIN_PATH").is_some() || std::env::var_os("FERRITE_NO_BUILD").is_some() {
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let exe = std::env::current_exe().ok()?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| root.join("target"));
    let (target, profile_dir) = (target.canonicalize().ok()?, exe.parent()?.canonicalize().ok()?);
    (profile_dir.parent() == Some(target.as_path())).then_some((root, target, profile_dir))
}

/// Builds the workspace plugins `names` (package `ferrite-<name>`) with this binary's profile
/// when running from a checkout and any is missing or older than its sources.
fn build_in_workspace(names: &[&str]) -> Result<()> {
    let Some((root, target, profile_dir)) = workspace_build_dirs() else { return Ok(()) };
    if plugins_fresh(&root, &profile_dir, names) {
        return Ok(());
    }
    let packages: Vec<String> = names.iter().map(|n| format!("ferrite-{n}")).collect();
    let profile = profile_dir.file_name().and_then(|s| s.to_str()).unwrap_or("debug").to_string();
    let mut cmd = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // The canonical target directory: a relative CARGO_TARGET_DIR would resolve against `root`.
    cmd.arg("build").arg("--quiet").current_dir(&root).env("CARGO_TARGET_DIR", &target);
    if profile != "debug" {
        cmd.args(["--profile", &profile]);
    }
    for p in &packages {
        cmd.args(["-p", p]);
    }
    eprintln!("ferrite: building plugins ({}) ...", packages.join(", "));
    let status = cmd.status().context("running cargo to build the plugins")?;
    anyhow::ensure!(status.success(), "building the plugins {} failed (see cargo's output above)", packages.join(", "));
    Ok(())
}

/// When this binary runs from a cargo workspace checkout's target directory (`target/`, or
/// `CARGO_TARGET_DIR`) and no `FERRITE_PLUGIN_PATH` is set, builds the default plugin crates
/// with this binary's profile if they are missing or older than their sources, so
/// `cargo run -- train` needs nothing else.
pub fn build_default_plugins_if_in_workspace() -> Result<()> {
    build_in_workspace(&discovery::DEFAULT_PLUGINS)
}

/// Plugins of the workspace that are loaded only when asked for (not default plugins).
const ON_DEMAND: [&str; 1] = ["comm-mpi"];

/// Before loading plugin `name` on demand (`comm-mpi` for `--comm mpi`): builds it as
/// [`build_default_plugins_if_in_workspace`] builds the defaults, when it is a workspace plugin.
///
/// # Errors
/// cargo fails to build it.
pub fn build_on_demand_plugin_if_in_workspace(name: &str) -> Result<()> {
    if ON_DEMAND.contains(&name) {
        build_in_workspace(&[name])?;
    }
    Ok(())
}

/// Loads every `.so` in the `FERRITE_PLUGIN_PATH` directories and in `extra` directories
/// (third-party plugins), in that order.
pub fn load_path_plugins(extra: &[PathBuf]) -> Result<()> {
    let rt = Runtime::global();
    for dir in discovery::env_dirs().iter().chain(extra) {
        // `--plugin-path` may name a plugin file as well as a directory.
        let reports = if dir.is_file() { vec![rt.load_plugin(dir)?] } else { rt.load_dir(dir, "")? };
        for report in reports {
            for w in report.warnings {
                eprintln!("ferrite warning: {w}");
            }
        }
    }
    Ok(())
}

/// Loads the default plugins (ops, model, dataset) from `extra` directories, then
/// `FERRITE_PLUGIN_PATH`, then beside this executable; then every other plugin found in
/// `FERRITE_PLUGIN_PATH` and `extra`.
pub fn load_default_plugins(extra: &[PathBuf]) -> Result<()> {
    load_default_plugins_with(extra, crate::config::OpsKind::Cpu)
}

/// [`load_default_plugins`] choosing the op library (`ops-cpu` is skipped for
/// [`crate::config::OpsKind::Ref`]).
pub fn load_default_plugins_with(extra: &[PathBuf], ops: crate::config::OpsKind) -> Result<()> {
    build_default_plugins_if_in_workspace()?;
    let rt = Runtime::global();
    for name in discovery::DEFAULT_PLUGINS {
        if name == "ops-cpu" && ops == crate::config::OpsKind::Ref {
            continue;
        }
        let dirs: Vec<PathBuf> = extra.iter().filter(|p| p.is_dir()).cloned().collect();
        let path = discovery::find_plugin_in(name, &dirs)?;
        let report = rt.load_plugin(&path).with_context(|| format!("loading plugin {name}"))?;
        anyhow::ensure!(
            report.plugin.name == name,
            "{} is plugin `{}`, not the expected `{name}`",
            path.display(),
            report.plugin.name
        );
        for w in report.warnings {
            eprintln!("ferrite warning: {w}");
        }
    }
    load_path_plugins(extra)
}

/// Prints every loaded plugin with what it exports (`ferrite plugins`).
pub fn print_plugins() {
    let rt = Runtime::global();
    println!("{:<16} {:<8} {:<8} {:>4}  {:<40} FILE", "PLUGIN", "VERSION", "SDK", "OPS", "MODELS / DATASETS / COMM / PARALLEL");
    for p in rt.plugins() {
        let exports: Vec<String> = p
            .models
            .iter()
            .map(|m| m.name.to_string())
            .chain(p.datasets.iter().map(|d| d.name.to_string()))
            .chain(p.comms.iter().map(|c| c.name.to_string()))
            .chain(p.parallels.iter().map(|s| s.name.to_string()))
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
