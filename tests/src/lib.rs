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

/// Newest modification time of any file under `dir`.
fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let t = if p.is_dir() { newest_mtime(&p) } else { e.metadata().ok()?.modified().ok() };
        newest = newest.max(t);
    }
    newest
}

/// Workspace folder of a plugin crate used by the tests.
fn crate_dir(crate_name: &str) -> Option<PathBuf> {
    let rel = match crate_name {
        "ferrite-ops-ref" => "plugins/ops-ref",
        "ferrite-ops-cpu" => "plugins/ops-cpu",
        "ferrite-model-spp-net" => "plugins/models/spp-net",
        "ferrite-dataset-digits" => "plugins/datasets/digits",
        "ferrite-comm-local" => "plugins/comm/local",
        "ferrite-comm-mpi" => "plugins/comm/mpi",
        "ferrite-parallel-ddp" => "plugins/parallel/ddp",
        "ferrite-parallel-zero" => "plugins/parallel/zero",
        "ferrite-test-swap-v1" => "tests/fixtures/swap-v1",
        "ferrite-test-swap-v2" => "tests/fixtures/swap-v2",
        "ferrite-test-abi-mismatch" => "tests/fixtures/abi-mismatch",
        "ferrite-test-sdk-major" => "tests/fixtures/sdk-major",
        "ferrite-test-broken-ops" => "tests/fixtures/broken-ops",
        "ferrite-test-broken-ops-v2" => "tests/fixtures/broken-ops-v2",
        "ferrite-test-versions-v2" => "tests/fixtures/versions-v2",
        _ => return None,
    };
    Some(workspace_root().join(rel))
}

/// Path of a workspace plugin's `.so` (`lib<crate_name>.so`), (re)building it with the test's
/// profile when it is missing or older than its sources (the tests crate cannot depend on
/// cdylib plugins, so cargo does not rebuild them for it).
pub fn plugin_path(crate_name: &str) -> PathBuf {
    let file = format!("lib{}.so", crate_name.replace('-', "_"));
    let dir = target_dir();
    let sources = [crate_dir(crate_name), Some(workspace_root().join("sdk"))];
    let newest_src = sources.iter().flatten().filter_map(|d| newest_mtime(d)).max();
    let mut cands: Vec<PathBuf> = [dir.join(&file), dir.join("deps").join(&file)].into_iter().filter(|c| c.exists()).collect();
    cands.sort_by_key(|c| std::fs::metadata(c).and_then(|m| m.modified()).ok());
    if let Some(c) = cands.last() {
        let built = std::fs::metadata(c).and_then(|m| m.modified()).ok();
        if built.is_some() && built >= newest_src {
            return c.clone();
        }
    }
    let profile = dir.file_name().and_then(|s| s.to_str()).unwrap_or("debug").to_string();
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(["build", "-q", "-p", crate_name]).current_dir(workspace_root());
    if profile != "debug" {
        cmd.args(["--profile", &profile]);
    }
    let status = cmd.status().expect("run cargo build for a plugin");
    assert!(status.success(), "building {crate_name} failed");
    [dir.join(&file), dir.join("deps").join(&file)]
        .into_iter()
        .filter(|c| c.exists())
        .max_by_key(|c| std::fs::metadata(c).and_then(|m| m.modified()).ok())
        .expect("plugin built")
}

/// The `ferrite` binary beside this test's target dir, built once per test binary (the tests
/// crate cannot depend on a binary, so cargo does not build it for us).
pub fn ferrite_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = target_dir();
            let profile = dir.file_name().and_then(|s| s.to_str()).unwrap_or("debug").to_string();
            let mut cmd = std::process::Command::new(env!("CARGO"));
            cmd.args(["build", "-q", "-p", "ferrite-host"]).current_dir(workspace_root());
            if profile != "debug" {
                cmd.args(["--profile", &profile]);
            }
            assert!(cmd.status().expect("run cargo build").success(), "building ferrite failed");
            dir.join("ferrite")
        })
        .clone()
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

/// Loads ops-ref and then ops-cpu (whose kernels win where it has them) once per process.
pub fn with_ops_cpu() -> ferrite_sdk::Host {
    static LOADED: OnceLock<()> = OnceLock::new();
    let host = with_ops_ref();
    LOADED.get_or_init(|| {
        Runtime::global().load_plugin(&plugin_path("ferrite-ops-cpu")).expect("load ops-cpu");
    });
    host
}

/// Reads a field case from `tests/cases/<id>.json` (the project's copy of the shared cases).
pub fn field_case(id: &str) -> serde_json::Value {
    let p = workspace_root().join("tests").join("cases").join(format!("{id}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).expect("field case is JSON")
}

/// Name of the plugin whose kernel dispatch uses for `op` on the cpu with `dtype`.
pub fn provider_of(op: &str, dtype: ferrite_sdk::DType) -> String {
    let reg = Runtime::global().registry();
    let (id, _) = reg.resolve(op).unwrap_or_else(|| panic!("{op} not registered"));
    let entry = reg.op(id).expect("op entry");
    let slot = entry.kernel(ferrite_sdk::abi::dtype::device_type::CPU, dtype).unwrap_or_else(|| panic!("no {op} kernel for {dtype}"));
    reg.plugins[entry.providers[slot.provider].plugin].name.clone()
}
