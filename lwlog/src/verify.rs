// SPDX-License-Identifier: GPL-2.0

//! `lwlog verify`: the full structural check of a log.

use crate::log::{Log, LogError, Source};
use logformat::FormatError;

/// What a valid log holds.
pub struct Report {
    /// Entries counted by the super block (all valid).
    pub entries: u64,
    /// Bytes from the start of the log to the end of the last entry.
    pub used: u64,
    /// Valid-looking entries right after the counted ones: left from an
    /// earlier log on the same device, or written after the last super
    /// block update before a crash (the super block is rewritten only at
    /// FUA and mark entries and on removal).
    pub uncounted: u64,
}

/// Checks the super block (magic, version, sector size, zero padding to
/// the end of its sector or to a group member's tag, whose name must be
/// valid) and every entry it counts (known flags only, mark
/// text fitting its sector, zero bytes after header and text, the entry
/// and its data inside the log). The error names the first problem.
pub fn verify<S: Source>(log: &Log<S>) -> Result<Report, LogError> {
    let ss = log.sector_size();
    let mut sector = vec![0u8; ss as usize];
    if u64::from(ss) > log.size() {
        return Err(LogError::Super(FormatError::Short));
    }
    log.read_at(&mut sector, 0)
        .map_err(|e| LogError::Io("reading the super block".into(), e))?;
    // A group member's super block ends with the group's tag.
    let end = match log.group {
        Some(_) => logformat::group_tag_offset(ss),
        None => sector.len(),
    };
    if let Some(i) = sector[logformat::SUPER_LEN..end]
        .iter()
        .position(|&b| b != 0)
    {
        return Err(LogError::Super(FormatError::NonZeroPadding(
            logformat::SUPER_LEN + i,
        )));
    }
    let mut used = u64::from(ss);
    let mut entries = 0;
    for e in log.entries() {
        let e = e?;
        used = e.end_offset(ss);
        entries += 1;
    }
    let uncounted = log.scan().skip(entries as usize).count() as u64;
    Ok(Report {
        entries,
        used,
        uncounted,
    })
}
