//! Waiting for a non-blocking MPI collective with a deadline.
//!
//! Blocking MPI collectives wait forever for a dead or stuck peer. We start the immediate
//! form (`MPI_Iallreduce`, ...) on staging buffers owned by an [`InFlight`] and poll
//! `MPI_Test` until it completes or the deadline passes. On timeout the request cannot be
//! cancelled (MPI forbids `MPI_Cancel` on collectives) and MPI may still write into its
//! buffers later, so the staging buffers are leaked, never freed, and the caller's tensor
//! was never handed to MPI — a late write can never corrupt memory.

use crate::env;
use mpi::ffi::{self, MPI_Request};
use std::ffi::c_int;
use std::time::{Duration, Instant};

/// Polling at full speed for this long keeps small collectives fast (Open MPI progresses
/// only inside MPI calls); after it we sleep between tests to leave the CPU to others.
const SPIN: Duration = Duration::from_millis(2);
const NAP: Duration = Duration::from_micros(50);

/// Why a collective did not complete.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WaitError {
    /// The deadline passed with the request still pending.
    #[error("did not complete within {0} ms (peer dead or stuck)")]
    Timeout(u64),
    /// MPI returned an error code.
    #[error("failed with an MPI error: {0}")]
    Mpi(String),
}

/// Checks an MPI return code.
pub fn check(rc: c_int, what: &str) -> Result<(), WaitError> {
    if rc == ffi::MPI_SUCCESS as c_int {
        Ok(())
    } else {
        Err(WaitError::Mpi(format!("{what}: {}", env::error_string(rc))))
    }
}

/// A started collective and the staging buffers MPI reads and writes.
pub struct InFlight {
    req: MPI_Request,
    send: Vec<u8>,
    recv: Vec<u8>,
}

impl InFlight {
    /// Starts a collective: `start(send, recv, &mut request)` makes the MPI call (under the
    /// MPI lock) on buffers that this value then owns.
    ///
    /// # Errors
    /// The MPI error code of the start call.
    pub fn start(
        send: Vec<u8>,
        recv: Vec<u8>,
        what: &str,
        start: impl FnOnce(*const u8, *mut u8, *mut MPI_Request) -> c_int,
    ) -> Result<InFlight, WaitError> {
        // SAFETY: a null handle value, replaced by MPI_I* below.
        let mut f = InFlight { req: unsafe { ffi::RSMPI_REQUEST_NULL }, send, recv };
        let rc = {
            let _g = env::lock();
            start(f.send.as_ptr(), f.recv.as_mut_ptr(), &mut f.req)
        };
        check(rc, what)?;
        Ok(f)
    }

    /// Polls until done or `timeout` passes; returns the receive buffer.
    ///
    /// # Errors
    /// [`WaitError::Timeout`] (the buffers are then leaked, see the module doc) or an MPI error.
    pub fn wait(mut self, timeout: Duration) -> Result<Vec<u8>, WaitError> {
        let t0 = Instant::now();
        loop {
            let mut flag: c_int = 0;
            let rc = {
                let _g = env::lock();
                // SAFETY: `req` came from an MPI_I* call and was not completed yet.
                unsafe { ffi::MPI_Test(&mut self.req, &mut flag, ffi::RSMPI_STATUS_IGNORE) }
            };
            if let Err(e) = check(rc, "MPI_Test") {
                // The request's state is unknown: MPI may still use the buffers.
                env::mark_abandoned();
                std::mem::forget(self);
                return Err(e);
            }
            if flag != 0 {
                return Ok(std::mem::take(&mut self.recv));
            }
            let waited = t0.elapsed();
            if waited >= timeout {
                env::mark_abandoned();
                std::mem::forget(self);
                return Err(WaitError::Timeout(timeout.as_millis() as u64));
            }
            if waited < SPIN {
                std::thread::yield_now();
            } else {
                std::thread::sleep(NAP);
            }
        }
    }
}
