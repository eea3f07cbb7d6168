//! `ferrite collectives`: checks a communication backend's collectives against their
//! definitions and measures all-reduce bandwidth, like NVIDIA's nccl-tests.
//!
//! `comm.local` runs every rank as a thread of this process; `comm.mpi` runs one rank per
//! process under `mpirun -np N`. Every rank drives its own core [`ProcessGroup`]
//! (`ferrite_core::comm`) through the same sequence; rank 0 prints.

mod args;
mod bench;
mod check;

pub use args::{parse_size, CollectivesArgs};
pub use bench::{bus_bandwidth, BenchRow};

use anyhow::{anyhow, Context, Result};
use ferrite_core::comm::ProcessGroup;
use ferrite_core::{discovery, Runtime};
use std::path::PathBuf;
use std::time::Duration;

/// What one rank did: `None` when it left on purpose (`--simulate-failure`).
type RankOutcome = Result<Option<Vec<BenchRow>>>;

/// Loads the plugin exporting `comm` (`comm.mpi` → plugin `comm-mpi`), from `--plugin-path`
/// files or directories first, then the usual search path.
fn load_comm_plugin(comm: &str, extra: &[PathBuf]) -> Result<()> {
    let rt = Runtime::global();
    for p in extra.iter().filter(|p| p.is_file()) {
        rt.load_plugin(p).with_context(|| format!("loading {}", p.display()))?;
    }
    if rt.plugins().iter().any(|p| p.comms.iter().any(|c| c.name.as_str() == comm)) {
        return Ok(());
    }
    let plugin = comm.replace('.', "-");
    crate::plugins::build_on_demand_plugin_if_in_workspace(&plugin)?;
    let dirs: Vec<PathBuf> = extra.iter().filter(|p| p.is_dir()).cloned().collect();
    let path = discovery::find_plugin_in(&plugin, &dirs).with_context(|| format!("finding the plugin of `{comm}`"))?;
    let report = rt.load_plugin(&path).with_context(|| format!("loading plugin {plugin}"))?;
    for w in report.warnings {
        eprintln!("ferrite warning: {w}");
    }
    Ok(())
}

/// One rank's whole run: value checks, then the timed all-reduces.
fn run_rank(pg: ProcessGroup, args: &CollectivesArgs, own_process: bool) -> RankOutcome {
    let fail_here = args.simulate_failure == Some(pg.rank());
    let left = check::check_all(&pg, || {
        if !fail_here {
            return false;
        }
        eprintln!("rank {}: --simulate-failure: leaving abruptly after the first check", pg.rank());
        if own_process {
            // Like a crash: `_exit` skips atexit hooks (no MPI_Finalize), so the peers see a
            // process that vanished mid-job.
            // SAFETY: terminating the process; nothing runs afterwards.
            unsafe { libc::_exit(3) }
        }
        true
    })?;
    if left {
        // Dropping the group here is the thread's "death": its peers must notice.
        return Ok(None);
    }
    bench::run(&pg, &args.sizes, args.iters).map(Some)
}

/// Runs the command; prints the check summary and bandwidth table on rank 0.
///
/// # Errors
/// The plugin cannot be loaded or refuses the config; a collective fails, times out or gives
/// a wrong value (one line naming rank, collective, dtype and element).
pub fn run(args: &CollectivesArgs) -> Result<()> {
    // `local` and `comm.local` name the same backend, as in `ferrite train --comm`.
    let name = format!("comm.{}", args.comm.strip_prefix("comm.").unwrap_or(&args.comm));
    let args = &CollectivesArgs { comm: name, ..args.clone() };
    load_comm_plugin(&args.comm, &args.plugin_path)?;
    anyhow::ensure!(
        args.world_size.is_some() || args.comm == "comm.mpi",
        "--world-size N is needed with {} (its ranks are threads of this process)",
        args.comm
    );
    let mut config = format!("timeout_ms = {}\n", args.timeout_ms);
    if let Some(n) = args.world_size {
        config.push_str(&format!("world_size = {n}\n"));
    }
    let comms = Runtime::global().create_comm(&args.comm, &config)?;
    anyhow::ensure!(!comms.is_empty(), "{} returned no communicator", args.comm);
    if let Some(r) = args.simulate_failure {
        let world = comms[0].world_size();
        anyhow::ensure!(r < world, "--simulate-failure {r} is not a rank of this world (0..{world})");
    }
    // The core's wait outlasts the backend's own deadline, so the backend's message (which
    // names the collective it was in) is the one reported.
    let wait = Duration::from_millis(args.timeout_ms) + Duration::from_secs(5);
    let own_process = comms.len() == 1;
    let mut groups: Vec<ProcessGroup> = comms.into_iter().map(|c| ProcessGroup::new(c, wait)).collect();
    let outcomes: Vec<(u32, RankOutcome)> = if own_process {
        let pg = groups.remove(0);
        vec![(pg.rank(), run_rank(pg, args, true))]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|pg| {
                    let rank = pg.rank();
                    (rank, s.spawn(move || run_rank(pg, args, false)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(rank, h)| (rank, h.join().unwrap_or_else(|_| Err(anyhow!("rank {rank}: panicked")))))
                .collect()
        })
    };
    let mut rows = None;
    for (rank, outcome) in outcomes {
        match outcome {
            Err(e) => return Err(e),
            Ok(Some(r)) if rank == 0 => rows = Some(r),
            Ok(_) => {}
        }
    }
    if let Some(rows) = rows {
        println!("{}: every collective matches its definition on float32, float64 and bfloat16", args.comm);
        bench::print_table(&rows);
    }
    Ok(())
}
