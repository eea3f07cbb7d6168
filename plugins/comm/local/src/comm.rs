//! One rank's communicator: its two ring channels, the sequence counter, failure handling and
//! the [`CommObj`] entry points.

use crate::wire::{Failure, Header, Kind, Msg};
use abi_stable::std_types::{RResult, RSlice, RSliceMut, RString, RVec};
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use ferrite_sdk::abi::comm::{CommBox, CommObj, CommObj_TO};
use ferrite_sdk::DType;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The first failure in a ring: (rank where it started, its error). Shared by the ring's
/// communicators (made in [`ring`], never a static), so that a rank which sees only a
/// consequence (its neighbour, which failed first, has since dropped its communicator) reports
/// the root cause instead.
type FirstFailure = Arc<Mutex<Option<(u32, String)>>>;

/// Rank `rank` of a `comm.local` group: sends to rank `rank + 1` and receives from rank
/// `rank - 1` (mod world size), the ring of Patarasuk & Yuan (2009).
///
/// After any failed collective the communicator is broken (like NCCL after `ncclCommAbort`):
/// later calls fail at once with the first error, since peers may be mid-collective.
pub struct LocalComm {
    pub(crate) rank: u32,
    pub(crate) world: u32,
    pub(crate) timeout: Duration,
    to_next: Sender<Msg>,
    from_prev: Receiver<Msg>,
    seq: u64,
    broken: Option<String>,
    first_failure: FirstFailure,
    /// Received message buffers kept for this rank's next sends: buffers circulate around the
    /// ring instead of being allocated per message (large fresh allocations are new mappings
    /// that page-fault on first touch and made big all-reduces 10× slower).
    pool: RefCell<Vec<Vec<u8>>>,
}

/// Buffers a communicator keeps for reuse.
const POOL_BUFFERS: usize = 4;

/// Builds the `world` communicators of one ring (channel `i` carries rank `i` → rank `i+1`).
/// Everything they share lives in the channels made here, never in a static.
pub fn ring(world: u32, timeout: Duration) -> Vec<LocalComm> {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..world).map(|_| unbounded::<Msg>()).unzip();
    let mut rxs: Vec<Option<Receiver<Msg>>> = rxs.into_iter().map(Some).collect();
    let first_failure = FirstFailure::default();
    txs.into_iter()
        .enumerate()
        .map(|(rank, to_next)| {
            let prev = (rank + world as usize - 1) % world as usize;
            let from_prev = rxs[prev].take().expect("each receiver is taken once");
            LocalComm {
                rank: rank as u32,
                world,
                timeout,
                to_next,
                from_prev,
                seq: 0,
                broken: None,
                first_failure: first_failure.clone(),
                pool: RefCell::new(Vec::new()),
            }
        })
        .collect()
}

/// The communicators of [`ring`] as ABI-stable trait objects.
pub fn boxed(comms: Vec<LocalComm>) -> RVec<CommBox> {
    comms.into_iter().map(|c| CommObj_TO::from_value(c, abi_stable::sabi_trait::TD_Opaque)).collect()
}

impl LocalComm {
    pub(crate) fn next(&self) -> u32 {
        (self.rank + 1) % self.world
    }

    pub(crate) fn prev(&self) -> u32 {
        (self.rank + self.world - 1) % self.world
    }

    pub(crate) fn fail(&self, head: &Header, what: String) -> Failure {
        Failure::local(self.rank, format!("comm.local rank {}: {} #{}: {what}", self.rank, head.kind.name(), head.seq))
    }

    /// A message buffer holding a copy of `data` (a recycled one when available).
    pub(crate) fn message(&self, data: &[u8]) -> Vec<u8> {
        let mut v = self.pool.borrow_mut().pop().unwrap_or_default();
        v.clear();
        v.extend_from_slice(data);
        v
    }

    /// Keeps a received buffer for a later [`LocalComm::message`].
    pub(crate) fn recycle(&self, v: Vec<u8>) {
        let mut pool = self.pool.borrow_mut();
        if pool.len() < POOL_BUFFERS {
            pool.push(v);
        }
    }

    /// Sends one step's chunk to the next rank.
    pub(crate) fn send(&self, head: &Header, step: u32, payload: Vec<u8>) -> Result<(), Failure> {
        self.to_next.send(Msg::Data { head: *head, step, payload }).map_err(|_| {
            Failure::local(
                self.rank,
                format!(
                    "comm.local rank {}: rank {} left (its communicator was dropped) during {} #{}",
                    self.rank,
                    self.next(),
                    head.kind.name(),
                    head.seq
                ),
            )
        })
    }

    /// Receives step `step` of `head` from the previous rank, waiting at most the timeout.
    pub(crate) fn recv(&self, head: &Header, step: u32, len: usize) -> Result<Vec<u8>, Failure> {
        let (r, p, name, seq) = (self.rank, self.prev(), head.kind.name(), head.seq);
        match self.from_prev.recv_timeout(self.timeout) {
            Ok(Msg::Data { head: h, step: s, payload }) => {
                if h != *head {
                    Err(Failure::local(r, format!(
                        "comm.local rank {r}: rank {p} is in {h} but this rank is in {head} (every rank must issue the same collectives in the same order with the same sizes)"
                    )))
                } else if s != step || payload.len() != len {
                    Err(self.fail(head, format!("protocol error: got step {s} with {} bytes from rank {p}, expected step {step} with {len} bytes", payload.len())))
                } else {
                    Ok(payload)
                }
            }
            Ok(Msg::Abort { origin, reason }) => Err(Failure {
                message: format!("comm.local rank {r}: {name} #{seq} aborted because rank {origin} failed: {reason}"),
                origin,
                reason,
            }),
            Err(RecvTimeoutError::Timeout) => Err(Failure::local(r, format!(
                "comm.local rank {r}: no message from rank {p} within {} ms in {name} #{seq} (peer dead or stuck)",
                self.timeout.as_millis()
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(Failure::local(
                r,
                format!("comm.local rank {r}: rank {p} left (its communicator was dropped) during {name} #{seq}"),
            )),
        }
    }

    /// Records `f` as the ring's first failure, or, if another rank failed first, reports
    /// that rank's error as the cause (a failed rank's neighbours see it "leave" when its
    /// caller drops it; the useful message is why it failed).
    fn root_cause(&self, head: &Header, f: Failure) -> Failure {
        if f.origin != self.rank {
            return f; // an abort from down the ring already names the origin
        }
        let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        match &*first {
            Some((origin, reason)) if *origin != self.rank => Failure {
                message: format!(
                    "comm.local rank {}: {} #{} aborted because rank {origin} failed: {reason}",
                    self.rank,
                    head.kind.name(),
                    head.seq
                ),
                origin: *origin,
                reason: reason.clone(),
            },
            Some(_) => f,
            None => {
                *first = Some((self.rank, f.reason.clone()));
                f
            }
        }
    }

    /// Runs one collective: numbers it, refuses it on a broken communicator, catches panics,
    /// and on failure breaks the communicator and tells the next rank to abort.
    fn collective(
        &mut self,
        kind: Kind,
        bytes: usize,
        body: impl FnOnce(&mut LocalComm, &Header) -> Result<(), Failure>,
    ) -> RResult<(), RString> {
        if let Some(e) = &self.broken {
            return RResult::RErr(format!("comm.local rank {}: communicator is broken by an earlier error: {e}", self.rank).into());
        }
        self.seq += 1;
        let head = Header { seq: self.seq, kind, bytes: bytes as u64 };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(self, &head)))
            .unwrap_or_else(|_| Err(self.fail(&head, "panicked inside comm.local".into())));
        match r {
            Ok(()) => RResult::ROk(()),
            Err(f) => {
                let f = self.root_cause(&head, f);
                self.broken = Some(f.message.clone());
                if self.world > 1 {
                    // Best effort: the next rank may already be gone.
                    let _ = self.to_next.send(Msg::Abort { origin: f.origin, reason: f.reason });
                }
                RResult::RErr(f.message.into())
            }
        }
    }
}

impl CommObj for LocalComm {
    fn rank(&self) -> u32 {
        self.rank
    }

    fn world_size(&self) -> u32 {
        self.world
    }

    fn all_reduce(&mut self, mut buf: RSliceMut<'_, u8>, dtype: DType, op: u32) -> RResult<(), RString> {
        let buf = buf.as_mut_slice();
        self.collective(Kind::AllReduce { dtype, op }, buf.len(), |c, h| c.ring_all_reduce(h, buf, dtype, op))
    }

    fn broadcast(&mut self, mut buf: RSliceMut<'_, u8>, root: u32) -> RResult<(), RString> {
        let buf = buf.as_mut_slice();
        self.collective(Kind::Broadcast { root }, buf.len(), |c, h| c.ring_broadcast(h, buf, root))
    }

    fn all_gather(&mut self, send: RSlice<'_, u8>, mut recv: RSliceMut<'_, u8>) -> RResult<(), RString> {
        let (send, recv) = (send.as_slice(), recv.as_mut_slice());
        self.collective(Kind::AllGather, send.len(), |c, h| c.all_gather_into(h, send, recv))
    }

    fn reduce_scatter(&mut self, send: RSlice<'_, u8>, mut recv: RSliceMut<'_, u8>, dtype: DType, op: u32) -> RResult<(), RString> {
        let (send, recv) = (send.as_slice(), recv.as_mut_slice());
        self.collective(Kind::ReduceScatter { dtype, op }, send.len(), |c, h| c.reduce_scatter_into(h, send, recv, dtype, op))
    }

    fn barrier(&mut self) -> RResult<(), RString> {
        self.collective(Kind::Barrier, 0, |c, h| c.ring_barrier(h))
    }

    fn describe(&self) -> RString {
        format!(
            "comm.local rank {}/{}, ring over in-process channels, timeout {} ms",
            self.rank,
            self.world,
            self.timeout.as_millis()
        )
        .into()
    }
}
