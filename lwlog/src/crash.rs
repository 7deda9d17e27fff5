// SPDX-License-Identifier: GPL-2.0

//! `lwlog crash-states`: crash states beyond log prefixes.
//!
//! The log is cut into flush epochs: the entries after one FLUSH entry up
//! to and including the next. Everything before an epoch is durable. A
//! crash inside it can leave on disk the epoch's FUA writes up to some
//! point (they are durable once complete, in log order) and any subset of
//! its other writes and discards, which sat in a volatile cache, in any
//! order (as CrashMonkey does). Each state is materialised on the target
//! on top of the durable prefix, checked, then undone by writing back what
//! it overwrote, and the prefix advances epoch by epoch.
//!
//! With an atomic write unit (`--torn`), an epoch also gets torn states: a
//! device persists a request larger than its atomic write unit one unit at
//! a time, in any order (striping, a flash translation layer), so a crash
//! can leave any subset of its units written, each unit wholly old or
//! wholly new. The torn write is one that was not durable yet: one of the
//! epoch's volatile writes or discards, or the FUA write in flight (the
//! first one past the durable FUA prefix: a FUA write is durable only once
//! it completes). Writes already durable are never torn.

use crate::command::{Checker, Verdict};
use crate::error::{Error, Missing};
use crate::log::{Entry, Source};
use crate::replay::Replayer;
use crate::select::Selection;
use crate::undo::{self, Saved};
use logformat::{FLAG_FLUSH, FLAG_FUA};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::fs::File;
use std::ops::Range;

pub struct Options {
    /// States generated per epoch.
    pub per_epoch: u64,
    /// Stop after this many states in total.
    pub max_states: u64,
    pub seed: u64,
    /// Materialise only this state and leave it on the target.
    pub only: Option<u64>,
    /// Also generate torn states.
    pub torn: Option<TornOptions>,
}

#[derive(Debug, Clone, Copy)]
pub struct TornOptions {
    /// The device's atomic write unit in bytes: a multiple of the log's
    /// sector size.
    pub unit: u32,
    /// Torn states per epoch, generated after the epoch's `per_epoch`
    /// other states.
    pub per_epoch: u64,
}

pub enum Outcome {
    /// This many states were generated (and checked, with a checker).
    Done(u64),
    Failed {
        state: u64,
        why: String,
    },
}

/// One crash state: the epoch's entries applied, in this order.
#[derive(Debug)]
pub struct State<'e> {
    /// Index of the epoch among the selected entries' epochs.
    pub epoch: usize,
    /// The entries applied, in order; a torn entry is among them, at
    /// `torn.position`.
    pub applied: Vec<&'e Entry>,
    pub torn: Option<Torn>,
}

/// The entry of a state that was persisted only partly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// Where in `State::applied` the torn entry is.
    pub position: usize,
    /// Its atomic units.
    pub units: Units,
    /// The units written (the rest keep their old bytes), as ascending
    /// runs of unit numbers, neither empty nor all of them.
    pub written: Vec<Range<u64>>,
}

/// The device bytes an entry changes, cut into atomic units. Units are
/// aligned on the device at multiples of `unit` bytes, as a disk's physical
/// blocks are, so an unaligned entry's first and last units are only the
/// parts of those blocks it covers (each still all-or-nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units {
    /// Device bytes `start..end`.
    pub start: u64,
    pub end: u64,
    pub unit: u64,
}

impl Units {
    /// `e`'s units, or `None` when its bytes do not fit in a u64 (such a
    /// write fails on any target anyway) or `unit` is zero.
    pub fn of(e: &Entry, sector_size: u32, unit: u32) -> Option<Units> {
        let ss = u64::from(sector_size);
        let start = e.header.sector.checked_mul(ss)?;
        let end = start.checked_add(e.header.nr_sectors.checked_mul(ss)?)?;
        (unit > 0).then_some(Units {
            start,
            end,
            unit: u64::from(unit),
        })
    }

    /// How many units there are.
    pub fn count(&self) -> u64 {
        if self.end <= self.start {
            return 0;
        }
        (self.end - 1) / self.unit - self.start / self.unit + 1
    }

    /// Device bytes of units `units` (a range of unit numbers).
    pub fn bytes(&self, units: Range<u64>) -> Range<u64> {
        let first = self.start / self.unit;
        let at = |u: u64| first.saturating_add(u).saturating_mul(self.unit);
        at(units.start).max(self.start)..at(units.end).min(self.end)
    }
}

/// What is done with each materialised state: the user's check command,
/// or a test looking at the bytes.
pub trait Inspect {
    /// Looks at state number `n` on `target` (synced).
    fn inspect(&mut self, target: &File, n: u64, state: &State<'_>) -> Result<Verdict, Error>;
}

impl Inspect for Checker {
    fn inspect(&mut self, target: &File, n: u64, _: &State<'_>) -> Result<Verdict, Error> {
        let env = [("LWLOG_STATE", n.to_string())];
        self.run(target, &env).map_err(Error::RunCheck)
    }
}

/// Torn states draw from their own random stream, so that adding them
/// leaves the other states as they were for the same seed.
const TORN_STREAM: u64 = 0x746f_726e_2075_6e69;

pub fn run<S: Source, I: Inspect + ?Sized>(
    r: &mut Replayer<'_, S>,
    sel: &Selection,
    entries: &[Entry],
    o: &Options,
    mut inspect: Option<&mut I>,
) -> Result<Outcome, Error> {
    let ss = r.log.sector_size();
    if let Some(t) = o.torn {
        if t.unit == 0 || t.unit % ss != 0 {
            return Err(Error::TornUnit {
                unit: t.unit,
                sector_size: ss,
            });
        }
    }
    let epochs = split_epochs(entries);
    let mut rng = StateRng::new(o.seed);
    let mut torn_rng = StateRng::new(o.seed ^ TORN_STREAM);
    let mut n = 0u64;
    for (k, epoch) in epochs.iter().enumerate() {
        let data: Vec<&Entry> = epoch.iter().filter(|e| sel.touches(e)).collect();
        let tearable = match o.torn {
            Some(t) => tearable(&data, ss, t.unit, r.target.replays_discards()),
            None => Vec::new(),
        };
        let plain = if data.is_empty() { 0 } else { o.per_epoch };
        let torn = match o.torn {
            Some(t) if !tearable.is_empty() => t.per_epoch,
            _ => 0,
        };
        for i in 0..plain.saturating_add(torn) {
            if n >= o.max_states {
                break;
            }
            let state = if i < plain {
                State {
                    epoch: k,
                    applied: pick(&data, &mut rng),
                    torn: None,
                }
            } else {
                pick_torn(k, &data, &tearable, &mut torn_rng)
            };
            if o.only.is_none_or(|only| only == n) {
                let mut saved = apply_state(r, &state)?;
                println!("{}", describe(n, &state, epoch, ss));
                if o.only.is_some() {
                    return Ok(Outcome::Done(1));
                }
                let verdict = match inspect.as_deref_mut() {
                    Some(c) => c.inspect(r.target.file(), n, &state)?,
                    None => Verdict::Passed,
                };
                undo::restore(r, &mut saved)?;
                if let Verdict::Failed(why) = verdict {
                    return Ok(Outcome::Failed { state: n, why });
                }
            }
            n += 1;
        }
        // The whole epoch, flush included, becomes the durable prefix.
        for e in epoch.iter() {
            r.apply(e, sel.touches(e))?;
        }
    }
    if let Some(state) = o.only {
        return Err(Missing::State { state, states: n }.into());
    }
    r.sync()?;
    Ok(Outcome::Done(n))
}

/// Epochs: runs of entries each ending with a FLUSH entry (the last one may
/// not).
fn split_epochs(entries: &[Entry]) -> Vec<&[Entry]> {
    entries
        .split_inclusive(|e| e.has(FLAG_FLUSH))
        .filter(|s| !s.is_empty())
        .collect()
}

/// A prefix of the FUA writes plus a random subset of the rest, shuffled
/// while FUA writes keep their order.
fn pick<'e>(data: &[&'e Entry], rng: &mut StateRng) -> Vec<&'e Entry> {
    let fua: Vec<&Entry> = data.iter().copied().filter(|e| e.has(FLAG_FUA)).collect();
    let keep_fua = rng.below(fua.len() as u64 + 1) as usize;
    order(data, &fua[..keep_fua], None, rng).0
}

/// A random subset of the volatile writes of `data` (all but `left_out`),
/// shuffled, with the durable FUA writes inserted at random positions in
/// their own order; and the position just past the last FUA write.
fn order<'e>(
    data: &[&'e Entry],
    durable_fua: &[&'e Entry],
    left_out: Option<u64>,
    rng: &mut StateRng,
) -> (Vec<&'e Entry>, usize) {
    let mut chosen: Vec<&Entry> = data
        .iter()
        .copied()
        .filter(|e| !e.has(FLAG_FUA) && Some(e.index) != left_out && rng.below(2) == 1)
        .collect();
    // Fisher-Yates over the volatile writes, then FUA writes inserted at
    // random positions in their own order.
    for i in (1..chosen.len()).rev() {
        chosen.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut min_pos = 0;
    for f in durable_fua {
        let pos = min_pos + rng.below((chosen.len() - min_pos) as u64 + 1) as usize;
        chosen.insert(pos, f);
        min_pos = pos + 1;
    }
    (chosen, min_pos)
}

/// The entries of `data` that can be torn: those of more than one unit
/// (discards only when they are replayed: a torn ignored discard would be
/// a state without it, under a misleading description).
fn tearable<'e>(
    data: &[&'e Entry],
    sector_size: u32,
    unit: u32,
    discards: bool,
) -> Vec<(&'e Entry, Units)> {
    data.iter()
        .filter(|e| discards || !e.header.is_discard())
        .filter_map(|e| Some((*e, Units::of(e, sector_size, unit)?)))
        .filter(|(_, u)| u.count() > 1)
        .collect()
}

/// A torn state: one entry of `tearable` persisted partly, on top of a
/// state picked as `pick` does. A torn FUA write is the one in flight:
/// the FUA writes before it are durable, those after it not issued yet.
fn pick_torn<'e>(
    epoch: usize,
    data: &[&'e Entry],
    tearable: &[(&'e Entry, Units)],
    rng: &mut StateRng,
) -> State<'e> {
    let (torn, units) = tearable[rng.below(tearable.len() as u64) as usize];
    let fua: Vec<&Entry> = data.iter().copied().filter(|e| e.has(FLAG_FUA)).collect();
    let keep_fua = if torn.has(FLAG_FUA) {
        fua.iter()
            .position(|f| f.index == torn.index)
            .unwrap_or(fua.len())
    } else {
        rng.below(fua.len() as u64 + 1) as usize
    };
    let (mut applied, after_fua) = order(data, &fua[..keep_fua], Some(torn.index), rng);
    // A FUA write is issued after the FUA writes before it completed; a
    // volatile one may have reached the media before or after anything.
    let from = if torn.has(FLAG_FUA) { after_fua } else { 0 };
    let position = from + rng.below((applied.len() - from) as u64 + 1) as usize;
    applied.insert(position, torn);
    State {
        epoch,
        applied,
        torn: Some(Torn {
            position,
            units,
            written: written_units(units.count(), rng),
        }),
    }
}

/// Most cuts between written and unwritten runs of units in one torn
/// write: every subset of up to this many plus one units can come up, and
/// a subset stays short to print.
const MAX_CUTS: u64 = 15;

/// A random subset of `count` (at least 2) units, neither empty nor all of
/// them (those are the states without the write and with all of it): 1 to
/// MAX_CUTS cut points split the units into runs, alternately written and
/// not, starting either way. One cut gives a written prefix or suffix,
/// what a device writing in order leaves.
fn written_units(count: u64, rng: &mut StateRng) -> Vec<Range<u64>> {
    let candidates = count.saturating_sub(1);
    if candidates == 0 {
        return Vec::new();
    }
    let cuts_wanted = 1 + rng.below(candidates.min(MAX_CUTS));
    // Floyd's sampling of distinct cut points in 1..count.
    let mut cuts: Vec<u64> = Vec::new();
    for j in candidates - cuts_wanted + 1..=candidates {
        let t = 1 + rng.below(j);
        cuts.push(if cuts.contains(&t) { j } else { t });
    }
    cuts.sort_unstable();
    cuts.push(count);
    let mut written = rng.below(2) == 1;
    let mut from = 0;
    let mut runs = Vec::new();
    for cut in cuts {
        if written {
            runs.push(from..cut);
        }
        written = !written;
        from = cut;
    }
    runs
}

/// Applies the state's entries (the torn one only in part), saving what
/// they overwrite so that `undo::restore` can take the state back.
fn apply_state<S: Source>(r: &mut Replayer<'_, S>, s: &State<'_>) -> Result<Saved, Error> {
    let mut saved = Saved::default();
    for (i, e) in s.applied.iter().enumerate() {
        match s.torn.as_ref().filter(|t| t.position == i) {
            None => undo::apply_saving(r, &mut saved, e, true)?,
            Some(t) => {
                for run in &t.written {
                    let bytes = t.units.bytes(run.clone());
                    undo::save_range(r, &mut saved, bytes.start, bytes.end)?;
                    r.apply_part(e, bytes)?;
                }
            }
        }
    }
    r.sync()?;
    Ok(saved)
}

fn describe(n: u64, s: &State<'_>, epoch: &[Entry], sector_size: u32) -> String {
    let first = epoch.first().map_or(0, |e| e.index);
    let last = epoch.last().map_or(0, |e| e.index);
    let order: Vec<String> = s
        .applied
        .iter()
        .enumerate()
        .map(|(i, e)| match &s.torn {
            Some(t) if t.position == i => format!("{}(torn)", e.index),
            _ => e.index.to_string(),
        })
        .collect();
    let mut line = format!(
        "state {n}: epoch {} (entries {first}..={last}), entries before {first} durable, applied [{}]",
        s.epoch,
        order.join(",")
    );
    if let Some(t) = &s.torn {
        if let Some(e) = s.applied.get(t.position) {
            line.push_str(&describe_torn(t, e, sector_size));
        }
    }
    line
}

/// Which units of the torn entry were written, by number and as device
/// sectors, so that a failing state can be explained.
fn describe_torn(t: &Torn, e: &Entry, sector_size: u32) -> String {
    let ss = u64::from(sector_size);
    let sectors = |b: Range<u64>| {
        let (first, last) = (b.start / ss, (b.end / ss).saturating_sub(1));
        if first == last {
            first.to_string()
        } else {
            format!("{first}..={last}")
        }
    };
    let units: Vec<String> = t
        .written
        .iter()
        .map(|r| match r.end - r.start {
            1 => r.start.to_string(),
            _ => format!("{}-{}", r.start, r.end - 1),
        })
        .collect();
    let written: Vec<String> = t
        .written
        .iter()
        .map(|r| sectors(t.units.bytes(r.clone())))
        .collect();
    let one = t.written.iter().map(|r| r.end - r.start).sum::<u64>() == 1;
    format!(
        "; torn: entry {} ({}, sectors {}, {} units of {} bytes) {} only unit{} {} (sector{} {}), \
         the other units old",
        e.index,
        e.flag_names(),
        sectors(t.units.start..t.units.end),
        t.units.count(),
        t.units.unit,
        if e.header.is_discard() {
            "discarded"
        } else {
            "wrote"
        },
        if one { "" } else { "s" },
        units.join(","),
        if written.len() == 1 && !written[0].contains("..") {
            ""
        } else {
            "s"
        },
        written.join(",")
    )
}

/// The seeded generator of the states: PCG64, a named generator whose
/// output rand keeps stable across versions, so that a seed names the same
/// states on every build.
pub(crate) struct StateRng(Pcg64);

impl StateRng {
    pub(crate) fn new(seed: u64) -> StateRng {
        StateRng(Pcg64::seed_from_u64(seed))
    }

    /// A value in `0..n`; 0 when `n` is 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.0.random_range(0..n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logformat::EntryHeader;

    fn entry(sector: u64, nr_sectors: u64) -> Entry {
        Entry {
            index: 0,
            offset: 0,
            header: EntryHeader {
                sector,
                nr_sectors,
                flags: 0,
                data_len: 0,
            },
            mark: Vec::new(),
            group: None,
        }
    }

    #[test]
    fn units_are_aligned_on_the_device() {
        // Sectors 3..=17 of 512 bytes in 4 KiB units: 3..=7, 8..=15, 16..=17.
        let u = Units::of(&entry(3, 15), 512, 4096).unwrap();
        assert_eq!(u.count(), 3);
        assert_eq!(u.bytes(0..1), 3 * 512..8 * 512);
        assert_eq!(u.bytes(1..2), 8 * 512..16 * 512);
        assert_eq!(u.bytes(2..3), 16 * 512..18 * 512);
        assert_eq!(u.bytes(0..3), 3 * 512..18 * 512);
        // Within one unit: nothing to tear.
        assert_eq!(Units::of(&entry(8, 8), 512, 4096).unwrap().count(), 1);
        assert_eq!(Units::of(&entry(9, 2), 512, 4096).unwrap().count(), 1);
        assert_eq!(Units::of(&entry(7, 2), 512, 4096).unwrap().count(), 2);
        // Bytes past a u64: not tearable, and no overflow.
        assert_eq!(Units::of(&entry(u64::MAX / 2, 4), 512, 512), None);
        let edge = Units::of(&entry((u64::MAX >> 9) - 2, 2), 512, 65536).unwrap();
        assert_eq!(edge.bytes(0..edge.count()), edge.start..edge.end);
    }

    /// The units `written_units` leaves written, as a bit set.
    fn bits(runs: &[Range<u64>]) -> u64 {
        runs.iter()
            .flat_map(|r| r.clone())
            .fold(0, |b, u| b | 1 << u)
    }

    #[test]
    fn written_units_reach_every_proper_subset_and_nothing_else() {
        for count in 2..=6u64 {
            let all = (1u64 << count) - 1;
            let mut seen = std::collections::HashSet::new();
            let mut rng = StateRng::new(count);
            for _ in 0..20_000 {
                let runs = written_units(count, &mut rng);
                for w in runs.windows(2) {
                    assert!(w[0].end < w[1].start, "runs {runs:?} overlap or touch");
                }
                assert!(runs.iter().all(|r| r.start < r.end && r.end <= count));
                let b = bits(&runs);
                assert!(b != 0 && b != all, "{count} units: {runs:?}");
                seen.insert(b);
            }
            assert_eq!(seen.len() as u64, all - 1, "{count} units");
        }
        // Many units: bounded runs, still proper.
        let mut rng = StateRng::new(9);
        for _ in 0..1000 {
            let runs = written_units(1 << 40, &mut rng);
            assert!(!runs.is_empty() && runs.len() as u64 <= MAX_CUTS.div_ceil(2) + 1);
            assert!(runs.iter().all(|r| r.start < r.end && r.end <= 1 << 40));
            let written: u64 = runs.iter().map(|r| r.end - r.start).sum();
            assert!(written > 0 && written < 1 << 40);
        }
    }
}
