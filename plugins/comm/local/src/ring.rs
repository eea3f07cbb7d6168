//! The ring algorithms (Patarasuk & Yuan, "Bandwidth optimal all-reduce algorithms for
//! clusters of workstations", JPDC 2009; the ring all-reduce of Baidu and Horovod).
//!
//! Rank `r` only ever sends to `r + 1` and receives from `r - 1` (mod `N`). Buffers are cut
//! into `N` chunks at element boundaries (`chunk i = [i·n/N, (i+1)·n/N)`), so any element
//! count works, including 0 and counts below `N` (some chunks are then empty but still sent,
//! which keeps every rank's message sequence identical).
//!
//! Every reduced element is computed exactly once, by the rank that owns its chunk, and then
//! copied: all ranks end with bit-identical results whatever the dtype.

use crate::comm::LocalComm;
use crate::reduce::{combine, divide, validate, Op};
use crate::wire::{Failure, Header};
use ferrite_sdk::DType;
use std::ops::Range;

/// Element range of chunk `i` when `elems` elements are split into `world` chunks whose sizes
/// differ by at most one.
///
/// # Examples
///
/// ```
/// use ferrite_comm_local::ring::chunk;
/// assert_eq!((0..3).map(|i| chunk(7, 3, i)).collect::<Vec<_>>(), vec![0..2, 2..4, 4..7]);
/// assert_eq!(chunk(1, 4, 0), 0..0);
/// assert_eq!(chunk(1, 4, 3), 0..1);
/// ```
pub fn chunk(elems: usize, world: u32, i: u32) -> Range<usize> {
    // u128: `elems · world` must not overflow for huge buffers.
    let bound = |k: u32| (elems as u128 * k as u128 / world as u128) as usize;
    bound(i)..bound(i + 1)
}

fn bytes_of(elems: usize, size: usize, world: u32, i: u32) -> Range<usize> {
    let r = chunk(elems, world, i);
    r.start * size..r.end * size
}

impl LocalComm {
    /// The rank (or chunk index) `k` places before this rank on the ring.
    fn back(&self, k: u32) -> u32 {
        (self.rank + self.world - k % self.world) % self.world
    }

    /// Ring reduce-scatter in place over `work` (`elems` elements of `size` bytes): after
    /// `N - 1` steps chunk `rank` of `work` holds the reduction over all ranks. At step `s`
    /// rank `r` sends its partial chunk `r - s - 1` and folds the received chunk `r - s - 2`
    /// into its own contribution.
    fn ring_reduce_scatter(&self, head: &Header, work: &mut [u8], size: usize, dtype: DType, op: Op) -> Result<(), Failure> {
        let elems = work.len() / size;
        for s in 0..self.world - 1 {
            let out = bytes_of(elems, size, self.world, self.back(s + 1));
            self.send(head, s, self.message(&work[out]))?;
            let into = bytes_of(elems, size, self.world, self.back(s + 2));
            let got = self.recv(head, s, into.len())?;
            combine(&mut work[into], &got, dtype, op).map_err(|e| self.fail(head, e))?;
            self.recycle(got);
        }
        Ok(())
    }

    /// Ring all-gather in place over `buf` (bytes): this rank's chunk `rank` is final; at step
    /// `s` rank `r` forwards chunk `r - s` and receives chunk `r - s - 1`. Message steps are
    /// numbered from `first_step`.
    fn ring_all_gather(&self, head: &Header, buf: &mut [u8], size: usize, first_step: u32) -> Result<(), Failure> {
        let elems = buf.len() / size;
        for s in 0..self.world - 1 {
            let out = bytes_of(elems, size, self.world, self.back(s));
            self.send(head, first_step + s, self.message(&buf[out]))?;
            let into = bytes_of(elems, size, self.world, self.back(s + 1));
            let got = self.recv(head, first_step + s, into.len())?;
            buf[into].copy_from_slice(&got);
            self.recycle(got);
        }
        Ok(())
    }

    /// All-reduce = ring reduce-scatter then ring all-gather (`2(N-1)` steps); `AVG` divides
    /// the owned chunk once, between the two phases.
    pub(crate) fn ring_all_reduce(&self, head: &Header, buf: &mut [u8], dtype: DType, op: u32) -> Result<(), Failure> {
        let op = validate(dtype, op, buf.len()).map_err(|e| self.fail(head, e))?;
        if self.world == 1 {
            return Ok(()); // the sum (or mean, max, min) of one buffer is itself
        }
        let size = dtype.size();
        self.ring_reduce_scatter(head, buf, size, dtype, op)?;
        if op == Op::Avg {
            let mine = bytes_of(buf.len() / size, size, self.world, self.rank);
            divide(&mut buf[mine], dtype, self.world).map_err(|e| self.fail(head, e))?;
        }
        self.ring_all_gather(head, buf, size, self.world - 1)
    }

    /// `recv` = reduction over ranks of chunk `rank` of `send` (`N` equal chunks).
    pub(crate) fn reduce_scatter_into(&self, head: &Header, send: &[u8], recv: &mut [u8], dtype: DType, op: u32) -> Result<(), Failure> {
        let op = validate(dtype, op, recv.len()).map_err(|e| self.fail(head, e))?;
        if send.len() != recv.len() * self.world as usize {
            return Err(self.fail(
                head,
                format!("send has {} bytes, expected world size {} × recv's {} bytes", send.len(), self.world, recv.len()),
            ));
        }
        let size = dtype.size();
        let mut work = send.to_vec();
        if self.world > 1 {
            self.ring_reduce_scatter(head, &mut work, size, dtype, op)?;
        }
        recv.copy_from_slice(&work[bytes_of(send.len() / size, size, self.world, self.rank)]);
        if op == Op::Avg {
            divide(recv, dtype, self.world).map_err(|e| self.fail(head, e))?;
        }
        Ok(())
    }

    /// `recv` = concatenation of every rank's `send` in rank order (ring, `N-1` steps).
    pub(crate) fn all_gather_into(&self, head: &Header, send: &[u8], recv: &mut [u8]) -> Result<(), Failure> {
        if recv.len() != send.len() * self.world as usize {
            return Err(self.fail(
                head,
                format!("recv has {} bytes, expected world size {} × send's {} bytes", recv.len(), self.world, send.len()),
            ));
        }
        let n = send.len();
        recv[self.rank as usize * n..(self.rank as usize + 1) * n].copy_from_slice(send);
        self.ring_all_gather(head, recv, 1, 0)
    }

    /// Broadcast from `root` along the ring `root → root+1 → … → root-1`; the last rank
    /// sends an empty token back to `root`, so the root also learns of a failure downstream.
    pub(crate) fn ring_broadcast(&self, head: &Header, buf: &mut [u8], root: u32) -> Result<(), Failure> {
        if root >= self.world {
            return Err(self.fail(head, format!("root {root} is not a rank of this group (0..{})", self.world)));
        }
        if self.world == 1 {
            return Ok(());
        }
        let d = (self.rank + self.world - root) % self.world;
        if d == 0 {
            self.send(head, 0, buf.to_vec())?;
            self.recv(head, self.world - 1, 0)?;
        } else {
            let got = self.recv(head, d - 1, buf.len())?;
            buf.copy_from_slice(&got);
            self.send(head, d, if d + 1 < self.world { got } else { Vec::new() })?;
        }
        Ok(())
    }

    /// Barrier: `N-1` ring steps of empty messages; after step `s` a rank knows that the
    /// `s + 1` ranks before it have entered, so after `N-1` steps all have.
    pub(crate) fn ring_barrier(&self, head: &Header) -> Result<(), Failure> {
        for s in 0..self.world.saturating_sub(1) {
            self.send(head, s, Vec::new())?;
            self.recv(head, s, 0)?;
        }
        Ok(())
    }
}
