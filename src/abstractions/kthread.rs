// SPDX-License-Identifier: GPL-2.0

//! A kernel thread running a Rust closure, stopped when its handle drops.

use crate::abstractions::bindings;
use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::error::{from_err_ptr, Result};
use kernel::str::CStr;
// Where the kernel's `CStr` is core's, its kernel methods are a trait's.
#[cfg(lw_cstr_core)]
use kernel::str::CStrExt;
#[cfg(lw_sync_aref)]
use kernel::sync::aref::ARef;
use kernel::task::Task;
#[cfg(not(lw_sync_aref))]
use kernel::types::ARef;

/// A running kernel thread.
///
/// # Invariants
///
/// `task` is a kthread created by `kthread_create_on_node`, referenced by
/// the [`ARef`] (so it stays valid after it exits), and not stopped yet.
/// `data` is the closure `thread_main` takes over when the thread runs;
/// `drop_data` frees it if the thread never does.
pub(crate) struct Kthread {
    task: ARef<Task>,
    data: *mut core::ffi::c_void,
    drop_data: unsafe fn(*mut core::ffi::c_void),
}

// SAFETY: `data` is only touched in `drop`, once the thread is stopped;
// the task may be stopped from any thread.
unsafe impl Send for Kthread {}
// SAFETY: `&Kthread` gives no access to anything.
unsafe impl Sync for Kthread {}

impl Kthread {
    /// Creates a thread named `name` running `f` and starts it. The thread
    /// is freezable. `f` returns when it is done; dropping the handle then
    /// reaps the thread (`kthread_stop`), so `f` must watch for a stop
    /// request of its own (the handle's drop does not interrupt it).
    pub(crate) fn run<F: FnOnce() + Send + 'static>(name: &CStr, f: F) -> Result<Kthread> {
        let data = KBox::into_raw(KBox::new(f, GFP_KERNEL)?);
        // SAFETY: `thread_main::<F>` takes back `data`; the format string
        // "%s" consumes the one NUL-terminated `name` argument.
        let task = from_err_ptr(unsafe {
            bindings::kthread_create_on_node(
                Some(thread_main::<F>),
                data.cast(),
                bindings::NUMA_NO_NODE,
                kernel::c_str!("%s").as_char_ptr(),
                name.as_char_ptr(),
            )
        });
        let task = match task {
            Ok(task) => task,
            Err(e) => {
                // SAFETY: The thread was not created, so `data` was not
                // consumed.
                drop(unsafe { KBox::from_raw(data) });
                return Err(e);
            }
        };
        // SAFETY: `task` is a valid new task (`Task` is a transparent
        // wrapper of `task_struct`); `ARef::from` takes a reference on it
        // before this borrow ends.
        let task: ARef<Task> = unsafe { &*task.cast::<Task>() }.into();
        // A new kthread sleeps until woken.
        task.wake_up();
        // INVARIANT: created, referenced, not stopped; `data` is the
        // closure's box.
        Ok(Kthread {
            task,
            data: data.cast(),
            drop_data: drop_closure::<F>,
        })
    }
}

/// Frees the closure of a thread that never ran.
///
/// # Safety
///
/// `data` must be the box [`Kthread::run`] leaked for a closure of type `F`,
/// not taken back by [`thread_main`].
unsafe fn drop_closure<F>(data: *mut core::ffi::c_void) {
    // SAFETY: Guaranteed by the caller.
    drop(unsafe { KBox::from_raw(data.cast::<F>()) });
}

/// Entry point of a thread started by [`Kthread::run`].
///
/// # Safety
///
/// Only the kthread machinery calls this, once, with the `data` `run`
/// passed.
unsafe extern "C" fn thread_main<F: FnOnce() + Send + 'static>(
    data: *mut core::ffi::c_void,
) -> i32 {
    // SAFETY: `data` is the box `Kthread::run` leaked for this thread.
    let f = unsafe { KBox::from_raw(data.cast::<F>()) };
    #[cfg(CONFIG_FREEZER)]
    // SAFETY: Called from the new kthread itself.
    unsafe {
        bindings::set_freezable()
    };
    (KBox::into_inner(f))();
    0
}

impl Drop for Kthread {
    fn drop(&mut self) {
        let task = core::ptr::from_ref::<Task>(&self.task).cast_mut().cast();
        // SAFETY: `task` is valid and not stopped (invariant); our reference
        // keeps it valid across `kthread_stop` even if the thread function
        // already returned.
        let ret = unsafe { bindings::kthread_stop(task) };
        // A thread stopped before it first ran never calls `thread_main`
        // (`kthread()` returns -EINTR instead), which always returns 0: the
        // closure and all it owns would leak.
        if ret == -(bindings::EINTR as i32) {
            // SAFETY: The thread never ran, so `thread_main` did not take
            // `data` back (invariant).
            unsafe { (self.drop_data)(self.data) };
        }
    }
}

/// Freezes the calling kthread if the system is suspending
/// (`try_to_freeze()`, whose static inline body this mirrors, minus the
/// static-branch shortcut). Call it where the thread holds no locks.
/// Without `CONFIG_FREEZER` it does nothing, like the C stub.
pub(crate) fn try_to_freeze() -> bool {
    #[cfg(CONFIG_FREEZER)]
    {
        // SAFETY: `get_current` returns the running task.
        let current = unsafe { bindings::get_current() };
        // SAFETY: `freezing_slow_path` only reads the task's state; the
        // refrigerator is entered from the task itself with no locks held.
        unsafe { bindings::freezing_slow_path(current) && bindings::__refrigerator(false) }
    }
    #[cfg(not(CONFIG_FREEZER))]
    false
}
