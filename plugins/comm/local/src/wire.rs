//! What travels on the ring's channels, and how a failed collective is described.

use ferrite_sdk::abi::comm::reduce_op;
use ferrite_sdk::DType;
use std::fmt;

/// Which collective a message belongs to, with the parameters every rank must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `all_reduce` of `dtype` with a [`reduce_op`] code.
    AllReduce { dtype: DType, op: u32 },
    /// `reduce_scatter` of `dtype` with a [`reduce_op`] code.
    ReduceScatter { dtype: DType, op: u32 },
    /// `all_gather`.
    AllGather,
    /// `broadcast` from `root`.
    Broadcast { root: u32 },
    /// `barrier`.
    Barrier,
}

impl Kind {
    /// The collective's name (`all_reduce`...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::AllReduce { .. } => "all_reduce",
            Kind::ReduceScatter { .. } => "reduce_scatter",
            Kind::AllGather => "all_gather",
            Kind::Broadcast { .. } => "broadcast",
            Kind::Barrier => "barrier",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = |op: u32| reduce_op::name(op).map(str::to_string).unwrap_or_else(|| format!("op {op}"));
        match *self {
            Kind::AllReduce { dtype, op: o } | Kind::ReduceScatter { dtype, op: o } => {
                write!(f, "{}({}, {})", self.name(), op(o), dtype.short())
            }
            Kind::Broadcast { root } => write!(f, "broadcast(root {root})"),
            Kind::AllGather | Kind::Barrier => f.write_str(self.name()),
        }
    }
}

/// Tag of every data message: the sender's collective sequence number (1-based, per
/// communicator), the collective and its buffer length in bytes. A receiver whose own header
/// differs reports the mismatch instead of reducing unrelated bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Per-communicator collective number, 1 for the first.
    pub seq: u64,
    /// The collective.
    pub kind: Kind,
    /// Byte length of the collective's buffer (`send` for gather/scatter, 0 for a barrier).
    pub bytes: u64,
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{} over {} bytes", self.kind, self.seq, self.bytes)
    }
}

/// A message from the previous rank of the ring.
#[derive(Debug)]
pub enum Msg {
    /// One step's chunk.
    Data {
        /// The sender's collective.
        head: Header,
        /// Step number inside the collective (checks the protocol, not the user).
        step: u32,
        /// The chunk.
        payload: Vec<u8>,
    },
    /// The sender (or a rank before it) failed: everyone down the ring stops now instead of
    /// waiting for its timeout.
    Abort {
        /// The rank whose error started the abort.
        origin: u32,
        /// That rank's error.
        reason: String,
    },
}

/// A failed collective: the message for this rank's caller, and the abort to pass on.
#[derive(Debug, Clone)]
pub struct Failure {
    /// One-line error returned to the caller.
    pub message: String,
    /// Rank where the failure started.
    pub origin: u32,
    /// Root cause, forwarded down the ring.
    pub reason: String,
}

impl Failure {
    /// A failure that starts on rank `rank`.
    pub fn local(rank: u32, message: String) -> Failure {
        Failure { reason: message.clone(), message, origin: rank }
    }
}
