//! # parallel.ddp
//!
//! Distributed data parallel training with PyTorch `DistributedDataParallel` semantics (Li et
//! al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training", VLDB 2020),
//! over Ferrite's comm API only:
//! * rank 0's parameters and buffers are broadcast at setup, so every replica starts equal;
//! * gradients are averaged in buckets (`bucket_cap_mb`, 25 MiB by default), each all-reduce
//!   queued from the gradient hooks as soon as its bucket is complete, overlapping backward;
//! * `set_grad_sync(false)` is `no_sync()`: gradients accumulate locally, and the next
//!   synchronised backward averages the accumulated sum;
//! * `find_unused_parameters` completes buckets of parameters that got no gradient;
//! * every rank then runs the same optimizer step, so replicas stay identical.

pub mod buckets;
pub mod config;
pub mod reducer;
pub mod strategy;

use abi_stable::std_types::{RResult, RStr, RString};
use ferrite_sdk::abi::comm::ProcessGroupRef;
use ferrite_sdk::abi::host::HostApi;
use ferrite_sdk::abi::parallel::{ParallelDesc, StrategyBox, StrategyObj_TO};
use ferrite_sdk::distributed::ProcessGroup;
use ferrite_sdk::Host;

extern "C" fn create(host: *const HostApi, group: ProcessGroupRef, config: RStr<'_>) -> RResult<StrategyBox, RString> {
    let run = || -> Result<StrategyBox, String> {
        let cfg = config::DdpConfig::parse(config.as_str())?;
        // SAFETY: the core passes its static host table and a group that outlives the strategy.
        let host = unsafe { Host::from_raw(host) };
        let group = unsafe { ProcessGroup::from_raw(host.api(), group) };
        Ok(StrategyObj_TO::from_value(strategy::Ddp::new(host, group, cfg), abi_stable::sabi_trait::TD_Opaque))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(s)) => RResult::ROk(s),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(_) => RResult::RErr("parallel.ddp: panicked while building the strategy".into()),
    }
}

#[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::PARALLELS)]
#[linkme(crate = ferrite_sdk::linkme)]
static DDP: ParallelDesc = ParallelDesc {
    name: RStr::from_str("parallel.ddp"),
    version: 1,
    doc: RStr::from_str("Distributed data parallel: bucketed gradient averaging overlapped with backward (PyTorch DDP)"),
    create,
};

ferrite_sdk::export_plugin!(name: "parallel-ddp", version: env!("CARGO_PKG_VERSION"));
