//! # comm.mpi
//!
//! The MPI communication backend: one rank per process, started with
//! `mpirun -np N ferrite ...`; the world is `MPI_COMM_WORLD` (rank and size from MPI).
//! Collectives are MPI's own (`MPI_Iallreduce`, `MPI_Ibcast`, `MPI_Iallgather`,
//! `MPI_Ireduce_scatter_block`, `MPI_Ibarrier`), used in their non-blocking form and polled
//! with a deadline, so a dead or stuck peer is a one-line error, not a hang:
//! `comm.mpi rank 0: all_reduce #12 did not complete within 60000 ms (peer dead or stuck)`.
//!
//! Config (TOML): `timeout_ms` (default 60000), optional `world_size` (must equal mpirun's
//! `-np`); unknown keys are errors. Threading, `RTLD_GLOBAL` and finalisation are explained in
//! [`env`]; dtypes (f16/bf16 reduced in f32) in [`dtypes`].

pub mod comm;
pub mod config;
pub mod dtypes;
pub mod env;
pub mod request;

use abi_stable::std_types::{RResult, RStr, RString, RVec};
use ferrite_sdk::abi::comm::{CommBox, CommDesc, CommObj_TO};
use ferrite_sdk::abi::host::HostApi;
use std::time::Duration;

fn create_inner(config: &str) -> Result<RVec<CommBox>, String> {
    let cfg = config::MpiConfig::parse(config)?;
    env::init()?;
    let comm = comm::MpiComm::new(Duration::from_millis(cfg.timeout_ms))?;
    if let Some(n) = cfg.world_size {
        let world = ferrite_sdk::abi::comm::CommObj::world_size(&comm);
        if n != world {
            return Err(format!("world_size = {n} in the config, but MPI_COMM_WORLD has {world} processes (mpirun -np {world})"));
        }
    }
    Ok(RVec::from(vec![CommObj_TO::from_value(comm, abi_stable::sabi_trait::TD_Opaque)]))
}

/// `CommDesc::create` of `comm.mpi`: initialises MPI (once per process) and returns this
/// process's one communicator. Errors are one line; panics are caught here.
extern "C" fn create(_host: *const HostApi, config: RStr<'_>) -> RResult<RVec<CommBox>, RString> {
    match std::panic::catch_unwind(|| create_inner(config.as_str())) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(_) => RResult::RErr("panicked while initialising MPI".into()),
    }
}

#[ferrite_sdk::linkme::distributed_slice(ferrite_sdk::register::COMMS)]
#[linkme(crate = ferrite_sdk::linkme)]
static COMM_MPI: CommDesc = CommDesc {
    name: RStr::from_str("comm.mpi"),
    version: 1,
    doc: RStr::from_str("MPI backend (Open MPI / MPICH): one rank per process under mpirun, collectives with timeouts"),
    create,
};

ferrite_sdk::export_plugin!(name: "comm-mpi", version: env!("CARGO_PKG_VERSION"));
