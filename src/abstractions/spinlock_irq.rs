// SPDX-License-Identifier: GPL-2.0

//! An interrupt-safe spinlock (`spin_lock_irqsave`/`spin_unlock_irqrestore`).
//!
//! Kernel 6.12's Rust `SpinLock` disables neither interrupts nor bottom
//! halves, so data shared with a bio completion (which may run in hard or
//! soft interrupt context) needs this one. It plugs into the kernel's generic
//! `Lock`, so `kernel::sync::CondVar` works with its guards.
//!
//! Kernels that have `kernel::sync::SpinLockIrq` (7.3 has; 6.12 has not)
//! get that one instead, under the same names.

#[cfg(lw_kernel_spinlock_irq)]
pub(crate) use kernel::sync::{new_spinlock_irq, SpinLockIrq};
#[cfg(not(lw_kernel_spinlock_irq))]
pub(crate) use own::{new_spinlock_irq, SpinLockIrq};

#[cfg(not(lw_kernel_spinlock_irq))]
pub(crate) mod own {
    use crate::abstractions::bindings;
    use kernel::sync::lock::{Backend, Lock};

    /// A spinlock that saves and disables local interrupts while held.
    pub(crate) type SpinLockIrq<T> = Lock<T, SpinLockIrqBackend>;

    /// Creates a [`SpinLockIrq`] initialiser with a lockdep class of its own.
    macro_rules! new_spinlock_irq {
        ($inner:expr $(, $name:literal)? $(,)?) => {
            kernel::sync::lock::Lock::<_, $crate::abstractions::spinlock_irq::own::SpinLockIrqBackend>::new(
                $inner,
                kernel::optional_name!($($name)?),
                kernel::static_lock_class!(),
            )
        };
    }
    pub(crate) use new_spinlock_irq;

    /// The [`Backend`] of [`SpinLockIrq`]; the guard keeps the saved interrupt
    /// flags.
    pub(crate) struct SpinLockIrqBackend;

    // SAFETY: `lock` takes the spinlock, so only one guard exists at a time, and
    // `unlock` releases it with the flags `lock` saved, restoring the interrupt
    // state the owner had.
    unsafe impl Backend for SpinLockIrqBackend {
        type State = bindings::spinlock_t;
        type GuardState = kernel::ffi::c_ulong;

        unsafe fn init(
            ptr: *mut Self::State,
            name: *const kernel::ffi::c_char,
            key: *mut bindings::lock_class_key,
        ) {
            // SAFETY: The caller guarantees `ptr` is valid for writes and `name`
            // and `key` stay valid forever.
            unsafe { bindings::__spin_lock_init(ptr, name, key) }
        }

        #[cfg(not(CONFIG_PREEMPT_RT))]
        unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
            // SAFETY: The caller guarantees `ptr` points to an initialised
            // spinlock. Without PREEMPT_RT, `spinlock_t` is a union whose
            // `rlock` (`raw_spinlock_t`) is at offset 0 (bindgen makes it
            // opaque), and `spin_lock_irqsave` passes `&lock->rlock` on to this.
            // With inlined spinlocks the symbol does not exist: a link error,
            // never a wrong lock.
            unsafe { bindings::_raw_spin_lock_irqsave(ptr.cast()) }
        }

        #[cfg(not(CONFIG_PREEMPT_RT))]
        unsafe fn unlock(ptr: *mut Self::State, flags: &Self::GuardState) {
            // SAFETY: The caller owns the lock, taken by `lock` above, which
            // returned `flags`; `rlock` is at offset 0 as above.
            unsafe { bindings::_raw_spin_unlock_irqrestore(ptr.cast(), *flags) }
        }

        // With PREEMPT_RT, `spinlock_t` is a sleeping lock, interrupts are
        // threaded, and `spin_lock_irqsave` is `spin_lock` with flags 0.
        #[cfg(CONFIG_PREEMPT_RT)]
        unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
            // SAFETY: The caller guarantees `ptr` points to an initialised
            // spinlock.
            unsafe { bindings::spin_lock(ptr) };
            0
        }

        #[cfg(CONFIG_PREEMPT_RT)]
        unsafe fn unlock(ptr: *mut Self::State, _flags: &Self::GuardState) {
            // SAFETY: The caller owns the lock, taken by `lock` above.
            unsafe { bindings::spin_unlock(ptr) }
        }
    }
}
