// SPDX-License-Identifier: GPL-2.0

//! The durability oracle: decides, from a record of what the data device
//! really saw, whether a log is a true durability record.
//!
//! The record is a kernel block trace (tracefs `block_bio_queue` and
//! `block_bio_complete` events with a global counter clock) of two devices:
//! the *top*, the log-writes device the filesystem writes to, and the
//! *probe*, a transparent device (dm-linear) between the target and the
//! data disk. Neither is the target's own account of itself.
//!
//! Definition (see the crate documentation of the target): a write is
//! durable when it completed and a flush submitted after its completion
//! has completed; a FUA write when it completed. For every flush, FUA or
//! mark entry E, the writes logged before E must be exactly those durable
//! when E happened, in the order they became durable, and of two
//! overlapping writes the one that completed later comes later.
//!
//! Two clocks bound each event: the probe sees a write complete before the
//! filesystem does, and a flush submitted after the filesystem submitted
//! it. So for each write `w` the oracle computes
//! - `d_min(w)`: the earliest moment it may be durable (a flush queued on
//!   the probe after `w` completed there, completed on the probe), and
//! - `d_max(w)`: the latest moment it must be logged by (a flush the
//!   filesystem submitted after it saw `w` complete, completed),
//!
//! and checks that each durability point of the log has a moment `T`
//! (non-decreasing along the log, inside the point's own window) with
//! every write whose `d_max <= T` before it and no write whose `d_min > T`.
//!
//! The probe's write cache may be switched while writes run, between
//! `lwcache wt-begin`/`wt-end` and `lwcache wb-begin`/`wb-end` markers
//! around each switch to write through and back; a marker may end in the
//! device it is about (`lwcache wt-begin 253:4`), and then applies to that
//! probe only (a trace of several devices). While the probe has no
//! write cache, its writes are durable at completion and the block layer
//! completes flushes sent to it at once, without a trace event; around a
//! switch either mode may hold, and the oracle accepts both.
//!
//! A write durable at completion (FUA) replaces, on the device, the data
//! of an overlapping write that completed before it but is not durable
//! yet; the target logs that write later, with the newer data where they
//! overlap, and the oracle accepts that order after a FUA entry.
//!
//! Data: with a [`Journal`] of what each write carried (a hash of each
//! 512-byte sector, recorded by the workload that wrote it, outside the
//! target), every logged write must carry, sector by sector, the data of
//! the write it logs, or of a FUA write logged before it that completed
//! after it (zeroes for a discard).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

/// A device as `major,minor`.
pub type DevNo = (u32, u32);

/// One block trace event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `block_bio_queue` (`done == None`) or `block_bio_complete`
    /// (`done == Some(error)`).
    Bio {
        t: u64,
        dev: DevNo,
        /// `REQ_PREFLUSH`.
        preflush: bool,
        /// Operation letter of the rwbs field: `W`, `D`, `R`, `N`, `F`.
        op: char,
        /// `REQ_FUA`.
        fua: bool,
        sector: u64,
        nr: u64,
        done: Option<i32>,
    },
    /// A line written to `trace_marker`.
    Marker { t: u64, text: String },
}

/// Why a trace line did not parse.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub why: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trace line {}: {}", self.line, self.why)
    }
}

/// Parses the text of tracefs' `trace` file; lines of other events and
/// comments are skipped.
pub fn parse_trace(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let err = |why| ParseError { line: n + 1, why };
        let (name, at) = if let Some(i) = line.find(": block_bio_queue: ") {
            ("q", i)
        } else if let Some(i) = line.find(": block_bio_complete: ") {
            ("c", i)
        } else if let Some(i) = line.find(": tracing_mark_write: ") {
            ("m", i)
        } else {
            continue;
        };
        let t = parse_time(line[..at].split_whitespace().last().unwrap_or(""))
            .ok_or(err("bad timestamp"))?;
        let rest = &line[line[at + 2..]
            .find(": ")
            .map(|i| at + 2 + i + 2)
            .unwrap_or(0)..];
        if name == "m" {
            out.push(Event::Marker {
                t,
                text: rest.trim_end().to_string(),
            });
            continue;
        }
        // "254,0 WS 2048 + 8 [comm-or-error]"
        let mut it = rest.split_whitespace();
        let dev = it.next().ok_or(err("no device"))?;
        let (maj, min) = dev.split_once(',').ok_or(err("bad device"))?;
        let dev = (
            maj.parse().map_err(|_| err("bad major"))?,
            min.parse().map_err(|_| err("bad minor"))?,
        );
        let rwbs = it.next().ok_or(err("no rwbs"))?;
        let sector: u64 = it
            .next()
            .ok_or(err("no sector"))?
            .parse()
            .map_err(|_| err("bad sector"))?;
        if it.next() != Some("+") {
            return Err(err("no '+'"));
        }
        let nr: u64 = it
            .next()
            .ok_or(err("no size"))?
            .parse()
            .map_err(|_| err("bad size"))?;
        let done = if name == "c" {
            let e = it.next().ok_or(err("no error field"))?;
            let e = e.trim_start_matches('[').trim_end_matches(']');
            Some(e.parse().map_err(|_| err("bad error field"))?)
        } else {
            None
        };
        let (preflush, op, fua) = parse_rwbs(rwbs).ok_or(err("bad rwbs"))?;
        out.push(Event::Bio {
            t,
            dev,
            preflush,
            op,
            fua,
            sector,
            nr,
            done,
        });
    }
    Ok(out)
}

/// "123:" (counter clock) or "12.345678:" (seconds; to microseconds).
fn parse_time(s: &str) -> Option<u64> {
    let s = s.trim_end_matches(':');
    match s.split_once('.') {
        None => s.parse().ok(),
        Some((a, b)) => {
            let frac: String = b.chars().chain(std::iter::repeat('0')).take(6).collect();
            Some(a.parse::<u64>().ok()? * 1_000_000 + frac.parse::<u64>().ok()?)
        }
    }
}

/// `blk_fill_rwbs()` output: optional `F` (preflush), the operation, then
/// `F` (FUA), `A`, `S`, `M`, `E`.
fn parse_rwbs(s: &str) -> Option<(bool, char, bool)> {
    let c: Vec<char> = s.chars().collect();
    let ops = ['W', 'R', 'D', 'N', 'F'];
    let (preflush, i) = if c.len() >= 2 && c[0] == 'F' && ops.contains(&c[1]) {
        (true, 1)
    } else {
        (false, 0)
    };
    let op = *c.get(i)?;
    if !ops.contains(&op) {
        return None;
    }
    let fua = c[i + 1..].contains(&'F');
    Some((preflush, op, fua))
}

/// A log entry as the oracle needs it (512-byte sectors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub index: u64,
    pub sector: u64,
    pub nr: u64,
    pub flags: u64,
    pub mark: Vec<u8>,
    /// `logformat::sector_hash` of each 512-byte sector of a write's data,
    /// or empty when the data was not read.
    pub hashes: Vec<u64>,
}

/// What each write carried, by range, in the order it was written:
/// `W <byte offset> <bytes> <hex hash of each 512-byte sector>...` lines
/// (`lw-workload block --journal`). Writes to one range must not overlap
/// in time (each writer of the workload waits for its write).
#[derive(Debug, Default)]
pub struct Journal {
    by_range: HashMap<(u64, u64), VecDeque<Vec<u64>>>,
}

impl Journal {
    pub fn parse(text: &str) -> Result<Journal, ParseError> {
        let mut j = Journal::default();
        for (n, line) in text.lines().enumerate() {
            let err = |why| ParseError { line: n + 1, why };
            let mut it = line.split_whitespace();
            if it.next() != Some("W") {
                return Err(err("not a W line"));
            }
            let mut num = || -> Result<u64, ParseError> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or(err("bad offset or size"))
            };
            let (off, len) = (num()?, num()?);
            if off % 512 != 0 || len % 512 != 0 || len == 0 {
                return Err(err("offset and size must be multiples of 512"));
            }
            let hashes = it
                .map(|h| u64::from_str_radix(h, 16).map_err(|_| err("bad hash")))
                .collect::<Result<Vec<u64>, ParseError>>()?;
            if hashes.len() as u64 != len / 512 {
                return Err(err("one hash per 512-byte sector"));
            }
            j.by_range
                .entry((off / 512, len / 512))
                .or_default()
                .push_back(hashes);
        }
        Ok(j)
    }
}

/// What the oracle checked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub entries: usize,
    pub writes: usize,
    pub discards: usize,
    pub flushes: usize,
    /// Of `flushes`, those the target sent on its own.
    pub target_flushes: usize,
    pub fua: usize,
    pub marks: usize,
    /// Writes on the data device never made durable (not expected in the log).
    pub never_durable: usize,
    /// Discards that FUA writes completed after them covered entirely
    /// before they became durable (not expected in the log either).
    pub superseded: usize,
    /// Writes whose logged data was checked against the journal.
    pub data_checked: usize,
    /// For each write, FUA and mark entry, the span of the record in which
    /// the target must have taken its place in the log (see [`Moment`]).
    pub moments: Vec<Moment>,
}

/// When, in the record's clock, an entry became durable as the target saw
/// it: no earlier than `lo`, no later than `hi`. For a plain write, between
/// the first flush that can have made it durable completing below the
/// target (`d_min`) and one the filesystem sent after it completing above
/// it (`d_max`); for a FUA write, between its completions below and above
/// the target; for a mark, inside its `lwmark-begin`/`-end` markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    /// The log entry's index.
    pub index: u64,
    pub lo: u64,
    pub hi: u64,
}

/// The first way the log departs from the record.
#[derive(Debug, PartialEq, Eq)]
pub struct Violation {
    /// Index of the log entry, or `None` for the log as a whole.
    pub entry: Option<u64>,
    pub why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            Some(i) => write!(f, "entry {i}: {}", self.why),
            None => write!(f, "log: {}", self.why),
        }
    }
}

const NEVER: u64 = u64::MAX;

/// One write or discard the probe saw complete successfully.
#[derive(Clone, Debug)]
struct Write {
    sector: u64,
    nr: u64,
    discard: bool,
    c_probe: u64,
    /// When the filesystem saw it complete (an upper bound), or `NEVER`.
    c_top: u64,
    d_min: u64,
    d_max: u64,
    /// Durable at completion for certain (FUA, or the cache was off
    /// throughout): the target must log it with the FUA flag.
    at_completion: bool,
    /// Maybe durable at completion (the cache may have been off): the
    /// target may log it with the FUA flag.
    maybe_at_completion: bool,
}

type Key = (bool, u64, u64);

/// Queue and completion times of one kind of bio on one device. The trace
/// does not say which completion belongs to which queue event, so every
/// bound below holds for any pairing.
#[derive(Default)]
struct Times {
    queued: Vec<u64>,
    ok: Vec<u64>,
    failed: Vec<u64>,
}

impl Times {
    fn sort(&mut self) {
        self.queued.sort_unstable();
        self.ok.sort_unstable();
        self.failed.sort_unstable();
    }

    fn first_queued_after(&self, x: u64) -> Option<u64> {
        self.queued
            .get(self.queued.partition_point(|&q| q <= x))
            .copied()
    }

    /// A lower bound on when the first of these queued after `x` that
    /// succeeds completes: the first success after the first queue event
    /// after `x`.
    fn earliest_done_after(&self, x: u64) -> u64 {
        let Some(q) = self.first_queued_after(x) else {
            return NEVER;
        };
        self.ok
            .get(self.ok.partition_point(|&c| c <= q))
            .copied()
            .unwrap_or(NEVER)
    }

    /// An upper bound on when the first of these queued after `x` that
    /// succeeds has completed: `k` of them succeed (at least), all after
    /// the first queue event, so the earliest is no later than the k-th
    /// latest success after it.
    fn latest_done_after(&self, x: u64) -> u64 {
        let Some(q) = self.first_queued_after(x) else {
            return NEVER;
        };
        let queued = self.queued.len() - self.queued.partition_point(|&t| t <= x);
        let failed = self.failed.len() - self.failed.partition_point(|&t| t <= q);
        let k = queued.saturating_sub(failed);
        let s = &self.ok[self.ok.partition_point(|&c| c <= q)..];
        if k == 0 || s.len() < k {
            return NEVER;
        }
        s[s.len() - k]
    }

    /// How many of these were in flight at `x`: queued before it and not
    /// completed before it.
    fn in_flight(&self, x: u64) -> usize {
        let before = |v: &Vec<u64>| v.partition_point(|&t| t < x);
        before(&self.queued).saturating_sub(before(&self.ok) + before(&self.failed))
    }

    /// An upper bound on when a bio of these that was in flight at `x`
    /// completed: with `n` in flight, it is one of the next `n`
    /// completions.
    fn in_flight_done_by(&self, x: u64) -> u64 {
        let before = |v: &Vec<u64>| v.partition_point(|&t| t < x);
        let n = self.in_flight(x);
        let mut after: Vec<u64> = self.ok[before(&self.ok)..]
            .iter()
            .chain(&self.failed[before(&self.failed)..])
            .copied()
            .collect();
        after.sort_unstable();
        if n == 0 {
            return NEVER;
        }
        after.get(n - 1).copied().unwrap_or(NEVER)
    }
}

/// What the record says: the writes, in probe completion order; the
/// successful flush completions on the probe; when the filesystem
/// submitted its flushes (top queue events, sorted); and when the probe
/// may have had no write cache.
struct Model {
    writes: Vec<Write>,
    flush_done: Vec<u64>,
    /// For each of `flush_done`: the latest moment the target may have
    /// handled it or an earlier one, if each was a flush of the
    /// filesystem's (see [`fs_flush_reach`]).
    fs_flush_reach: Vec<u64>,
    top_flush_queued: Vec<u64>,
    cache: CacheModes,
}

/// When the probe's write cache was off, from `lwcache` markers.
#[derive(Default)]
struct CacheModes {
    /// `[wt-begin, wb-end]`: the cache may be off (sorted, disjoint).
    maybe_off: Vec<(u64, u64)>,
    /// `[wt-end, wb-begin]`: the cache is off.
    off: Vec<(u64, u64)>,
}

impl CacheModes {
    fn from_markers(events: &[Event], probe: DevNo) -> CacheModes {
        let mut m = CacheModes::default();
        let (mut begin, mut end) = (None, None);
        let probe = format!(" {}:{}", probe.0, probe.1);
        for ev in events {
            let Event::Marker { t, text } = ev else {
                continue;
            };
            // A marker about another device is not about this probe.
            let text = match text.strip_suffix(probe.as_str()) {
                Some(t) => t,
                None if text.matches(' ').count() > 1 => continue,
                None => text.as_str(),
            };
            match text {
                "lwcache wt-begin" => begin = Some(*t),
                "lwcache wt-end" => end = Some(*t),
                "lwcache wb-begin" => {
                    if let Some(e) = end.take() {
                        m.off.push((e, *t));
                    }
                }
                "lwcache wb-end" => {
                    if let Some(b) = begin.take() {
                        m.maybe_off.push((b, *t));
                    }
                }
                _ => {}
            }
        }
        if let Some(b) = begin {
            m.maybe_off.push((b, NEVER));
        }
        if let Some(e) = end {
            m.off.push((e, NEVER));
        }
        m
    }

    fn is_empty(&self) -> bool {
        self.maybe_off.is_empty()
    }

    /// The cache was off throughout `[a, b]`.
    fn off_during(&self, a: u64, b: u64) -> bool {
        self.off.iter().any(|&(s, e)| s <= a && b <= e)
    }

    /// The cache may have been off at some moment of `[a, b]`.
    fn maybe_off_during(&self, a: u64, b: u64) -> bool {
        self.maybe_off.iter().any(|&(s, e)| s <= b && a <= e)
    }

    /// The first moment at or after `t` at which the cache may have been
    /// off (a flush completes there without a trace), or `NEVER`.
    fn first_maybe_off_from(&self, t: u64) -> u64 {
        self.maybe_off
            .iter()
            .filter(|&&(_, e)| e >= t)
            .map(|&(s, _)| s.max(t))
            .min()
            .unwrap_or(NEVER)
    }
}

/// Builds the model of the record.
fn model(events: &[Event], top: DevNo, probe: DevNo) -> Model {
    let mut top_writes: HashMap<Key, Times> = HashMap::new();
    // FUA writes queued on the top, by range.
    let mut top_fua: HashMap<Key, Vec<u64>> = HashMap::new();
    let mut top_flushes = Times::default();
    let mut probe_flushes = Times::default();
    let mut probe_writes = Vec::new();
    for ev in events {
        let Event::Bio {
            t,
            dev,
            preflush,
            op,
            fua,
            sector,
            nr,
            done,
        } = *ev
        else {
            continue;
        };
        let data = nr > 0 && (op == 'W' || op == 'D');
        if dev != top && dev != probe || !(data || preflush) {
            continue;
        }
        let add = |times: &mut Times| match done {
            None => times.queued.push(t),
            Some(0) => times.ok.push(t),
            Some(_) => times.failed.push(t),
        };
        if dev == top {
            if preflush {
                add(&mut top_flushes);
            }
            if data {
                add(top_writes.entry((op == 'D', sector, nr)).or_default());
                if fua && done.is_none() {
                    top_fua.entry((op == 'D', sector, nr)).or_default().push(t);
                }
            }
        } else {
            if preflush {
                add(&mut probe_flushes);
            }
            if data && done == Some(0) {
                probe_writes.push((op == 'D', sector, nr, fua, t));
            }
        }
    }
    top_flushes.sort();
    probe_flushes.sort();
    for t in top_writes.values_mut() {
        t.sort();
    }
    for t in top_fua.values_mut() {
        t.sort_unstable();
    }
    let cache = CacheModes::from_markers(events, probe);
    let writes = probe_writes
        .into_iter()
        .map(|(discard, sector, nr, fua, c)| {
            let c_top = top_writes
                .get(&(discard, sector, nr))
                .map_or(NEVER, |t| t.in_flight_done_by(c));
            // The block layer drops FUA from a write to a device without
            // a write cache: the filesystem's FUA write then reaches the
            // probe as a plain one, durable at completion all the same.
            // Only if that FUA write is the one in flight: the newest
            // write of the range queued above before this completion (a
            // superblock written with FUA once does not make every later
            // plain write of it a stripped FUA one).
            let last_queued = top_writes.get(&(discard, sector, nr)).and_then(|t| {
                let before = t.queued.partition_point(|&q| q <= c);
                before.checked_sub(1).map(|i| t.queued[i])
            });
            let stripped = !fua
                && top_fua.get(&(discard, sector, nr)).is_some_and(|q| {
                    let before = q.partition_point(|&t| t <= c);
                    before > 0
                        && last_queued == Some(q[before - 1])
                        && cache.maybe_off_during(q[before - 1], c)
                });
            // The target asks for the cache mode between the probe's and
            // the filesystem's view of the completion.
            let at_completion = fua || stripped || cache.off_during(c, c_top);
            let maybe_at_completion = at_completion || cache.maybe_off_during(c, c_top);
            let (d_min, d_max) = if at_completion {
                (c, c_top)
            } else {
                let flushed = probe_flushes
                    .earliest_done_after(c)
                    .min(cache.first_maybe_off_from(c));
                (
                    if cache.maybe_off_during(c, c_top) {
                        c
                    } else {
                        flushed
                    },
                    if c_top == NEVER {
                        NEVER
                    } else {
                        // The target handles that flush's completion
                        // before the filesystem sees it: no later than
                        // its completion on the top.
                        top_flushes.latest_done_after(c_top)
                    },
                )
            };
            Write {
                sector,
                nr,
                discard,
                c_probe: c,
                c_top,
                d_min,
                d_max: d_max.max(d_min),
                at_completion,
                maybe_at_completion,
            }
        })
        .collect();
    Model {
        writes,
        fs_flush_reach: fs_flush_reach(&probe_flushes.ok, &top_flushes),
        flush_done: probe_flushes.ok,
        top_flush_queued: top_flushes.queued,
        cache,
    }
}

/// The target handles a flush's completion (its `end_io`) some time after
/// the probe reports it, and other completions may be handled in between:
/// the moment of a flush entry is not the probe's completion itself but
/// any time from it until the target has handled it. For a flush of the
/// filesystem's that is no later than the filesystem sees it complete,
/// and that flush was in flight above when the probe's completed: one of
/// the next `n` completions above, with `n` in flight. Of the probe's
/// completions `done` (sorted), the running maximum of that bound, so
/// that whether some completion up to `t` may still be being handled at
/// `t` is one lookup. A completion with no flush in flight above cannot
/// be one of the filesystem's.
fn fs_flush_reach(done: &[u64], top_flushes: &Times) -> Vec<u64> {
    let mut reach = 0;
    done.iter()
        .map(|&c| {
            if top_flushes.in_flight(c) > 0 {
                reach = reach.max(top_flushes.in_flight_done_by(c));
            }
            reach
        })
        .collect()
}

/// The `[begin, end]` windows of marks, from `lwmark-begin NAME` and
/// `lwmark-end NAME` markers.
fn mark_windows(events: &[Event]) -> HashMap<Vec<u8>, VecDeque<(u64, u64)>> {
    let mut open: HashMap<String, u64> = HashMap::new();
    let mut out: HashMap<Vec<u8>, VecDeque<(u64, u64)>> = HashMap::new();
    for ev in events {
        if let Event::Marker { t, text } = ev {
            if let Some(name) = text.strip_prefix("lwmark-begin ") {
                open.insert(name.to_string(), *t);
            } else if let Some(name) = text.strip_prefix("lwmark-end ") {
                if let Some(b) = open.remove(name) {
                    out.entry(name.as_bytes().to_vec())
                        .or_default()
                        .push_back((b, *t));
                }
            }
        }
    }
    out
}

/// Checks `log` against the record `events` of devices `top` and `probe`.
/// `complete`: the log was closed normally, so every write that became
/// durable must be in it.
pub fn check(
    events: &[Event],
    top: DevNo,
    probe: DevNo,
    log: &[LogEntry],
    complete: bool,
) -> Result<Report, Violation> {
    check_with_data(events, top, probe, log, complete, Journal::default())
}

/// [`check`], and each logged write's data against `journal` (see the
/// module documentation).
pub fn check_with_data(
    events: &[Event],
    top: DevNo,
    probe: DevNo,
    log: &[LogEntry],
    complete: bool,
    mut journal: Journal,
) -> Result<Report, Violation> {
    use logformat::{FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK, FLAG_TARGET};
    let Model {
        writes,
        flush_done,
        fs_flush_reach,
        top_flush_queued,
        cache,
    } = model(events, top, probe);
    // Flush entries the filesystem's flushes wrote so far.
    let mut fs_flush_entries = 0usize;
    let mut windows = mark_windows(events);
    let mut report = Report {
        entries: log.len(),
        ..Default::default()
    };
    // Unlogged writes of each range, in completion order.
    let mut by_key: HashMap<Key, VecDeque<usize>> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        by_key
            .entry((w.discard, w.sector, w.nr))
            .or_default()
            .push_back(i);
    }
    // d_max of every write not logged yet.
    let mut pending: BTreeMap<(u64, usize), ()> = writes
        .iter()
        .enumerate()
        .map(|(i, w)| ((w.d_max, i), ()))
        .collect();
    let mut lo = 0u64;
    let mut t_prev = 0u64;
    // What each write carried, in completion order per range.
    let contents: Vec<Option<Vec<u64>>> = writes
        .iter()
        .map(|w| {
            if w.discard {
                return None;
            }
            journal
                .by_range
                .get_mut(&(w.sector, w.nr))
                .and_then(|q| q.pop_front())
        })
        .collect();
    let zeroes = logformat::sector_hash(&[0u8; 512]);
    // (entry index, write, logged as durable at completion, position in log)
    let mut logged: Vec<(u64, usize, bool, usize)> = Vec::new();
    let mut is_logged = vec![false; writes.len()];
    // Discards not logged yet that FUA writes cut back: what is left.
    let mut cut_back: HashMap<usize, Vec<(u64, u64)>> = HashMap::new();
    let mut superseded = vec![false; writes.len()];
    let fail = |e: &LogEntry, why: String| Violation {
        entry: Some(e.index),
        why,
    };
    let describe = |w: &Write| {
        format!(
            "{} of {} sectors at sector {}",
            if w.discard { "discard" } else { "write" },
            w.nr,
            w.sector
        )
    };
    for (pos, e) in log.iter().enumerate() {
        let is_mark = e.flags & FLAG_MARK != 0;
        let is_flush = e.flags & FLAG_FLUSH != 0 && e.nr == 0;
        let mut window = None;
        if !is_mark && e.nr > 0 {
            let key = (e.flags & FLAG_DISCARD != 0, e.sector, e.nr);
            // Of the unlogged writes of this range, the first that the
            // entry's FUA flag fits: a write durable at completion is
            // logged before plain ones of the same range that completed
            // earlier and wait for a flush (a superblock written plainly,
            // then with FUA).
            //
            // The target logs a FUA entry when its write completes, so the
            // write's completion above the target cannot be before the
            // moment this point of the log is already known to be at: of
            // two candidates, a plain write that completed long ago while
            // the cache was being switched (so may have been durable at
            // completion) is not the one, if the log has moved past it.
            let fua_entry = e.flags & FLAG_FUA != 0;
            let now = lo.max(t_prev);
            let exact = by_key.get_mut(&key).and_then(|q| {
                let fits = |&i: &usize| {
                    if fua_entry {
                        writes[i].maybe_at_completion
                    } else {
                        !writes[i].at_completion
                    }
                };
                let in_time = |i: &usize| !fua_entry || writes[*i].c_top >= now;
                let pick = q
                    .iter()
                    .position(|i| fits(i) && in_time(i))
                    .or_else(|| q.iter().position(fits))
                    .unwrap_or(0);
                q.remove(pick)
            });
            let Some(i) = exact.or_else(|| {
                // A discard that later FUA writes cut back is logged in
                // pieces: the first not logged yet that holds this one, or
                // a later piece of one cut back and logged.
                let holds = |j: &usize| {
                    let w = &writes[*j];
                    key.0
                        && w.discard
                        && w.sector <= e.sector
                        && e.sector + e.nr <= w.sector + w.nr
                        && !superseded[*j]
                };
                let j = (0..writes.len())
                    .filter(holds)
                    .find(|&j| !is_logged[j])
                    .or_else(|| {
                        (0..writes.len())
                            .rev()
                            .filter(holds)
                            .find(|j| is_logged[*j] && cut_back.contains_key(j))
                    })?;
                let w = &writes[j];
                if let Some(q) = by_key.get_mut(&(true, w.sector, w.nr)) {
                    q.retain(|&k| k != j);
                }
                Some(j)
            }) else {
                return Err(fail(
                    e,
                    format!(
                        "no {} of {} sectors at sector {} completed on the data device (or it is logged twice)",
                        if key.0 { "discard" } else { "write" },
                        e.nr,
                        e.sector
                    ),
                ));
            };
            let w = &writes[i];
            if w.d_min == NEVER {
                return Err(fail(
                    e,
                    format!(
                        "{} is logged but no flush ever made it durable",
                        describe(w)
                    ),
                ));
            }
            // Of two overlapping writes, the one that completed later
            // comes later: fail only when the later-logged one certainly
            // completed first, and the earlier-logged one was not durable
            // at completion (see the module documentation).
            for &(j, k, at_completion, _) in &logged {
                let a = &writes[k];
                if !at_completion
                    && a.sector < w.sector + w.nr
                    && w.sector < a.sector + a.nr
                    && w.c_top < a.c_probe
                {
                    return Err(fail(
                        e,
                        format!(
                            "{} completed before the overlapping entry {} ({}) but is logged after it",
                            describe(w),
                            j,
                            describe(a)
                        ),
                    ));
                }
            }
            // A flush the filesystem submitted after it saw this write
            // complete covers it, so its entry must come after the write.
            // The log shows `fs_flush_entries` of its flushes before the
            // write; if more than were submitted before the write
            // completed, one of them was submitted after.
            if w.c_top != NEVER {
                let before = top_flush_queued.partition_point(|&q| q < w.c_top);
                if fs_flush_entries > before {
                    return Err(fail(
                        e,
                        format!(
                            "{} is logged after {} flush entries of the filesystem's, but only {} of its flushes were submitted before it completed: a later one made it durable and its entry must follow it",
                            describe(w),
                            fs_flush_entries,
                            before
                        ),
                    ));
                }
            }
            if let (Some(content), false) = (&contents[i], e.hashes.is_empty()) {
                check_data(e, w, content, &logged, &writes, log, zeroes)
                    .map_err(|why| fail(e, why))?;
                report.data_checked += 1;
            }
            logged.push((e.index, i, e.flags & FLAG_FUA != 0, pos));
            is_logged[i] = true;
            pending.remove(&(w.d_max, i));
            lo = lo.max(w.d_min);
            if w.discard {
                report.discards += 1;
            } else {
                report.writes += 1;
            }
            if e.flags & FLAG_FUA != 0 {
                report.fua += 1;
                window = Some((w.c_probe, w.c_top));
            }
            let (lo, hi) = if e.flags & FLAG_FUA != 0 {
                (w.c_probe, w.c_top)
            } else {
                (w.d_min, w.d_max)
            };
            report.moments.push(Moment {
                index: e.index,
                lo,
                hi,
            });
        }
        if is_flush {
            report.flushes += 1;
            if e.flags & logformat::FLAG_TARGET != 0 {
                report.target_flushes += 1;
            } else {
                fs_flush_entries += 1;
            }
            window = Some((0, NEVER));
        }
        if is_mark {
            report.marks += 1;
            let (lo, hi) = windows
                .get_mut(&e.mark)
                .and_then(|q| q.pop_front())
                .unwrap_or((0, NEVER));
            window = Some((lo, hi));
            report.moments.push(Moment {
                index: e.index,
                lo,
                hi,
            });
        }
        let Some((w_lo, w_hi)) = window else {
            continue;
        };
        let mut t = lo.max(t_prev).max(w_lo);
        // The moment of a flush entry is a flush's completion on the
        // probe, or later while the target may not have handled it yet
        // (for its own flushes nothing above bounds that), or any moment
        // the probe may have had no cache, when flushes complete unseen.
        let handling = |t: u64| {
            let i = flush_done.partition_point(|&c| c <= t);
            i > 0 && (e.flags & FLAG_TARGET != 0 || fs_flush_reach[i - 1] >= t)
        };
        if is_flush && !handling(t) {
            let seen = flush_done
                .get(flush_done.partition_point(|&c| c < t))
                .copied()
                .unwrap_or(NEVER);
            match seen.min(cache.first_maybe_off_from(t)) {
                NEVER => {
                    return Err(fail(
                        e,
                        "a flush entry, but no flush completed on the data device after the writes before it became durable".into(),
                    ))
                }
                c => t = c,
            }
        }
        if t > w_hi {
            return Err(fail(
                e,
                format!(
                    "it is logged after writes that became durable only after it happened (moment {t}, its window ends at {w_hi})"
                ),
            ));
        }
        if let Some((&(d_max, i), _)) = pending.iter().next() {
            if d_max <= t {
                return Err(fail(
                    e,
                    format!(
                        "{} was durable (at {d_max}) before this point (at {t}) but is not logged before it (it completed at {} on the data device and by {} above it, durable from {}; the point's moment is bounded below by the writes logged before it ({lo}), the previous point ({t_prev}) and its own window ({w_lo}))",
                        describe(&writes[i]),
                        writes[i].c_probe,
                        writes[i].c_top,
                        writes[i].d_min
                    ),
                ));
            }
        }
        t_prev = t;
        // A FUA write supersedes, where it overlaps, the discards that
        // completed before it and are not logged yet: the target cuts them
        // back, and drops one it covers entirely.
        if e.flags & FLAG_FUA != 0 && !is_mark && e.nr > 0 {
            let (b0, b1) = (e.sector, e.sector + e.nr);
            let c_top = logged.last().map_or(NEVER, |&(_, i, _, _)| writes[i].c_top);
            for (j, d) in writes.iter().enumerate() {
                if !d.discard || is_logged[j] || superseded[j] || d.c_probe >= c_top {
                    continue;
                }
                if d.sector >= b1 || b0 >= d.sector + d.nr {
                    continue;
                }
                let left = cut_back
                    .entry(j)
                    .or_insert_with(|| vec![(d.sector, d.sector + d.nr)]);
                *left = left
                    .iter()
                    .flat_map(|&(a0, a1)| {
                        [(a0, a1.min(b0)), (a0.max(b1), a1)]
                            .into_iter()
                            .filter(|&(x, y)| x < y)
                    })
                    .collect();
                if left.is_empty() {
                    superseded[j] = true;
                    pending.remove(&(d.d_max, j));
                    if let Some(q) = by_key.get_mut(&(true, d.sector, d.nr)) {
                        q.retain(|&k| k != j);
                    }
                    report.superseded += 1;
                }
            }
        }
    }
    if complete {
        if let Some((&(d_max, i), _)) = pending.iter().next() {
            if d_max != NEVER {
                return Err(Violation {
                    entry: None,
                    why: format!(
                        "{} became durable (at {d_max}) but is not in the log",
                        describe(&writes[i])
                    ),
                });
            }
        }
        // Flushes completed unseen while the cache was off are logged too.
        let unseen_ok = !cache.is_empty() && report.flushes > flush_done.len();
        if report.flushes != flush_done.len() && !unseen_ok {
            return Err(Violation {
                entry: None,
                why: format!(
                    "{} flush entries, but {} flushes completed on the data device",
                    report.flushes,
                    flush_done.len()
                ),
            });
        }
    }
    report.never_durable = writes.iter().filter(|w| w.d_min == NEVER).count();
    Ok(report)
}

/// Whether entry `e`, logging write `w` that carried `content`, holds in
/// each sector the data of `w` or of a FUA entry logged before it (in
/// `logged`) whose write completed after `w`'s (certainly after: it must;
/// maybe after: it may).
fn check_data(
    e: &LogEntry,
    w: &Write,
    content: &[u64],
    logged: &[(u64, usize, bool, usize)],
    writes: &[Write],
    log: &[LogEntry],
    zeroes: u64,
) -> Result<(), String> {
    if e.hashes.len() != content.len() {
        return Err(format!(
            "holds {} sectors of data for a write of {}",
            e.hashes.len(),
            content.len()
        ));
    }
    let mut allowed: Vec<Vec<u64>> = content.iter().map(|&h| vec![h]).collect();
    for &(_, k, at_completion, pos) in logged {
        let b = &writes[k];
        let (o0, o1) = (
            w.sector.max(b.sector),
            (w.sector + w.nr).min(b.sector + b.nr),
        );
        if !at_completion || o0 >= o1 || b.c_top < w.c_probe {
            continue;
        }
        let certain = w.c_top < b.c_probe;
        for s in o0..o1 {
            let newer = if b.discard {
                zeroes
            } else {
                match log[pos].hashes.get((s - b.sector) as usize) {
                    Some(&h) => h,
                    None => continue,
                }
            };
            let a = &mut allowed[(s - w.sector) as usize];
            if certain {
                *a = vec![newer];
            } else {
                a.push(newer);
            }
        }
    }
    for (n, (h, a)) in e.hashes.iter().zip(&allowed).enumerate() {
        if !a.contains(h) {
            return Err(format!(
                "sector {} holds data that neither the write of {} sectors at sector {} nor a later FUA write over it carried",
                w.sector + n as u64,
                w.nr,
                w.sector
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use logformat::{FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK};

    /// `(t, dev, rwbs, sector, nr, done)`.
    type Line = (u64, DevNo, &'static str, u64, u64, Option<i32>);

    const TOP: DevNo = (253, 0);
    const PROBE: DevNo = (253, 1);

    /// A hand-made trace: `(t, dev, rwbs, sector, nr, done)`.
    fn trace(lines: &[Line]) -> Vec<Event> {
        lines
            .iter()
            .map(|&(t, dev, rwbs, sector, nr, done)| {
                let (preflush, op, fua) = parse_rwbs(rwbs).unwrap();
                Event::Bio {
                    t,
                    dev,
                    preflush,
                    op,
                    fua,
                    sector,
                    nr,
                    done,
                }
            })
            .collect()
    }

    /// A write `w` through both levels: top queue, probe queue, probe
    /// completion, top completion.
    fn io(t: u64, rwbs: &'static str, sector: u64, nr: u64) -> Vec<Line> {
        vec![
            (t, TOP, rwbs, sector, nr, None),
            (t + 1, PROBE, rwbs, sector, nr, None),
            (t + 2, PROBE, rwbs, sector, nr, Some(0)),
            (t + 3, TOP, rwbs, sector, nr, Some(0)),
        ]
    }

    fn entry(index: u64, sector: u64, nr: u64, flags: u64) -> LogEntry {
        LogEntry {
            index,
            sector,
            nr,
            flags,
            mark: Vec::new(),
            hashes: Vec::new(),
        }
    }

    fn end(index: u64) -> LogEntry {
        LogEntry {
            index,
            sector: 0,
            nr: 0,
            flags: FLAG_MARK,
            mark: b"dm-log-writes-end".to_vec(),
            hashes: Vec::new(),
        }
    }

    /// w1, w2 written, flush, then w3 written and never flushed.
    fn simple() -> Vec<Event> {
        let mut l = io(10, "WS", 8, 8);
        l.extend(io(20, "WS", 100, 16));
        l.extend(io(30, "FWS", 0, 0));
        l.extend(io(40, "WS", 8, 8));
        trace(&l)
    }

    #[test]
    fn parses_tracefs_lines() {
        let text = "# tracer: nop\n\
            dd-101 [001] ..... 17: block_bio_queue: 253,0 WS 2048 + 8 [dd]\n\
            <idle>-0 [000] ..s1. 19: block_bio_complete: 253,1 FWFSM 0 + 0 [0]\n\
            sh-1 [000] ..... 20: tracing_mark_write: lwmark-begin m1\n\
            kworker-9 [000] ..... 1.000002: block_bio_complete: 253,1 D 16 + 8 [-5]\n";
        let ev = parse_trace(text).unwrap();
        assert_eq!(ev.len(), 4);
        assert_eq!(
            ev[0],
            Event::Bio {
                t: 17,
                dev: (253, 0),
                preflush: false,
                op: 'W',
                fua: false,
                sector: 2048,
                nr: 8,
                done: None
            }
        );
        assert!(matches!(
            ev[1],
            Event::Bio {
                preflush: true,
                fua: true,
                op: 'W',
                done: Some(0),
                ..
            }
        ));
        assert_eq!(
            ev[2],
            Event::Marker {
                t: 20,
                text: "lwmark-begin m1".into()
            }
        );
        assert!(matches!(
            ev[3],
            Event::Bio {
                t: 1_000_002,
                op: 'D',
                done: Some(-5),
                ..
            }
        ));
        assert!(parse_trace("x 5: block_bio_queue: 253 W 1 + 1 [a]").is_err());
    }

    #[test]
    fn accepts_a_true_log() {
        let log = [
            entry(0, 8, 8, 0),
            entry(1, 100, 16, 0),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        let r = check(&simple(), TOP, PROBE, &log, true).unwrap();
        assert_eq!((r.writes, r.flushes, r.never_durable), (2, 1, 1));
        // Durable writes of one flush may come in either order.
        let log = [
            entry(0, 100, 16, 0),
            entry(1, 8, 8, 0),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        check(&simple(), TOP, PROBE, &log, true).unwrap();
    }

    #[test]
    fn rejects_a_missing_write() {
        // Never logged: a closed log must hold it (the moment of the flush
        // entry may be taken before the filesystem saw the flush complete,
        // so the entry itself is not blamed).
        let log = [entry(0, 8, 8, 0), entry(1, 0, 0, FLAG_FLUSH), end(2)];
        let v = check(&simple(), TOP, PROBE, &log, true).unwrap_err();
        assert_eq!(v.entry, None);
        assert!(v.why.contains("sector 100"), "{v}");
        // Logged, but only after the flush that made it durable.
        let log = [
            entry(0, 8, 8, 0),
            entry(1, 0, 0, FLAG_FLUSH),
            entry(2, 100, 16, 0),
            end(3),
        ];
        let v = check(&simple(), TOP, PROBE, &log, true).unwrap_err();
        assert_eq!(v.entry, Some(2), "{v}");
    }

    #[test]
    fn rejects_an_early_write() {
        // The second write of sector 8 was never flushed.
        let log = [
            entry(0, 8, 8, 0),
            entry(1, 100, 16, 0),
            entry(2, 0, 0, FLAG_FLUSH),
            entry(3, 8, 8, 0),
            end(4),
        ];
        let v = check(&simple(), TOP, PROBE, &log, true).unwrap_err();
        assert_eq!(v.entry, Some(3));
        assert!(v.why.contains("no flush ever made it durable"), "{v}");
    }

    #[test]
    fn rejects_an_invented_or_failed_write() {
        let log = [entry(0, 500, 8, 0), entry(1, 0, 0, FLAG_FLUSH), end(2)];
        assert_eq!(
            check(&simple(), TOP, PROBE, &log, true).unwrap_err().entry,
            Some(0)
        );
        let mut l = io(10, "WS", 8, 8);
        l[2].5 = Some(-5);
        l.extend(io(20, "FWS", 0, 0));
        let log = [entry(0, 8, 8, 0), entry(1, 0, 0, FLAG_FLUSH), end(2)];
        assert_eq!(
            check(&trace(&l), TOP, PROBE, &log, true).unwrap_err().entry,
            Some(0)
        );
    }

    #[test]
    fn concurrent_flushes_log_in_durability_order() {
        // w1 completes; flush A is submitted; w2 completes; flush B is
        // submitted and completes before A. At B both are durable.
        let l = vec![
            (1, TOP, "WS", 8, 8, None),
            (2, PROBE, "WS", 8, 8, None),
            (3, PROBE, "WS", 8, 8, Some(0)),
            (4, TOP, "WS", 8, 8, Some(0)),
            (5, TOP, "FWS", 0, 0, None),
            (6, PROBE, "FWS", 0, 0, None),
            (7, TOP, "WS", 64, 8, None),
            (8, PROBE, "WS", 64, 8, None),
            (9, PROBE, "WS", 64, 8, Some(0)),
            (10, TOP, "WS", 64, 8, Some(0)),
            (11, TOP, "FWS", 0, 0, None),
            (12, PROBE, "FWS", 0, 0, None),
            (13, PROBE, "FWS", 0, 0, Some(0)),
            (14, TOP, "FWS", 0, 0, Some(0)),
            (15, PROBE, "FWS", 0, 0, Some(0)),
            (16, TOP, "FWS", 0, 0, Some(0)),
        ];
        let ev = trace(&l);
        let good = [
            entry(0, 8, 8, 0),
            entry(1, 64, 8, 0),
            entry(2, 0, 0, FLAG_FLUSH),
            entry(3, 0, 0, FLAG_FLUSH),
            end(4),
        ];
        check(&ev, TOP, PROBE, &good, true).unwrap();
        // What a log that lets each flush log only what it took at its
        // submission writes: w2 and B first, then w1 and A.
        let bad = [
            entry(0, 64, 8, 0),
            entry(1, 0, 0, FLAG_FLUSH),
            entry(2, 8, 8, 0),
            entry(3, 0, 0, FLAG_FLUSH),
            end(4),
        ];
        let v = check(&ev, TOP, PROBE, &bad, true).unwrap_err();
        assert_eq!(v.entry, Some(2), "{v}");
    }

    #[test]
    fn fua_writes_are_durable_at_completion() {
        // w1 plain, then a FUA write w2, then a flush.
        let mut l = io(10, "WS", 8, 8);
        l.extend(io(20, "WFS", 64, 8));
        l.extend(io(30, "FWS", 0, 0));
        let ev = trace(&l);
        let good = [
            entry(0, 64, 8, FLAG_FUA),
            entry(1, 8, 8, 0),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        check(&ev, TOP, PROBE, &good, true).unwrap();
        // w1 before the FUA entry: it was not durable yet.
        let bad = [
            entry(0, 8, 8, 0),
            entry(1, 64, 8, FLAG_FUA),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        assert_eq!(
            check(&ev, TOP, PROBE, &bad, true).unwrap_err().entry,
            Some(1)
        );
    }

    #[test]
    fn overlapping_writes_keep_completion_order() {
        let mut l = io(10, "WS", 8, 16);
        l.extend(io(20, "WS", 16, 8));
        l.extend(io(30, "FWS", 0, 0));
        let ev = trace(&l);
        let bad = [
            entry(0, 16, 8, 0),
            entry(1, 8, 16, 0),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        let v = check(&ev, TOP, PROBE, &bad, true).unwrap_err();
        assert_eq!(v.entry, Some(1), "{v}");
    }

    #[test]
    fn marks_hold_what_was_durable_when_dropped() {
        let mut ev = simple();
        ev.push(Event::Marker {
            t: 36,
            text: "lwmark-begin m".into(),
        });
        ev.push(Event::Marker {
            t: 37,
            text: "lwmark-end m".into(),
        });
        let mut mark = entry(3, 0, 0, FLAG_MARK);
        mark.mark = b"m".to_vec();
        let good = [
            entry(0, 8, 8, 0),
            entry(1, 100, 16, 0),
            entry(2, 0, 0, FLAG_FLUSH),
            mark.clone(),
            end(4),
        ];
        check(&ev, TOP, PROBE, &good, true).unwrap();
        // A mark dropped after the flush must follow the flush's writes.
        mark.index = 1;
        let bad = [
            entry(0, 8, 8, 0),
            mark,
            entry(2, 100, 16, 0),
            entry(3, 0, 0, FLAG_FLUSH),
            end(4),
        ];
        assert_eq!(
            check(&ev, TOP, PROBE, &bad, true).unwrap_err().entry,
            Some(1)
        );
    }

    #[test]
    fn a_closed_log_holds_every_durable_write() {
        let log = [entry(0, 8, 8, 0), entry(1, 100, 16, 0), end(2)];
        let v = check(&simple(), TOP, PROBE, &log, true).unwrap_err();
        assert_eq!(v.entry, None, "{v}");
        // The flush entry is missing; a log cut short is judged on its
        // points only.
        check(&simple(), TOP, PROBE, &log[..2], false).unwrap();
    }

    #[test]
    fn a_flush_entry_may_follow_completions_handled_before_it() {
        // The probe completes flush f1 at 12, but the target handles it
        // only after FUA write a (probe 14, top 15), and before FUA write
        // b (probe 18, top 19); f1 completes above at 30. Flush f2
        // completes on the probe at 20, above at 31.
        let l = vec![
            (1, TOP, "FWS", 0, 0, None),
            (2, PROBE, "FWS", 0, 0, None),
            (3, TOP, "WFS", 8, 8, None),
            (4, PROBE, "WFS", 8, 8, None),
            (5, TOP, "WFS", 100, 8, None),
            (6, PROBE, "WFS", 100, 8, None),
            (7, TOP, "FWS", 0, 0, None),
            (8, PROBE, "FWS", 0, 0, None),
            (12, PROBE, "FWS", 0, 0, Some(0)),
            (14, PROBE, "WFS", 8, 8, Some(0)),
            (15, TOP, "WFS", 8, 8, Some(0)),
            (18, PROBE, "WFS", 100, 8, Some(0)),
            (19, TOP, "WFS", 100, 8, Some(0)),
            (20, PROBE, "FWS", 0, 0, Some(0)),
            (30, TOP, "FWS", 0, 0, Some(0)),
            (31, TOP, "FWS", 0, 0, Some(0)),
        ];
        let log = |flags| {
            [
                entry(0, 8, 8, FLAG_FUA),
                entry(1, 0, 0, flags),
                entry(2, 100, 8, FLAG_FUA),
                entry(3, 0, 0, flags),
                end(4),
            ]
        };
        check(&trace(&l), TOP, PROBE, &log(FLAG_FLUSH), true).unwrap();
        // With no flush in flight above, neither is the filesystem's...
        let mut own = l.clone();
        own.retain(|&(_, dev, rwbs, _, _, _)| !(dev == TOP && rwbs == "FWS"));
        let v = check(&trace(&own), TOP, PROBE, &log(FLAG_FLUSH), true).unwrap_err();
        assert_eq!(v.entry, Some(1), "{v}");
        // ...but the target's own, and nothing above bounds when it
        // handled them.
        let target = log(FLAG_FLUSH | logformat::FLAG_TARGET);
        let v = check(&trace(&own), TOP, PROBE, &target, true);
        assert!(v.is_ok(), "{}", v.unwrap_err());
        // f1 alone, complete above at 16: handled by then, before b
        // completed on the probe (18), so it cannot follow b.
        let mut one = own.clone();
        one.retain(|&(t, _, _, _, _, _)| t != 8 && t != 20);
        one.push((16, TOP, "FWS", 0, 0, Some(0)));
        one.push((1, TOP, "FWS", 0, 0, None));
        one.sort_by_key(|x| x.0);
        let good = [
            entry(0, 8, 8, FLAG_FUA),
            entry(1, 0, 0, FLAG_FLUSH),
            entry(2, 100, 8, FLAG_FUA),
            end(3),
        ];
        check(&trace(&one), TOP, PROBE, &good, true).unwrap();
        let late = [
            entry(0, 8, 8, FLAG_FUA),
            entry(1, 100, 8, FLAG_FUA),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        let v = check(&trace(&one), TOP, PROBE, &late, true).unwrap_err();
        assert_eq!(v.entry, Some(2), "{v}");
    }

    #[test]
    fn target_flushes_are_durability_points() {
        // No flush from above: the target's own flush makes w1 durable.
        let mut l = io(10, "WS", 8, 8);
        l.push((20, PROBE, "FWS", 0, 0, None));
        l.push((21, PROBE, "FWS", 0, 0, Some(0)));
        let ev = trace(&l);
        let log = [
            entry(0, 8, 8, 0),
            entry(1, 0, 0, FLAG_FLUSH | logformat::FLAG_TARGET),
            end(2),
        ];
        check(&ev, TOP, PROBE, &log, true).unwrap();
        // Logging w1 without the flush that made it durable is invisible
        // at the end mark only if the flush is missing from the log.
        let log = [entry(0, 8, 8, 0), end(1)];
        assert!(check(&ev, TOP, PROBE, &log, true).is_err());
    }

    #[test]
    fn a_fua_write_supersedes_an_earlier_unflushed_one() {
        // w1 plain at sector 8, then a FUA write over it, then a flush:
        // w1 becomes durable at the flush, logged with w2's data.
        let mut l = io(10, "WS", 8, 16);
        l.extend(io(20, "WFS", 8, 8));
        l.extend(io(30, "FWS", 0, 0));
        let ev = trace(&l);
        let log = [
            entry(0, 8, 8, FLAG_FUA),
            entry(1, 8, 16, 0),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        check(&ev, TOP, PROBE, &log, true).unwrap();
    }

    #[test]
    fn a_fua_write_supersedes_an_unflushed_one_of_the_same_range() {
        // w1 plain at sector 8, then a FUA write of the same range: the
        // FUA entry is w2's, although w1 completed first (a superblock
        // written plainly, then with FUA).
        let mut l = io(10, "WS", 8, 8);
        l.extend(io(20, "WFS", 8, 8));
        l.extend(io(30, "FWS", 0, 0));
        let ev = trace(&l);
        let log = [
            entry(0, 8, 8, FLAG_FUA),
            entry(1, 8, 8, 0),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        check(&ev, TOP, PROBE, &log, true).unwrap();
        // The plain write logged as the durable one before the FUA write
        // is still wrong.
        let log = [
            entry(0, 8, 8, 0),
            entry(1, 8, 8, FLAG_FUA),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        assert!(check(&ev, TOP, PROBE, &log, true).is_err());
    }

    #[test]
    fn a_plain_write_after_a_stripped_fua_one_of_its_range_waits_for_a_flush() {
        // While the cache is off (5 to 21), a FUA write of sector 8 reaches
        // the probe without FUA (stripped) and is durable at completion.
        // Later, with the cache on, a plain write of the same range waits
        // for the flush at 50, after a FUA write elsewhere (40) is logged:
        // it is not a stripped FUA write just because its range had one.
        let mut l = vec![
            (10, TOP, "WFS", 8, 8, None),
            (11, PROBE, "WS", 8, 8, None),
            (12, PROBE, "WS", 8, 8, Some(0)),
            (13, TOP, "WFS", 8, 8, Some(0)),
        ];
        l.extend(io(30, "WS", 8, 8));
        l.extend(io(40, "WFS", 100, 8));
        l.extend(io(50, "FWS", 0, 0));
        let mut ev = trace(&l);
        ev.extend([
            marker(5, "lwcache wt-begin"),
            marker(6, "lwcache wt-end"),
            marker(20, "lwcache wb-begin"),
            marker(21, "lwcache wb-end"),
        ]);
        ev.sort_by_key(|e| match e {
            Event::Bio { t, .. } | Event::Marker { t, .. } => *t,
        });
        let log = [
            entry(0, 8, 8, FLAG_FUA),
            entry(1, 100, 8, FLAG_FUA),
            entry(2, 8, 8, 0),
            entry(3, 0, 0, FLAG_FLUSH),
            end(4),
        ];
        check(&ev, TOP, PROBE, &log, true).unwrap();
    }

    #[test]
    fn a_fua_entry_is_not_a_plain_write_the_log_has_moved_past() {
        // w1 plain at sector 8 completes (12 on the probe, 13 above) while
        // the cache is being switched back on (11 to 15): it may have been
        // durable at completion. The target saw the cache on: w1 waits for
        // a flush. A mark (20, 21) moves the log past w1's completion. Then
        // a FUA write w2 of the same range completes (32, 33) and is
        // logged, then the flush (41 to 43) makes w1 durable. The FUA
        // entry is w2's: w1, had it been logged at completion, would have
        // come before the mark.
        let mut l = io(10, "WS", 8, 8);
        l.extend(io(30, "WFS", 8, 8));
        l.extend(io(40, "FWS", 0, 0));
        let mut ev = trace(&l);
        ev.extend([
            marker(5, "lwcache wt-begin"),
            marker(6, "lwcache wt-end"),
            marker(11, "lwcache wb-begin"),
            marker(15, "lwcache wb-end"),
            marker(20, "lwmark-begin m"),
            marker(21, "lwmark-end m"),
        ]);
        ev.sort_by_key(|e| match e {
            Event::Bio { t, .. } | Event::Marker { t, .. } => *t,
        });
        let mark = LogEntry {
            mark: b"m".to_vec(),
            ..entry(0, 0, 0, FLAG_MARK)
        };
        let log = [
            mark,
            entry(1, 8, 8, FLAG_FUA),
            entry(2, 8, 8, 0),
            entry(3, 0, 0, FLAG_FLUSH),
            end(4),
        ];
        check(&ev, TOP, PROBE, &log, true).unwrap();
    }

    fn marker(t: u64, text: &str) -> Event {
        Event::Marker {
            t,
            text: text.into(),
        }
    }

    #[test]
    fn writes_are_durable_at_completion_while_the_cache_is_off() {
        // The cache is off from 6 to 40. w1 completes; a mark is dropped;
        // the filesystem's flush is completed by the block layer without
        // reaching the probe.
        let mut l = io(10, "WS", 8, 8);
        l.push((30, TOP, "FWS", 0, 0, None));
        l.push((31, TOP, "FWS", 0, 0, Some(0)));
        let mut ev = trace(&l);
        ev.extend([
            marker(5, "lwcache wt-begin"),
            marker(6, "lwcache wt-end"),
            marker(20, "lwmark-begin m"),
            marker(21, "lwmark-end m"),
            marker(40, "lwcache wb-begin"),
            marker(41, "lwcache wb-end"),
        ]);
        ev.sort_by_key(|e| match e {
            Event::Bio { t, .. } | Event::Marker { t, .. } => *t,
        });
        let mut mark = entry(1, 0, 0, FLAG_MARK);
        mark.mark = b"m".to_vec();
        let good = [
            entry(0, 8, 8, FLAG_FUA),
            mark.clone(),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        check(&ev, TOP, PROBE, &good, true).unwrap();
        // Held for the flush as if the cache were on: the mark misses it.
        mark.index = 0;
        let bad = [mark, entry(1, 8, 8, 0), entry(2, 0, 0, FLAG_FLUSH), end(3)];
        let v = check(&ev, TOP, PROBE, &bad, true).unwrap_err();
        assert_eq!(v.entry, Some(0), "{v}");
        // Without the markers the write was never made durable.
        let plain: Vec<Event> = ev
            .iter()
            .filter(|e| !matches!(e, Event::Marker { text, .. } if text.starts_with("lwcache")))
            .cloned()
            .collect();
        assert!(check(&plain, TOP, PROBE, &good, true).is_err());
        // Markers naming this probe count; naming another device, not.
        let named = |dev: DevNo| -> Vec<Event> {
            ev.iter()
                .map(|e| match e {
                    Event::Marker { t, text } if text.starts_with("lwcache") => Event::Marker {
                        t: *t,
                        text: format!("{text} {}:{}", dev.0, dev.1),
                    },
                    e => e.clone(),
                })
                .collect()
        };
        check(&named(PROBE), TOP, PROBE, &good, true).unwrap();
        assert!(check(&named((253, 9)), TOP, PROBE, &good, true).is_err());
    }

    #[test]
    fn fua_writes_cut_back_earlier_discards() {
        // A discard of 16 sectors, a FUA write inside it, a flush: the
        // discard is logged in two pieces around the write.
        let mut l = io(10, "DS", 8, 16);
        l.extend(io(20, "WFS", 12, 4));
        l.extend(io(30, "FWS", 0, 0));
        let ev = trace(&l);
        let disc = FLAG_DISCARD;
        let log = [
            entry(0, 12, 4, FLAG_FUA),
            entry(1, 8, 4, disc),
            entry(2, 16, 8, disc),
            entry(3, 0, 0, FLAG_FLUSH),
            end(4),
        ];
        check(&ev, TOP, PROBE, &log, true).unwrap();
        // A piece from nowhere.
        let bad = [
            entry(0, 12, 4, FLAG_FUA),
            entry(1, 30, 4, disc),
            entry(2, 0, 0, FLAG_FLUSH),
            end(3),
        ];
        assert_eq!(
            check(&ev, TOP, PROBE, &bad, true).unwrap_err().entry,
            Some(1)
        );
        // Covered entirely, the discard is not logged at all.
        let mut l = io(10, "DS", 8, 8);
        l.extend(io(20, "WFS", 8, 8));
        l.extend(io(30, "FWS", 0, 0));
        let log = [entry(0, 8, 8, FLAG_FUA), entry(1, 0, 0, FLAG_FLUSH), end(2)];
        let r = check(&trace(&l), TOP, PROBE, &log, true).unwrap();
        assert_eq!(r.superseded, 1);
        // Without the FUA write covering it, a missing discard is a
        // violation.
        let mut l = io(10, "DS", 8, 8);
        l.extend(io(20, "WFS", 100, 8));
        l.extend(io(30, "FWS", 0, 0));
        let log = [
            entry(0, 100, 8, FLAG_FUA),
            entry(1, 0, 0, FLAG_FLUSH),
            end(2),
        ];
        assert!(check(&trace(&l), TOP, PROBE, &log, true).is_err());
    }

    #[test]
    fn logged_data_is_the_version_that_was_durable() {
        // w1 writes sectors 8..24 (hashes 1..=16), then a FUA write puts
        // 101..=104 on 12..16, then a flush.
        let mut l = io(10, "WS", 8, 16);
        l.extend(io(20, "WFS", 12, 4));
        l.extend(io(30, "FWS", 0, 0));
        let ev = trace(&l);
        let old: Vec<u64> = (1..=16).collect();
        let new: Vec<u64> = (101..=104).collect();
        let journal = || {
            let line = |off: u64, h: &[u64]| {
                let hs: Vec<String> = h.iter().map(|x| format!("{x:x}")).collect();
                format!("W {} {} {}\n", off * 512, h.len() * 512, hs.join(" "))
            };
            Journal::parse(&(line(8, &old) + &line(12, &new))).unwrap()
        };
        let with = |mut e: LogEntry, h: Vec<u64>| {
            e.hashes = h;
            e
        };
        let mut patched = old.clone();
        patched[4..8].copy_from_slice(&new);
        let log = |first: Vec<u64>| {
            [
                with(entry(0, 12, 4, FLAG_FUA), new.clone()),
                with(entry(1, 8, 16, 0), first),
                entry(2, 0, 0, FLAG_FLUSH),
                end(3),
            ]
        };
        let r = check_with_data(&ev, TOP, PROBE, &log(patched), true, journal()).unwrap();
        assert_eq!(r.data_checked, 2);
        // The older write logged as it was (C): its data at 12..16 was
        // replaced on the device before it became durable.
        let v = check_with_data(&ev, TOP, PROBE, &log(old.clone()), true, journal()).unwrap_err();
        assert_eq!(v.entry, Some(1), "{v}");
        assert!(v.why.contains("sector 12"), "{v}");
        // Data no write carried.
        let mut wrong = old.clone();
        wrong[0] = 7;
        let v = check_with_data(&ev, TOP, PROBE, &log(wrong), true, journal()).unwrap_err();
        assert!(v.why.contains("sector 8 "), "{v}");
        assert!(Journal::parse("W 512 1024 1").is_err());
    }
}
