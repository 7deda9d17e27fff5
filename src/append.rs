// SPDX-License-Identifier: GPL-2.0

//! The `append` table option: continue an existing log instead of starting
//! a new one. The constructor validates the super block and walks the
//! entries it counts (like QEMU's blklogwrites `log-append`); anything
//! that is not a complete, valid log of this sector size is refused before
//! the log device is written to.
//!
//! Safe code on top of the abstractions.

use crate::dm::{dm_warn, TableDev};
use crate::log_io::read_sync;
use crate::logformat::{EntryHeader, Super};
use kernel::alloc::{flags::GFP_KERNEL, KVec};
use kernel::c_str;
use kernel::prelude::*;
use kernel::str::CStr;

/// Where an existing log ends.
pub(crate) struct LogEnd {
    /// Entries the super block counts (all of them valid).
    pub(crate) entries: u64,
    /// First free 512-byte sector after them.
    pub(crate) next_sector: u64,
}

/// Finds the end of the log on `logdev`, whose log sectors must be
/// `sector_size` bytes. On failure returns the constructor's error text
/// (the kernel log has the details).
pub(crate) fn find_end(logdev: &TableDev, sector_size: u32) -> Result<LogEnd, &'static CStr> {
    let ss = sector_size as usize;
    let factor = u64::from(sector_size >> 9);
    let end = logdev.nr_sectors();
    let mut buf =
        KVec::from_elem(0u8, ss, GFP_KERNEL).map_err(|_| c_str!("Cannot allocate context"))?;
    let read = |sector: u64, buf: &mut [u8]| {
        read_sync(logdev, sector, buf).map_err(|e| {
            dm_warn!(
                "append: reading log sector {}: error {}",
                sector,
                e.to_errno()
            );
            c_str!("Cannot read the log device")
        })
    };
    read(0, &mut buf)?;
    let sup = Super::decode(&buf).map_err(|e| {
        dm_warn!("append: no log on the log device: {:?}", e);
        c_str!("Log device holds no valid log to append to")
    })?;
    if sup.sector_size != sector_size {
        dm_warn!(
            "append: the log has {}-byte sectors, the data device {}",
            sup.sector_size,
            sector_size
        );
        return Err(c_str!("Log sector size differs from the data device's"));
    }
    let mut next = factor;
    for i in 0..sup.nr_entries {
        if next.saturating_add(factor) > end {
            dm_warn!(
                "append: entry {} of {} lies past the log device",
                i,
                sup.nr_entries
            );
            return Err(c_str!("Log entries run past the log device"));
        }
        read(next, &mut buf)?;
        let (h, _) = EntryHeader::decode(&buf).map_err(|e| {
            dm_warn!(
                "append: entry {} at 512-byte sector {} is invalid: {:?}",
                i,
                next,
                e
            );
            c_str!("Log holds an invalid entry")
        })?;
        // Checked: a corrupt length must be an error, not an overflow.
        next = h
            .data_sectors()
            .checked_add(1)
            .and_then(|n| n.checked_mul(factor))
            .and_then(|n| n.checked_add(next))
            .unwrap_or(u64::MAX);
        if next > end {
            dm_warn!(
                "append: entry {} of {} runs past the log device",
                i,
                sup.nr_entries
            );
            return Err(c_str!("Log entries run past the log device"));
        }
    }
    Ok(LogEnd {
        entries: sup.nr_entries,
        next_sector: next,
    })
}
