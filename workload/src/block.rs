// SPDX-License-Identifier: GPL-2.0

//! `lw-workload block`: several writers hammer a block device at once with
//! writes of random sizes and offsets, FUA writes, flushes and discards.
//!
//! Each writer owns a disjoint slice of the device and issues its I/O one
//! at a time, so no two writes in flight overlap: the device's final
//! content is then fully determined by the order in which writes
//! completed, which is what a log-writes log records. A full replay must
//! therefore reproduce the device exactly. One more rule keeps it so: a
//! FUA write is logged when it completes, but a plain write or discard only
//! at the next flush, so a FUA write over a range with unflushed writes
//! would be replayed before them. Like a filesystem, a writer flushes
//! before such a FUA write, unless `--fua-over-unflushed` asks it not to:
//! then the log must carry the FUA write's data in those older writes.

use crate::blockdev::{self, AlignedBuf};
use crate::rng::Rng;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Options {
    pub dev: PathBuf,
    pub threads: u64,
    pub seconds: u64,
    pub seed: u64,
    pub max_io: u64,
    pub max_bytes: u64,
    /// Count failed operations and go on (a device that fails on purpose).
    pub keep_going: bool,
    pub fua_over_unflushed: bool,
    pub journal: Option<PathBuf>,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    fua_writes: AtomicU64,
    flushes: AtomicU64,
    discards: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

pub fn run(o: &Options) -> Result<(), String> {
    let probe = blockdev::open_direct(&o.dev, false).map_err(|e| at(&o.dev, e))?;
    let size = blockdev::size(&probe).map_err(|e| at(&o.dev, e))?;
    let bs = blockdev::logical_block_size(&probe).map_err(|e| at(&o.dev, e))?;
    if o.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if o.max_io < bs || !o.max_io.is_multiple_of(bs) {
        return Err(format!(
            "--max-io must be a positive multiple of the block size ({bs})"
        ));
    }
    let slice = size / o.threads / bs * bs;
    if slice < o.max_io {
        return Err(format!(
            "{}: {size} bytes is too small for {} writers of up to {} bytes",
            o.dev.display(),
            o.threads,
            o.max_io
        ));
    }
    let counters = Arc::new(Counters::default());
    let journal = match &o.journal {
        Some(p) => Some(Arc::new(Mutex::new(io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| at(p, e))?,
        )))),
        None => None,
    };
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let handles: Vec<_> = (0..o.threads)
        .map(|i| {
            let w = Writer {
                dev: o.dev.clone(),
                start: i * slice,
                len: slice,
                bs,
                max_io: o.max_io,
                max_bytes: o.max_bytes,
                keep_going: o.keep_going,
                fua_over_unflushed: o.fua_over_unflushed,
                journal: journal.clone(),
                deadline,
                rng: Rng::new(o.seed.wrapping_mul(1_000_003).wrapping_add(i)),
                counters: counters.clone(),
            };
            std::thread::spawn(move || w.run())
        })
        .collect();
    let mut first_err = None;
    for h in handles {
        let r = h.join().unwrap_or_else(|_| Err("a writer panicked".into()));
        if let (Err(e), None) = (r, &first_err) {
            first_err = Some(e);
        }
    }
    if let Some(j) = &journal {
        let mut j = j.lock().map_err(|_| "journal lock poisoned".to_string())?;
        j.flush().map_err(|e| format!("journal: {e}"))?;
    }
    let c = &counters;
    println!(
        "block workload: {} writers, {} writes ({} FUA), {} flushes, {} discards, {} bytes written, {} failed",
        o.threads,
        c.writes.load(Ordering::Relaxed),
        c.fua_writes.load(Ordering::Relaxed),
        c.flushes.load(Ordering::Relaxed),
        c.discards.load(Ordering::Relaxed),
        c.bytes.load(Ordering::Relaxed),
        c.errors.load(Ordering::Relaxed)
    );
    first_err.map_or(Ok(()), Err)
}

fn at(p: &Path, e: io::Error) -> String {
    format!("{}: {e}", p.display())
}

/// Flushes the device and forgets the unflushed ranges.
type FlushFn<'a> = dyn Fn(&mut Vec<(u64, u64)>) -> Result<(), String> + 'a;

struct Writer {
    dev: PathBuf,
    start: u64,
    len: u64,
    bs: u64,
    max_io: u64,
    max_bytes: u64,
    keep_going: bool,
    fua_over_unflushed: bool,
    journal: Option<Arc<Mutex<io::BufWriter<std::fs::File>>>>,
    deadline: Instant,
    rng: Rng,
    counters: Arc<Counters>,
}

impl Writer {
    fn run(mut self) -> Result<(), String> {
        let plain = blockdev::open_direct(&self.dev, false).map_err(|e| at(&self.dev, e))?;
        let fua = blockdev::open_direct(&self.dev, true).map_err(|e| at(&self.dev, e))?;
        let mut buf = AlignedBuf::new(self.max_io as usize);
        let c = self.counters.clone();
        // Byte ranges written or discarded since this writer's last flush.
        let mut unflushed: Vec<(u64, u64)> = Vec::new();
        let flush = |unflushed: &mut Vec<(u64, u64)>| {
            plain.sync_data().map_err(|e| format!("fdatasync: {e}"))?;
            c.flushes.fetch_add(1, Ordering::Relaxed);
            unflushed.clear();
            Ok::<(), String>(())
        };
        while Instant::now() < self.deadline && c.bytes.load(Ordering::Relaxed) < self.max_bytes {
            match self.step(&plain, &fua, &mut buf, &mut unflushed, &flush) {
                Err(_) if self.keep_going => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                }
                r => r?,
            }
        }
        Ok(())
    }

    /// One random operation.
    fn step(
        &mut self,
        plain: &std::fs::File,
        fua: &std::fs::File,
        buf: &mut AlignedBuf,
        unflushed: &mut Vec<(u64, u64)>,
        flush: &FlushFn<'_>,
    ) -> Result<(), String> {
        let c = self.counters.clone();
        {
            let op = self.rng.below(100);
            match op {
                0..=74 => {
                    // Mostly multi-block writes; now and then a single block.
                    let blocks = if op < 10 {
                        1
                    } else {
                        self.rng.range(1, self.max_io / self.bs)
                    };
                    let n = blocks * self.bs;
                    let off = self.offset_for(n);
                    self.rng.fill(&mut buf[..n as usize]);
                    let is_fua = op >= 60;
                    if is_fua
                        && !self.fua_over_unflushed
                        && unflushed.iter().any(|&(a, b)| a < off + n && off < b)
                    {
                        flush(unflushed)?;
                    }
                    let (file, counter) = if is_fua {
                        (fua, &c.fua_writes)
                    } else {
                        unflushed.push((off, off + n));
                        (plain, &c.writes)
                    };
                    file.write_all_at(&buf[..n as usize], off)
                        .map_err(|e| format!("write of {n} bytes at {off}: {e}"))?;
                    self.record(off, &buf[..n as usize])?;
                    counter.fetch_add(1, Ordering::Relaxed);
                    c.bytes.fetch_add(n, Ordering::Relaxed);
                }
                75..=89 => {
                    plain.sync_data().map_err(|e| format!("fdatasync: {e}"))?;
                    c.flushes.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    let n = self.rng.range(1, 4 * self.max_io / self.bs) * self.bs;
                    let n = n.min(self.len);
                    let off = self.offset_for(n);
                    blockdev::discard(plain, off, n)
                        .map_err(|e| format!("discard of {n} bytes at {off}: {e}"))?;
                    unflushed.push((off, off + n));
                    c.discards.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Adds a write that succeeded to the journal, if there is one.
    fn record(&self, off: u64, data: &[u8]) -> Result<(), String> {
        let Some(j) = &self.journal else {
            return Ok(());
        };
        let mut line = format!("W {off} {}", data.len());
        for s in data.chunks(512) {
            line.push_str(&format!(" {:x}", logformat::sector_hash(s)));
        }
        line.push('\n');
        let mut j = j.lock().map_err(|_| "journal lock poisoned".to_string())?;
        j.write_all(line.as_bytes())
            .map_err(|e| format!("journal: {e}"))
    }

    /// A random block-aligned offset inside this writer's slice where `n`
    /// bytes fit.
    fn offset_for(&mut self, n: u64) -> u64 {
        self.start + self.rng.below((self.len - n) / self.bs + 1) * self.bs
    }
}
