//! On-demand restoration of released storages (ZeRO-3 / FSDP "gather on use").
//!
//! A strategy releases a sharded parameter's storage between uses and installs a *fetch hook*
//! on it. Before a kernel (forward or backward) reads its inputs, the dispatcher calls
//! [`materialize`]: it pins the hooked storages (so a fetch that evicts other parameters cannot
//! free an input of this very op), then runs the hook of each released one. A fetch restores
//! the values the storage had when released, so the version counter is put back: tensors saved
//! for backward stay valid.

use super::{Storage, Tensor};
use crate::error::{CoreError, Result};
use ferrite_sdk::abi::host::FetchHook;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// An installed hook; frees the plugin's state when dropped.
pub struct FetchHookBox(FetchHook);

impl Drop for FetchHookBox {
    fn drop(&mut self) {
        (self.0.drop_user)(self.0.user)
    }
}

impl Storage {
    /// Installs (or with `call == None` removes) the fetch hook.
    pub fn set_fetch(&self, hook: FetchHook) {
        let new = if hook.call.is_some() {
            Some(Arc::new(FetchHookBox(hook)))
        } else {
            (hook.drop_user)(hook.user);
            None
        };
        let mut slot = self.fetch.lock().unwrap_or_else(|e| e.into_inner());
        self.has_fetch.store(new.is_some(), Ordering::Release);
        let old = std::mem::replace(&mut *slot, new);
        drop(slot);
        // Dropped outside the lock: the plugin's drop may touch other storages.
        drop(old);
    }

    fn fetch_hook(&self) -> Option<Arc<FetchHookBox>> {
        self.fetch.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs the fetch hook of a released storage; the version is kept.
    fn fetch_now(&self, what: &dyn Fn() -> String) -> Result<()> {
        let Some(hook) = self.fetch_hook() else {
            return Err(CoreError::Invalid(format!(
                "{} reads a released storage of {} bytes (a sharded parameter used outside its \
                 gather, and no fetch hook is installed)",
                what(),
                self.nbytes()
            )));
        };
        let version = self.version();
        let call = hook.0.call.expect("installed hooks have a call");
        if let abi_stable::std_types::RResult::RErr(e) = call(hook.0.user) {
            return Err(CoreError::Invalid(format!("{}: fetching a released storage failed: {e}", what())));
        }
        if self.is_released() {
            return Err(CoreError::Invalid(format!(
                "{}: the fetch hook returned without restoring the released storage",
                what()
            )));
        }
        self.version.store(version, Ordering::Release);
        Ok(())
    }
}

/// Storages pinned for the duration of one kernel call; unpinned on drop.
pub struct Pins(Vec<Arc<Storage>>);

impl Drop for Pins {
    fn drop(&mut self) {
        for s in &self.0 {
            s.pins.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Makes every tensor of `inputs` readable: pins the storages that have a fetch hook, then
/// fetches those that are released. `what(i)` names input `i` in errors.
///
/// # Errors
/// A released storage without a hook, or a hook that failed or did not restore it.
pub fn materialize<'a>(inputs: impl Iterator<Item = &'a Tensor> + Clone, what: impl Fn(usize) -> String) -> Result<Pins> {
    let mut pins = Pins(Vec::new());
    for t in inputs.clone() {
        let s = &t.0.storage;
        // Cheap test first: most storages never get a hook.
        if s.has_fetch.load(Ordering::Acquire) {
            s.pins.fetch_add(1, Ordering::AcqRel);
            pins.0.push(s.clone());
        }
    }
    for (i, t) in inputs.enumerate() {
        if t.0.storage.is_released() {
            t.0.storage.fetch_now(&|| what(i))?;
        }
    }
    Ok(pins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_stable::std_types::{RResult, RString};
    use ferrite_sdk::DType;
    use std::ffi::c_void;
    use std::sync::atomic::AtomicUsize;

    struct Ctx {
        t: Tensor,
        calls: AtomicUsize,
        other: Option<Tensor>,
    }

    extern "C" fn fetch(user: *mut c_void) -> RResult<(), RString> {
        let c = unsafe { &*(user as *const Ctx) };
        c.calls.fetch_add(1, Ordering::SeqCst);
        // Try to evict another (pinned) input: must be refused.
        if let Some(o) = &c.other {
            assert!(!unsafe { o.0.storage.release() }, "a pinned storage was released");
        }
        unsafe { c.t.0.storage.restore() };
        c.t.0.storage.bump_version();
        RResult::ROk(())
    }
    extern "C" fn drop_ctx(user: *mut c_void) {
        drop(unsafe { Box::from_raw(user as *mut Ctx) });
    }

    #[test]
    fn fetch_restores_keeps_version_and_pins_inputs() {
        let a = Tensor::zeros(&[4], DType::F32).unwrap();
        let b = Tensor::zeros(&[4], DType::F32).unwrap();
        let ctx = Box::into_raw(Box::new(Ctx { t: a.detach(), calls: AtomicUsize::new(0), other: Some(b.detach()) }));
        a.0.storage.set_fetch(FetchHook { user: ctx as *mut c_void, call: Some(fetch), drop_user: drop_ctx });
        extern "C" fn nop(_: *mut c_void) -> RResult<(), RString> {
            RResult::ROk(())
        }
        extern "C" fn nothing(_: *mut c_void) {}
        b.0.storage.set_fetch(FetchHook { user: std::ptr::null_mut(), call: Some(nop), drop_user: nothing });
        let v = a.0.storage.version();
        assert!(unsafe { a.0.storage.release() });
        {
            let _p = materialize([&b, &a].into_iter(), |i| format!("input {i}")).unwrap();
            assert!(!a.0.storage.is_released() && !b.0.storage.is_released());
            assert_eq!(a.0.storage.version(), v);
            assert!(!unsafe { a.0.storage.release() }, "pinned while the op runs");
        }
        assert!(unsafe { a.0.storage.release() }, "unpinned after the op");
        a.0.storage.set_fetch(FetchHook { user: std::ptr::null_mut(), call: None, drop_user: nothing });
        let e = materialize([&a].into_iter(), |_| "linear input 1".into()).err().unwrap().to_string();
        assert!(e.contains("linear input 1") && e.contains("released"), "{e}");
    }
}
