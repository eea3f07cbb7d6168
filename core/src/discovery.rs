//! Finding plugin files: `FERRITE_PLUGIN_PATH` (colon-separated directories) first, then the
//! directory of the running executable (where cargo puts workspace plugins).

use crate::error::{CoreError, Result};
use std::path::{Path, PathBuf};

/// The directories named by `FERRITE_PLUGIN_PATH` (colon-separated), in order.
pub fn env_dirs() -> Vec<PathBuf> {
    std::env::var_os("FERRITE_PLUGIN_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default()
}

/// Directories searched for plugins, in order.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs = env_dirs();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        dirs.push(exe_dir);
    }
    dirs
}

/// File names a plugin name may have: `ops-ref` → `libferrite_ops_ref.so`, `libops_ref.so`,
/// `ops-ref.so`; a name ending in `.so` is taken as is.
pub fn candidate_files(name: &str) -> Vec<String> {
    if name.ends_with(".so") {
        return vec![name.to_string()];
    }
    let snake = name.replace('-', "_");
    let mut v = vec![format!("lib{snake}.so")];
    if !snake.starts_with("ferrite_") {
        v.insert(0, format!("libferrite_{snake}.so"));
    }
    v.push(format!("{name}.so"));
    v
}

/// Resolves a plugin given as a path (contains `/`) or a name searched in [`search_path`].
pub fn find_plugin(name: &str) -> Result<PathBuf> {
    find_plugin_in(name, &[])
}

/// Like [`find_plugin`], searching `extra` directories first.
pub fn find_plugin_in(name: &str, extra: &[PathBuf]) -> Result<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if p.exists() {
            Ok(p)
        } else {
            Err(CoreError::Plugin { path: name.to_string(), msg: "no such file".into() })
        };
    }
    let mut dirs = extra.to_vec();
    dirs.extend(search_path());
    for d in &dirs {
        for f in candidate_files(name) {
            let p = d.join(&f);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(CoreError::Plugin {
        path: name.to_string(),
        msg: format!(
            "not found in {} (build the plugins with `cargo build --release --workspace`, or set FERRITE_PLUGIN_PATH)",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_file_names() {
        assert_eq!(candidate_files("ops-ref")[0], "libferrite_ops_ref.so");
        assert_eq!(candidate_files("ferrite-ops-ref")[0], "libferrite_ops_ref.so");
        assert_eq!(candidate_files("x.so"), vec!["x.so"]);
    }
}

/// The plugins a host loads when none are named, in load order: the reference ops, the fast CPU
/// ops (after ops-ref, so their kernels win), the SPP-net model, the digits dataset, the
/// in-process comm backend and the DDP and ZeRO strategies. (`comm-mpi` is loaded only when
/// asked for: it maps Open MPI.)
pub const DEFAULT_PLUGINS: [&str; 7] =
    ["ops-ref", "ops-cpu", "model-spp-net", "dataset-digits", "comm-local", "parallel-ddp", "parallel-zero"];
