// SPDX-License-Identifier: GPL-2.0

//! The `append` table option: continue an existing log instead of starting
//! a new one. The constructor validates the super block and walks the
//! entries it counts (like QEMU's blklogwrites `log-append`); anything
//! that is not a complete, valid log of this sector size is refused before
//! the log device is written to.
//!
//! Safe code on top of the abstractions.

use crate::abstractions::block::bio::BioSet;
use crate::abstractions::block::io::read_sync;
use crate::abstractions::device_mapper::{dm_warn, TableDev};
use crate::logformat::{EntryHeader, Super};
use kernel::alloc::{flags::GFP_KERNEL, KVec};
use kernel::c_str;
use kernel::prelude::*;
use kernel::str::CStr;

/// The mark the destructor writes last, closing a log.
pub(crate) const END_MARK: &[u8] = b"dm-log-writes-end";

/// Where an existing log ends.
pub(crate) struct LogEnd {
    /// Entries the super block counts (all of them valid).
    pub(crate) entries: u64,
    /// First free 512-byte sector after them.
    pub(crate) next_sector: u64,
}

/// Finds the end of the log on `logdev`, whose log sectors must be
/// `sector_size` bytes. `count_is_exact`: a table of ours wrote the log and
/// counted every entry when it suspended (or is live and will), so entries
/// past the count are an older log's. On failure returns the constructor's
/// error text (the kernel log has the details).
pub(crate) fn find_end(
    bios: &BioSet,
    logdev: &TableDev,
    sector_size: u32,
    count_is_exact: bool,
) -> Result<LogEnd, &'static CStr> {
    let ss = sector_size as usize;
    let factor = u64::from(sector_size >> 9);
    let end = logdev.nr_sectors();
    let mut buf =
        KVec::from_elem(0u8, ss, GFP_KERNEL).map_err(|_| c_str!("Cannot allocate context"))?;
    let read = |sector: u64, buf: &mut [u8]| {
        read_sync(bios, logdev, sector, buf).map_err(|e| {
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
    let mut closed = sup.nr_entries == 0;
    for i in 0..sup.nr_entries {
        // A huge or hostile count must not hold `dmsetup` for ever.
        if i % 1024 == 1023 && kernel::current!().signal_pending() {
            dm_warn!("append: interrupted at entry {} of {}", i, sup.nr_entries);
            return Err(c_str!("Interrupted while reading the log"));
        }
        if next.saturating_add(factor) > end {
            dm_warn!(
                "append: entry {} of {} lies past the log device",
                i,
                sup.nr_entries
            );
            return Err(c_str!("Log entries run past the log device"));
        }
        read(next, &mut buf)?;
        let (h, text) = EntryHeader::decode(&buf).map_err(|e| {
            dm_warn!(
                "append: entry {} at 512-byte sector {} is invalid: {:?}",
                i,
                next,
                e
            );
            c_str!("Log holds an invalid entry")
        })?;
        closed = h.is_mark() && text == END_MARK;
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
    // The super block is rewritten at FUA writes and marks only: after a
    // crash, entries may follow the ones it counts. Appending would write
    // over them, and they may hold writes a flush had made durable, so
    // refuse unless the log was closed by its end mark (then what follows
    // is an older log's leftovers).
    if !closed && !count_is_exact && next.saturating_add(factor) <= end {
        read(next, &mut buf)?;
        if EntryHeader::decode(&buf).is_ok() {
            dm_warn!(
                "append: a valid entry follows the {} entries the super block counts, at 512-byte sector {}: the log was not closed and its super block lags (a crash?); refusing to overwrite it",
                sup.nr_entries,
                next
            );
            return Err(c_str!("Log has entries past its super block count"));
        }
    }
    Ok(LogEnd {
        entries: sup.nr_entries,
        next_sector: next,
    })
}
