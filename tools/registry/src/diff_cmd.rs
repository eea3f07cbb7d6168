//! `ferrite-registry diff OLD.so NEW.so [--json]`: loads both files' descriptors with the core
//! loader (without registering them with the dispatcher) and reports what changed.

use ferrite_registry::diff::{diff, Export, OpSnapshot, PluginDiff, PluginSnapshot};
use ferrite_core::loader::LoadedPlugin;
use serde_json::json;
use std::path::Path;

/// Loads `path` and snapshots what it exports; the error is the loader's one line.
pub fn snapshot(path: &Path) -> Result<PluginSnapshot, String> {
    ferrite_core::loader::load(path).map(|p| snapshot_of(&p)).map_err(|e| e.to_string())
}

/// Snapshot of what a loaded plugin exports.
pub fn snapshot_of(p: &LoadedPlugin) -> PluginSnapshot {
    let export = |name: &str, version: u32| Export { name: name.into(), version };
    PluginSnapshot {
        name: p.meta.name.clone(),
        version: p.meta.version.clone(),
        sdk_version: p.meta.sdk_version.clone(),
        ops: OpSnapshot::all(p.ops),
        models: p.models.iter().map(|m| export(m.name.as_str(), m.version)).collect(),
        datasets: p.datasets.iter().map(|d| export(d.name.as_str(), d.version)).collect(),
    }
}

fn abi(r: &Result<PluginSnapshot, String>) -> String {
    match r {
        Ok(_) => "compatible".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// Runs the comparison; returns the exit code (0 identical, 1 different, 2 error).
pub fn run(old: &Path, new: &Path, as_json: bool) -> u8 {
    let (a, b) = (snapshot(old), snapshot(new));
    let d: Option<PluginDiff> = match (&a, &b) {
        (Ok(a), Ok(b)) => Some(diff(a, b)),
        _ => None,
    };
    if as_json {
        let side = |p: &Path, r: &Result<PluginSnapshot, String>| {
            json!({
                "path": p.display().to_string(),
                "abi": if r.is_ok() { "compatible" } else { "error" },
                "error": r.as_ref().err(),
                "plugin": r.as_ref().ok().map(|s| json!({"name": s.name, "version": s.version, "sdk_version": s.sdk_version})),
            })
        };
        let out = json!({
            "old": side(old, &a),
            "new": side(new, &b),
            "identical": d.as_ref().map(PluginDiff::is_empty),
            "diff": d,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("old: {} ({})", old.display(), abi(&a));
        println!("new: {} ({})", new.display(), abi(&b));
        match &d {
            Some(d) if d.is_empty() => println!("identical exports"),
            Some(d) => d.lines().iter().for_each(|l| println!("{l}")),
            None => {}
        }
    }
    match d {
        None => 2,
        Some(d) if d.is_empty() => 0,
        Some(_) => 1,
    }
}
