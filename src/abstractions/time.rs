// SPDX-License-Identifier: GPL-2.0

//! A point in monotonic time and the milliseconds since it.
//!
//! 6.12 has `kernel::time::Ktime`; 7.x replaced it with
//! `Instant<Monotonic>` (7.3 no longer has `Ktime`). Both read
//! `CLOCK_MONOTONIC`; this picks the one the kernel has.

#[cfg(not(lw_time_instant))]
use kernel::time::{ktime_ms_delta, Ktime};
#[cfg(lw_time_instant)]
use kernel::time::{Instant, Monotonic};

/// A point in monotonic time.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    #[cfg(not(lw_time_instant))]
    at: Ktime,
    #[cfg(lw_time_instant)]
    at: Instant<Monotonic>,
}

impl Stamp {
    /// Now.
    pub(crate) fn now() -> Self {
        Stamp {
            #[cfg(not(lw_time_instant))]
            at: Ktime::ktime_get(),
            #[cfg(lw_time_instant)]
            at: Instant::now(),
        }
    }

    /// Whole milliseconds from this point until now.
    pub(crate) fn ms_since(&self) -> i64 {
        #[cfg(not(lw_time_instant))]
        return ktime_ms_delta(Ktime::ktime_get(), self.at);
        #[cfg(lw_time_instant)]
        return self.at.elapsed().as_millis();
    }
}
