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

    /// An upper bound on when a bio of these that was in flight at `x`
    /// completed: with `n` in flight, it is one of the next `n`
    /// completions.
    fn in_flight_done_by(&self, x: u64) -> u64 {
        let before = |v: &Vec<u64>| v.partition_point(|&t| t < x);
        let n = before(&self.queued).saturating_sub(before(&self.ok) + before(&self.failed));
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
/// successful flush completions on the probe; and when the filesystem
/// submitted its flushes (top queue events, sorted).
struct Model {
    writes: Vec<Write>,
    flush_done: Vec<u64>,
    top_flush_queued: Vec<u64>,
}

/// Builds the model of the record.
fn model(events: &[Event], top: DevNo, probe: DevNo) -> Model {
    let mut top_writes: HashMap<Key, Times> = HashMap::new();
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
    let writes = probe_writes
        .into_iter()
        .map(|(discard, sector, nr, fua, c)| {
            let c_top = top_writes
                .get(&(discard, sector, nr))
                .map_or(NEVER, |t| t.in_flight_done_by(c));
            let (d_min, d_max) = if fua {
                (c, c_top)
            } else {
                (
                    probe_flushes.earliest_done_after(c),
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
            }
        })
        .collect();
    Model {
        writes,
        flush_done: probe_flushes.ok,
        top_flush_queued: top_flushes.queued,
    }
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
    use logformat::{FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK};
    let Model {
        writes,
        flush_done,
        top_flush_queued,
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
    let mut logged: Vec<(u64, usize)> = Vec::new();
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
    for e in log {
        let is_mark = e.flags & FLAG_MARK != 0;
        let is_flush = e.flags & FLAG_FLUSH != 0 && e.nr == 0;
        let mut window = None;
        if !is_mark && e.nr > 0 {
            let key = (e.flags & FLAG_DISCARD != 0, e.sector, e.nr);
            let Some(i) = by_key.get_mut(&key).and_then(|q| q.pop_front()) else {
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
            // completed first.
            for &(j, k) in &logged {
                let a = &writes[k];
                if a.sector < w.sector + w.nr && w.sector < a.sector + a.nr && w.c_top < a.c_probe {
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
            logged.push((e.index, i));
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
            window = Some(
                windows
                    .get_mut(&e.mark)
                    .and_then(|q| q.pop_front())
                    .unwrap_or((0, NEVER)),
            );
        }
        let Some((w_lo, w_hi)) = window else {
            continue;
        };
        let mut t = lo.max(t_prev).max(w_lo);
        if is_flush {
            // The moment of a flush entry is a flush's completion.
            match flush_done.get(flush_done.partition_point(|&c| c < t)) {
                Some(&c) => t = c,
                None => {
                    return Err(fail(
                        e,
                        "a flush entry, but no flush completed on the data device after the writes before it became durable".into(),
                    ))
                }
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
                        "{} was durable (at {d_max}) before this point (at {t}) but is not logged before it",
                        describe(&writes[i])
                    ),
                ));
            }
        }
        t_prev = t;
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
        if report.flushes != flush_done.len() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use logformat::{FLAG_FLUSH, FLAG_FUA, FLAG_MARK};

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
        }
    }

    fn end(index: u64) -> LogEntry {
        LogEntry {
            index,
            sector: 0,
            nr: 0,
            flags: FLAG_MARK,
            mark: b"dm-log-writes-end".to_vec(),
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
}
