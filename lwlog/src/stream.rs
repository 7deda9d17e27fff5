// SPDX-License-Identifier: GPL-2.0

//! Reading a log front to back, fast: a thread of its own reads ahead in
//! large chunks while the caller works on the previous ones, with O_DIRECT
//! where the file allows it.
//!
//! Why: a replay reads the whole log once, in order. Through the page cache
//! every byte is copied from the cache into the reader's buffer, which was
//! the largest single cost of replaying a log of 4 KiB writes (a third of
//! the CPU time, measured with perf), and the next chunk is read only once
//! the previous one is written out. With O_DIRECT the device writes into
//! our buffers and nothing is copied; with the reading on another thread,
//! the log device and the target work at the same time.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes read at a time.
const CHUNK: usize = 8 << 20;
/// O_DIRECT alignment of offsets, lengths and buffers (the largest logical
/// block size in use).
const ALIGN: usize = 4096;
/// Chunks read ahead of the one in use.
const AHEAD: usize = 2;

/// A buffer whose usable part starts at an `ALIGN` boundary.
struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> AlignedBuf {
        let raw = vec![0u8; len + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN);
        AlignedBuf { raw, start }
    }

    fn get(&self, len: usize) -> &[u8] {
        &self.raw[self.start..self.start + len]
    }

    fn get_mut(&mut self, len: usize) -> &mut [u8] {
        &mut self.raw[self.start..self.start + len]
    }
}

/// Bytes of the log from `at`: `len` valid bytes in `buf`.
struct Chunk {
    buf: AlignedBuf,
    at: u64,
    len: usize,
}

/// A log read sequentially from a byte offset to an end offset.
pub struct LogStream {
    chunks: Receiver<io::Result<Chunk>>,
    /// Buffers go back to the reading thread to be filled again.
    spent: SyncSender<AlignedBuf>,
    reader: Option<JoinHandle<()>>,
    cur: Option<Chunk>,
    /// Log offset of the next byte to hand out.
    pos: u64,
    end: u64,
}

impl LogStream {
    /// Reads `path` from byte `start` up to byte `end` (exclusive; the log's
    /// size, or less).
    pub fn open(path: &Path, start: u64, end: u64) -> io::Result<LogStream> {
        let buffered = File::open(path)?;
        let direct = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok();
        let (tx, chunks) = mpsc::sync_channel(AHEAD);
        let (spent, back) = mpsc::sync_channel(AHEAD + 2);
        let first = start - start % ALIGN as u64;
        let reader = std::thread::Builder::new()
            .name("lwlog-read".into())
            .spawn(move || read_ahead(buffered, direct, first, end, tx, back))?;
        Ok(LogStream {
            chunks,
            spent,
            reader: Some(reader),
            cur: None,
            pos: start,
            end,
        })
    }

    /// Log offset of the next byte.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The chunk holding `self.pos`, waiting for it if need be.
    fn chunk(&mut self) -> io::Result<&Chunk> {
        loop {
            let have = self
                .cur
                .as_ref()
                .is_some_and(|c| self.pos < c.at + c.len as u64);
            if have {
                break;
            }
            if self.pos >= self.end {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if let Some(c) = self.cur.take() {
                // The reader may have stopped: then nobody needs it back.
                let _ = self.spent.try_send(c.buf);
            }
            match self.chunks.recv() {
                Ok(Ok(c)) if c.len == 0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(Ok(c)) => self.cur = Some(c),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
        Ok(self.cur.as_ref().expect("checked above"))
    }

    /// Hands the next `len` bytes to `f` in pieces, in order; `f` gets each
    /// piece and its offset from the first byte.
    pub fn take(
        &mut self,
        len: u64,
        mut f: impl FnMut(&[u8], u64) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut done = 0u64;
        while done < len {
            let pos = self.pos;
            let c = self.chunk()?;
            let from = (pos - c.at) as usize;
            let n = ((len - done) as usize).min(c.len - from);
            f(&c.buf.get(c.len)[from..from + n], done)?;
            done += n as u64;
            self.pos += n as u64;
        }
        Ok(())
    }

    /// Fills `buf` with the next bytes.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.take(buf.len() as u64, |piece, off| {
            let off = off as usize;
            buf[off..off + piece.len()].copy_from_slice(piece);
            Ok(())
        })
    }

    /// Passes over the next `len` bytes.
    pub fn skip(&mut self, len: u64) -> io::Result<()> {
        self.take(len, |_, _| Ok(()))
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        // Closing both channels stops the reader wherever it waits: at its
        // next send, or for a buffer to come back.
        let (_, dead_rx) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.chunks, dead_rx));
        let (dead_tx, _) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.spent, dead_tx));
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// The reading thread: chunks from `at` to `end` (rounded up to `ALIGN`
/// for O_DIRECT; the file's end gives a short last chunk), each read
/// directly when it can be, else through the page cache.
fn read_ahead(
    buffered: File,
    direct: Option<File>,
    mut at: u64,
    end: u64,
    tx: SyncSender<io::Result<Chunk>>,
    back: Receiver<AlignedBuf>,
) {
    let mut fresh = AHEAD + 2;
    while at < end {
        let mut buf = match back.try_recv() {
            Ok(b) => b,
            Err(_) if fresh > 0 => {
                fresh -= 1;
                AlignedBuf::new(CHUNK)
            }
            Err(_) => match back.recv() {
                Ok(b) => b,
                Err(_) => return,
            },
        };
        let want = (end - at).min(CHUNK as u64) as usize;
        let aligned_len = want.div_ceil(ALIGN) * ALIGN;
        // What the page cache holds is copied from it (a log replayed again
        // and again, as xfstests does, stays there); the rest is read
        // directly.
        let r = if read_cached(&buffered, buf.get_mut(want), at) {
            Ok(want)
        } else {
            read_full(&buffered, direct.as_ref(), buf.get_mut(aligned_len), at)
        };
        let msg = r.map(|got| Chunk {
            len: got.min(want),
            buf,
            at,
        });
        let stop = !matches!(&msg, Ok(c) if c.len == want);
        if tx.send(msg).is_err() || stop {
            return;
        }
        at += want as u64;
    }
}

/// Fills `buf` from `at` if the page cache holds all of it; whether it did.
/// Residency is asked with mincore on a mapping of the range, which reads
/// nothing (a read with RWF_NOWAIT would start readahead of what is
/// missing, and the page cache would then be filled after all).
fn read_cached(f: &File, buf: &mut [u8], at: u64) -> bool {
    const PAGE: u64 = 4096;
    let first = at - at % PAGE;
    let len = (at + buf.len() as u64 - first) as usize;
    let Ok(off) = libc::off_t::try_from(first) else {
        return false;
    };
    // SAFETY: a new read-only shared mapping chosen by the kernel; it
    // aliases no Rust memory and is unmapped below.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            off,
        )
    };
    if map == libc::MAP_FAILED {
        return false;
    }
    let mut resident = vec![0u8; len.div_ceil(PAGE as usize)];
    // SAFETY: `map` is a live mapping of `len` bytes and `resident` has one
    // byte per page of it.
    let asked = unsafe { libc::mincore(map, len, resident.as_mut_ptr()) } == 0;
    // SAFETY: `map` was mapped above with this length, and nothing refers
    // to it any more.
    unsafe { libc::munmap(map, len) };
    if !asked || resident.iter().any(|&r| r & 1 == 0) {
        return false;
    }
    f.read_exact_at(buf, at).is_ok()
}

/// Reads as much of `buf` at `at` as the file has; the bytes read.
fn read_full(buffered: &File, direct: Option<&File>, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut got = 0;
    let mut use_direct = direct.is_some();
    while got < buf.len() {
        let off = at + got as u64;
        let r = match direct {
            // O_DIRECT needs aligned offsets and lengths; a short read at
            // the end of the file leaves `got` unaligned, then buffered
            // reads finish.
            Some(d) if use_direct && got % ALIGN == 0 => d.read_at(&mut buf[got..], off),
            _ => buffered.read_at(&mut buf[got..], off),
        };
        match r {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if use_direct && e.raw_os_error() == Some(libc::EINVAL) => use_direct = false,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(len: usize) -> (std::path::PathBuf, Vec<u8>) {
        let path = std::env::temp_dir().join(format!("lwlog-stream-{}-{len}", std::process::id()));
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        (path, data)
    }

    /// Drops the file's pages from the page cache, so that reads go to the
    /// device (directly, where O_DIRECT works).
    fn evict(path: &Path) {
        let f = File::open(path).unwrap();
        f.sync_all().unwrap();
        // SAFETY: posix_fadvise only acts on the open file descriptor.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }

    #[test]
    fn hands_out_every_byte_in_order_from_any_start() {
        // Several chunks, and a size that is not a multiple of anything.
        let (path, data) = temp(2 * CHUNK + 12345);
        let starts = [0u64, 1, 511, 4096, CHUNK as u64 - 3, 2 * CHUNK as u64 + 100];
        // Out of the page cache first (read directly), then in it.
        for (i, &start) in starts.iter().chain(&starts).enumerate() {
            if i < starts.len() {
                evict(&path);
            }
            let mut s = LogStream::open(&path, start, data.len() as u64).unwrap();
            let mut got = Vec::new();
            let mut sizes = [1usize, 511, 4096, 3 << 20, 7].iter().cycle();
            while s.pos() < data.len() as u64 {
                let n = (*sizes.next().unwrap() as u64).min(data.len() as u64 - s.pos());
                let mut b = vec![0u8; n as usize];
                s.read_exact(&mut b).unwrap();
                got.extend_from_slice(&b);
            }
            assert!(got == data[start as usize..], "start {start}");
            let mut one = [0u8; 1];
            assert_eq!(
                s.read_exact(&mut one).unwrap_err().kind(),
                io::ErrorKind::UnexpectedEof
            );
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn stops_at_the_end_asked_for_and_can_be_dropped_early() {
        let (path, data) = temp(3 * CHUNK);
        let mut s = LogStream::open(&path, 10, 5000).unwrap();
        s.skip(100).unwrap();
        let mut b = vec![0u8; 4890];
        s.read_exact(&mut b).unwrap();
        assert!(b == data[110..5000]);
        assert!(s.read_exact(&mut [0u8; 1]).is_err());
        // Dropped with chunks still being read: must not hang.
        let mut s = LogStream::open(&path, 0, data.len() as u64).unwrap();
        s.skip(10).unwrap();
        drop(s);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_file_shorter_than_the_end_is_an_early_eof() {
        let (path, data) = temp(10000);
        let mut s = LogStream::open(&path, 0, 20000).unwrap();
        let mut b = vec![0u8; 10000];
        s.read_exact(&mut b).unwrap();
        assert!(b == data);
        assert_eq!(
            s.read_exact(&mut [0u8; 1]).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        std::fs::remove_file(&path).unwrap();
    }
}
