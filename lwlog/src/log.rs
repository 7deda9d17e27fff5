// SPDX-License-Identifier: GPL-2.0

//! Reading a log: the super block, then entries one by one with their
//! position in the log. Works on a file, a block device or bytes in memory
//! (tests and the fuzz target).

use crate::stream::LogStream;
use logformat::{EntryHeader, FormatError, GroupStamp, Super};
use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A problem with the log, located precisely enough to find it with a hex
/// dump.
#[derive(Debug)]
pub enum LogError {
    Io(String, io::Error),
    Super(FormatError),
    Entry {
        index: u64,
        offset: u64,
        err: FormatError,
    },
    Truncated {
        index: u64,
        offset: u64,
    },
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogError::Io(what, e) => write!(f, "{what}: {e}"),
            LogError::Super(e) => write!(f, "super block (byte offset 0): {e}"),
            LogError::Entry { index, offset, err } => {
                write!(f, "entry {index} (byte offset {offset}): {err}")
            }
            LogError::Truncated { index, offset } => {
                write!(
                    f,
                    "entry {index} (byte offset {offset}): log ends inside the entry"
                )
            }
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Where log bytes come from.
pub trait Source {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    fn size(&self) -> u64;
}

/// A log file or block device.
pub struct FileSource {
    file: File,
    len: u64,
}

impl Source for FileSource {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn size(&self) -> u64 {
        self.len
    }
}

impl Source for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match self.get(start..).and_then(|s| s.get(..buf.len())) {
            Some(s) => {
                buf.copy_from_slice(s);
                Ok(())
            }
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
    fn size(&self) -> u64 {
        self.len() as u64
    }
}

/// One decoded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub index: u64,
    /// Byte offset of the header sector in the log.
    pub offset: u64,
    pub header: EntryHeader,
    pub mark: Vec<u8>,
    /// In a grouped log: the entry's place in the group's order of events.
    pub group: Option<GroupStamp>,
}

impl Entry {
    /// Byte offset of the entry's data in the log.
    pub fn data_offset(&self, sector_size: u32) -> u64 {
        self.offset + u64::from(sector_size)
    }

    /// Byte offset just past the entry (its header sector and data).
    pub fn end_offset(&self, sector_size: u32) -> u64 {
        let ss = u64::from(sector_size);
        self.offset + ss + self.header.data_sectors() * ss
    }

    pub fn flags(&self) -> u64 {
        self.header.flags
    }

    pub fn has(&self, flag: u64) -> bool {
        self.header.flags & flag != 0
    }

    /// Whether the entry changes the device: a write with data or a discard.
    pub fn touches_data(&self) -> bool {
        self.header.nr_sectors > 0 && !self.header.is_mark()
    }

    /// Bytes written or discarded on the device.
    pub fn bytes(&self, sector_size: u32) -> u64 {
        self.header
            .nr_sectors
            .saturating_mul(u64::from(sector_size))
    }

    /// The flag names joined with `|`, `NONE` for a plain write.
    pub fn flag_names(&self) -> String {
        let names: Vec<&str> = logformat::FLAG_NAMES
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "NONE".into()
        } else {
            names.join("|")
        }
    }

    /// The mark text with bytes that are not printable ASCII escaped.
    pub fn mark_text(&self) -> String {
        escape(&self.mark)
    }
}

/// `bytes` with anything but printable ASCII (and backslash) as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// An open log.
pub struct Log<S: Source = FileSource> {
    src: S,
    pub sup: Super,
    /// The group the log's device was in (the `group:<name>` table
    /// option), from the super block's group tag; `None` for a log of no
    /// group. A group member's header sectors end with a group trailer.
    pub group: Option<Vec<u8>>,
}

impl Log<FileSource> {
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let name = path.display();
        let file =
            File::open(path).map_err(|e| LogError::Io(format!("cannot open log {name}"), e))?;
        let len = size_of(&file).map_err(|e| LogError::Io(format!("cannot size log {name}"), e))?;
        drop_cache_if_written_below(&file);
        Log::from_source(FileSource { file, len })
    }
}

impl<S: Source> Log<S> {
    pub fn from_source(src: S) -> Result<Self, LogError> {
        let mut buf = vec![0u8; logformat::SUPER_LEN];
        src.read_at(&mut buf, 0).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => LogError::Super(FormatError::Short),
            _ => LogError::Io("cannot read the super block".into(), e),
        })?;
        let sup = Super::decode(&buf).map_err(LogError::Super)?;
        // The tag is at the end of the super block's sector; a log shorter
        // than that has none.
        let mut sector = vec![0u8; sup.sector_size as usize];
        let group = match src.read_at(&mut sector, 0) {
            Ok(()) => logformat::group_name(&sector)
                .map_err(LogError::Super)?
                .map(<[u8]>::to_vec),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => None,
            Err(e) => return Err(LogError::Io("cannot read the super block".into(), e)),
        };
        Ok(Log { src, sup, group })
    }

    pub fn sector_size(&self) -> u32 {
        self.sup.sector_size
    }

    /// Bytes in the log file or device.
    pub fn size(&self) -> u64 {
        self.src.size()
    }

    /// The entries the super block counts, in order; the first invalid one
    /// is reported as an error and ends the iteration.
    pub fn entries(&self) -> Entries<'_, S> {
        Entries {
            log: self,
            index: 0,
            offset: u64::from(self.sup.sector_size),
            buf: vec![0u8; self.sup.sector_size as usize],
            limit: self.sup.nr_entries,
            scanning: false,
        }
    }

    /// The entries from entry `index`, whose header is at byte `offset`
    /// (known from an earlier pass, such as an `index::LogIndex`), to the
    /// end of what the super block counts.
    pub fn entries_from(&self, index: u64, offset: u64) -> Entries<'_, S> {
        Entries {
            index,
            offset,
            ..self.entries()
        }
    }

    /// Every entry that decodes, ignoring the super block's count: ends
    /// quietly at the first sector that is not a valid entry.
    pub fn scan(&self) -> Entries<'_, S> {
        Entries {
            limit: u64::MAX,
            scanning: true,
            ..self.entries()
        }
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.src.read_at(buf, offset)
    }
}

pub struct Entries<'a, S: Source> {
    log: &'a Log<S>,
    index: u64,
    offset: u64,
    buf: Vec<u8>,
    limit: u64,
    scanning: bool,
}

impl<S: Source> Entries<'_, S> {
    /// The index and header offset of the entry `next` reads.
    pub fn position(&self) -> (u64, u64) {
        (self.index, self.offset)
    }

    fn fail(&mut self, e: LogError) -> Option<Result<Entry, LogError>> {
        self.limit = 0;
        (!self.scanning).then_some(Err(e))
    }
}

impl<S: Source> Iterator for Entries<'_, S> {
    type Item = Result<Entry, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.limit {
            return None;
        }
        let (index, offset) = (self.index, self.offset);
        let ss = u64::from(self.log.sector_size());
        if offset.checked_add(ss).is_none_or(|e| e > self.log.size()) {
            return self.fail(LogError::Truncated { index, offset });
        }
        if let Err(e) = self.log.read_at(&mut self.buf, offset) {
            self.limit = 0;
            return Some(Err(LogError::Io(
                format!("reading entry {index} at byte {offset}"),
                e,
            )));
        }
        let grouped = self.log.group.is_some();
        match decode_at(&self.buf, grouped, index, offset, self.log.size()) {
            Ok((e, end)) => {
                self.index += 1;
                self.offset = end;
                Some(Ok(e))
            }
            Err(err) => self.fail(err),
        }
    }
}

/// The entries the super block counts, read from a stream of the log that
/// the caller also takes each entry's data from (`Replayer::streaming`):
/// one pass over the log. The stream must start at the first entry.
pub struct StreamEntries<'a> {
    stream: &'a RefCell<LogStream>,
    index: u64,
    offset: u64,
    limit: u64,
    sector_size: u32,
    size: u64,
    buf: Vec<u8>,
    /// The log is a group member's.
    grouped: bool,
}

impl<'a> StreamEntries<'a> {
    pub fn new<S: Source>(log: &Log<S>, stream: &'a RefCell<LogStream>) -> Self {
        Self::starting_at(log, stream, (0, u64::from(log.sector_size())))
    }

    /// The entries from entry `position.0`, whose header is at byte
    /// `position.1` (`Entries::position`); the stream must not be past it.
    pub fn starting_at<S: Source>(
        log: &Log<S>,
        stream: &'a RefCell<LogStream>,
        position: (u64, u64),
    ) -> Self {
        let ss = log.sector_size();
        StreamEntries {
            stream,
            index: position.0,
            offset: position.1,
            limit: log.sup.nr_entries,
            sector_size: ss,
            size: log.size(),
            buf: vec![0u8; ss as usize],
            grouped: log.group.is_some(),
        }
    }

    fn fail(&mut self, e: LogError) -> Option<Result<Entry, LogError>> {
        self.limit = 0;
        Some(Err(e))
    }
}

impl Iterator for StreamEntries<'_> {
    type Item = Result<Entry, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.limit {
            return None;
        }
        let (index, offset) = (self.index, self.offset);
        let ss = u64::from(self.sector_size);
        if offset.checked_add(ss).is_none_or(|e| e > self.size) {
            return self.fail(LogError::Truncated { index, offset });
        }
        let read = {
            let mut st = self.stream.borrow_mut();
            // The data of the entry before may have been passed over.
            let behind = offset
                .checked_sub(st.pos())
                .ok_or_else(|| io::Error::other("the log stream is past the next entry"));
            behind
                .and_then(|n| st.skip(n))
                .and_then(|()| st.read_exact(&mut self.buf))
        };
        if let Err(e) = read {
            return self.fail(LogError::Io(
                format!("reading entry {index} at byte {offset}"),
                e,
            ));
        }
        match decode_at(&self.buf, self.grouped, index, offset, self.size) {
            Ok((e, end)) => {
                self.index += 1;
                self.offset = end;
                Some(Ok(e))
            }
            Err(err) => self.fail(err),
        }
    }
}

/// Decodes `buf`, the header sector of entry `index` at byte `offset` of a
/// log of `size` bytes (a group member's if `grouped`): the entry, and the
/// offset just past its data.
fn decode_at(
    buf: &[u8],
    grouped: bool,
    index: u64,
    offset: u64,
    size: u64,
) -> Result<(Entry, u64), LogError> {
    let ss = buf.len() as u64;
    let decoded = if grouped {
        EntryHeader::decode_grouped(buf).map(|(h, m, stamp)| (h, m.to_vec(), Some(stamp)))
    } else {
        EntryHeader::decode(buf).map(|(h, m)| (h, m.to_vec(), None))
    };
    let (header, mark, group) = decoded.map_err(|err| LogError::Entry { index, offset, err })?;
    let end = header
        .data_sectors()
        .checked_mul(ss)
        .and_then(|d| d.checked_add(offset + ss))
        .filter(|&end| end <= size)
        .ok_or(LogError::Truncated { index, offset })?;
    let e = Entry {
        index,
        offset,
        header,
        mark,
        group,
    };
    Ok((e, end))
}

/// Drops the page cache of a block device that another device is built on
/// (a log-writes target logging to it, say).
///
/// Why: such a device is written with bios that bypass its page cache, so
/// pages an earlier reader left there go stale; the cache is only dropped
/// when its last opener closes it, and the device above keeps it open.
/// Reading a live log twice gave the first read's entries the second time.
/// A device nothing is built on is written through its page cache or with
/// O_DIRECT, which keep the cache true, and its cache is kept.
///
/// `BLKFLSBUF` first (it needs CAP_SYS_ADMIN), then `posix_fadvise`, which
/// a kernel built without `CONFIG_ADVISE_SYSCALLS` lacks: there it fails
/// with ENOSYS and, relied on alone, left every read after the first
/// stale. When neither works, what follows may be stale, and lwlog says so.
pub fn drop_cache_if_written_below(file: &File) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::os::unix::io::AsRawFd;
    /// `_IO(0x12, 97)`: write back and drop a block device's page cache.
    const BLKFLSBUF: libc::c_ulong = 0x1261;
    let Ok(m) = file.metadata() else { return };
    if !m.file_type().is_block_device() {
        return;
    }
    let (major, minor) = (libc::major(m.rdev()), libc::minor(m.rdev()));
    let holders = std::fs::read_dir(format!("/sys/dev/block/{major}:{minor}/holders"));
    if !holders.is_ok_and(|mut h| h.next().is_some()) {
        return;
    }
    let fd = file.as_raw_fd();
    // SAFETY: BLKFLSBUF takes no argument and acts only on the device
    // behind the open descriptor.
    if unsafe { libc::ioctl(fd, BLKFLSBUF, 0) } == 0 {
        return;
    }
    // SAFETY: posix_fadvise only acts on the open file descriptor.
    let err = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
    if err != 0 {
        eprintln!(
            "lwlog: warning: device {major}:{minor} is in use by another device and its page \
             cache could not be dropped ({}): what is read may be stale",
            std::io::Error::from_raw_os_error(err)
        );
    }
}

/// Size of a regular file or block device.
pub fn size_of(file: &File) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    let len = f.seek(SeekFrom::End(0))?;
    f.seek(SeekFrom::Start(0))?;
    Ok(len)
}
