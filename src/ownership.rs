// SPDX-License-Identifier: GPL-2.0

//! Which table owns a log device.
//!
//! `dmsetup reload` + `resume` replaces a table: dm suspends the old one,
//! resumes the new one, and only then destroys the old one. Both may name
//! the same log device; the new one may already be logging there when the
//! old one's destructor runs, so the old one must not write its end mark
//! (C does, over the new log). A table claims its log device when it
//! resumes; a destructor writes only if its table still owns it.
//!
//! dm opens table devices exclusively for their mapped device, so only
//! tables of one mapped device can share a log device, and dm serialises
//! their resume and destruction: a small fixed table of atomics suffices.
//!
//! Safe code on top of the abstractions.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Log devices tracked at once; beyond that a table is treated as the
/// owner (the behaviour of C).
const SLOTS: usize = 64;

/// `devt << 32 | id` of the table that last resumed on `devt`, or 0.
static OWNERS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A new table identity (never 0).
pub(crate) fn new_id() -> u32 {
    loop {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

fn entry(devt: u32, id: u32) -> u64 {
    (u64::from(devt) << 32) | u64::from(id)
}

/// Table `id` resumed with log device `devt`: it owns it now.
pub(crate) fn claim(devt: u32, id: u32) {
    let mine = entry(devt, id);
    for slot in &OWNERS {
        let cur = slot.load(Ordering::Acquire);
        if cur != 0 && (cur >> 32) as u32 == devt {
            slot.store(mine, Ordering::Release);
            return;
        }
    }
    for slot in &OWNERS {
        if slot
            .compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
    }
}

/// Whether a table that resumed on `devt` still owns it (it may be live,
/// and then its super block lags behind its entries until it suspends).
pub(crate) fn owned(devt: u32) -> bool {
    OWNERS.iter().any(|slot| {
        let cur = slot.load(Ordering::Acquire);
        cur != 0 && (cur >> 32) as u32 == devt
    })
}

/// Table `id` goes away: returns whether it still owns `devt` (or nobody
/// is recorded for it), and forgets it.
pub(crate) fn release(devt: u32, id: u32) -> bool {
    for slot in &OWNERS {
        let cur = slot.load(Ordering::Acquire);
        if cur != 0 && (cur >> 32) as u32 == devt {
            return cur == entry(devt, id)
                && slot
                    .compare_exchange(cur, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
        }
    }
    true
}
