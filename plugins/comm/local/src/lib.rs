//! # comm.local
//!
//! A communication backend whose ranks are the threads of one process: `create` builds all
//! `world_size` communicators, wired into a ring of crossbeam channels, and each thread drives
//! one. Collectives use the bandwidth-optimal ring algorithms (Patarasuk & Yuan 2009; the ring
//! all-reduce of Baidu/Horovod): all-reduce = reduce-scatter + all-gather in `2(N-1)` steps.
//!
//! Config (TOML): `world_size` (required, `1..=1024`), `timeout_ms` (default 30000). Every
//! receive waits at most `timeout_ms`; a peer that dropped its communicator is reported at
//! once; a failing rank sends an abort down the ring so its peers stop too. Reduction
//! semantics per dtype are in [`reduce`] (bool `SUM` = logical or, as in PyTorch's NCCL
//! backend).
//!
//! Used for tests and single-machine data parallelism; `comm.mpi`/`comm.nccl` are the
//! multi-machine engines.

pub mod comm;
pub mod config;
pub mod reduce;
pub mod ring;
pub mod wire;

#[cfg(test)]
mod tests;

use abi_stable::std_types::{RResult, RStr, RString, RVec};
use ferrite_sdk::abi::comm::{CommBox, CommDesc};
use ferrite_sdk::abi::host::HostApi;
use std::time::Duration;

/// Builds the communicators of ranks `0..world_size` (index = rank) from a TOML config.
///
/// # Errors
/// A one-line config error (see [`config::LocalConfig::parse`]).
///
/// # Examples
///
/// ```
/// let comms = ferrite_comm_local::create_comms("world_size = 2\ntimeout_ms = 500").unwrap();
/// assert_eq!(comms.len(), 2);
/// assert_eq!(comms[1].describe().as_str(), "comm.local rank 1/2, ring over in-process channels, timeout 500 ms");
/// ```
pub fn create_comms(config: &str) -> Result<RVec<CommBox>, String> {
    let cfg = config::LocalConfig::parse(config)?;
    Ok(comm::boxed(comm::ring(cfg.world_size, Duration::from_millis(cfg.timeout_ms))))
}

extern "C" fn create(_host: *const HostApi, config: RStr<'_>) -> RResult<RVec<CommBox>, RString> {
    // A panic must not cross the C ABI. The backend needs no host service.
    match std::panic::catch_unwind(|| create_comms(config.as_str())) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(_) => RResult::RErr("comm.local: panicked while building the communicators".into()),
    }
}

#[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::COMMS)]
#[linkme(crate = ferrite_sdk::linkme)]
static COMM_LOCAL: CommDesc = CommDesc {
    name: RStr::from_str("comm.local"),
    version: 1,
    doc: RStr::from_str("Ring collectives between the threads of one process over in-process channels"),
    create,
};

ferrite_sdk::export_plugin!(name: "comm-local", version: env!("CARGO_PKG_VERSION"));
