// SPDX-License-Identifier: GPL-2.0

//! Timed workloads for `make bench`: O_DIRECT writes to a block device
//! (`write`) and small files with fsync on a filesystem (`smallfiles`).
//! Each prints one line, `elapsed=<seconds> bytes=<n> ops=<n>`, which the
//! bench turns into throughput.

use crate::blockdev::{self, AlignedBuf};
use crate::rng::Rng;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pattern {
    Random,
    Sequential,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncKind {
    Fdatasync,
    Fsync,
}

pub struct WriteOptions {
    pub dev: PathBuf,
    pub io_size: u64,
    pub pattern: Pattern,
    /// Bytes each thread writes.
    pub bytes: u64,
    /// Sync after this many writes (0: only once at the end).
    pub sync_every: u64,
    pub sync: SyncKind,
    pub threads: u64,
    /// Only the first `span` bytes of the device are written (0: all).
    pub span: u64,
    pub seed: u64,
}

fn at(p: &Path, e: io::Error) -> String {
    format!("{}: {e}", p.display())
}

fn sync(f: &File, kind: SyncKind) -> io::Result<()> {
    match kind {
        SyncKind::Fdatasync => f.sync_data(),
        SyncKind::Fsync => f.sync_all(),
    }
}

fn report(start: Instant, bytes: u64, ops: u64) {
    println!(
        "elapsed={:.6} bytes={bytes} ops={ops}",
        start.elapsed().as_secs_f64()
    );
}

pub fn write(o: &WriteOptions) -> Result<(), String> {
    let f = blockdev::open_direct(&o.dev, false).map_err(|e| at(&o.dev, e))?;
    let size = blockdev::size(&f).map_err(|e| at(&o.dev, e))?;
    let span = if o.span == 0 { size } else { o.span.min(size) };
    if o.threads == 0 || o.io_size == 0 || o.bytes < o.io_size {
        return Err("--threads, --io-size must be positive and --bytes at least --io-size".into());
    }
    // Each thread writes its own slice, so sequential means sequential.
    let slice = span / o.threads / o.io_size * o.io_size;
    if slice < o.io_size {
        return Err(format!("{}: too small for the threads", o.dev.display()));
    }
    let writes = o.bytes / o.io_size;
    let start = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..o.threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || -> io::Result<()> {
                    let mut buf = AlignedBuf::new(o.io_size as usize);
                    let mut rng = Rng::new(o.seed ^ (t + 1).wrapping_mul(0x9e37_79b9));
                    rng.fill(&mut buf);
                    let base = t * slice;
                    let slots = slice / o.io_size;
                    for i in 0..writes {
                        let slot = match o.pattern {
                            Pattern::Random => rng.below(slots),
                            Pattern::Sequential => i % slots,
                        };
                        f.write_all_at(&buf, base + slot * o.io_size)?;
                        if o.sync_every > 0 && (i + 1) % o.sync_every == 0 {
                            sync(f, o.sync)?;
                        }
                    }
                    if o.sync_every == 0 || !writes.is_multiple_of(o.sync_every) {
                        sync(f, o.sync)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(io::Error::other("a writer panicked")))
        })
    })
    .map_err(|e| at(&o.dev, e))?;
    report(start, writes * o.io_size * o.threads, writes * o.threads);
    Ok(())
}

/// Writes `files` new files of `min..=max` bytes into `dir`, each written,
/// fsynced and closed, as a mail or package manager does.
pub fn smallfiles(dir: &Path, files: u64, min: u64, max: u64, seed: u64) -> Result<(), String> {
    if min > max || max == 0 {
        return Err("--min must be at most --max, and --max positive".into());
    }
    let mut rng = Rng::new(seed);
    let mut data = vec![0u8; max as usize];
    rng.fill(&mut data);
    let start = Instant::now();
    let mut bytes = 0;
    for i in 0..files {
        let len = rng.range(min, max) as usize;
        let path = dir.join(format!("f{i:06}"));
        let f = File::create(&path).map_err(|e| at(&path, e))?;
        f.write_all_at(&data[..len], 0)
            .and_then(|()| f.sync_all())
            .map_err(|e| at(&path, e))?;
        bytes += len as u64;
    }
    report(start, bytes, files);
    Ok(())
}
