// SPDX-License-Identifier: GPL-2.0

//! An index of a log: where each entry starts, its flags, and the marks'
//! texts, built by one pass over the headers and kept in a cache file, so
//! that finding an entry, a mark or the next FUA does not read every
//! header before it again.
//!
//! Why: xfstests asks replay-log one such question per point it checks
//! (`--find --next-fua --start-entry N` for every FUA of generic/482), and
//! each run of replay-log reads the log's headers from entry 0 again.
//! With the index, a question costs reading the cache file (16 bytes per
//! entry) and checking that it still describes the log.
//!
//! A cache file is only trusted when nothing can have written the log
//! since it was made: the same boot, the same super block and size, and,
//! for a regular file, the same inode, size, modification and change
//! times; for a block device, the same write and discard counters of every
//! disk at the bottom of its stack and the same times of any loop device's
//! backing file. A counter moves at a write's completion, so a log written
//! while the index was being built is indexed again next time; a file
//! modified less than `RECENT` ago is not cached at all (its times may
//! not move on the next write). Anything unreadable means no cache, never
//! a guess, and every position the index gives is checked against the
//! header found there before it is used.

use crate::log::{Log, Source};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const MAGIC: &[u8; 8] = b"LWLOGIX1";
/// A file modified this recently is not cached.
const RECENT: Duration = Duration::from_secs(2);

/// The entries of a log that decode, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogIndex {
    /// Byte offset of each entry's header.
    offsets: Vec<u64>,
    /// Each entry's flags.
    flags: Vec<u64>,
    /// The text of each entry with the mark flag, up to its first NUL, by
    /// entry index.
    marks: Vec<(u64, Vec<u8>)>,
    /// Whether every entry the super block counts decodes; if not, the
    /// entry after the last indexed one is the first that does not, and
    /// reading it again gives the error.
    complete: bool,
}

/// What `LogIndex::first` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The first entry that matches.
    At(u64),
    /// No entry matches, and every entry was indexed.
    Nowhere,
    /// No indexed entry matches, and the entries after them could not be
    /// indexed: the answer is for a read from `LogIndex::len` to tell.
    Unindexed,
}

impl LogIndex {
    /// Reads every header of `log` once.
    pub fn build<S: Source>(log: &Log<S>) -> LogIndex {
        let mut ix = LogIndex {
            offsets: Vec::new(),
            flags: Vec::new(),
            marks: Vec::new(),
            complete: true,
        };
        for e in log.entries() {
            let Ok(e) = e else {
                ix.complete = false;
                break;
            };
            if e.has(logformat::FLAG_MARK) {
                let text = e.mark.split(|&b| b == 0).next().unwrap_or_default();
                ix.marks.push((e.index, text.to_vec()));
            }
            ix.offsets.push(e.offset);
            ix.flags.push(e.flags());
        }
        ix
    }

    /// Entries indexed.
    pub fn len(&self) -> u64 {
        self.offsets.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Byte offset of entry `index`'s header, if it was indexed.
    pub fn offset(&self, index: u64) -> Option<u64> {
        self.offsets.get(usize::try_from(index).ok()?).copied()
    }

    /// Flags of entry `index`, if it was indexed.
    pub fn flags(&self, index: u64) -> Option<u64> {
        self.flags.get(usize::try_from(index).ok()?).copied()
    }

    /// The mark text of entry `index` (up to its first NUL), if it is an
    /// indexed mark.
    pub fn mark(&self, index: u64) -> Option<&[u8]> {
        let i = self.marks.binary_search_by_key(&index, |m| m.0).ok()?;
        Some(&self.marks[i].1)
    }

    /// The first entry from `from` for which `matches(flags, mark text)`
    /// holds.
    pub fn first(&self, from: u64, mut matches: impl FnMut(u64, Option<&[u8]>) -> bool) -> Found {
        for i in from..self.len() {
            let f = self.flags[i as usize];
            let text = (f & logformat::FLAG_MARK != 0)
                .then(|| self.mark(i))
                .flatten();
            if matches(f, text) {
                return Found::At(i);
            }
        }
        if self.complete {
            Found::Nowhere
        } else {
            Found::Unindexed
        }
    }

    fn encode(&self, identity: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 16 * self.offsets.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(identity.len() as u64).to_le_bytes());
        out.extend_from_slice(identity.as_bytes());
        out.push(u8::from(self.complete));
        out.extend_from_slice(&self.len().to_le_bytes());
        for (o, f) in self.offsets.iter().zip(&self.flags) {
            out.extend_from_slice(&o.to_le_bytes());
            out.extend_from_slice(&f.to_le_bytes());
        }
        out.extend_from_slice(&(self.marks.len() as u64).to_le_bytes());
        for (i, t) in &self.marks {
            out.extend_from_slice(&i.to_le_bytes());
            out.extend_from_slice(&(t.len() as u64).to_le_bytes());
            out.extend_from_slice(t);
        }
        out
    }

    /// Decodes a cache file made for `identity` of a log of `size` bytes;
    /// `None` for anything else, or anything that is not a well-formed
    /// index (offsets increasing within the log, marks in order and with
    /// the mark flag).
    fn decode(buf: &[u8], identity: &str, size: u64) -> Option<LogIndex> {
        let mut r = Bytes(buf);
        if r.take(8)? != MAGIC {
            return None;
        }
        let n = usize::try_from(r.u64()?).ok()?;
        if r.take(n)? != identity.as_bytes() {
            return None;
        }
        let complete = match r.take(1)?[0] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let count = usize::try_from(r.u64()?).ok()?;
        // Each entry takes 16 bytes: a count the file cannot hold is not
        // allocated for.
        if count > r.0.len() / 16 {
            return None;
        }
        let mut ix = LogIndex {
            offsets: Vec::with_capacity(count),
            flags: Vec::with_capacity(count),
            marks: Vec::new(),
            complete,
        };
        for _ in 0..count {
            let (o, f) = (r.u64()?, r.u64()?);
            if o >= size || ix.offsets.last().is_some_and(|&p| o <= p) {
                return None;
            }
            ix.offsets.push(o);
            ix.flags.push(f);
        }
        let marks = r.u64()?;
        for _ in 0..marks {
            let i = r.u64()?;
            let len = usize::try_from(r.u64()?).ok()?;
            let t = r.take(len)?.to_vec();
            let ordered = ix.marks.last().is_none_or(|m| m.0 < i);
            if !ordered || ix.flags(i)? & logformat::FLAG_MARK == 0 {
                return None;
            }
            ix.marks.push((i, t));
        }
        r.0.is_empty().then_some(ix)
    }
}

/// A cursor over a byte slice.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The directory of cache files: `$LWLOG_INDEX_DIR` (set and empty: no
/// cache), else `$XDG_CACHE_HOME/lwlog`, else `$HOME/.cache/lwlog`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("LWLOG_INDEX_DIR") {
        return (!d.is_empty()).then(|| PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("lwlog"))
}

/// What must be unchanged for a cache file of the log at `path` to hold,
/// as text; `None` when some part of it cannot be read, or when the log is
/// a file modified too recently to tell a later change by its times.
fn identity<S: Source>(path: &Path, log: &Log<S>) -> Option<String> {
    use std::fmt::Write as _;
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let m = fs::metadata(path).ok()?;
    let mut id = format!(
        "boot {}\nlog {} {} {} {}\nsuper {} {}\n",
        boot.trim(),
        m.dev(),
        m.ino(),
        m.rdev(),
        log.size(),
        log.sup.nr_entries,
        log.sup.sector_size
    );
    let storage = crate::overlap::storage(path).ok()?;
    let now = SystemTime::now();
    for f in &storage.files {
        let m = fs::metadata(f).ok()?;
        let modified = m.modified().ok()?;
        if now.duration_since(modified).unwrap_or_default() < RECENT {
            return None;
        }
        writeln!(
            id,
            "file {} {} {} {}.{} {}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        )
        .ok()?;
    }
    for (major, minor) in &storage.disks {
        let stat = fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/stat")).ok()?;
        let fields: Vec<&str> = stat.split_whitespace().collect();
        // Write I/Os and sectors (fields 5 and 7); discard I/Os and
        // sectors (12 and 14) where the kernel counts them.
        let w = [4, 6].map(|i| fields.get(i).copied());
        let d = [11, 13].map(|i| fields.get(i).copied().unwrap_or("-"));
        writeln!(
            id,
            "disk {major}:{minor} {} {} {} {}",
            w[0]?, w[1]?, d[0], d[1]
        )
        .ok()?;
    }
    Some(id)
}

/// The cache file's name for `identity`: a hash of its second line (which
/// log), so that a log has one cache file however often it changes, and
/// across reboots.
fn cache_name(identity: &str) -> String {
    let which = identity.lines().nth(1).unwrap_or_default();
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in which.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}.index")
}

/// The index of the log at `path`: from its cache file when that still
/// holds, else built now and cached (when `cache_dir` gives a directory
/// and the log's identity can be told). The cache is an aid: failing to
/// read or write it only means building the index.
pub fn load_or_build<S: Source>(path: &Path, log: &Log<S>) -> LogIndex {
    let Some((dir, id)) = cache_dir().zip(identity(path, log)) else {
        return LogIndex::build(log);
    };
    let file = dir.join(cache_name(&id));
    if let Some(ix) = fs::read(&file)
        .ok()
        .and_then(|b| LogIndex::decode(&b, &id, log.size()))
    {
        return ix;
    }
    let ix = LogIndex::build(log);
    // Only when the identity did not move while the headers were read.
    if identity(path, log).as_deref() == Some(id.as_str()) {
        let _ = save(&dir, &file, &ix.encode(&id));
    }
    ix
}

/// Removes the cache file of the log at `path`, as when a position from it
/// did not match the log.
pub fn forget<S: Source>(path: &Path, log: &Log<S>) {
    if let Some((dir, id)) = cache_dir().zip(identity(path, log)) {
        let _ = fs::remove_file(dir.join(cache_name(&id)));
    }
}

fn save(dir: &Path, file: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let result = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| fs::rename(&tmp, file));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use logformat::{EntryHeader, Super, FLAG_FLUSH, FLAG_FUA, FLAG_MARK};

    fn log_of(entries: &[(u64, u64, &[u8])]) -> Log<Vec<u8>> {
        let ss = 512usize;
        let mut b = vec![0u8; ss];
        for &(sectors, flags, mark) in entries {
            let h = EntryHeader {
                sector: 8,
                nr_sectors: if flags & FLAG_MARK != 0 { 0 } else { sectors },
                flags,
                data_len: mark.len() as u64,
            };
            let mut sec = vec![0u8; ss];
            h.encode(mark, &mut sec).unwrap();
            b.extend_from_slice(&sec);
            if flags & FLAG_MARK == 0 {
                b.extend(std::iter::repeat_n(7u8, sectors as usize * ss));
            }
        }
        let sup = Super {
            nr_entries: entries.len() as u64,
            sector_size: ss as u32,
        };
        sup.encode(&mut b[..ss]).unwrap();
        Log::from_source(b).unwrap()
    }

    #[test]
    fn finds_what_a_scan_finds_and_round_trips() {
        let log = log_of(&[
            (1, 0, b""),
            (0, FLAG_MARK, b"one"),
            (2, FLAG_FUA, b""),
            (0, FLAG_FLUSH, b""),
            (0, FLAG_MARK, b"two"),
        ]);
        let ix = LogIndex::build(&log);
        assert_eq!(ix.len(), 5);
        let offsets: Vec<u64> = log.entries().map(|e| e.unwrap().offset).collect();
        assert_eq!(
            (0..5).map(|i| ix.offset(i).unwrap()).collect::<Vec<_>>(),
            offsets
        );
        assert_eq!(ix.first(0, |f, _| f & FLAG_FUA != 0), Found::At(2));
        assert_eq!(ix.first(3, |f, _| f & FLAG_FUA != 0), Found::Nowhere);
        assert_eq!(ix.first(0, |_, t| t == Some(b"two")), Found::At(4));
        let bytes = ix.encode("id");
        assert_eq!(LogIndex::decode(&bytes, "id", log.size()), Some(ix.clone()));
        assert_eq!(LogIndex::decode(&bytes, "other", log.size()), None);
        // Every truncation and every single flipped byte is refused or
        // decodes to a well-formed index; none panics.
        for n in 0..bytes.len() {
            assert_eq!(LogIndex::decode(&bytes[..n], "id", log.size()), None);
            let mut b = bytes.clone();
            b[n] ^= 0x80;
            if let Some(d) = LogIndex::decode(&b, "id", log.size()) {
                assert!(d.offsets.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn a_broken_entry_ends_the_index_and_leaves_the_rest_unindexed() {
        let log = log_of(&[(1, 0, b""), (1, FLAG_FUA, b""), (1, 0, b"")]);
        let mut bytes = Vec::new();
        let mut buf = vec![0u8; log.size() as usize];
        log.read_at(&mut buf, 0).unwrap();
        bytes.extend_from_slice(&buf);
        // Entry 1's header sector: a flag no version defines.
        let second = log.entries().nth(1).unwrap().unwrap().offset as usize;
        bytes[second + 16] = 0xff;
        let broken = Log::from_source(bytes).unwrap();
        let ix = LogIndex::build(&broken);
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.first(0, |f, _| f & FLAG_FUA != 0), Found::Unindexed);
    }
}
