//! # parallel.zero
//!
//! ZeRO data parallelism, stages 1–3 (Rajbhandari et al., SC 2020), over Ferrite's comm API
//! only. Each module's parameters are split into `world_size` equal pieces ([`layout`]); each
//! rank owns its pieces' fp32 master weights and optimizer state. See [`strategy`] for what
//! each stage shards and when it communicates, [`reduce`] for the gradient reduction that
//! overlaps backward, and [`shared`] for stage 3's per-module gathers on demand. With the same optimizer,
//! every stage produces the same parameters as `parallel.ddp` (to f32 rounding).

pub mod config;
pub mod layout;
pub mod reduce;
pub mod shared;
pub mod strategy;

use abi_stable::std_types::{RResult, RStr, RString};
use ferrite_sdk::abi::comm::ProcessGroupRef;
use ferrite_sdk::abi::host::HostApi;
use ferrite_sdk::abi::parallel::{ParallelDesc, StrategyBox, StrategyObj_TO};
use ferrite_sdk::distributed::ProcessGroup;
use ferrite_sdk::Host;

extern "C" fn create(host: *const HostApi, group: ProcessGroupRef, config: RStr<'_>) -> RResult<StrategyBox, RString> {
    let run = || -> Result<StrategyBox, String> {
        let cfg = config::ZeroConfig::parse(config.as_str())?;
        // SAFETY: the core passes its static host table and a group that outlives the strategy.
        let host = unsafe { Host::from_raw(host) };
        let group = unsafe { ProcessGroup::from_raw(host.api(), group) };
        Ok(StrategyObj_TO::from_value(strategy::Zero::new(host, group, cfg), abi_stable::sabi_trait::TD_Opaque))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(s)) => RResult::ROk(s),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(_) => RResult::RErr("parallel.zero: panicked while building the strategy".into()),
    }
}

#[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::PARALLELS)]
#[linkme(crate = ferrite_sdk::linkme)]
static ZERO: ParallelDesc = ParallelDesc {
    name: RStr::from_str("parallel.zero"),
    version: 1,
    doc: RStr::from_str("ZeRO stages 1-3: optimizer state, gradients and parameters sharded across ranks (Rajbhandari et al. 2020)"),
    create,
};

ferrite_sdk::export_plugin!(name: "parallel-zero", version: env!("CARGO_PKG_VERSION"));
