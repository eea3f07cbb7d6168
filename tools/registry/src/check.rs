//! `ferrite-registry check PATH.so`: loads the plugin in a child process (this executable
//! re-run as `__check-child`), so a crashing constructor or kernel cannot take the tool down.
//! The child prints one JSON line (ABI status, plugin, exports, conformance against ops-ref);
//! the parent prints a summary.

use crate::diff_cmd::snapshot_of;
use anyhow::{bail, Context, Result};
use ferrite_conformance::runner::{self, RunConfig, Status};
use ferrite_core::{discovery, Runtime};
use ferrite_registry::diff::PluginSnapshot;
use serde_json::{json, Value};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Default proptest cases per kernel for `check` (small: a smoke test, not a full run).
pub const DEFAULT_CASES: u32 = 16;

/// The child: loads `path`, runs conformance, prints its JSON report; returns the exit code (0).
pub fn child(path: &Path, cases: u32, reference: Option<&Path>) -> u8 {
    let report = match ferrite_core::loader::load(path) {
        Err(e) => json!({"loaded": false, "error": e.to_string()}),
        Ok(p) => {
            let snap = snapshot_of(&p);
            json!({
                "loaded": true,
                "plugin": {"name": snap.name, "version": snap.version, "sdk_version": snap.sdk_version},
                "exports": {
                    "ops": snap.ops.iter().map(|o| o.name.clone()).collect::<Vec<_>>(),
                    "models": snap.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
                    "datasets": snap.datasets.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
                },
                "conformance": conformance(path, &snap, &p.meta.sha256, cases, reference)
                    .unwrap_or_else(|e| json!({"status": "error", "error": format!("{e:#}")})),
            })
        }
    };
    println!("{report}");
    0
}

/// Runs the plugin's kernels against the reference (`status`: pass, fail or reference).
fn conformance(path: &Path, snap: &PluginSnapshot, sha: &str, cases: u32, reference: Option<&Path>) -> Result<Value> {
    let rt = Runtime::global();
    let reference: PathBuf = match reference {
        Some(p) => p.to_path_buf(),
        None => {
            ferrite_host::plugins::build_default_plugins_if_in_workspace()?;
            discovery::find_plugin("ops-ref")?
        }
    };
    let r = rt.load_plugin(&reference).with_context(|| format!("loading the reference {}", reference.display()))?;
    if snap.name == r.plugin.name {
        if sha == r.plugin.sha256 {
            return Ok(json!({"status": "reference", "kernels": 0, "failed": []}));
        }
        bail!("the plugin is named `{}` like the reference: nothing to compare it against", snap.name);
    }
    rt.load_plugin(path)?;
    let cfg = RunConfig { reference: r.plugin.name.clone(), cases, ..RunConfig::new(&snap.name) };
    let rep = runner::run(&cfg).map_err(anyhow::Error::msg)?;
    let failed: Vec<String> = rep
        .rows
        .iter()
        .filter(|row| row.status.is_fail())
        .map(|row| format!("{} {}/{}", row.op, row.device, row.dtype.short()))
        .collect();
    let untested = rep.rows.iter().filter(|row| matches!(row.status, Status::Untested(_))).count();
    Ok(json!({
        "status": if rep.passed() { "pass" } else { "fail" },
        "kernels": rep.rows.len(),
        "untested": untested,
        "cases": cases,
        "failed": failed,
    }))
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// The parent: runs the child, prints a summary (or the child's JSON with `json`); returns the
/// exit code: 0 loaded and conformant, 1 crashed / not loadable / not conformant, 2 tool error.
pub fn run(path: &Path, cases: u32, reference: Option<&Path>, as_json: bool) -> u8 {
    match run_child(path, cases, reference, as_json) {
        Ok(ok) => u8::from(!ok),
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn run_child(path: &Path, cases: u32, reference: Option<&Path>, as_json: bool) -> Result<bool> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("__check-child").arg(path).arg("--cases").arg(cases.to_string());
    if let Some(r) = reference {
        cmd.arg("--reference").arg(r);
    }
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::inherit()).output().context("running the check child")?;
    println!("file: {}", path.display());
    if let Some(sig) = out.status.signal() {
        println!("crashed: the plugin killed the loading process with signal {sig} ({})", signal_name(sig));
        return Ok(false);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Option<Value> = stdout.lines().rev().find(|l| l.starts_with('{')).and_then(|l| serde_json::from_str(l).ok());
    let Some(v) = report.filter(|_| out.status.success()) else {
        println!("crashed: the loading process exited with {} without a report", out.status);
        return Ok(false);
    };
    if as_json {
        println!("{v}");
    }
    if v["loaded"] != true {
        println!("abi: error: {}", v["error"].as_str().unwrap_or("unknown loader error"));
        return Ok(false);
    }
    let p = &v["plugin"];
    println!("abi: loaded (compatible with this host)");
    println!("plugin: {} {} (ferrite-sdk {})", p["name"].as_str().unwrap_or("?"), p["version"].as_str().unwrap_or("?"), p["sdk_version"].as_str().unwrap_or("?"));
    let count = |k: &str| v["exports"][k].as_array().map_or(0, Vec::len);
    println!("exports: {} ops, {} models, {} datasets", count("ops"), count("models"), count("datasets"));
    let c = &v["conformance"];
    let status = c["status"].as_str().unwrap_or("error");
    match status {
        "reference" => println!("conformance: reference plugin (not compared with itself)"),
        "error" => println!("conformance: error: {}", c["error"].as_str().unwrap_or("?")),
        _ => {
            println!("conformance: {status} ({} kernels, {} untested, {cases} cases each)", c["kernels"], c["untested"]);
            for f in c["failed"].as_array().into_iter().flatten() {
                println!("  failed: {}", f.as_str().unwrap_or("?"));
            }
        }
    }
    Ok(status == "pass" || status == "reference")
}
