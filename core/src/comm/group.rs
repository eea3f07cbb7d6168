//! One process group: a backend communicator behind a FIFO queue on its own thread.

use crate::error::{CoreError, Result};
use crate::tensor::Tensor;
use abi_stable::std_types::{RSlice, RSliceMut};
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use ferrite_sdk::abi::comm::{reduce_op, CommBox, WorkId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long [`ProcessGroup::wait`] waits for one collective unless told otherwise
/// (PyTorch's default for Gloo is 30 minutes; ours is short because a hang is worse than a
/// retry on one machine).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

enum Collective {
    AllReduce { t: Tensor, op: u32 },
    Broadcast { t: Tensor, root: u32 },
    AllGather { input: Tensor, output: Tensor },
    ReduceScatter { input: Tensor, output: Tensor, op: u32 },
    Barrier,
}

impl Collective {
    fn name(&self) -> &'static str {
        match self {
            Collective::AllReduce { .. } => "all_reduce",
            Collective::Broadcast { .. } => "broadcast",
            Collective::AllGather { .. } => "all_gather",
            Collective::ReduceScatter { .. } => "reduce_scatter",
            Collective::Barrier => "barrier",
        }
    }
}

struct Job {
    seq: u64,
    what: Collective,
    done: Sender<std::result::Result<(), String>>,
}

/// A process group (`torch.distributed.ProcessGroup`): this rank's communicator, driven from
/// a dedicated communication thread.
pub struct ProcessGroup {
    rank: u32,
    world_size: u32,
    timeout: Duration,
    describe: String,
    queue: Mutex<Option<Sender<Job>>>,
    pending: Mutex<HashMap<WorkId, (u64, &'static str, Receiver<std::result::Result<(), String>>)>>,
    next: AtomicU64,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn bytes(t: &Tensor) -> usize {
    t.numel() * t.dtype().size()
}

/// Runs one collective on the backend. The tensors are kept alive by the job; the program
/// promised (by the async contract) not to touch them until the work is waited for.
fn run(comm: &mut CommBox, what: &Collective) -> std::result::Result<(), String> {
    // SAFETY: tensors are contiguous (checked when queued) and alive (owned by the job);
    // `input` and `output` of one job are distinct allocations (checked when queued).
    unsafe {
        let mut_bytes = |t: &Tensor| RSliceMut::from_mut_slice(std::slice::from_raw_parts_mut(t.data_ptr(), bytes(t)));
        let ref_bytes = |t: &Tensor| RSlice::from_slice(std::slice::from_raw_parts(t.data_ptr() as *const u8, bytes(t)));
        let r = match what {
            Collective::AllReduce { t, op } => comm.all_reduce(mut_bytes(t), t.dtype(), *op),
            Collective::Broadcast { t, root } => comm.broadcast(mut_bytes(t), *root),
            Collective::AllGather { input, output } => comm.all_gather(ref_bytes(input), mut_bytes(output)),
            Collective::ReduceScatter { input, output, op } => {
                comm.reduce_scatter(ref_bytes(input), mut_bytes(output), input.dtype(), *op)
            }
            Collective::Barrier => comm.barrier(),
        };
        // Written outside autograd's view: later readers must see a new version.
        match what {
            Collective::AllReduce { t, .. } | Collective::Broadcast { t, .. } => t.0.storage.bump_version(),
            Collective::AllGather { output, .. } | Collective::ReduceScatter { output, .. } => output.0.storage.bump_version(),
            Collective::Barrier => {}
        }
        r.into_result().map_err(|e| e.into_string())
    }
}

impl ProcessGroup {
    /// Starts the communication thread for `comm` (one rank's backend communicator).
    /// `timeout` bounds every [`wait`](ProcessGroup::wait).
    pub fn new(comm: CommBox, timeout: Duration) -> ProcessGroup {
        let (rank, world_size, describe) = (comm.rank(), comm.world_size(), comm.describe().into_string());
        let (tx, rx) = unbounded::<Job>();
        let thread = std::thread::Builder::new()
            .name(format!("ferrite-comm-{rank}"))
            .spawn(move || {
                let mut comm = comm;
                // After one failure the group is broken (peers may be mid-collective): every
                // later job fails with the first error instead of mismatching the sequence.
                let mut broken: Option<String> = None;
                for job in rx {
                    let r = match &broken {
                        Some(e) => Err(format!("process group is broken by an earlier error: {e}")),
                        None => {
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut comm, &job.what)))
                                .unwrap_or_else(|_| Err(format!("the comm backend panicked in {}", job.what.name())));
                            if let Err(e) = &r {
                                broken = Some(format!("{} #{}: {e}", job.what.name(), job.seq));
                            }
                            r
                        }
                    };
                    // Release the tensors before signalling completion: memory the caller
                    // frees after wait() must not outlive it here (a preempted comm thread
                    // kept a ZeRO flat gradient alive into the optimizer step).
                    let Job { what, done, .. } = job;
                    drop(what);
                    let _ = done.send(r);
                }
            })
            .expect("spawning the communication thread");
        ProcessGroup {
            rank,
            world_size,
            timeout,
            describe,
            queue: Mutex::new(Some(tx)),
            pending: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// This rank.
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// Number of ranks.
    pub fn world_size(&self) -> u32 {
        self.world_size
    }

    /// The backend's one-line description.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// The timeout of [`wait`](ProcessGroup::wait).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn check_tensor(t: &Tensor, what: &str) -> Result<()> {
        if !t.is_contiguous() {
            return Err(CoreError::Invalid(format!("{what}: tensor {:?} must be contiguous", t.shape())));
        }
        Ok(())
    }

    fn check_op(op: u32, t: &Tensor) -> Result<()> {
        match reduce_op::name(op) {
            None => Err(CoreError::Invalid(format!("unknown reduce op {op} (sum=0, avg=1, max=2, min=3)"))),
            Some("avg") if !t.dtype().is_float() => {
                Err(CoreError::Invalid(format!("ReduceOp.AVG needs a float tensor, got {}", t.dtype())))
            }
            _ => Ok(()),
        }
    }

    fn submit(&self, what: Collective) -> Result<WorkId> {
        let name = what.name();
        let (done, rx) = bounded(1);
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        // Numbered under the queue lock, so `#N` in messages follows queue order.
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(tx) = queue.as_ref() else {
            return Err(CoreError::Invalid("process group was shut down".into()));
        };
        tx.send(Job { seq: id, what, done }).map_err(|_| CoreError::Invalid("the communication thread has stopped".into()))?;
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (id, name, rx));
        Ok(id)
    }

    /// Queues an in-place all-reduce.
    ///
    /// # Errors
    /// A non-contiguous tensor, an unknown op, a stopped group.
    pub fn all_reduce(&self, t: &Tensor, op: u32) -> Result<WorkId> {
        Self::check_tensor(t, "all_reduce")?;
        Self::check_op(op, t)?;
        self.submit(Collective::AllReduce { t: t.clone(), op })
    }

    /// Queues an in-place broadcast from `root`.
    ///
    /// # Errors
    /// A non-contiguous tensor, `root` out of range, a stopped group.
    pub fn broadcast(&self, t: &Tensor, root: u32) -> Result<WorkId> {
        Self::check_tensor(t, "broadcast")?;
        if root >= self.world_size {
            return Err(CoreError::Invalid(format!("broadcast root {root} is not a rank of this group (0..{})", self.world_size)));
        }
        self.submit(Collective::Broadcast { t: t.clone(), root })
    }

    fn check_pair(&self, what: &str, input: &Tensor, output: &Tensor, output_is_big: bool) -> Result<()> {
        Self::check_tensor(input, what)?;
        Self::check_tensor(output, what)?;
        if input.dtype() != output.dtype() {
            return Err(CoreError::Invalid(format!("{what}: input is {} but output is {}", input.dtype(), output.dtype())));
        }
        let (small, big) = if output_is_big { (input, output) } else { (output, input) };
        if small.numel() * self.world_size as usize != big.numel() {
            return Err(CoreError::Invalid(format!(
                "{what}: {} has {} elements, which is not world size {} × {} elements",
                if output_is_big { "output" } else { "input" },
                big.numel(),
                self.world_size,
                small.numel()
            )));
        }
        if std::ptr::eq(input.0.storage.as_ref(), output.0.storage.as_ref()) {
            return Err(CoreError::Invalid(format!("{what}: input and output must not share storage")));
        }
        Ok(())
    }

    /// Queues `output = concat over ranks of input`.
    ///
    /// # Errors
    /// Non-contiguous tensors, other dtypes, `output.numel() != world × input.numel()`.
    pub fn all_gather(&self, input: &Tensor, output: &Tensor) -> Result<WorkId> {
        self.check_pair("all_gather", input, output, true)?;
        self.submit(Collective::AllGather { input: input.clone(), output: output.clone() })
    }

    /// Queues `output = op over ranks of chunk[rank] of input`.
    ///
    /// # Errors
    /// Non-contiguous tensors, other dtypes, `input.numel() != world × output.numel()`, bad op.
    pub fn reduce_scatter(&self, input: &Tensor, output: &Tensor, op: u32) -> Result<WorkId> {
        self.check_pair("reduce_scatter", input, output, false)?;
        Self::check_op(op, input)?;
        self.submit(Collective::ReduceScatter { input: input.clone(), output: output.clone(), op })
    }

    /// Queues a barrier.
    ///
    /// # Errors
    /// A stopped group.
    pub fn barrier(&self) -> Result<WorkId> {
        self.submit(Collective::Barrier)
    }

    /// Waits for a queued collective (consuming its id).
    ///
    /// # Errors
    /// An unknown id; the backend's error; no result within the group's timeout ("rank R:
    /// all_reduce #12 did not finish within 30 s: a peer is dead or stuck").
    pub fn wait(&self, id: WorkId) -> Result<()> {
        let entry = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        let Some((seq, name, rx)) = entry else {
            return Err(CoreError::Invalid(format!("unknown or already waited work id {id}")));
        };
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CoreError::Invalid(format!("rank {}: {name} #{seq} failed: {e}", self.rank))),
            Err(RecvTimeoutError::Timeout) => Err(CoreError::Invalid(format!(
                "rank {}: {name} #{seq} did not finish within {} ms (timeout_ms): a peer is dead, stuck or slower than that",
                self.rank,
                self.timeout.as_millis()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                Err(CoreError::Invalid(format!("rank {}: {name} #{seq}: the communication thread died", self.rank)))
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the jobs already queued. The thread is
        // detached, not joined: one stuck in the backend (a dead peer) must not hang the drop;
        // backends time out on their own.
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
