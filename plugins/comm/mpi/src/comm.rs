//! One rank's MPI communicator: the [`CommObj`] collectives over a duplicate of
//! `MPI_COMM_WORLD`, each a non-blocking MPI collective waited for with a deadline.
//!
//! Size mismatches across ranks (rank 0 all-reduces 4 KiB, rank 1 8 KiB) cannot be detected
//! cheaply: MPI requires matching counts and does not check them (it may truncate, fail with
//! `MPI_ERR_TRUNCATE`, or hang until our timeout). Keeping sizes equal is the program's job, as
//! in MPI and `torch.distributed`; we check what is local (byte lengths, world multiples).

use crate::dtypes::{self, Wire};
use crate::env;
use crate::request::{check, InFlight, WaitError};
use abi_stable::std_types::{RResult, RSlice, RSliceMut, RString};
use ferrite_sdk::abi::comm::CommObj;
use ferrite_sdk::DType;
use mpi::ffi::{self, MPI_Comm};
use std::ffi::c_int;
use std::time::Duration;

/// This process's rank of `MPI_COMM_WORLD`, on a private duplicate (so two process groups of
/// one process never mix their collectives).
pub struct MpiComm {
    comm: MPI_Comm,
    rank: u32,
    world: u32,
    timeout: Duration,
    library: String,
    /// Collectives issued so far (numbers the error messages, 1-based).
    seq: u64,
    /// Set after a timeout or MPI error: a request is still in flight, later calls fail.
    broken: Option<String>,
}

// SAFETY: the MPI_Comm handle is only used under the MPI lock (SERIALIZED threading).
unsafe impl Send for MpiComm {}

/// How a collective failed: a local argument check (the communicator stays usable) or the
/// communication itself (a request may be in flight: the communicator is broken).
enum Failure {
    Local(String),
    Comm(WaitError),
}

fn count(n: usize, what: &str) -> Result<c_int, String> {
    c_int::try_from(n).map_err(|_| format!("{what}: {n} elements exceed MPI's count limit of {} per call", c_int::MAX))
}

impl MpiComm {
    /// Duplicates `MPI_COMM_WORLD` (a collective: every rank calls `create` the same number of
    /// times) for a backend with the given per-collective `timeout`.
    ///
    /// # Errors
    /// `MPI_Comm_dup` failed.
    pub fn new(timeout: Duration) -> Result<MpiComm, String> {
        let _g = env::lock();
        // SAFETY: MPI is initialised (env::init); we hold the lock.
        unsafe {
            let mut comm: MPI_Comm = ffi::RSMPI_COMM_NULL;
            check(ffi::MPI_Comm_dup(ffi::RSMPI_COMM_WORLD, &mut comm), "MPI_Comm_dup").map_err(|e| e.to_string())?;
            let (mut rank, mut size): (c_int, c_int) = (0, 0);
            ffi::MPI_Comm_rank(comm, &mut rank);
            ffi::MPI_Comm_size(comm, &mut size);
            drop(_g);
            Ok(MpiComm { comm, rank: rank as u32, world: size as u32, timeout, library: env::library_name(), seq: 0, broken: None })
        }
    }

    /// Runs one collective: numbering, the broken check, and the error line
    /// `comm.mpi rank 0: all_reduce #12 did not complete within 60000 ms (peer dead or stuck)`.
    fn collective(&mut self, name: &str, body: impl FnOnce(&mut MpiComm) -> Result<(), Failure>) -> RResult<(), RString> {
        self.seq += 1;
        let seq = self.seq;
        let msg = match &self.broken {
            Some(e) => format!("{name} #{seq} refused: the communicator is broken by an earlier error ({e})"),
            None => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(self))) {
                Ok(Ok(())) => return RResult::ROk(()),
                Ok(Err(Failure::Local(e))) => format!("{name} #{seq} rejected: {e}"),
                Ok(Err(Failure::Comm(e))) => {
                    let m = format!("{name} #{seq} {e}");
                    self.broken = Some(m.clone());
                    m
                }
                Err(_) => format!("{name} #{seq} panicked inside the MPI backend"),
            },
        };
        RResult::RErr(format!("comm.mpi rank {}: {msg}", self.rank).into())
    }

    fn wait(&self, f: Result<InFlight, WaitError>) -> Result<Vec<u8>, Failure> {
        f.and_then(|f| f.wait(self.timeout)).map_err(Failure::Comm)
    }

    fn local(e: String) -> Failure {
        Failure::Local(e)
    }

    /// Reduces `buf` (elements of `dtype`) to `recv_elems` wire elements with
    /// `MPI_Iallreduce` (`scatter = false`) or `MPI_Ireduce_scatter_block`.
    fn reduce(&self, send: &[u8], dtype: DType, op: u32, scatter: bool) -> Result<(Vec<u8>, Wire), Failure> {
        let w = dtypes::wire(dtype).map_err(Self::local)?;
        let mpi_op = dtypes::op(op, dtype).map_err(Self::local)?;
        let esize = dtype.size();
        if !send.len().is_multiple_of(esize) {
            return Err(Self::local(format!("{} bytes is not a whole number of {dtype} elements", send.len())));
        }
        let elems = send.len() / esize;
        if scatter && !elems.is_multiple_of(self.world as usize) {
            return Err(Self::local(format!("input of {elems} elements does not split into {} equal chunks", self.world)));
        }
        let out_elems = if scatter { elems / self.world as usize } else { elems };
        let n = count(out_elems, "reduce").map_err(Self::local)?;
        let wire_send = dtypes::to_wire(send, dtype, w);
        let recv = vec![0u8; out_elems * w.size];
        let comm = self.comm;
        let f = InFlight::start(wire_send, recv, if scatter { "MPI_Ireduce_scatter_block" } else { "MPI_Iallreduce" }, |s, r, req| unsafe {
            // SAFETY: buffers of `elems`/`out_elems` wire elements owned by the InFlight.
            if scatter {
                ffi::MPI_Ireduce_scatter_block(s as _, r as _, n, w.datatype, mpi_op, comm, req)
            } else {
                ffi::MPI_Iallreduce(s as _, r as _, n, w.datatype, mpi_op, comm, req)
            }
        });
        let mut out = self.wait(f)?;
        if op == ferrite_sdk::abi::comm::reduce_op::AVG {
            dtypes::divide(&mut out, w, self.world);
        }
        Ok((out, w))
    }
}

impl CommObj for MpiComm {
    fn rank(&self) -> u32 {
        self.rank
    }

    fn world_size(&self) -> u32 {
        self.world
    }

    fn all_reduce(&mut self, mut buf: RSliceMut<'_, u8>, dtype: DType, op: u32) -> RResult<(), RString> {
        self.collective("all_reduce", |c| {
            let (out, w) = c.reduce(&buf, dtype, op, false)?;
            dtypes::from_wire(&out, &mut buf, dtype, w);
            Ok(())
        })
    }

    fn broadcast(&mut self, mut buf: RSliceMut<'_, u8>, root: u32) -> RResult<(), RString> {
        self.collective("broadcast", |c| {
            if root >= c.world {
                return Err(Self::local(format!("root {root} is not a rank (0..{})", c.world)));
            }
            let n = count(buf.len(), "broadcast").map_err(Self::local)?;
            let comm = c.comm;
            // MPI_Ibcast is in place: the staging buffer is both sides.
            let f = InFlight::start(Vec::new(), buf.to_vec(), "MPI_Ibcast", |_, r, req| unsafe {
                ffi::MPI_Ibcast(r as _, n, ffi::RSMPI_UINT8_T, root as c_int, comm, req)
            });
            let out = c.wait(f)?;
            buf.copy_from_slice(&out);
            Ok(())
        })
    }

    fn all_gather(&mut self, send: RSlice<'_, u8>, mut recv: RSliceMut<'_, u8>) -> RResult<(), RString> {
        self.collective("all_gather", |c| {
            if recv.len() != send.len() * c.world as usize {
                return Err(Self::local(format!("recv has {} bytes, not world size {} × {} send bytes", recv.len(), c.world, send.len())));
            }
            let n = count(send.len(), "all_gather").map_err(Self::local)?;
            let comm = c.comm;
            let f = InFlight::start(send.to_vec(), vec![0u8; recv.len()], "MPI_Iallgather", |s, r, req| unsafe {
                ffi::MPI_Iallgather(s as _, n, ffi::RSMPI_UINT8_T, r as _, n, ffi::RSMPI_UINT8_T, comm, req)
            });
            let out = c.wait(f)?;
            recv.copy_from_slice(&out);
            Ok(())
        })
    }

    fn reduce_scatter(&mut self, send: RSlice<'_, u8>, mut recv: RSliceMut<'_, u8>, dtype: DType, op: u32) -> RResult<(), RString> {
        self.collective("reduce_scatter", |c| {
            if send.len() != recv.len() * c.world as usize {
                return Err(Self::local(format!("send has {} bytes, not world size {} × {} recv bytes", send.len(), c.world, recv.len())));
            }
            let (out, w) = c.reduce(&send, dtype, op, true)?;
            dtypes::from_wire(&out, &mut recv, dtype, w);
            Ok(())
        })
    }

    fn barrier(&mut self) -> RResult<(), RString> {
        self.collective("barrier", |c| {
            let comm = c.comm;
            let f = InFlight::start(Vec::new(), Vec::new(), "MPI_Ibarrier", |_, _, req| unsafe { ffi::MPI_Ibarrier(comm, req) });
            c.wait(f).map(drop)
        })
    }

    fn describe(&self) -> RString {
        format!("comm.mpi rank {}/{} ({}), timeout {} ms", self.rank, self.world, self.library, self.timeout.as_millis()).into()
    }
}

impl Drop for MpiComm {
    fn drop(&mut self) {
        // A broken communicator still has a request in flight: freeing it is not allowed.
        let _g = env::lock();
        if self.broken.is_none() && !env::finalized() {
            // SAFETY: our duplicate, no request pending, MPI alive, lock held.
            unsafe { ffi::MPI_Comm_free(&mut self.comm) };
        }
    }
}
