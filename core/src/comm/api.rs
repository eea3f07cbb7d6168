//! The core's [`ProcessGroupApi`] table: what `parallel.*` plugins call.

use super::group::ProcessGroup;
use crate::error::{CoreError, Result};
use crate::host_api::{guard, t};
use ferrite_sdk::abi::comm::{ProcessGroupApi, ProcessGroupRef, WorkId};
use ferrite_sdk::abi::host::TensorHandle;
use std::ffi::c_void;
use std::sync::Arc;

/// # Safety
/// `ctx` must be a pointer made by [`group_ref`] whose group is still alive.
unsafe fn pg<'a>(ctx: *const c_void) -> &'a ProcessGroup {
    &*(ctx as *const ProcessGroup)
}

fn write(out: *mut WorkId, id: Result<WorkId>) -> Result<()> {
    if out.is_null() {
        return Err(CoreError::Invalid("null work id pointer".into()));
    }
    // SAFETY: checked non-null; the caller passes a writable slot.
    unsafe { *out = id? };
    Ok(())
}

extern "C" fn rank(ctx: *const c_void) -> u32 {
    unsafe { pg(ctx) }.rank()
}
extern "C" fn world_size(ctx: *const c_void) -> u32 {
    unsafe { pg(ctx) }.world_size()
}
extern "C" fn all_reduce(ctx: *const c_void, x: TensorHandle, op: u32, out: *mut WorkId) -> i32 {
    guard(|| write(out, unsafe { pg(ctx).all_reduce(&t(x)?, op) }))
}
extern "C" fn broadcast(ctx: *const c_void, x: TensorHandle, root: u32, out: *mut WorkId) -> i32 {
    guard(|| write(out, unsafe { pg(ctx).broadcast(&t(x)?, root) }))
}
extern "C" fn all_gather(ctx: *const c_void, i: TensorHandle, o: TensorHandle, out: *mut WorkId) -> i32 {
    guard(|| write(out, unsafe { pg(ctx).all_gather(&t(i)?, &t(o)?) }))
}
extern "C" fn reduce_scatter(ctx: *const c_void, i: TensorHandle, o: TensorHandle, op: u32, out: *mut WorkId) -> i32 {
    guard(|| write(out, unsafe { pg(ctx).reduce_scatter(&t(i)?, &t(o)?, op) }))
}
extern "C" fn barrier(ctx: *const c_void, out: *mut WorkId) -> i32 {
    guard(|| write(out, unsafe { pg(ctx) }.barrier()))
}
extern "C" fn wait(ctx: *const c_void, work: WorkId) -> i32 {
    guard(|| unsafe { pg(ctx) }.wait(work))
}

static PROCESS_GROUP_API: ProcessGroupApi =
    ProcessGroupApi { rank, world_size, all_reduce, broadcast, all_gather, reduce_scatter, barrier, wait };

/// The raw form of `group` handed to strategy plugins. The caller keeps `group` alive at least
/// as long as anything holding the result (the host keeps the `Arc` beside the strategy).
pub fn group_ref(group: &Arc<ProcessGroup>) -> ProcessGroupRef {
    ProcessGroupRef { ctx: Arc::as_ptr(group) as *const c_void, api: &PROCESS_GROUP_API }
}
