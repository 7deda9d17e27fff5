// SPDX-License-Identifier: GPL-2.0

//! Writing entries onto a target block device or image file.

use crate::log::{Entry, Log};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

// From <linux/fs.h>: _IO(0x12, 119) and _IO(0x12, 127).
const BLKDISCARD: libc::c_ulong = 0x1277;
const BLKZEROOUT: libc::c_ulong = 0x127f;
/// Data is copied through a buffer of this many bytes.
const COPY_CHUNK: usize = 1 << 20;

/// The device or file a log is replayed onto.
pub struct Target {
    file: File,
    is_block: bool,
    discard: bool,
    buf: Vec<u8>,
}

impl Target {
    /// Opens `path` for writing. With `discard` false, discards are
    /// replayed as zero writes.
    pub fn open(path: &Path, discard: bool) -> std::io::Result<Target> {
        let file = OpenOptions::new().write(true).open(path)?;
        let is_block = file.metadata()?.file_type().is_block_device();
        Ok(Target {
            file,
            is_block,
            discard,
            buf: vec![0u8; COPY_CHUNK],
        })
    }

    /// Applies one entry: copies a write's data from the log, or discards
    /// (or zeroes) a discarded range. Marks and empty flushes change nothing.
    pub fn apply(&mut self, log: &Log, e: &Entry) -> std::io::Result<()> {
        let ss = u64::from(log.sector_size());
        let start = e.header.sector * ss;
        let len = e.header.nr_sectors * ss;
        if e.header.is_discard() {
            return self.discard(start, len);
        }
        let mut done = 0u64;
        let src = e.data_offset(log.sector_size());
        while done < len {
            let n = (len - done).min(self.buf.len() as u64) as usize;
            log.read_at(&mut self.buf[..n], src + done)?;
            self.file.write_all_at(&self.buf[..n], start + done)?;
            done += n as u64;
        }
        Ok(())
    }

    /// Discards `[start, start+len)`; when the target cannot discard, the
    /// range is zeroed instead (BLKZEROOUT, then plain writes), never skipped.
    fn discard(&mut self, start: u64, len: u64) -> std::io::Result<()> {
        if self.is_block {
            let range = [start, len];
            if self.discard && self.ioctl_range(BLKDISCARD, &range) {
                return Ok(());
            }
            if self.ioctl_range(BLKZEROOUT, &range) {
                return Ok(());
            }
        }
        self.buf.fill(0);
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(self.buf.len() as u64) as usize;
            self.file.write_all_at(&self.buf[..n], start + done)?;
            done += n as u64;
        }
        Ok(())
    }

    fn ioctl_range(&self, req: libc::c_ulong, range: &[u64; 2]) -> bool {
        // SAFETY: BLKDISCARD and BLKZEROOUT read two u64 from the pointer,
        // which points to a live array of two u64.
        unsafe { libc::ioctl(self.file.as_raw_fd(), req, range.as_ptr()) == 0 }
    }

    /// Makes the replayed data durable.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_all()
    }
}
