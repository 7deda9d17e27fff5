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
use crate::logformat::{group_name, EntryHeader, FormatError, Super};
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
    /// In a grouped log, the group sequence number of its last entry (0
    /// if none).
    pub(crate) last_group_seq: u64,
}

/// Decodes a header sector of a log of no group, or of a group member's
/// (`grouped`): the header, the mark text and the entry's group number.
fn decode(sector: &[u8], grouped: bool) -> Result<(EntryHeader, &[u8], Option<u64>), FormatError> {
    if grouped {
        EntryHeader::decode_grouped(sector).map(|(h, text, stamp)| (h, text, Some(stamp.seq)))
    } else {
        EntryHeader::decode(sector).map(|(h, text)| (h, text, None))
    }
}

/// Finds the end of the log on `logdev`, whose log sectors must be
/// `sector_size` bytes. `count_is_exact`: a table of ours wrote the log and
/// counted every entry when it suspended (or is live and will), so entries
/// past the count are an older log's. `group`: the group the table is in; a
/// log of another group, or of none, is refused (its sequence numbers
/// would mean nothing in this one). On failure returns the constructor's
/// error text (the kernel log has the details).
pub(crate) fn find_end(
    bios: &BioSet,
    logdev: &TableDev,
    sector_size: u32,
    count_is_exact: bool,
    group: Option<&[u8]>,
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
    let log_group = group_name(&buf).map_err(|_| {
        dm_warn!("append: the super block's group tag is invalid");
        c_str!("Log holds an invalid group tag")
    })?;
    if log_group != group {
        fn show(g: Option<&[u8]>) -> &str {
            g.map_or("(none)", |n| core::str::from_utf8(n).unwrap_or("?"))
        }
        dm_warn!(
            "append: the log is of group {}, the table of group {}",
            show(log_group),
            show(group)
        );
        return Err(c_str!("Log is of another group"));
    }
    // Checked equal to the table's.
    let grouped = group.is_some();
    let mut last_group_seq = 0;
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
        let (h, text, seq) = decode(&buf, grouped).map_err(|e| {
            dm_warn!(
                "append: entry {} at 512-byte sector {} is invalid: {:?}",
                i,
                next,
                e
            );
            c_str!("Log holds an invalid entry")
        })?;
        closed = h.is_mark() && text == END_MARK;
        if let Some(seq) = seq {
            last_group_seq = seq;
        }
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
        if decode(&buf, grouped).is_ok() {
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
        last_group_seq,
    })
}
