//! Shared helpers for the cross-crate test suites: finding built plugins, loading them once,
//! reading field cases.

use ferrite_core::Runtime;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `target/<profile>` of the running test binary (tests live in `target/<profile>/deps`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Path of a workspace plugin's `.so` (`lib<crate_name>.so`), building it if missing.
pub fn plugin_path(crate_name: &str) -> PathBuf {
    let file = format!("lib{}.so", crate_name.replace('-', "_"));
    let dir = target_dir();
    for cand in [dir.join(&file), dir.join("deps").join(&file)] {
        if cand.exists() {
            return cand;
        }
    }
    // Not built yet (e.g. a single test target was built): build it with the same profile.
    let profile = dir.file_name().and_then(|s| s.to_str()).unwrap_or("debug").to_string();
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(["build", "-q", "-p", crate_name]).current_dir(workspace_root());
    if profile != "debug" {
        cmd.args(["--profile", &profile]);
    }
    let status = cmd.status().expect("run cargo build for a plugin");
    assert!(status.success(), "building {crate_name} failed");
    dir.join(&file)
}

/// Root of the workspace.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Loads ops-ref once per test process and returns the sdk host.
pub fn with_ops_ref() -> ferrite_sdk::Host {
    static LOADED: OnceLock<()> = OnceLock::new();
    LOADED.get_or_init(|| {
        Runtime::global().load_plugin(&plugin_path("ferrite-ops-ref")).expect("load ops-ref");
    });
    ferrite_core::host()
}

/// Reads a field case from `../shared/cases/<id>.json`.
pub fn field_case(id: &str) -> serde_json::Value {
    let p = workspace_root().join("..").join("shared").join("cases").join(format!("{id}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).expect("field case is JSON")
}
