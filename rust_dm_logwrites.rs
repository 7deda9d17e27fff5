// SPDX-License-Identifier: GPL-2.0

//! The device-mapper `log-writes` target, in Rust.
//!
//! Table: `<dev_path> <log_dev_path> [<#opt_args> <opt>...]` (options in
//! `src/options.rs`). Every write to `dev` is also recorded on `log_dev` in
//! the order it became durable, in the on-disk format of the C
//! `dm-log-writes` (v1.1.0). `dmsetup message <dev> 0 mark <text>` adds a
//! mark. This file is the target: ctr/dtr, map/end_io, suspend/resume,
//! status and messages. Beside it, in `src/`, the rest of the target's
//! logic: the logging thread and the shared state ([`log_thread`]),
//! `append` ([`append`]), table options ([`options`]), which table owns a
//! log device ([`ownership`]), groups of devices ([`group`]); the format
//! is in `logformat/`. The generic kernel abstractions it is built on, and
//! every `unsafe` block, are in `src/abstractions/` ([`abstractions`]).
//!
//! # What the log promises
//!
//! A write is *durable* when it completed successfully and a flush
//! submitted after its completion has completed; a FUA write, and any write
//! to a device without a volatile write cache, is durable when it
//! completed. For every flush, FUA or mark entry E of the log, the entries
//! before E are exactly the writes that were durable when E happened, each
//! in the version that was durable; entries appear in the order in which
//! they became durable, and of two overlapping writes the one that
//! completed later comes later.
//!
//! # Why it holds
//!
//! - A plain write is put on the unflushed list when it completes
//!   (`end_io`, [`log_thread::Queues::completed_plain`]), under the queue
//!   lock, which gives it the next sequence number: the list is in
//!   completion order.
//! - A flush takes a *cut* when it is mapped, before dm passes it down: the
//!   sequence number of the newest completed write. Everything up to the
//!   cut completed before the flush was submitted.
//! - When a flush completes successfully, whichever it is (the
//!   filesystem's or the target's own, in any order relative to other
//!   flushes in flight), the writes up to its cut that are still unflushed
//!   move, in completion order, to the logging list, followed by the
//!   flush's entry ([`log_thread::Queues::flushed`]). The first flush to
//!   complete logs them, so a write is logged exactly when it first became
//!   durable, and never twice. A failed flush moves nothing.
//! - FUA and write-through writes go to the logging list when they
//!   complete, marks when they are dropped: both are durable at that
//!   moment, after everything already on the list. Whether a device has a
//!   write cache is asked at completion, so a cache mode switched while a
//!   write was in flight counts as it was when the write became durable.
//! - Such a write replaces, on the device and for good, the data of the
//!   unflushed writes it overlaps, which are logged after it: they take in
//!   its data where they overlap, an unflushed discard is cut back around
//!   it ([`log_thread::Queues::completed_durable`]). So each entry carries
//!   the version that was durable, and the later of two overlapping
//!   writes wins in a replay.
//! - The logging thread writes the logging list in order. So the log order
//!   is the order of durability events, which the queue lock serialises.
//! - A failed write is never logged; data is copied at map time, so the
//!   logged version is the one submitted.
//! - Lifecycle: a table writes to the log only once resumed; a suspend
//!   makes every completed write durable with a flush of its own and waits
//!   until the log holds it; a table replaced by another on the same log
//!   device does not write to it again.
//!
//! - In a group (`group:<name>`, [`group`]), every entry also takes the
//!   group's next number where it goes on the logging list (and a plain
//!   write another one in `completed_plain`), under the same lock: each
//!   log is in number order, and the numbers order the events of all the
//!   members as they happened.
//!
//! The durability oracle (`lwlog oracle`, tests/vm/durability.sh) checks
//! this against a block trace of the data device, from outside the target.
//!
//! Finding the C target's parts: `log_writes_map` is [`LogWrites::map`],
//! `normal_end_io` is [`LogWrites::end_io`], `struct pending_block` is
//! [`log_thread::PendingBlock`], `pending_blocks` is
//! [`log_thread::Queues`] (`held`), `log_one_block` is
//! `log_thread::write_entry`, `log_super` is `log_thread::update_super`.

// The target is safe Rust: `unsafe` is allowed only in the generic
// abstractions under `src/abstractions/`.
#![deny(unsafe_code)]

#[path = "src/abstractions/mod.rs"]
#[allow(unsafe_code)]
mod abstractions;
#[path = "src/append.rs"]
mod append;
#[path = "src/group.rs"]
mod group;
#[path = "src/log_thread.rs"]
mod log_thread;
#[path = "logformat/src/lib.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod logformat;
#[path = "src/options.rs"]
mod options;
#[path = "src/ownership.rs"]
mod ownership;

use abstractions::block::bio::{Bio, ReqOp};
use abstractions::device_mapper as dm;
use abstractions::kthread;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use dm::{
    dm_warn, Args, CtrContext, DeviceIterator, MapResult, OwnDevice, QueueLimits, StatusType,
    StatusWriter, TableDev,
};
use kernel::alloc::{flags::GFP_KERNEL, KVec};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::{Arc, UniqueArc};
use log_thread::{Block, Lifecycle, PendingBlock, Shared};
use logformat::{EntryHeader, FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK, FLAG_METADATA};
use options::Options;

/// The prefix of the target's kernel log messages after `device-mapper:`,
/// as C's `DM_MSG_PREFIX`.
const DM_MSG_PREFIX: &str = "log-writes";

// `dm-log-writes` is the module dm asks for (`request_module("dm-%s")`)
// when a table names a target nobody registered: installed alone, this
// module loads then; installed beside the C one, modprobe prefers the module
// of that name, and this one loads only by its own name.
#[cfg(not(lw_module_authors))]
module! {
    type: LogWritesModule,
    name: "rust_dm_logwrites",
    author: "rust-dm-logwrites developers",
    description: "device-mapper log-writes target (Rust)",
    license: "GPL",
    alias: ["dm-log-writes"],
}

#[cfg(lw_module_authors)]
module! {
    type: LogWritesModule,
    name: "rust_dm_logwrites",
    authors: ["rust-dm-logwrites developers"],
    description: "device-mapper log-writes target (Rust)",
    license: "GPL",
    alias: ["dm-log-writes"],
}

/// The target type dm's tables point to; static, as they may outlive the
/// registration.
static TARGET_TYPE: dm::TargetTypeStorage<LogWrites> = dm::TargetTypeStorage::new();

struct LogWritesModule {
    _registration: dm::Registration<LogWrites>,
}

impl kernel::Module for LogWritesModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let reg = dm::Registration::new(
            &TARGET_TYPE,
            c_str!("log-writes"),
            [1, 1, 0],
            module,
            group::Groups::new()?,
        )?;
        Ok(LogWritesModule { _registration: reg })
    }
}

/// One log-writes table line.
struct LogWrites {
    opts: Options,
    /// The mapped device above us, whose write-cache setting decides
    /// whether flushes can reach us at all.
    own: OwnDevice,
    shared: Arc<Shared>,
    /// Stopped (and joined) in `drop`, after the final mark is queued.
    thread: Option<kthread::Kthread>,
    /// Target length in 512-byte sectors.
    len: u64,
    /// Cleared by `io_hints` when `dev` cannot discard: discards are then
    /// logged and completed here.
    dev_discards: AtomicBool,
    /// Writes, discards and flushes that failed on the data device.
    failed: AtomicU64,
    /// Tells this table from others on the same log device.
    id: u32,
    /// In a group (`group:<name>`): leaves it when the table goes.
    membership: Option<group::Membership>,
}

/// `append` in a group: the group's later events come after the log's
/// last. When the group has numbered events since that are below it,
/// another member went on without this log loaded (the rule is to load
/// every member before resuming any): those numbers overlap this log's,
/// and the table is refused with the kernel log saying why, instead of
/// adding entries out of order.
fn continue_group(m: &group::Membership, end: &append::LogEnd) -> Result {
    m.continue_after(end.last_group_seq).map_err(|now| {
        dm_warn!(
            "append: group {} numbered events up to {} since its members were loaded, below this log's last number {}: the group's logs are no longer one order (load every member with append before resuming any)",
            core::str::from_utf8(m.group().name()).unwrap_or("?"),
            now,
            end.last_group_seq
        );
        EINVAL
    })
}

/// What a logged write carries from map to end_io: its block and, for a
/// flush, the sequence number of the last write it covers.
struct Pending {
    block: Pin<UniqueArc<Block>>,
    cut: u64,
}

impl LogWrites {
    /// 512-byte sectors to log sectors.
    fn to_log_sectors(&self, sectors: u64) -> u64 {
        sectors >> self.shared.sector_shift
    }

    /// A write, discard or flush failed on the data device. C logs it as
    /// if it had succeeded, so a replay would write data the device never
    /// took. Here a failed write or discard is not logged, and the writes a
    /// failed flush covered stay unflushed until a later flush succeeds
    /// (they are not known to be durable); the kernel log says so, for the
    /// 1st, 2nd, 4th, 8th... failure.
    fn not_logged(&self, h: &EntryHeader, status: u8) {
        let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            dm_warn!(
                "Data device error {} on {} of {} sectors at sector {} (flags {:#x}): not logged ({} so far)",
                status,
                if h.flags & FLAG_FLUSH != 0 && h.nr_sectors == 0 { "a flush" } else { "a write" },
                h.nr_sectors,
                h.sector,
                h.flags,
                n
            );
        }
    }

    /// The longest mark text that fits: a grouped log's header sectors end
    /// with the group trailer.
    fn max_mark_len(&self) -> usize {
        if self.shared.group.is_some() {
            logformat::max_grouped_mark_len(self.shared.sector_size)
        } else {
            logformat::max_mark_len(self.shared.sector_size)
        }
    }

    fn mark(&self, text: &[u8]) -> Result {
        // Messages are checked by the caller; the end mark always fits.
        let max = self.max_mark_len();
        let text = &text[..text.len().min(max)];
        let mut mark = KVec::with_capacity(text.len(), GFP_KERNEL)?;
        mark.extend_from_slice(text, GFP_KERNEL)?;
        let header = EntryHeader {
            flags: FLAG_MARK,
            data_len: text.len() as u64,
            ..Default::default()
        };
        let block = PendingBlock::new_block(header, None, mark)?;
        let mut q = self.shared.q.lock();
        if q.lifecycle == Lifecycle::Loaded {
            // dm sends messages to a new table from the moment it swaps it
            // in, before its preresume: where our log goes on is not known
            // yet (`append` finds the end only then) and the log device
            // may still hold the replaced table's last entries. The
            // device is suspended: nothing is lost by asking again.
            dm_warn!("Mark rejected: the table is not resumed yet");
            return Err(EAGAIN);
        }
        q.completed_durable(block)?;
        self.shared.work.notify_all();
        if q.lifecycle == Lifecycle::Suspended {
            // Another table may resume on this log device next: it must
            // find the mark written, not race with it.
            drop(q);
            self.shared.drain();
        }
        Ok(())
    }
}

#[vtable]
impl dm::Target for LogWrites {
    type PerBio = Pending;

    type TypeData = group::Groups;

    fn ctr(ctx: &mut CtrContext<'_, Self>, args: &Args<'_>) -> Result<Self> {
        let (Some(dev_path), Some(log_path)) = (args.get(0), args.get(1)) else {
            ctx.set_error(c_str!("Invalid argument count"));
            return Err(EINVAL);
        };
        let opts = Options::parse(args).map_err(|why| {
            ctx.set_error(why);
            EINVAL
        })?;
        let dev = ctx
            .get_device(dev_path)
            .inspect_err(|_| ctx.set_error(c_str!("Device lookup failed")))?;
        let logdev = ctx
            .get_device(log_path)
            .inspect_err(|_| ctx.set_error(c_str!("Log device lookup failed")))?;
        // Writing the log over the data (or onto a device that refuses
        // writes) would destroy what the user meant to record.
        if dev.same_device(&logdev) {
            ctx.set_error(c_str!("Data and log device are the same device"));
            return Err(EINVAL);
        }
        if logdev.is_read_only() {
            ctx.set_error(c_str!("Log device is read-only"));
            return Err(EACCES);
        }
        let sector_size = dev.logical_block_size();
        // The super block plus one entry header, or nothing can be logged.
        let min_sectors = 2 * u64::from(sector_size >> 9);
        if logdev.nr_sectors() < min_sectors {
            dm_warn!(
                "Log device {} has {} sectors, needs at least {}",
                logdev.name().to_str().unwrap_or("?"),
                logdev.nr_sectors(),
                min_sectors
            );
            ctx.set_error(c_str!("Log device too small"));
            return Err(EINVAL);
        }
        // Validated before anything is written: a refused log stays as it
        // was.
        let bios = log_thread::new_bio_set()
            .inspect_err(|_| ctx.set_error(c_str!("Cannot allocate context")))?;
        let end = if opts.append {
            let owned = ownership::owned(logdev.devt());
            Some(
                append::find_end(&bios, &logdev, sector_size, owned, opts.group.as_deref())
                    .map_err(|why| {
                        ctx.set_error(why);
                        EINVAL
                    })?,
            )
        } else {
            None
        };
        let membership = match &opts.group {
            Some(name) => Some(
                ctx.type_data()
                    .and_then(|groups| groups.join(name))
                    .inspect_err(|_| ctx.set_error(c_str!("Cannot allocate context")))?,
            ),
            None => None,
        };
        if let (Some(m), Some(end)) = (&membership, &end) {
            continue_group(m, end).inspect_err(|_| {
                ctx.set_error(c_str!("Group went on below this log's last number"))
            })?;
        }
        let group = membership.as_ref().map(|m| m.group().clone());
        let shared = Shared::new(bios, dev, logdev, sector_size, end, opts.max_held(), group)
            .inspect_err(|_| ctx.set_error(c_str!("Cannot allocate context")))?;
        let for_thread = shared.clone();
        let thread =
            kthread::Kthread::run(c_str!("log-write"), move || log_thread::run(for_thread))
                .inspect_err(|_| ctx.set_error(c_str!("Couldn't alloc kthread")))?;
        ctx.want_flushes();
        ctx.want_discards();
        let len = ctx.len();
        let own = ctx.own_device();
        Ok(LogWrites {
            opts,
            own,
            shared,
            thread: Some(thread),
            len,
            dev_discards: AtomicBool::new(true),
            failed: AtomicU64::new(0),
            id: ownership::new_id(),
            membership,
        })
    }

    fn map(&self, bio: &mut Bio, pb: &mut Option<Pending>) -> MapResult<'_> {
        let flush = bio.is_preflush();
        let discard = bio.op() == ReqOp::Discard;
        let logging = self.shared.enabled.load(Ordering::Relaxed);
        if !logging || !bio.is_write() || (bio.sectors() == 0 && !flush) {
            return MapResult::Remap(&self.shared.dev);
        }
        let mut flags = 0;
        if flush {
            flags |= FLAG_FLUSH;
        }
        if bio.is_fua() {
            flags |= FLAG_FUA;
        }
        if discard {
            flags |= FLAG_DISCARD;
        }
        if bio.is_meta() {
            flags |= FLAG_METADATA;
        }
        let header = EntryHeader {
            sector: self.to_log_sectors(bio.sector()),
            nr_sectors: self.to_log_sectors(bio.sectors()),
            flags,
            data_len: 0,
        };
        let data = if bio.op() == ReqOp::Write && bio.has_data() {
            self.shared.wait_for_room(u64::from(bio.size()));
            match bio.copy_data(&self.shared.pages) {
                Ok(d) => Some(d),
                Err(_) => {
                    self.shared
                        .disable(format_args!("Error allocating pending block"));
                    return MapResult::Kill;
                }
            }
        } else {
            None
        };
        let block = match PendingBlock::new_block(header, data, KVec::new()) {
            Ok(b) => b,
            Err(_) => {
                self.shared
                    .disable(format_args!("Error allocating pending block"));
                return MapResult::Kill;
            }
        };
        // A flush covers the writes that completed before it was
        // submitted, which is before dm passes it down.
        let cut = if flush {
            self.shared.q.lock().flush_cut()
        } else {
            0
        };
        *pb = Some(Pending { block, cut });
        if discard && !self.dev_discards.load(Ordering::Relaxed) {
            return MapResult::Complete;
        }
        MapResult::Remap(&self.shared.dev)
    }

    fn end_io(&self, bio: &mut Bio, pb: Option<Pending>, status: u8) {
        let Some(Pending { mut block, cut }) = pb else {
            return;
        };
        if !bio.is_write() {
            return;
        }
        let flags = block.header.flags;
        if status != 0 {
            self.not_logged(&block.header, status);
            return;
        }
        // Without a write cache on our own device no flush or FUA ever
        // reaches us; without one on the data device a completed write is
        // already durable. Either way the write is logged now. Asked at
        // completion, so that a cache mode switched while the write was in
        // flight counts as it was when the write became durable or not.
        let write_through = !self.own.has_write_cache() || !self.shared.dev.has_write_cache();
        if write_through && flags & FLAG_FLUSH == 0 {
            // Durable at completion, which is what FUA records (a discard
            // too): replays can stop or check after it, and readers know it
            // came before the unflushed writes it overlaps.
            block.as_mut().value_mut().header.flags |= FLAG_FUA;
        }
        let mut q = self.shared.q.lock();
        let wake = if flags & FLAG_FLUSH != 0 {
            q.flushed(cut, block.into());
            q.wants_thread()
        } else if flags & FLAG_FUA != 0 || write_through {
            if q.completed_durable(block).is_err() {
                drop(q);
                self.shared.disable(format_args!(
                    "Error allocating pending block: a write durable at completion overlaps one waiting for a flush"
                ));
                return;
            }
            q.wants_thread()
        } else {
            q.completed_plain(block);
            self.shared.wants_target_flush(&mut q)
        };
        drop(q);
        if wake {
            self.shared.work.notify_all();
        }
    }

    fn preresume(&self) -> Result {
        let s = &self.shared;
        if !self.opts.append || s.q.lock().lifecycle != Lifecycle::Loaded {
            return Ok(());
        }
        // The table this one replaces wrote its last entries when it was
        // suspended, after our constructor looked: find the end again.
        let owned = ownership::owned(s.logdev.devt());
        let group = self.opts.group.as_deref();
        let end =
            append::find_end(&s.bios, &s.logdev, s.sector_size, owned, group).map_err(|why| {
                dm_warn!("append: {}", why.to_str().unwrap_or("?"));
                EINVAL
            })?;
        if let Some(m) = &self.membership {
            continue_group(m, &end)?;
        }
        let mut q = s.q.lock();
        q.continue_log(&end);
        Ok(())
    }

    fn resume(&self) {
        self.shared.q.lock().lifecycle = Lifecycle::Live;
        // A mark sent while the device was suspended may be draining it:
        // that drain ends now (see `Shared::drain`).
        self.shared.idle.notify_all();
        ownership::claim(self.shared.logdev.devt(), self.id);
    }

    fn postsuspend(&self) {
        // Whatever completed is made durable and written, so that nothing
        // is lost if another table takes over the log device, and the log
        // is whole while the device is suspended.
        let live = {
            let mut q = self.shared.q.lock();
            let live = q.lifecycle == Lifecycle::Live;
            if live {
                q.lifecycle = Lifecycle::Suspended;
            }
            live
        };
        if live {
            self.shared.drain();
        }
    }

    fn status(&self, kind: StatusType, out: &mut StatusWriter<'_>) {
        use core::fmt::Write;
        let _ = match kind {
            StatusType::Info => {
                let q = self.shared.q.lock();
                let (entries, next) = (q.logged_entries(), q.next_sector());
                let enabled = self.shared.enabled.load(Ordering::Relaxed);
                drop(q);
                write!(
                    out,
                    "{} {}{}",
                    entries,
                    next - 1,
                    if enabled { "" } else { " logging_disabled" }
                )
            }
            // Device names are `major:minor`, always UTF-8.
            StatusType::Table => write!(
                out,
                "{} {}",
                self.shared.dev.name().to_str().unwrap_or("?"),
                self.shared.logdev.name().to_str().unwrap_or("?")
            )
            .and_then(|()| self.opts.write_table(out)),
            StatusType::Ima => Ok(()),
        };
    }

    fn message(&self, args: &Args<'_>) -> Result {
        if args.len() != 2 {
            dm_warn!(
                "Invalid log-writes message arguments, expect 2 arguments, got {}",
                args.len()
            );
            return Err(EINVAL);
        }
        let (Some(verb), Some(text)) = (args.bytes(0), args.bytes(1)) else {
            return Err(EINVAL);
        };
        if !verb.eq_ignore_ascii_case(b"mark") {
            dm_warn!(
                "Unrecognised log writes target message received: {}",
                core::str::from_utf8(verb).unwrap_or("?")
            );
            return Err(EINVAL);
        }
        // C cuts a long mark and takes any byte; a mark nobody can name
        // back to `--end-mark` is lost, so say so instead.
        let max = self.max_mark_len();
        if text.len() > max {
            dm_warn!(
                "Mark of {} bytes rejected: at most {} bytes fit in a log sector",
                text.len(),
                max
            );
            return Err(EINVAL);
        }
        if let Some(b) = text.iter().find(|b| !(0x20..=0x7e).contains(*b)) {
            dm_warn!("Mark rejected: byte {:#04x} is not printable ASCII", b);
            return Err(EINVAL);
        }
        if !self.shared.enabled.load(Ordering::Relaxed) {
            dm_warn!("Mark rejected: logging is disabled");
            return Err(EIO);
        }
        self.mark(text)
    }

    fn io_hints(&self, limits: &mut QueueLimits<'_>) {
        if self.shared.dev.max_discard_sectors() == 0 {
            self.dev_discards.store(false, Ordering::Relaxed);
            limits.set_discard(self.shared.sector_size, u32::MAX >> 9);
        }
        // The data device's own limits, valid by construction; should they
        // not be, dm's stacked ones stay.
        let _ = limits.set_block_sizes(
            self.shared.dev.logical_block_size(),
            self.shared.dev.physical_block_size(),
        );
    }

    fn iterate_devices(&self, it: &mut DeviceIterator<'_>) -> i32 {
        it.visit(&self.shared.dev, 0, self.len)
    }

    fn prepare_ioctl(&self) -> (&TableDev, bool) {
        (&self.shared.dev, self.len == self.shared.dev.nr_sectors())
    }

    /// DAX goes straight to the data device and is not logged, as the C
    /// target does in this kernel: a filesystem mounted with `-o dax` logs
    /// only what it writes with bios (its metadata, and its flushes).
    fn dax_device(&self) -> &TableDev {
        &self.shared.dev
    }
}

impl Drop for LogWrites {
    fn drop(&mut self) {
        let s = &self.shared;
        // A table that never went live has not touched the log device, and
        // one that another table replaced on it must not touch it again:
        // the log there is not ours any more.
        let resumed = s.q.lock().lifecycle != Lifecycle::Loaded;
        if resumed && ownership::release(s.logdev.devt(), self.id) {
            // dm suspended the device first (postsuspend drained it), but
            // drain again: C logs writes still waiting for a flush as if
            // they were durable; a flush of ours makes them so.
            s.drain();
            // Nice to have: it updates the super block to include everything.
            let _ = self.mark(append::END_MARK);
        }
        s.q.lock().lifecycle = Lifecycle::Stopping;
        s.work.notify_all();
        // Joins the thread, which writes what is queued, waits for its
        // I/O and for its own flush, and exits.
        drop(self.thread.take());
    }
}
