//! Starting the ranks: loading the comm and strategy plugins, building one process group per
//! rank living in this process, and running a function on each (one thread per local rank).

use super::config::ParallelConfig;
use anyhow::{Context, Result};
use ferrite_core::comm::ProcessGroup;
use ferrite_core::{discovery, Runtime};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Loads the plugin `name` (`comm-local`) unless a plugin of that name is loaded already.
///
/// # Errors
/// The plugin file cannot be found or loaded.
pub fn ensure_plugin(name: &str, extra: &[PathBuf]) -> Result<()> {
    let rt = Runtime::global();
    if rt.plugins().iter().any(|p| p.meta.name == name) {
        return Ok(());
    }
    crate::plugins::build_on_demand_plugin_if_in_workspace(name)?;
    let dirs: Vec<PathBuf> = extra.iter().filter(|p| p.is_dir()).cloned().collect();
    let path = discovery::find_plugin_in(name, &dirs).with_context(|| format!("finding plugin {name}"))?;
    rt.load_plugin(&path).with_context(|| format!("loading plugin {name}"))?;
    Ok(())
}

/// Makes sure some loaded plugin exports `export` (`comm.local`, `parallel.my_dp`): nothing to
/// do when one does (a third-party plugin loaded with `--plugin-path`), else the plugin file
/// named after it (`comm.local` → `comm-local`) is found and loaded.
///
/// # Errors
/// No loaded plugin exports it and no plugin file of that name can be found or loaded.
pub fn ensure_export(export: &str, extra: &[PathBuf]) -> Result<()> {
    let exported = Runtime::global()
        .plugins()
        .iter()
        .any(|p| p.comms.iter().any(|c| c.name.as_str() == export) || p.parallels.iter().any(|s| s.name.as_str() == export));
    if exported {
        return Ok(());
    }
    ensure_plugin(&export.replace('.', "-"), extra)
        .with_context(|| format!("no loaded plugin exports `{export}` (load a third-party one with --plugin-path)"))
}

/// The process groups of the ranks in this process: all `world_size` for `comm = "local"`
/// (and third-party backends), this process's one for `comm = "mpi"` (started by `mpirun`).
///
/// # Errors
/// Plugins missing, the backend refusing its config.
pub fn process_groups(cfg: &ParallelConfig, extra: &[PathBuf]) -> Result<Vec<Arc<ProcessGroup>>> {
    ensure_export(&cfg.comm_name(), extra)?;
    ensure_export(&cfg.strategy_name(), extra)?;
    let comms = Runtime::global().create_comm(&cfg.comm_name(), &cfg.comm_toml())?;
    let timeout = Duration::from_millis(cfg.timeout_ms);
    Ok(comms.into_iter().map(|c| Arc::new(ProcessGroup::new(c, timeout))).collect())
}

/// Runs `f` on every rank's state, each on its own thread (`(rank, state)` pairs), and
/// returns the results in the given order. A rank that fails drops its process group, so its
/// peers fail fast instead of waiting for the timeout.
pub fn run_ranks<S: Send, T: Send>(states: Vec<(u32, S)>, f: impl Fn(S) -> Result<T> + Sync) -> Vec<Result<T>> {
    if states.len() == 1 {
        let (rank, s) = states.into_iter().next().expect("one rank");
        return vec![with_rank(rank, f(s))];
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = states
            .into_iter()
            .map(|(rank, st)| {
                let f = &f;
                std::thread::Builder::new()
                    .name(format!("ferrite-rank-{rank}"))
                    .spawn_scoped(scope, move || with_rank(rank, f(st)))
                    .expect("spawning a rank thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a rank thread panicked"))))
            .collect()
    })
}

/// Prefixes an error with its rank, unless the message already starts with it (the core's
/// collective errors do).
fn with_rank<T>(rank: u32, r: Result<T>) -> Result<T> {
    r.map_err(|e| if format!("{e:#}").starts_with(&format!("rank {rank}:")) { e } else { e.context(format!("rank {rank}")) })
}

/// Every rank's value, or the error that most likely caused the others: a rank's own failure
/// is preferred over peers reporting that it left or timed out.
///
/// # Errors
/// The root-cause error, with its rank.
pub fn root_cause<T>(results: Vec<Result<T>>) -> Result<Vec<T>> {
    let secondary = |e: &anyhow::Error| {
        let m = format!("{e:#}");
        ["left the group", "left (its communicator was dropped)", "is broken by an earlier error", "communication thread"]
            .iter()
            .any(|k| m.contains(k))
    };
    let mut errors = Vec::new();
    let mut values = Vec::new();
    for r in results {
        match r {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return Ok(values);
    }
    let i = errors.iter().position(|e| !secondary(e)).unwrap_or(0);
    Err(errors.swap_remove(i))
}
