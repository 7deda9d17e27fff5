// SPDX-License-Identifier: GPL-2.0

//! The logging thread and the state it shares with map/end_io: pending
//! blocks, the two lists they wait on, and the log's write position.
//!
//! Safe code on top of the abstractions.

use crate::append::LogEnd;
use crate::dm::{dm_err, TableDev};
use crate::kthread;
use crate::log_io::{plugged, submit_write, Completion, IoBatch, WriteKind};
use crate::logformat::{EntryHeader, Super, FLAG_FLUSH, FLAG_FUA, FLAG_MARK};
use crate::page::{NoIoPage, PageBuf, PAGE_SIZE};
use crate::spinlock_irq::{new_spinlock_irq, SpinLockIrq};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::alloc::{flags::GFP_KERNEL, KVec};
use kernel::list::{List, ListArc, ListLinks};
use kernel::new_condvar;
use kernel::prelude::*;
use kernel::sync::{Arc, CondVar};

/// Most pages one bio carries (`BIO_MAX_VECS`).
const BIO_MAX_VECS: usize = 256;

/// One write, flush, discard or mark waiting to be logged.
#[pin_data]
pub(crate) struct Block {
    #[pin]
    links: ListLinks<0>,
    /// Entry header (sector and count in log sectors).
    pub(crate) header: EntryHeader,
    /// Copy of a write's data.
    pub(crate) data: Option<PageBuf>,
    /// A mark's text.
    pub(crate) mark: KVec<u8>,
}

kernel::list::impl_has_list_links! {
    impl HasListLinks<0> for Block { self.links }
}
kernel::list::impl_list_arc_safe! {
    impl ListArcSafe<0> for Block { untracked; }
}
kernel::list::impl_list_item! {
    impl ListItem<0> for Block { using ListLinks; }
}

impl Block {
    /// Bytes of data copied for this block.
    pub(crate) fn data_len(&self) -> u64 {
        self.data.as_ref().map_or(0, |d| d.len() as u64)
    }

    /// A new block, ready to be put on a list.
    pub(crate) fn new(
        header: EntryHeader,
        data: Option<PageBuf>,
        mark: KVec<u8>,
    ) -> Result<ListArc<Block>> {
        ListArc::pin_init(
            try_pin_init!(Block { links <- ListLinks::new(), header, data, mark }? Error),
            GFP_KERNEL,
        )
    }
}

/// What map, end_io, messages and the thread share, under one lock.
pub(crate) struct Queues {
    /// Completed writes not yet covered by a completed flush.
    pub(crate) unflushed: List<Block>,
    /// Blocks to write to the log, in order.
    pub(crate) logging: List<Block>,
    /// Set by the destructor: drain `logging`, then exit.
    pub(crate) stopping: bool,
    pub(crate) logged_entries: u64,
    /// Next free 512-byte sector of the log device.
    pub(crate) next_sector: u64,
    /// Size of the log device in 512-byte sectors.
    pub(crate) end_sector: u64,
    /// Data bytes copied for completed writes that the thread has not
    /// taken off `unflushed` or `logging` yet: the memory the bound
    /// (`Shared::max_held`) limits.
    pub(crate) held: u64,
    /// The thread should flush the data device itself (`held` is high).
    pub(crate) flush_wanted: bool,
    /// A flush the target sent is in flight; `flush_covered` holds the
    /// writes it covers and `flush_block` its entry.
    pub(crate) flush_in_flight: bool,
    pub(crate) flush_covered: List<Block>,
    pub(crate) flush_block: Option<ListArc<Block>>,
}

impl Queues {
    /// Puts a completed block on `logging` or `unflushed`, counting its
    /// data as held.
    pub(crate) fn hold(&mut self, block: ListArc<Block>, durable: bool) {
        self.held += block.data_len();
        if durable {
            self.logging.push_back(block);
        } else {
            self.unflushed.push_back(block);
        }
    }
}

/// The log device and the state around it.
#[pin_data]
pub(crate) struct Shared {
    #[pin]
    pub(crate) q: SpinLockIrq<Queues>,
    /// Signalled when `logging` gains blocks, `stopping` or
    /// `flush_wanted` is set.
    #[pin]
    pub(crate) work: CondVar,
    /// Signalled when `held` drops, or logging stops: writers waiting for
    /// room under the bound re-check.
    #[pin]
    pub(crate) room: CondVar,
    /// Bound on `held` in bytes (0: none). A write that would exceed it
    /// waits in `map` while the thread has the data device flushed and the
    /// held writes logged.
    pub(crate) max_held: u64,
    /// Flushes the target sends to the data device.
    pub(crate) flushes: Arc<IoBatch>,
    /// The data device.
    pub(crate) dev: TableDev,
    /// Cleared for good when logging fails or the log is full. Atomic, not
    /// under `q`: `map` reads it for every bio (a stale read is harmless,
    /// the thread drops blocks once it is clear, as C does).
    pub(crate) enabled: AtomicBool,
    /// Continuing an existing log: its super block is valid already.
    pub(crate) appending: bool,
    pub(crate) logdev: TableDev,
    /// Log sector size in bytes (the data device's logical block size).
    pub(crate) sector_size: u32,
    /// 512-byte sectors per log sector.
    pub(crate) sector_factor: u64,
    /// log2 of `sector_factor`: the map path shifts instead of dividing, so
    /// it has no division-by-zero panic path.
    pub(crate) sector_shift: u32,
}

impl Shared {
    /// The state of a new log, or with `append` of the existing one that
    /// ends there.
    pub(crate) fn new(
        dev: TableDev,
        logdev: TableDev,
        sector_size: u32,
        append: Option<LogEnd>,
        max_held: u64,
    ) -> Result<Arc<Shared>> {
        let flushes = IoBatch::new()?;
        let end_sector = logdev.nr_sectors();
        let sector_factor = u64::from(sector_size >> 9);
        let appending = append.is_some();
        let (logged_entries, next_sector) =
            append.map_or((0, sector_factor), |e| (e.entries, e.next_sector));
        Arc::pin_init(
            pin_init!(Shared {
                q <- new_spinlock_irq!(
                    Queues {
                        unflushed: List::new(),
                        logging: List::new(),
                        stopping: false,
                        logged_entries,
                        next_sector,
                        end_sector,
                        held: 0,
                        flush_wanted: false,
                        flush_in_flight: false,
                        flush_covered: List::new(),
                        flush_block: None,
                    },
                    "log_writes::Queues"
                ),
                work <- new_condvar!("log_writes::work"),
                room <- new_condvar!("log_writes::room"),
                max_held,
                flushes,
                dev,
                enabled: AtomicBool::new(true),
                appending,
                logdev,
                sector_size,
                sector_factor,
                sector_shift: sector_factor.trailing_zeros(),
            }),
            GFP_KERNEL,
        )
    }

    /// Turns logging off for good, saying why.
    pub(crate) fn disable(&self, why: core::fmt::Arguments<'_>) {
        dm_err!("{}", why);
        self.enabled.store(false, Ordering::Relaxed);
        // Nothing will be held for long now: let waiting writers go. Under
        // the lock, so that a writer between its check and its sleep
        // cannot miss this.
        let _q = self.q.lock();
        self.room.notify_all();
    }
}

/// What the thread took off the list, and where it goes.
struct Job {
    block: Arc<Block>,
    sector: u64,
    update_super: bool,
    entries: u64,
}

/// What the thread does next.
enum Step {
    Log(Job),
    /// Too much is held: flush the data device so the unflushed writes
    /// become durable and can be logged.
    Flush,
    /// The log is full: logging is off; make the super block count the
    /// entries that are on the log device.
    Seal {
        entries: u64,
    },
}

/// Takes the next block to log, reserving its log space like the C target
/// does, or returns `None` once stopping with nothing left.
fn next_job(s: &Shared, batch: &IoBatch) -> Option<Step> {
    loop {
        let mut q = s.q.lock();
        if q.flush_wanted && !q.flush_in_flight && !q.stopping {
            q.flush_wanted = false;
            return Some(Step::Flush);
        }
        let Some(block) = q.logging.pop_front() else {
            if q.stopping {
                drop(q);
                let _ = batch.wait();
                let _ = s.flushes.wait();
                return None;
            }
            drop(q);
            // Idle: let in-flight log writes finish, so errors surface and
            // nothing is outstanding while we sleep.
            if let Err(status) = batch.wait() {
                s.disable(format_args!("Error writing log block, error={status}"));
            }
            let mut q = s.q.lock();
            if q.logging.is_empty() && !q.stopping && !q.flush_wanted {
                // Kthreads get no signals: an early return is just a
                // spurious wakeup, and the loop re-checks.
                let _ = s.work.wait_interruptible(&mut q);
            }
            drop(q);
            kthread::try_to_freeze();
            continue;
        };
        q.held = q.held.saturating_sub(block.data_len());
        if s.max_held != 0 && q.held < s.max_held {
            s.room.notify_all();
        }
        if !s.enabled.load(Ordering::Relaxed) {
            continue;
        }
        let h = block.header;
        let sector = q.next_sector;
        q.next_sector += s.sector_factor * (1 + h.data_sectors());
        if q.end_sector != 0 && q.next_sector >= q.end_sector {
            s.enabled.store(false, Ordering::Relaxed);
            let entries = q.logged_entries;
            drop(q);
            dm_err!("Ran out of space on the logdev");
            return Some(Step::Seal { entries });
        }
        q.logged_entries += 1;
        return Some(Step::Log(Job {
            block: block.into_arc(),
            sector,
            update_super: h.flags & (FLAG_FUA | FLAG_MARK) != 0,
            entries: q.logged_entries,
        }));
    }
}

/// The header sector of an entry plus the entry it belongs to: what the
/// entry's bios keep alive.
struct EntryIo {
    header: NoIoPage,
    block: Arc<Block>,
}

fn write_entry(s: &Shared, batch: &Arc<IoBatch>, job: &Job) -> Result {
    let block = &job.block;
    let mut header = NoIoPage::new()?;
    header.write(0, &block.header.fields())?;
    header.write(crate::logformat::ENTRY_LEN, &block.mark)?;
    let ss = s.sector_size as usize;
    let io = Arc::new(
        EntryIo {
            header,
            block: block.clone(),
        },
        GFP_KERNEL,
    )?;
    let data_pages = block
        .data
        .as_ref()
        .map_or(0, |d| d.len().div_ceil(PAGE_SIZE));
    // The first bio carries the header and as much data as fits; the rest
    // follow in full bios.
    let mut sector = job.sector;
    let mut page = 0usize;
    let mut first = true;
    while first || page < data_pages {
        let room = if first {
            BIO_MAX_VECS - 1
        } else {
            BIO_MAX_VECS
        };
        let n = (data_pages - page).min(room);
        let with_header = first;
        let start = page;
        submit_write(
            &s.logdev,
            sector,
            WriteKind::Plain,
            (n + usize::from(with_header)) as u16,
            batch,
            io.clone(),
            |bio, io| {
                if with_header {
                    bio.add(&io.header, ss)?;
                }
                if let Some(data) = io.block.data.as_ref() {
                    for (p, len) in data.pages().skip(start).take(n) {
                        bio.add(p, len)?;
                    }
                }
                Ok(())
            },
        )?;
        // Every data page but the last is full, so this bio's data is the
        // rest of the buffer, capped at `n` pages.
        let data_len = block.data.as_ref().map_or(0, |d| d.len());
        let data_bytes = (data_len - start * PAGE_SIZE).min(n * PAGE_SIZE);
        let bytes = data_bytes as u64 + if with_header { ss as u64 } else { 0 };
        sector += bytes >> 9;
        page += n;
        first = false;
    }
    Ok(())
}

fn write_super(s: &Shared, batch: &Arc<IoBatch>, entries: u64) -> Result {
    let mut page = NoIoPage::new()?;
    page.write(
        0,
        &Super {
            nr_entries: entries,
            sector_size: s.sector_size,
        }
        .fields(),
    )?;
    let page = Arc::new(page, GFP_KERNEL)?;
    let ss = s.sector_size as usize;
    // Durable: C never flushes the log device, so after a crash its super
    // block can count entries that were still in the device's cache.
    // Here every entry it counts has completed (the caller waited), the
    // preflush makes them durable before it, and FUA makes it durable.
    submit_write(
        &s.logdev,
        0,
        WriteKind::Durable,
        1,
        batch,
        page,
        |bio, page| bio.add(page, ss),
    )
}

/// Writes the super block counting `entries` after everything before it,
/// and waits for it, so an older count never lands last.
fn update_super(s: &Shared, batch: &Arc<IoBatch>, entries: u64) {
    let r = batch
        .wait()
        .map_err(|st| (st, "Error writing log block"))
        .and_then(|()| write_super(s, batch, entries).map_err(|_| (0, "Couldn't write super")))
        .and_then(|()| batch.wait().map_err(|st| (st, "Error writing log block")));
    if let Err((status, what)) = r {
        s.disable(format_args!("{what}, error={status}"));
    }
}

/// Sends an empty flush to the data device covering every write on
/// `unflushed`, as if the filesystem had: when it completes, they and the
/// flush's own entry move to `logging` (see `Completion for Shared`).
fn flush_data_device(s: &Arc<Shared>) -> Result {
    let header = EntryHeader {
        flags: FLAG_FLUSH,
        ..Default::default()
    };
    let block = Block::new(header, None, KVec::new())?;
    {
        let mut q = s.q.lock();
        let q = &mut *q;
        q.flush_covered.push_all_back(&mut q.unflushed);
        q.flush_block = Some(block);
        q.flush_in_flight = true;
    }
    let r = submit_write(
        &s.dev,
        0,
        WriteKind::Flush,
        0,
        &s.flushes,
        s.clone(),
        |_, _| Ok(()),
    );
    if r.is_err() {
        // Not sent: as if it had failed.
        s.done(1);
    }
    r
}

impl Completion for Shared {
    /// A flush from `flush_data_device` completed.
    fn done(&self, status: u8) {
        let mut q = self.q.lock();
        let q = &mut *q;
        let mut covered = List::new();
        covered.push_all_back(&mut q.flush_covered);
        let block = q.flush_block.take();
        q.flush_in_flight = false;
        match block {
            Some(block) if status == 0 => {
                q.logging.push_all_back(&mut covered);
                q.logging.push_back(block);
            }
            _ => {
                // Not known durable: back to wait for the next flush,
                // ahead of what completed since.
                covered.push_all_back(&mut q.unflushed);
                q.unflushed.push_all_back(&mut covered);
                if status != 0 {
                    dm_err!("A flush the target sent failed: error {}", status);
                }
            }
        }
        self.work.notify_all();
    }
}

impl Completion for EntryIo {}
impl Completion for NoIoPage {}

/// The thread's body: log blocks in order until stopped.
pub(crate) fn run(s: Arc<Shared>, batch: Arc<IoBatch>) {
    // Entries are consecutive on the log device: with the thread plugged,
    // the block layer merges their bios until it sleeps (idle, or waiting
    // before a super block update), which flushes the plug.
    plugged(|| run_plugged(&s, &batch));
}

fn run_plugged(arc: &Arc<Shared>, batch: &Arc<IoBatch>) {
    let (s, batch) = (&**arc, batch);
    let mut started = s.appending;
    while let Some(step) = next_job(s, batch) {
        let job = match step {
            Step::Log(job) => job,
            Step::Flush => {
                if let Err(e) = flush_data_device(arc) {
                    s.disable(format_args!(
                        "Couldn't flush the data device: error {}",
                        e.to_errno()
                    ));
                }
                continue;
            }
            // C leaves the count of the last FUA or mark; every entry
            // written so far is complete, so count them all.
            Step::Seal { entries } => {
                update_super(s, batch, entries);
                continue;
            }
        };
        if !started {
            // Whatever the log device held before (an older log) must not
            // be read as this log after a crash: a durable empty super block
            // goes first. Not at construction, where a table loaded beside
            // a live one (a reload) would clobber the live log.
            update_super(s, batch, 0);
            started = true;
        }
        if let Err(e) = write_entry(s, batch, &job) {
            s.disable(format_args!(
                "Couldn't write log entry: error {}",
                e.to_errno()
            ));
            continue;
        }
        if job.update_super {
            update_super(s, batch, job.entries);
        }
    }
}
