// SPDX-License-Identifier: GPL-2.0

//! Reading a log: the super block, then entries one by one with their
//! position in the log.

use logformat::{EntryHeader, FormatError, Super};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A problem with the log, located precisely enough to find it with a hex
/// dump.
#[derive(Debug)]
pub enum LogError {
    Io(String, std::io::Error),
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

/// One decoded entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub index: u64,
    /// Byte offset of the header sector in the log.
    pub offset: u64,
    pub header: EntryHeader,
    pub mark: Vec<u8>,
}

impl Entry {
    /// Byte offset of the entry's data in the log.
    pub fn data_offset(&self, sector_size: u32) -> u64 {
        self.offset + u64::from(sector_size)
    }
}

/// An open log.
pub struct Log {
    file: File,
    len: u64,
    pub sup: Super,
}

impl Log {
    pub fn open(path: &Path) -> Result<Log, LogError> {
        let name = path.display().to_string();
        let file =
            File::open(path).map_err(|e| LogError::Io(format!("cannot open log {name}"), e))?;
        let len = size_of(&file).map_err(|e| LogError::Io(format!("cannot size log {name}"), e))?;
        let mut buf = vec![0u8; logformat::SUPER_LEN];
        file.read_exact_at(&mut buf, 0)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => LogError::Super(FormatError::Short),
                _ => LogError::Io(format!("cannot read log {name}"), e),
            })?;
        let sup = Super::decode(&buf).map_err(LogError::Super)?;
        Ok(Log { file, len, sup })
    }

    pub fn sector_size(&self) -> u32 {
        self.sup.sector_size
    }

    /// Bytes in the log file or device.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Iterates over the entries, at most `nr_entries` of the super block.
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            log: self,
            index: 0,
            offset: u64::from(self.sup.sector_size),
            buf: vec![0u8; self.sup.sector_size as usize],
            limit: self.sup.nr_entries,
            scanning: false,
        }
    }

    /// Iterates over every entry that decodes, ignoring the super block's
    /// count: stops at the first sector that is not a valid entry.
    pub fn scan(&self) -> Entries<'_> {
        Entries {
            limit: u64::MAX,
            scanning: true,
            ..self.entries()
        }
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}

pub struct Entries<'a> {
    log: &'a Log,
    index: u64,
    offset: u64,
    buf: Vec<u8>,
    limit: u64,
    /// Scanning ends quietly at the first invalid entry instead of
    /// reporting it.
    scanning: bool,
}

impl Entries<'_> {
    fn fail(&mut self, e: LogError) -> Option<Result<Entry, LogError>> {
        self.limit = 0;
        (!self.scanning).then_some(Err(e))
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<Entry, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.limit {
            return None;
        }
        let (index, offset) = (self.index, self.offset);
        let ss = u64::from(self.log.sector_size());
        if offset + ss > self.log.len {
            return self.fail(LogError::Truncated { index, offset });
        }
        if let Err(e) = self.log.read_at(&mut self.buf, offset) {
            self.limit = 0;
            return Some(Err(LogError::Io(
                format!("reading entry {index} at byte {offset}"),
                e,
            )));
        }
        let (header, mark) = match EntryHeader::decode(&self.buf) {
            Ok((h, m)) => (h, m.to_vec()),
            Err(err) => return self.fail(LogError::Entry { index, offset, err }),
        };
        let end = header
            .data_sectors()
            .checked_mul(ss)
            .and_then(|d| d.checked_add(offset + ss))
            .filter(|&end| end <= self.log.len);
        let Some(end) = end else {
            return self.fail(LogError::Truncated { index, offset });
        };
        self.index += 1;
        self.offset = end;
        Some(Ok(Entry {
            index,
            offset,
            header,
            mark,
        }))
    }
}

/// Size of a regular file or block device.
pub fn size_of(file: &File) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    let len = f.seek(SeekFrom::End(0))?;
    f.seek(SeekFrom::Start(0))?;
    Ok(len)
}
