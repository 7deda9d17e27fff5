// SPDX-License-Identifier: GPL-2.0

//! The logging thread and the state it shares with map/end_io: pending
//! blocks, the two lists they wait on, and the log's write position.
//!
//! Safe code on top of the abstractions.

use crate::abstractions::block::bio::BioSet;
use crate::abstractions::block::io::{
    plugged, submit_write, Completion, IoBatch, WriteKind, BIO_MAX_VECS,
};
use crate::abstractions::device_mapper::{dm_err, TableDev};
use crate::abstractions::kthread;
use crate::abstractions::list::ListNode;
use crate::abstractions::page::{noio_scope, PageBuf, PageReserve, ReservedPage, PAGE_SIZE};
use crate::abstractions::spinlock_irq::{new_spinlock_irq, SpinLockIrq};
use crate::abstractions::time::Stamp;
use crate::append::LogEnd;
use crate::group::GroupRef;
use crate::logformat::{
    group_tag, group_tag_offset, group_trailer, group_trailer_offset, EntryHeader, GroupStamp,
    Super, FLAG_FLUSH, FLAG_FUA, FLAG_MARK, FLAG_TARGET,
};
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::alloc::{
    flags::{GFP_ATOMIC, GFP_KERNEL},
    KVec,
};
use kernel::list::{List, ListArc};
use kernel::new_condvar;
use kernel::prelude::*;
use kernel::sync::{Arc, CondVar, UniqueArc};
use kernel::time::msecs_to_jiffies;

/// Bios kept in reserve for the log and the target's own flushes, and
/// pages for entry headers and super blocks.
const LOG_BIO_RESERVE: u32 = 16;

/// Header pages kept for reuse once they come back from the log device:
/// the entries of a burst of writes are gathered into few log bios
/// ([`Run`]), and each holds a header page until its bio completes.
/// Past [`LOG_BIO_RESERVE`] they are allocated as needed, then kept.
const HEADER_PAGES_KEPT: usize = 64;

/// Pages of logged copies kept for the next copies (256 KiB at most, none
/// until used): a write's copy is allocated on the writer's CPU and freed
/// when its entry's log write completes, elsewhere; through the page
/// allocator, that pair cost about as many instructions as the 4 KiB copy
/// itself (`BENCH_PROFILE=1 make bench`).
const DATA_PAGES_KEPT: usize = 64;

/// One write, flush, discard or mark waiting to be logged (C's
/// `struct pending_block`).
pub(crate) struct PendingBlock {
    /// Entry header (sector and count in log sectors).
    pub(crate) header: EntryHeader,
    /// Copy of a write's data.
    pub(crate) data: Option<PageBuf>,
    /// A mark's text.
    pub(crate) mark: KVec<u8>,
    /// For a plain write: its sequence number among completed writes
    /// ([`Queues::completed`]).
    seq: u64,
    /// A discard that later writes durable at completion covered entirely
    /// before it became durable: it is not logged.
    superseded: bool,
    /// In a group: the number the entry took in the group's order when it
    /// became durable (0 until then). Set under the queue lock, on lists
    /// where the block is shared, hence atomic.
    group_seq: AtomicU64,
    /// In a group, for a plain write: the number its completion took (0
    /// for any other entry).
    group_completed: u64,
    /// The entry's header sector, once the thread writes it.
    header_page: Option<ReservedPage>,
    /// The log the entry is being written to, while its bios are in
    /// flight: a failed one turns logging off in its completion, as C's
    /// `log_end_io` does, so that the thread need not wait for them; the
    /// entry's drop then ends its count against the memory bound.
    log: Option<Arc<Shared>>,
    /// The entry written after it in the same log bio ([`Run`]): the bio
    /// holds the first entry of its run, and each entry the next.
    next_in_bio: Option<Arc<Block>>,
}

/// A pending block as it goes on the target's lists.
pub(crate) type Block = ListNode<PendingBlock>;

impl Drop for PendingBlock {
    fn drop(&mut self) {
        // An entry the thread took for the log: its last log write has
        // completed (or none was sent). Its copy is freed first, then no
        // longer counted against the bound.
        if let Some(s) = self.log.take() {
            let len = self.data_len();
            self.data = None;
            s.written(len);
        }
        // The rest of its run, one entry at a time: dropped as a chain,
        // each entry's drop would nest in the previous one's, as deep as
        // the run is long, in a bio's completion.
        let mut next = self.next_in_bio.take();
        while let Some(block) = next {
            next = Arc::into_unique_or_drop(block)
                .and_then(|mut unique| unique.as_mut().value_mut().next_in_bio.take());
        }
    }
}

impl PendingBlock {
    /// Bytes of data copied for this block.
    pub(crate) fn data_len(&self) -> u64 {
        self.data.as_ref().map_or(0, |d| d.len() as u64)
    }

    /// A new block, held alone until it is queued.
    pub(crate) fn new_block(
        header: EntryHeader,
        data: Option<PageBuf>,
        mark: KVec<u8>,
    ) -> Result<Pin<UniqueArc<Block>>> {
        ListNode::new(
            PendingBlock {
                header,
                data,
                mark,
                seq: 0,
                superseded: false,
                group_seq: AtomicU64::new(0),
                group_completed: 0,
                header_page: None,
                log: None,
                next_in_bio: None,
            },
            GFP_KERNEL,
        )
    }

    /// Log sectors `[start, end)` it covers.
    fn range(&self) -> (u64, u64) {
        (
            self.header.sector,
            self.header.sector + self.header.nr_sectors,
        )
    }

    /// Whether `by`, completed later and durable at once, overlaps it.
    fn overlaps(&self, by: &PendingBlock) -> bool {
        let (a0, a1) = self.range();
        let (b0, b1) = by.range();
        !self.superseded && a0 < b1 && b0 < a1
    }

    /// Takes in what `by` (completed later, durable at completion) put on
    /// the device where the two overlap: its data (zeroes for a discard)
    /// for a write; for a discard, the part `by` covers is cut off, and
    /// the part after it is returned when `by` falls inside.
    fn supersede_with(&mut self, by: &PendingBlock) -> Result<Option<PendingBlock>> {
        let (a0, a1) = self.range();
        let (b0, b1) = by.range();
        let (o0, o1) = (a0.max(b0), a1.min(b1));
        if let Some(data) = self.data.as_mut() {
            // Bytes per log sector: the copy holds all sectors of the write.
            let ss = (data.len() as u64)
                .checked_div(self.header.nr_sectors)
                .ok_or(EINVAL)?;
            let at = ((o0 - a0) * ss) as usize;
            let len = ((o1 - o0) * ss) as usize;
            match by.data.as_ref() {
                Some(src) => data.overwrite(at, src, ((o0 - b0) * ss) as usize, len)?,
                None => data.zero(at, len)?,
            }
            return Ok(None);
        }
        let h = &mut self.header;
        if b0 <= a0 && a1 <= b1 {
            self.superseded = true;
        } else if b0 <= a0 {
            h.sector = b1;
            h.nr_sectors = a1 - b1;
        } else if a1 <= b1 {
            h.nr_sectors = b0 - a0;
        } else {
            h.nr_sectors = b0 - a0;
            let tail = EntryHeader {
                sector: b1,
                nr_sectors: a1 - b1,
                ..*h
            };
            return Ok(Some(PendingBlock {
                header: tail,
                data: None,
                mark: KVec::new(),
                seq: self.seq,
                superseded: false,
                group_seq: AtomicU64::new(0),
                group_completed: self.group_completed,
                header_page: None,
                log: None,
                next_in_bio: None,
            }));
        }
        Ok(None)
    }
}

/// The flush the target itself sends to the data device (to bound memory,
/// or to make completed writes durable before a suspend or remove). At most
/// one is in flight; these transitions, all under the queue lock, are the
/// only way to change it.
pub(crate) enum TargetFlush {
    /// None wanted or in flight.
    Idle,
    /// None wanted or in flight, and the last one failed: writers stop
    /// waiting for room until one succeeds (a device that fails flushes
    /// must not hang them).
    Failed,
    /// Asked for; the thread sends it next.
    Wanted,
    /// Sent; when it succeeds the writes that had completed before it
    /// (sequence numbers up to `cut`) become durable, followed by `entry`.
    InFlight { cut: u64, entry: ListArc<Block> },
}

impl TargetFlush {
    /// None wanted or in flight.
    pub(crate) fn is_settled(&self) -> bool {
        matches!(self, TargetFlush::Idle | TargetFlush::Failed)
    }
}

/// Where the table is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Constructed (`dmsetup create` or `reload`), never resumed: it has
    /// not touched the log device and must not, since the table beside it
    /// may be logging there.
    Loaded,
    /// Resumed: I/O may arrive.
    Live,
    /// Suspended after having been live: the log is drained.
    Suspended,
    /// The destructor runs: drain `logging`, then exit.
    Stopping,
}

/// What map, end_io, messages and the thread share, under one lock.
///
/// # Invariants
///
/// `unflushed` holds, in completion order, the plain writes that completed
/// and are not known durable yet, with non-decreasing sequence numbers up
/// to `completed`. Durability only ever moves a prefix of `unflushed` to
/// `logging` ([`Queues::durable_to`]), so `logging` is in the order writes
/// became durable.
pub(crate) struct Queues {
    unflushed: List<Block>,
    /// Plain writes that ever completed: the sequence number of the newest.
    completed: u64,
    /// Blocks to write to the log, in order.
    pub(crate) logging: List<Block>,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) target_flush: TargetFlush,
    /// The thread should write the super block counting every entry
    /// written so far (a suspend drains the log).
    pub(crate) super_wanted: bool,
    /// The thread is writing entries it took off `logging`.
    pub(crate) busy: bool,
    logged_entries: u64,
    /// Entries the last super block written counts.
    super_entries: u64,
    /// Since when a FUA entry has been logged that the super block on
    /// disk does not count yet (see [`SUPER_LAG_MS`]).
    super_behind_since: Option<Stamp>,
    /// Next free 512-byte sector of the log device.
    next_sector: u64,
    /// The group whose order the entries take a place in, if any.
    group: Option<GroupRef>,
    /// Size of the log device in 512-byte sectors.
    end_sector: u64,
    /// Data bytes copied for completed writes that the thread has not
    /// taken off `unflushed` or `logging` yet: the memory the bound
    /// (`Shared::max_held`) limits.
    held: u64,
    /// Under a bound: data bytes of the entries the thread took off
    /// `logging` whose log writes have not all completed. Not logged yet,
    /// and still in memory, so they count against the bound too (the
    /// thread can take entries faster than a slow log device writes
    /// them).
    writing: u64,
    /// The thread had work a moment ago and sleeps for at most [`NAP_MS`]
    /// before it looks again: a completion need not wake it
    /// ([`Queues::wants_thread`]).
    napping: bool,
}

impl Queues {
    /// A plain write completed: it waits for a flush.
    pub(crate) fn completed_plain(&mut self, mut block: Pin<UniqueArc<Block>>) {
        self.completed += 1;
        block.as_mut().value_mut().seq = self.completed;
        if let Some(g) = &self.group {
            // From now on it may be on the device, until a flush makes it
            // so for certain: a crash in between may or may not keep it.
            block.as_mut().value_mut().group_completed = g.next_seq();
        }
        self.held += block.data_len();
        self.unflushed.push_back(block.into());
    }

    /// A write that is durable at completion (FUA, write-through) or a
    /// mark: logged next, after everything that became durable before.
    ///
    /// On the device its data replaced, for good, that of the completed
    /// writes still waiting for a flush where they overlap; those are
    /// logged after it (when a flush makes them durable), so they are
    /// logged with its data there ([`PendingBlock::supersede_with`]), and a
    /// replay to any later point finds what the device held. Fails, with
    /// the block not queued, only when that needs memory it cannot get.
    pub(crate) fn completed_durable(&mut self, block: Pin<UniqueArc<Block>>) -> Result {
        // In a group, this event's number first: the writes whose data it
        // replaces hold its data from this event on.
        let number = self.group.as_ref().map(|g| g.next_seq());
        if block.header.nr_sectors != 0 && self.unflushed.iter().any(|a| a.overlaps(&block)) {
            self.supersede(&block, number)?;
        }
        self.held += block.data_len();
        self.queue_numbered(block.into(), number);
        Ok(())
    }

    /// Every block goes on `logging` here, at the moment it becomes
    /// durable: in a group, that moment takes its place in the group's
    /// order, under this lock, so the log's order and the group's agree.
    fn queue_durable(&mut self, block: ListArc<Block>) {
        let number = self.group.as_ref().map(|g| g.next_seq());
        self.queue_numbered(block, number);
    }

    /// [`Queues::queue_durable`] with the group number taken already.
    fn queue_numbered(&mut self, block: ListArc<Block>, number: Option<u64>) {
        if let Some(n) = number {
            block.group_seq.store(n, Ordering::Relaxed);
        }
        self.logging.push_back(block);
    }

    /// Rebuilds `unflushed` with every block `by` overlaps superseded. In
    /// a group, `number` is `by`'s event: a write that takes in its data
    /// could be on the device as logged only from then on, so that is the
    /// completion it records.
    fn supersede(&mut self, by: &PendingBlock, number: Option<u64>) -> Result {
        let mut kept = List::new();
        let mut result = Ok(());
        while let Some(a) = self.unflushed.pop_front() {
            if result.is_err() || !a.overlaps(by) {
                kept.push_back(a);
                continue;
            }
            // Blocks on `unflushed` are never shared, so this succeeds.
            let Some(mut a) = ListNode::into_unique(a) else {
                result = Err(EINVAL);
                continue;
            };
            match a.as_mut().value_mut().supersede_with(by) {
                Ok(tail) => {
                    let a_mut = a.as_mut().value_mut();
                    if let (Some(n), Some(_)) = (number, &a_mut.data) {
                        a_mut.group_completed = a_mut.group_completed.max(n);
                    }
                    kept.push_back(a.into());
                    if let Some(tail) = tail {
                        match ListNode::new(tail, GFP_ATOMIC) {
                            Ok(t) => kept.push_back(t.into()),
                            Err(e) => result = Err(e),
                        }
                    }
                }
                Err(e) => {
                    kept.push_back(a.into());
                    result = Err(e);
                }
            }
        }
        self.unflushed = kept;
        result
    }

    /// The sequence number a flush submitted now covers: every plain write
    /// completed so far.
    pub(crate) fn flush_cut(&self) -> u64 {
        self.completed
    }

    /// A flush that covers writes up to `cut` completed: those not logged
    /// yet become durable now, in completion order, then the flush's own
    /// entry. Whichever flush completes first logs them, so concurrent,
    /// reordered and target-issued flushes all keep durability order.
    pub(crate) fn flushed(&mut self, cut: u64, entry: ListArc<Block>) {
        self.durable_to(cut);
        self.queue_durable(entry);
    }

    fn durable_to(&mut self, cut: u64) {
        while let Some(b) = self.unflushed.pop_front() {
            if b.seq > cut {
                self.unflushed.push_front(b);
                break;
            }
            self.queue_durable(b);
        }
    }

    /// Continues the log that ends at `end` (`append`, once the table is
    /// resumed and the previous one has written its last entries).
    pub(crate) fn continue_log(&mut self, end: &LogEnd) {
        self.logged_entries = end.entries;
        self.super_entries = end.entries;
        self.next_sector = end.next_sector;
    }

    /// Entries logged so far (`dmsetup status`).
    pub(crate) fn logged_entries(&self) -> u64 {
        self.logged_entries
    }

    /// The next free 512-byte sector of the log device (`dmsetup status`).
    pub(crate) fn next_sector(&self) -> u64 {
        self.next_sector
    }

    pub(crate) fn has_unflushed(&self) -> bool {
        !self.unflushed.is_empty()
    }

    /// Asks the thread for a flush of its own unless one is wanted or in
    /// flight already. Returns whether the thread must be woken.
    pub(crate) fn want_target_flush(&mut self) -> bool {
        if self.target_flush.is_settled() {
            self.target_flush = TargetFlush::Wanted;
            true
        } else {
            false
        }
    }

    /// The bytes the bound (`Shared::max_held`) limits: copies of
    /// completed writes not logged yet, queued or being written.
    pub(crate) fn bounded(&self) -> u64 {
        self.held + self.writing
    }

    /// A completion queued a block for the log: whether the thread must be
    /// woken for it. A napping thread finds it when its nap ends, unless
    /// [`NAP_MAX_HELD`] bytes or more wait: then one wake-up and one log
    /// request serve the entries of several flushes, not one each.
    pub(crate) fn wants_thread(&self) -> bool {
        !self.napping || self.held >= NAP_MAX_HELD
    }

    /// Nothing queued, wanted or being submitted. Log writes may still be
    /// in flight: the log device holds all that is durable once a super
    /// block counting every entry is written (which waits for them).
    pub(crate) fn is_idle(&self) -> bool {
        self.logging.is_empty()
            && self.target_flush.is_settled()
            && !self.super_wanted
            && !self.busy
    }
}

/// The log device and the state around it.
///
/// # Invariants
///
/// - Every field but `q`, `enabled` and the condition variables is set in
///   [`Shared::new`] and never changes.
/// - The last reference is dropped in the target's destructor, in process
///   context, so that the table devices are put (`dm_put_device`, which
///   sleeps) and the bio set is torn down where that may sleep. The other
///   holders are the logging thread, joined there first, the target's
///   own flushes in flight, whose completion drops its reference before
///   it counts in `flushes`, and the entries whose log writes are in
///   flight, dropped before their last bio counts in `log_writes`;
///   the thread waits for both before it exits.
#[pin_data]
pub(crate) struct Shared {
    #[pin]
    pub(crate) q: SpinLockIrq<Queues>,
    /// Signalled when the thread has work: `logging` gains blocks, a
    /// target flush or super block is wanted, or the table stops.
    #[pin]
    pub(crate) work: CondVar,
    /// Signalled when the thread becomes idle ([`Queues::is_idle`]) or
    /// logging stops: suspend and remove wait for it.
    #[pin]
    pub(crate) idle: CondVar,
    /// Signalled when `held` drops, a target flush fails, or logging
    /// stops: writers waiting for room under the bound re-check.
    #[pin]
    pub(crate) room: CondVar,
    /// Bound on [`Queues::bounded`] in bytes (0: none). A write that would exceed it
    /// waits in `map` while the thread has the data device flushed and the
    /// held writes logged.
    pub(crate) max_held: u64,
    /// Flushes the target sends to the data device.
    pub(crate) flushes: Arc<IoBatch>,
    /// The thread's writes to the log device (entries and super blocks)
    /// in flight. Any failure among them is final: logging is off from
    /// then on.
    pub(crate) log_writes: Arc<IoBatch>,
    /// The bios of log writes and of the target's own flushes come from
    /// here, not from the pool the filesystems above share: the thread
    /// that writers wait on always gets one, if it has to wait.
    pub(crate) bios: Arc<BioSet>,
    /// Pages for entry headers and super blocks, with a reserve: when
    /// memory is short the thread still logs, and so frees the copies of
    /// the writes it logs.
    pub(crate) headers: Arc<PageReserve>,
    /// Pages for the copies of writes ([`DATA_PAGES_KEPT`]).
    pub(crate) pages: Arc<PageReserve>,
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
    /// The group the log is in (`group:<name>`), whose name its super
    /// block carries.
    pub(crate) group: Option<GroupRef>,
}

/// The private bio set of [`Shared::bios`]: made first, for the reads of
/// `append` in the constructor.
pub(crate) fn new_bio_set() -> Result<Arc<BioSet>> {
    Arc::pin_init(
        BioSet::new(
            LOG_BIO_RESERVE,
            crate::abstractions::block::io::BIO_CONTEXT_PAD,
        ),
        GFP_KERNEL,
    )
}

impl Shared {
    /// The state of a new log, or with `append` of the existing one that
    /// ends there.
    pub(crate) fn new(
        bios: Arc<BioSet>,
        dev: TableDev,
        logdev: TableDev,
        sector_size: u32,
        append: Option<LogEnd>,
        max_held: u64,
        group: Option<GroupRef>,
    ) -> Result<Arc<Shared>> {
        let flushes = IoBatch::new()?;
        let log_writes = IoBatch::new()?;
        let headers = PageReserve::new(LOG_BIO_RESERVE as usize, HEADER_PAGES_KEPT)?;
        let pages = PageReserve::new(0, DATA_PAGES_KEPT)?;
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
                        completed: 0,
                        logging: List::new(),
                        lifecycle: Lifecycle::Loaded,
                        target_flush: TargetFlush::Idle,
                        super_wanted: false,
                        busy: false,
                        logged_entries,
                        super_entries: logged_entries,
                        super_behind_since: None,
                        next_sector,
                        end_sector,
                        held: 0,
                        writing: 0,
                        napping: false,
                        group: group.clone(),
                    },
                    "log_writes::Queues"
                ),
                work <- new_condvar!("log_writes::work"),
                idle <- new_condvar!("log_writes::idle"),
                room <- new_condvar!("log_writes::room"),
                max_held,
                flushes,
                log_writes,
                bios,
                headers,
                pages,
                dev,
                enabled: AtomicBool::new(true),
                appending,
                logdev,
                sector_size,
                sector_factor,
                sector_shift: sector_factor.trailing_zeros(),
                group,
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
        self.idle.notify_all();
    }

    /// Makes every completed write durable (a flush of our own if any
    /// waits for one) and waits until the log device holds all of it and
    /// a super block that counts it, or, if logging stops meanwhile, until
    /// no write of the thread to the log device is in flight. Process
    /// context; no bio of the table may be in flight (suspended or being
    /// destroyed), or this could wait for writes that keep coming: if the
    /// table is resumed meanwhile (a mark sent to the suspended device
    /// drains it, and dm may resume it before that ends), it returns at
    /// once, since no other table takes over the log then.
    pub(crate) fn drain(&self) {
        let mut q = self.q.lock();
        q.super_wanted = true;
        self.work.notify_all();
        let resumed = |q: &Queues| q.lifecycle == Lifecycle::Live;
        // A flush of ours may be in flight already (under the memory
        // bound): the writes that completed after it was sent are not
        // covered by it, and need one more. So flushes are asked for until
        // no completed write waits for one, or one fails (its writes stay
        // unlogged, as they are not known durable); then the super block
        // must count every entry logged.
        let (mut asked, mut failed) = (false, false);
        while self.enabled.load(Ordering::Relaxed) {
            if resumed(&q) {
                return;
            }
            if asked && matches!(q.target_flush, TargetFlush::Failed) {
                failed = true;
            }
            if q.has_unflushed() && !failed && q.want_target_flush() {
                asked = true;
                self.work.notify_all();
            }
            if q.is_idle() && (failed || !q.has_unflushed()) {
                // The super block may have been written while a flush was
                // in flight, before the entries it made loggable.
                if q.super_entries == q.logged_entries {
                    break;
                }
                q.super_wanted = true;
                self.work.notify_all();
            }
            self.idle.wait(&mut q);
        }
        // Logging may have stopped (a log write failed, the log is full)
        // while the thread was writing an entry it took before, and with
        // a flush of ours in flight, whose completion refers to this
        // state: wait for both, then for every log write in flight, so
        // that none reaches the log device after a suspend (the table
        // that takes over may append right there).
        while q.busy || matches!(q.target_flush, TargetFlush::InFlight { .. }) {
            if resumed(&q) {
                return;
            }
            self.idle.wait(&mut q);
        }
        drop(q);
        let _ = self.log_writes.wait();
    }
}

/// What the thread took off the list, and where it goes.
struct Job {
    block: ListArc<Block>,
    sector: u64,
    super_after: SuperAfter,
    entries: u64,
}

/// When the super block is written after an entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SuperAfter {
    /// Not for this entry.
    No,
    /// Right after it (a mark: the user who dropped it may read the log
    /// next).
    Now,
    /// Within [`SUPER_LAG_MS`] (a FUA write).
    Soon,
}

/// How long the super block on disk may lag behind the last FUA entry
/// logged. C rewrites it after every FUA entry; here a super block is
/// durable (a preflush, then FUA), so that it never counts an entry a
/// crash could lose, which costs the log device a cache flush. One per FUA
/// would be one per fsync of the workload being recorded; the lag makes
/// it at most one per this interval. Nothing that reads the log after
/// the device is suspended or removed sees the lag (both write the super
/// block counting every entry), and after a crash of the machine that
/// logged, entries past the count are still found by scanning.
const SUPER_LAG_MS: i64 = 1000;

/// How long the thread sleeps, after it had work, before it looks for
/// more without being woken. Completions arriving meanwhile (each flush
/// or FUA write of a workload that syncs every write) need no wake-up of
/// their own, and their entries reach the log in one request: the thread
/// wakes and writes once per nap rather than once per flush. Writes are
/// held that much longer (at most [`NAP_MAX_HELD`] bytes of them); their
/// order in the log is settled when they complete, not when written.
const NAP_MS: i64 = 2;

/// Bytes held for the log past which a completion wakes a napping thread.
const NAP_MAX_HELD: u64 = 1 << 20;

/// What the thread does next.
enum Step {
    Log(Job),
    /// A flush of its own is wanted: send it.
    Flush,
    /// Write the super block counting `entries` (after a seal, or asked for
    /// by a drain).
    Super {
        entries: u64,
    },
    /// Nothing to do: wait for work.
    Idle,
    /// Stopping with nothing left.
    Exit,
}

/// Takes the next step, reserving a block's log space like the C target.
fn next_step(s: &Shared, q: &mut Queues) -> Step {
    while let Some(block) = q.logging.pop_front() {
        let len = block.data_len();
        if !s.enabled.load(Ordering::Relaxed) || block.superseded {
            s.release_held(q, len);
            continue;
        }
        let h = block.header;
        let sector = q.next_sector;
        q.next_sector += s.sector_factor * (1 + h.data_sectors());
        if q.end_sector != 0 && q.next_sector >= q.end_sector {
            s.enabled.store(false, Ordering::Relaxed);
            s.release_held(q, len);
            dm_err!("Ran out of space on the logdev");
            // C leaves the count of the last FUA or mark; every entry
            // written so far is complete, so count them all.
            q.busy = true;
            s.room.notify_all();
            return Step::Super {
                entries: q.logged_entries,
            };
        }
        q.logged_entries += 1;
        q.busy = true;
        // Its copy stays in memory until its log writes complete: under a
        // bound, counted as being written until then (`PendingBlock`'s
        // drop).
        q.held = q.held.saturating_sub(len);
        if s.max_held != 0 {
            q.writing += len;
        }
        return Step::Log(Job {
            block,
            sector,
            super_after: if h.flags & FLAG_MARK != 0 {
                SuperAfter::Now
            } else if h.flags & FLAG_FUA != 0 {
                SuperAfter::Soon
            } else {
                SuperAfter::No
            },
            entries: q.logged_entries,
        });
    }
    if matches!(q.target_flush, TargetFlush::Wanted) {
        if s.enabled.load(Ordering::Relaxed) {
            return Step::Flush;
        }
        q.target_flush = TargetFlush::Idle;
    }
    if q.super_wanted {
        q.super_wanted = false;
        if q.super_entries != q.logged_entries && s.enabled.load(Ordering::Relaxed) {
            q.busy = true;
            return Step::Super {
                entries: q.logged_entries,
            };
        }
        // Counted already, or never to be written (logging stopped).
        q.super_behind_since = None;
    }
    if q.lifecycle == Lifecycle::Stopping && q.target_flush.is_settled() {
        return Step::Exit;
    }
    Step::Idle
}

/// Makes `block` an entry being written: its header goes into `header`,
/// which it then holds, and it is taken off list ownership (its log bios
/// keep it alive). From here on its drop ends its count as being written.
fn prepare_entry(
    s: &Arc<Shared>,
    block: ListArc<Block>,
    mut header: ReservedPage,
) -> Result<Pin<UniqueArc<Block>>> {
    let len = block.data_len();
    // Off every list and never shared, so held alone.
    let Some(mut block) = ListNode::into_unique(block) else {
        s.written(len);
        return Err(EINVAL);
    };
    block.as_mut().value_mut().log = Some(s.clone());
    header.write(0, &block.header.fields())?;
    header.write(crate::logformat::ENTRY_LEN, &block.mark)?;
    if s.group.is_some() {
        let seq = block.group_seq.load(Ordering::Relaxed);
        let completed = match block.group_completed {
            0 => seq,
            c => c,
        };
        header.write(
            group_trailer_offset(s.sector_size),
            &group_trailer(GroupStamp { seq, completed }),
        )?;
    }
    block.as_mut().value_mut().header_page = Some(header);
    Ok(block)
}

/// Pages an entry's log writes carry: its header's, then its data's.
fn entry_pages(block: &PendingBlock) -> usize {
    1 + block
        .data
        .as_ref()
        .map_or(0, |d| d.len().div_ceil(PAGE_SIZE))
}

/// Writes an entry too large for one bio ([`entry_pages`] over
/// `BIO_MAX_VECS`) at `sector`, in as many bios as it takes; each keeps
/// the entry alive. The caller must not hold `q`: a bio may complete
/// before it is submitted fully, and a failed one takes `q` to turn
/// logging off.
fn write_entry(
    s: &Arc<Shared>,
    batch: &Arc<IoBatch>,
    sector: u64,
    block: Pin<UniqueArc<Block>>,
) -> Result {
    let io: Arc<Block> = block.into();
    let block = &io;
    let ss = s.sector_size as usize;
    let data_pages = entry_pages(block) - 1;
    // The first bio carries the header and as much data as fits; the rest
    // follow in full bios.
    let mut sector = sector;
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
            &s.bios,
            s.logdev.bdev_file(),
            sector,
            WriteKind::Plain,
            (n + usize::from(with_header)) as u16,
            batch,
            io.clone(),
            |bio, io| {
                if with_header {
                    if let Some(h) = io.header_page.as_ref() {
                        bio.add(h, ss)?;
                    }
                }
                if let Some(data) = io.data.as_ref() {
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

/// Consecutive entries gathered for one log bio, each whole, at most
/// `BIO_MAX_VECS` pages in all: one bio, one reference to the device, one
/// completion and one count in the batch serve them all, where each entry
/// took its own (the plug merged their requests already; this saves the
/// work per bio). Only entries already queued when the thread takes them
/// are gathered: it never waits for more.
struct Run {
    /// In log order, off every other list, each prepared
    /// ([`prepare_entry`]).
    entries: List<Block>,
    /// The 512-byte sector of the first entry.
    sector: u64,
    /// Where an entry must start to join the run.
    end: u64,
    /// Pages gathered.
    vecs: usize,
    /// The entries logged, counting the last one of the run.
    count: u64,
    /// What the super block is due after the run (the most pressing of
    /// its entries').
    super_after: SuperAfter,
}

impl Run {
    fn new() -> Self {
        Run {
            entries: List::new(),
            sector: 0,
            end: 0,
            vecs: 0,
            count: 0,
            super_after: SuperAfter::No,
        }
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an entry of `pages` pages at `sector` can join.
    fn takes(&self, sector: u64, pages: usize) -> bool {
        self.is_empty() || (sector == self.end && self.vecs + pages <= BIO_MAX_VECS)
    }

    /// Adds `block`, prepared, at `sector` (where [`Run::takes`] said it
    /// fits).
    fn push(
        &mut self,
        s: &Shared,
        block: Pin<UniqueArc<Block>>,
        sector: u64,
        super_after: SuperAfter,
        entries: u64,
    ) {
        if self.is_empty() {
            self.sector = sector;
        }
        let bytes = u64::from(s.sector_size) + block.data_len();
        self.end = sector + (bytes >> 9);
        self.vecs += entry_pages(&block);
        self.count = entries;
        self.super_after = match (self.super_after, super_after) {
            (SuperAfter::Now, _) | (_, SuperAfter::Now) => SuperAfter::Now,
            (SuperAfter::Soon, _) | (_, SuperAfter::Soon) => SuperAfter::Soon,
            _ => SuperAfter::No,
        };
        self.entries.push_back(block.into());
    }

    /// Submits the entries gathered, if any, in one bio, then writes the
    /// super block if one is due. Returns whether there were any.
    fn submit(&mut self, s: &Arc<Shared>, batch: &Arc<IoBatch>) -> bool {
        if self.is_empty() {
            return false;
        }
        // Chained last first: each entry holds the next, and the bio holds
        // the first.
        let mut chain: Option<Arc<Block>> = None;
        let mut lost = false;
        while let Some(block) = self.entries.pop_back() {
            // Never shared, so this cannot fail; if it did, the entry
            // would be gone and every later one a slot off.
            match ListNode::into_unique(block) {
                Some(mut block) => {
                    block.as_mut().value_mut().next_in_bio = chain.take();
                    chain = Some(block.into());
                }
                None => lost = true,
            }
        }
        let (sector, vecs, count, super_after) =
            (self.sector, self.vecs, self.count, self.super_after);
        *self = Run::new();
        let Some(first) = chain.filter(|_| !lost) else {
            // Nothing of the run is written; a write not sent counts as a
            // failed one, so no super block counts the run.
            s.disable(format_args!(
                "Couldn't write log entry: error {}",
                EINVAL.to_errno()
            ));
            batch.not_sent();
            return true;
        };
        let ss = s.sector_size as usize;
        let r = submit_write(
            &s.bios,
            s.logdev.bdev_file(),
            sector,
            WriteKind::Plain,
            vecs as u16,
            batch,
            first,
            |bio, first| {
                let mut block = first;
                loop {
                    if let Some(h) = block.header_page.as_ref() {
                        bio.add(h, ss)?;
                    }
                    if let Some(data) = block.data.as_ref() {
                        for (p, len) in data.pages() {
                            bio.add(p, len)?;
                        }
                    }
                    match block.next_in_bio.as_ref() {
                        Some(next) => block = next,
                        None => return Ok(()),
                    }
                }
            },
        );
        if let Err(e) = r {
            s.disable(format_args!(
                "Couldn't write log entry: error {}",
                e.to_errno()
            ));
        } else if super_after == SuperAfter::Now || super_due(s, super_after) {
            update_super(s, batch, count);
        }
        true
    }
}

fn write_super(s: &Shared, batch: &Arc<IoBatch>, entries: u64) -> Result {
    // The thread waited for every bio before this: a spare page is free.
    let mut page = s.headers.get(s.sector_size as usize).ok_or(ENOMEM)?;
    page.write(
        0,
        &Super {
            nr_entries: entries,
            sector_size: s.sector_size,
        }
        .fields(),
    )?;
    if let Some(g) = &s.group {
        let tag = group_tag(g.name()).map_err(|_| EINVAL)?;
        page.write(group_tag_offset(s.sector_size), &tag)?;
    }
    let page = Arc::new(page, GFP_KERNEL)?;
    let ss = s.sector_size as usize;
    // Durable: C never flushes the log device, so after a crash its super
    // block can count entries that were still in the device's cache.
    // Here every entry it counts has completed (the caller waited), the
    // preflush makes them durable before it, and FUA makes it durable.
    submit_write(
        &s.bios,
        s.logdev.bdev_file(),
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
    // A log write failed before (the batch keeps the failure): its
    // completion turned logging off and said so, and no super block may
    // count past it.
    if batch.wait().is_err() {
        return;
    }
    let r = write_super(s, batch, entries)
        .map_err(|e| (e.to_errno(), "Couldn't write super"))
        .and_then(|()| {
            batch
                .wait()
                .map_err(|st| (i32::from(st), "Error writing log block"))
        });
    match r {
        Ok(()) => {
            let mut q = s.q.lock();
            q.super_entries = q.super_entries.max(entries);
            if q.super_entries == q.logged_entries {
                q.super_behind_since = None;
            }
        }
        // Reported even when logging is off already (the log is full and
        // this is its last super block), in C's words.
        Err((e, what)) => s.disable(format_args!("{what}, error={e}")),
    }
}

/// A flush the target sends itself, in flight.
struct OwnFlush {
    shared: Arc<Shared>,
}

/// Sends an empty flush to the data device, as if the filesystem had: when
/// it completes, the writes completed before it become durable and are
/// logged, followed by a FLUSH entry flagged as the target's own so that
/// readers can tell it from one the filesystem asked for.
fn send_target_flush(s: &Arc<Shared>) -> Result {
    let header = EntryHeader {
        flags: FLAG_FLUSH | FLAG_TARGET,
        ..Default::default()
    };
    let entry = PendingBlock::new_block(header, None, KVec::new())?.into();
    {
        let mut q = s.q.lock();
        if !matches!(q.target_flush, TargetFlush::Wanted) {
            return Ok(());
        }
        let cut = q.flush_cut();
        q.target_flush = TargetFlush::InFlight { cut, entry };
    }
    let owner = Arc::new(OwnFlush { shared: s.clone() }, GFP_KERNEL)?;
    let r = submit_write(
        &s.bios,
        s.dev.bdev_file(),
        0,
        WriteKind::Flush,
        0,
        &s.flushes,
        owner,
        |_, _| Ok(()),
    );
    if r.is_err() {
        // Not sent: as if it had failed.
        s.target_flush_done(1);
    }
    r
}

impl Shared {
    fn target_flush_done(&self, status: u8) {
        let mut q = self.q.lock();
        let q = &mut *q;
        if let TargetFlush::InFlight { cut, entry } =
            core::mem::replace(&mut q.target_flush, TargetFlush::Idle)
        {
            if status == 0 {
                q.flushed(cut, entry);
            } else {
                // The writes stay on `unflushed`, not known durable.
                q.target_flush = TargetFlush::Failed;
                dm_err!("A flush the target sent failed: error {}", status);
            }
            // Writers waiting for room while this flush was in flight
            // could not ask for another one; the writes that completed
            // after it was sent are still held and may alone fill the
            // bound, and then nothing the thread logs frees room. They
            // must look again: to ask for the next flush, or (after a
            // failure) to stop waiting.
            self.room.notify_all();
        }
        self.work.notify_all();
        self.idle.notify_all();
    }
}

impl Completion for OwnFlush {
    fn done(&self, status: u8) {
        self.shared.target_flush_done(status);
    }
}

impl Completion for Block {
    fn done(&self, status: u8) {
        if status != 0 {
            if let Some(s) = &self.log {
                // Once is enough when many writes in flight fail (racing
                // completions may each say it; C says it for every one).
                if s.enabled.load(Ordering::Relaxed) {
                    s.disable(format_args!("Error writing log block, error={status}"));
                }
            }
        }
    }
}
impl Completion for ReservedPage {}

/// The memory bound (`max_held_mb`, [`Shared::max_held`]): every decision
/// on `held` against the bound is made here.
impl Shared {
    /// Waits while holding `len` more bytes would pass the bound, having
    /// the thread flush the data device so that held writes get logged. A
    /// write larger than the bound goes through once nothing is held. Only
    /// completed writes count (queued, or in log writes in flight), and
    /// the thread and the log device drain them on their own, so a writer
    /// waiting here never waits for its own bios. Stops waiting when
    /// logging stops or a flush of ours failed (a device that fails
    /// flushes must not hang writers).
    pub(crate) fn wait_for_room(&self, len: u64) {
        if self.max_held == 0 {
            return;
        }
        let mut q = self.q.lock();
        while q.bounded() > 0
            && q.bounded() + len > self.max_held
            && self.enabled.load(Ordering::Relaxed)
            && !matches!(q.target_flush, TargetFlush::Failed)
        {
            if (q.has_unflushed() && q.want_target_flush()) || q.napping {
                self.work.notify_all();
            }
            self.room.wait(&mut q);
        }
    }

    /// After a plain write completed: past half the bound, asks for a flush
    /// of our own, so that the held writes get logged before writers must
    /// wait. Returns whether the thread must be woken for it.
    pub(crate) fn wants_target_flush(&self, q: &mut Queues) -> bool {
        self.max_held != 0 && q.held >= self.max_held / 2 && q.want_target_flush()
    }

    /// The thread took `len` bytes off the queues: writers waiting for room
    /// may go on.
    fn release_held(&self, q: &mut Queues, len: u64) {
        q.held = q.held.saturating_sub(len);
        self.room_freed(q);
    }

    /// The log writes of an entry the thread took, with `len` bytes of
    /// data, all completed (or were never sent): its copy is freed.
    fn written(&self, len: u64) {
        // Without a bound nothing counts them (nor takes the lock for it
        // at every entry's completion).
        if self.max_held == 0 {
            return;
        }
        let mut q = self.q.lock();
        q.writing = q.writing.saturating_sub(len);
        self.room_freed(&q);
    }

    fn room_freed(&self, q: &Queues) {
        if self.max_held != 0 && q.bounded() < self.max_held {
            self.room.notify_all();
        }
    }
}

/// The thread's body: log blocks in order until stopped.
pub(crate) fn run(s: Arc<Shared>) {
    // Every allocation of the thread behaves as GFP_NOIO: writers may be
    // waiting on it, and reclaim must not wait for I/O to the devices it
    // serves.
    let batch = s.log_writes.clone();
    noio_scope(|| {
        let mut started = s.appending;
        // Entries are consecutive on the log device: while the thread has
        // work it is plugged, so the block layer merges their bios. The
        // plug is finished before the thread sleeps for want of work, which
        // sends them down from here; left to the sleep, the block layer
        // would hand them to a worker, a context switch more per burst.
        while let Idle::Sleep { worked } = plugged(|| log_until_idle(&s, &batch, &mut started)) {
            sleep_until_work(&s, worked);
        }
    });
    let _ = batch.wait();
    let _ = s.flushes.wait();
}

/// Why [`log_until_idle`] returned.
enum Idle {
    /// Nothing to do: wait for work. `worked`: there was some before.
    Sleep { worked: bool },
    /// Stopped with nothing left.
    Exit,
}

/// Waits until the thread has work, or its super block is due. After
/// work (`worked`), it naps: sleeps for at most [`NAP_MS`] and is not
/// woken by completions meanwhile.
fn sleep_until_work(s: &Shared, worked: bool) {
    let mut q = s.q.lock();
    if !has_work(&q) {
        s.idle.notify_all();
        let wait_ms = match super_wait_ms(&q) {
            Some(ms) if worked => Some(ms.min(NAP_MS)),
            None if worked => Some(NAP_MS),
            ms => ms,
        };
        // Kthreads get no signals: an early return is just a spurious
        // wakeup, and the caller re-checks.
        match wait_ms {
            None => {
                let _ = s.work.wait_interruptible(&mut q);
            }
            Some(0) => q.super_wanted = true,
            Some(ms) => {
                let ms = u32::try_from(ms).unwrap_or(u32::MAX);
                q.napping = worked;
                let _ = s
                    .work
                    .wait_interruptible_timeout(&mut q, msecs_to_jiffies(ms));
                q.napping = false;
            }
        }
    }
    drop(q);
    kthread::try_to_freeze();
}

/// Logs blocks in order until there is nothing to do.
fn log_until_idle(arc: &Arc<Shared>, batch: &Arc<IoBatch>, started: &mut bool) -> Idle {
    let s = &**arc;
    let mut worked = false;
    // `busy` (set by `next_step`) stays set while entries wait here.
    let mut run = Run::new();
    loop {
        let step = next_step(s, &mut s.q.lock());
        if !matches!(step, Step::Idle) {
            worked = true;
        }
        let job = match step {
            Step::Log(job) => job,
            // Whatever the thread does next comes after the entries it
            // took reach the log device.
            Step::Super { entries } => {
                run.submit(arc, batch);
                update_super(s, batch, entries);
                s.q.lock().busy = false;
                continue;
            }
            step => {
                if run.submit(arc, batch) {
                    s.q.lock().busy = false;
                }
                match step {
                    Step::Flush => {
                        if let Err(e) = send_target_flush(arc) {
                            s.disable(format_args!(
                                "Couldn't flush the data device: error {}",
                                e.to_errno()
                            ));
                        }
                        continue;
                    }
                    Step::Exit => return Idle::Exit,
                    // Log writes still in flight complete on their own (a
                    // failed one turns logging off in its completion): the
                    // thread waits for them only before a super block, for
                    // spare pages and at exit. Waiting here too would cost
                    // it one more wake-up per entry when writes come one by
                    // one.
                    _ => return Idle::Sleep { worked },
                }
            }
        };
        if !*started {
            // Whatever the log device held before (an older log) must not
            // be read as this log after a crash: a durable empty super block
            // goes first. Not at construction, where a table loaded beside
            // a live one (a reload) would clobber the live log.
            update_super(s, batch, 0);
            *started = true;
        }
        // Zeroed as far as the header sector goes: only it is written.
        let ss = s.sector_size as usize;
        let header = match s.headers.get(ss) {
            Some(page) => Some(page),
            None => {
                // Memory is short and every spare page is in a log write
                // in flight or gathered here: they come back as those
                // complete. A failed one has turned logging off and said
                // so.
                run.submit(arc, batch);
                let _ = batch.wait();
                s.headers.get(ss)
            }
        };
        let Job {
            block,
            sector,
            super_after,
            entries,
        } = job;
        let r = match header {
            Some(header) => prepare_entry(arc, block, header),
            None => {
                // Never written: no longer counted as being written.
                s.written(block.data_len());
                Err(ENOMEM)
            }
        };
        let r = r.and_then(|block| {
            // Entries gathered before it that could not be written leave a
            // hole it must not follow (and logging is off then).
            let written = |run: &mut Run| {
                run.submit(arc, batch);
                s.enabled.load(Ordering::Relaxed)
            };
            if entry_pages(&block) > BIO_MAX_VECS {
                if !written(&mut run) {
                    return Ok(());
                }
                write_entry(arc, batch, sector, block)?;
                if super_after == SuperAfter::Now || super_due(s, super_after) {
                    update_super(s, batch, entries);
                }
            } else {
                if !run.takes(sector, entry_pages(&block)) && !written(&mut run) {
                    return Ok(());
                }
                run.push(s, block, sector, super_after, entries);
                // A mark: its super block right after it.
                if super_after == SuperAfter::Now {
                    run.submit(arc, batch);
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            s.disable(format_args!(
                "Couldn't write log entry: error {}",
                e.to_errno()
            ));
        }
        if run.is_empty() {
            s.q.lock().busy = false;
        }
    }
}

/// After an entry: whether the super block must be written now, having
/// lagged behind a FUA entry for [`SUPER_LAG_MS`]; after a FUA entry
/// (`after` is `Soon`), notes since when it lags.
fn super_due(s: &Shared, after: SuperAfter) -> bool {
    let mut q = s.q.lock();
    match q.super_behind_since {
        None if after == SuperAfter::Soon => {
            q.super_behind_since = Some(Stamp::now());
            false
        }
        None => false,
        Some(since) => since.ms_since() >= SUPER_LAG_MS,
    }
}

/// How long the idle thread may sleep before the super block it owes is
/// due (0: now), or `None` when it owes none.
fn super_wait_ms(q: &Queues) -> Option<i64> {
    let since = q.super_behind_since?;
    if q.super_entries == q.logged_entries {
        return None;
    }
    Some((SUPER_LAG_MS - since.ms_since()).max(0))
}

/// Whether the thread has anything to do (it then must not sleep). An
/// in-flight flush is not work: its completion wakes the thread.
fn has_work(q: &Queues) -> bool {
    !q.logging.is_empty()
        || matches!(q.target_flush, TargetFlush::Wanted)
        || q.super_wanted
        || (q.lifecycle == Lifecycle::Stopping && q.target_flush.is_settled())
}
