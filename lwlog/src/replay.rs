// SPDX-License-Identifier: GPL-2.0

//! Writing entries onto a target block device or image file.
//!
//! Speed comes from reading the log sequentially in large chunks and from
//! merging writes that continue one another into one `pwrite`; order is
//! kept because a pending merged write is issued before anything that does
//! not extend it.

use crate::error::{Error, TargetOp};
use crate::log::{Entry, Log, Source};
use crate::progress::Progress;
use crate::stream::LogStream;
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

// From <linux/fs.h>: _IO(0x12, 119) and _IO(0x12, 127).
const BLKDISCARD: libc::c_ulong = 0x1277;
const BLKZEROOUT: libc::c_ulong = 0x127f;
/// Log bytes read at a time, and the largest merged write.
const CHUNK: usize = 8 << 20;
/// Writes at least this large are issued directly, not merged.
const MERGE_BELOW: usize = 64 << 10;

/// The device or file a log is replayed onto.
pub struct Target {
    file: File,
    /// The path it was opened by, to name it when a write fails.
    path: PathBuf,
    is_block: bool,
    /// Replay discards (false: ignore them, like replay-log --no-discard).
    discard: bool,
    /// A discard was asked for and the target could not discard (a
    /// regular file, or BLKDISCARD failed): it was zeroed instead.
    discard_zeroed: bool,
    /// Offset and bytes of a write not issued yet.
    pending_at: u64,
    pending: Vec<u8>,
}

impl Target {
    pub fn open(path: &Path, discard: bool) -> io::Result<Target> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let is_block = file.metadata()?.file_type().is_block_device();
        Ok(Target {
            file,
            path: path.to_path_buf(),
            is_block,
            discard,
            discard_zeroed: false,
            pending_at: 0,
            pending: Vec::with_capacity(CHUNK),
        })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// The path the target was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `source`, from I/O on this target, as an `Error`: a write that
    /// failed (the target full or failing) becomes `Error::TargetWrite`,
    /// naming the target, the bytes and `entry`, the entry being replayed
    /// if any; any other error becomes `other(source)`.
    pub fn error(
        &self,
        source: io::Error,
        entry: Option<u64>,
        other: impl FnOnce(io::Error) -> Error,
    ) -> Error {
        match source.downcast::<WriteFailed>() {
            Ok(w) => Error::TargetWrite {
                path: self.path.clone(),
                at: w.at,
                len: w.len,
                entry,
                source: w.source,
            },
            Err(source) => other(source),
        }
    }

    /// Whether discard entries are replayed (not under --no-discard).
    pub fn replays_discards(&self) -> bool {
        self.discard
    }

    /// Whether a discard had to be done by zeroing, BLKDISCARD being
    /// unavailable.
    pub fn discard_zeroed(&self) -> bool {
        self.discard_zeroed
    }

    /// Writes `data` at byte `at`, merged with the pending write when it
    /// continues it.
    fn write(&mut self, data: &[u8], at: u64) -> io::Result<()> {
        let continues = !self.pending.is_empty()
            && self.pending_at + self.pending.len() as u64 == at
            && self.pending.len() + data.len() <= CHUNK;
        if !continues {
            self.issue()?;
            // Large writes gain nothing from merging: skip the copy.
            if data.len() >= MERGE_BELOW {
                return write_at(&self.file, data, at);
            }
            self.pending_at = at;
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }

    /// Issues the pending write.
    pub fn issue(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            write_at(&self.file, &self.pending, self.pending_at)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Discards `[start, start+len)`. When the target cannot discard, the
    /// range is zeroed instead (BLKZEROOUT, then plain writes; a hole in
    /// an image file), never skipped.
    pub fn discard(&mut self, start: u64, len: u64) -> io::Result<()> {
        self.issue()?;
        if !self.discard {
            return Ok(());
        }
        let range = [start, len];
        if self.is_block && self.ioctl_range(BLKDISCARD, &range) {
            return Ok(());
        }
        self.discard_zeroed = true;
        let zeroed = if self.is_block {
            self.ioctl_range(BLKZEROOUT, &range)
        } else {
            self.punch_hole(start, len)
        };
        if zeroed {
            return Ok(());
        }
        let zeroes = vec![0u8; CHUNK];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(CHUNK as u64) as usize;
            let at = start + done;
            self.file
                .write_all_at(&zeroes[..n], at)
                .map_err(write_failed(at, n))?;
            done += n as u64;
        }
        Ok(())
    }

    fn ioctl_range(&self, req: libc::c_ulong, range: &[u64; 2]) -> bool {
        // SAFETY: BLKDISCARD and BLKZEROOUT read two u64 from the pointer,
        // which points to a live array of two u64.
        unsafe { libc::ioctl(self.file.as_raw_fd(), req, range.as_ptr()) == 0 }
    }

    /// Zeroes a range of a regular file by punching a hole; a range past
    /// the end extends the file, as writing zeroes would.
    fn punch_hole(&self, start: u64, len: u64) -> bool {
        let (Ok(off), Ok(n)) = (libc::off_t::try_from(start), libc::off_t::try_from(len)) else {
            return false;
        };
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        // SAFETY: fallocate only acts on the open file descriptor.
        if unsafe { libc::fallocate(self.file.as_raw_fd(), mode, off, n) } != 0 {
            return false;
        }
        match self.file.metadata() {
            Ok(m) if m.len() < start + len => self.file.set_len(start + len).is_ok(),
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// Makes everything replayed so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.issue()?;
        self.file.sync_all()
    }
}

/// Writes `data` at byte `at` of `file`, into the page cache; the final
/// sync writes it out.
///
/// Why no writeback before then: starting it every 32 MiB (to overlap the
/// device's work with the replay's) made a replay of 1 GiB of random
/// 4 KiB writes 2.2 times slower (4.8 s against 2.2 s, cache dropped,
/// image file on ext4), and a replay repeated from the start at every
/// FUA point (generic/482's pattern) 30 % slower: pages written out early
/// are written again when a later entry changes them, and many small
/// writebacks of scattered pages cost more than one sorted final one.
/// Logs of large writes gained nothing measurable from it.
fn write_at(file: &File, data: &[u8], at: u64) -> io::Result<()> {
    file.write_all_at(data, at)
        .map_err(write_failed(at, data.len()))
}

/// A write to the target that failed, and which bytes it was writing.
/// The target's methods return it inside an `io::Error` of the same kind,
/// through the code reading the log that calls them, until
/// `Target::error` turns it into an `Error::TargetWrite` naming the
/// target: without it, a full target would only say "No space left on
/// device", not where, nor that it was the target and not the log.
#[derive(Debug)]
struct WriteFailed {
    at: u64,
    len: u64,
    source: io::Error,
}

impl std::fmt::Display for WriteFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot write {} bytes at byte {}: {}",
            self.len, self.at, self.source
        )
    }
}

impl std::error::Error for WriteFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A `map_err` adapter for a write of `len` bytes at byte `at` of the
/// target.
fn write_failed(at: u64, len: usize) -> impl FnOnce(io::Error) -> io::Error {
    move |source| {
        io::Error::new(
            source.kind(),
            WriteFailed {
                at,
                len: len as u64,
                source,
            },
        )
    }
}

/// Reads log bytes through one large sequential buffer.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
    /// Log offset of `buf[0]`.
    at: u64,
}

impl Reader {
    /// Calls `f(bytes, offset_in_range)` over `len` bytes of the log at
    /// `offset`, in order, in pieces of at most `CHUNK` bytes.
    fn for_each<S: Source>(
        &mut self,
        log: &Log<S>,
        offset: u64,
        len: u64,
        mut f: impl FnMut(&[u8], u64) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut done = 0u64;
        while done < len {
            let pos = offset + done;
            let end = self.at + self.buf.len() as u64;
            if pos < self.at || pos >= end {
                let n = log.size().saturating_sub(pos).min(CHUNK as u64) as usize;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.buf.resize(n, 0);
                log.read_at(&mut self.buf, pos)?;
                self.at = pos;
                continue;
            }
            let from = (pos - self.at) as usize;
            let n = ((len - done) as usize).min(self.buf.len() - from);
            f(&self.buf[from..from + n], done)?;
            done += n as u64;
        }
        Ok(())
    }
}

/// Where a replayer takes the entries' data from.
enum Data<'a> {
    /// Reads at each entry's offset (entries in any order).
    Log(Reader),
    /// The stream the entries' headers come from too (`StreamEntries`):
    /// entries in log order, one pass over the log.
    Stream(&'a RefCell<LogStream>),
}

/// Applies entries to a target.
pub struct Replayer<'a, S: Source> {
    pub log: &'a Log<S>,
    pub target: Target,
    data: Data<'a>,
    progress: Progress,
}

impl<'a, S: Source> Replayer<'a, S> {
    pub fn new(log: &'a Log<S>, target: Target, progress: Progress) -> Self {
        Replayer {
            log,
            target,
            data: Data::Log(Reader::default()),
            progress,
        }
    }

    /// A replayer of the entries `StreamEntries` reads from `stream`, in
    /// log order.
    pub fn streaming(
        log: &'a Log<S>,
        stream: &'a RefCell<LogStream>,
        target: Target,
        progress: Progress,
    ) -> Self {
        Replayer {
            log,
            target,
            data: Data::Stream(stream),
            progress,
        }
    }

    /// Applies one entry: copies a write's data, discards a discarded
    /// range. Marks and empty flushes change nothing, and neither does an
    /// entry with `change` false (outside a replayed sector range).
    pub fn apply(&mut self, e: &Entry, change: bool) -> Result<(), Error> {
        self.write_entry(e, change)
            .map_err(|source| self.replay_error(e.index, source))
    }

    /// `source`, from replaying entry `index`, as an `Error`: a failed
    /// write names the target, anything else (reading the log) the entry.
    fn replay_error(&self, index: u64, source: io::Error) -> Error {
        self.target
            .error(source, Some(index), |source| Error::Replay {
                index,
                source,
            })
    }

    fn write_entry(&mut self, e: &Entry, change: bool) -> io::Result<()> {
        let ss = self.log.sector_size();
        self.progress.add(e.end_offset(ss) - e.offset);
        if !change || !e.touches_data() {
            return Ok(());
        }
        self.write_part(e, 0, e.bytes(ss))
    }

    /// Applies only device bytes `dev` of entry `e` (a write's data or a
    /// discard): a crash state where `e` was persisted partly. `dev` must
    /// lie within the bytes `e` changes.
    pub fn apply_part(&mut self, e: &Entry, dev: std::ops::Range<u64>) -> Result<(), Error> {
        let ss = self.log.sector_size();
        let start = e.header.sector.saturating_mul(u64::from(ss));
        let end = start.saturating_add(e.bytes(ss));
        let result = if dev.start < start || dev.end > end || dev.start > dev.end {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "bytes {}..{} are not within the entry's {start}..{end}",
                    dev.start, dev.end
                ),
            ))
        } else {
            self.write_part(e, dev.start - start, dev.end - dev.start)
        };
        result.map_err(|source| self.replay_error(e.index, source))
    }

    /// Writes (or discards) `len` bytes of `e` from byte `skip` of what it
    /// changes.
    fn write_part(&mut self, e: &Entry, skip: u64, len: u64) -> io::Result<()> {
        let ss = self.log.sector_size();
        // Device bytes start..start + len, refused when they do not fit a
        // file offset: a hostile log must not wrap a write to byte 0.
        let start = e
            .header
            .sector
            .checked_mul(u64::from(ss))
            .and_then(|b| b.checked_add(skip))
            .filter(|&b| b.checked_add(len).is_some_and(|end| end <= i64::MAX as u64));
        let Some(start) = start else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "entry {} writes sectors past the largest offset a device or file can have",
                    e.index
                ),
            ));
        };
        if e.header.is_discard() {
            return self.target.discard(start, len);
        }
        let target = &mut self.target;
        let at = e.data_offset(ss) + skip;
        match &mut self.data {
            Data::Log(reader) => reader.for_each(self.log, at, len, |data, off| {
                target.write(data, start + off)
            }),
            Data::Stream(stream) => {
                let mut st = stream.borrow_mut();
                // The entry's header was just read: its data follows.
                if st.pos() != at {
                    return Err(io::Error::other(format!(
                        "the log stream is at byte {}, not at entry {}'s data",
                        st.pos(),
                        e.index
                    )));
                }
                st.take(len, |data, off| target.write(data, start + off))
            }
        }
    }

    /// Issues what is pending and syncs the target.
    pub fn sync(&mut self) -> Result<(), Error> {
        let target = &mut self.target;
        target.sync().map_err(|source| {
            target.error(source, None, |source| Error::Target {
                op: TargetOp::Sync,
                path: target.path.clone(),
                source,
            })
        })
    }

    pub fn finish(&mut self) {
        self.progress.finish();
    }
}

/// Log bytes spanned by `entries` (for progress).
pub fn span(entries: &[Entry], sector_size: u32) -> u64 {
    match (entries.first(), entries.last()) {
        (Some(a), Some(b)) => b.end_offset(sector_size) - a.offset,
        _ => 0,
    }
}
