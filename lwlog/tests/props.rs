// SPDX-License-Identifier: GPL-2.0

//! Property tests: random logs round-trip through the reader, replays
//! equal a simple in-memory model, corrupted logs are reported, never a
//! panic, and every crash state (torn ones included) is one the device
//! model allows.

use logformat::{EntryHeader, Super, FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK};
use lwlog::command::Verdict;
use lwlog::crash::{self, Inspect, Options, State, TornOptions};
use lwlog::error::Error;
use lwlog::log::{Log, LogError};
use lwlog::replay::{Replayer, Target};
use lwlog::select::{Selection, Start, Stop};
use proptest::prelude::*;
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// One generated entry: header fields and, for writes, data.
#[derive(Debug, Clone)]
struct Gen {
    sector: u64,
    nr: u64,
    flags: u64,
    mark: Vec<u8>,
    fill: u8,
}

const DEV_SECTORS: u64 = 64;

fn entry() -> impl Strategy<Value = Gen> {
    prop_oneof![
        // Writes, some with FUA/FLUSH/META.
        (
            0..DEV_SECTORS - 8,
            1..8u64,
            prop::sample::select(vec![0, FLAG_FUA, FLAG_FLUSH, 1 << 4]),
            any::<u8>()
        )
            .prop_map(|(sector, nr, flags, fill)| Gen {
                sector,
                nr,
                flags,
                mark: vec![],
                fill
            }),
        (0..DEV_SECTORS - 8, 1..8u64).prop_map(|(sector, nr)| Gen {
            sector,
            nr,
            flags: FLAG_DISCARD,
            mark: vec![],
            fill: 0
        }),
        Just(Gen {
            sector: 0,
            nr: 0,
            flags: FLAG_FLUSH,
            mark: vec![],
            fill: 0
        }),
        prop::collection::vec(1u8..=255, 0..40).prop_map(|mark| Gen {
            sector: 0,
            nr: 0,
            flags: FLAG_MARK,
            mark,
            fill: 0
        }),
    ]
}

fn header(g: &Gen) -> EntryHeader {
    EntryHeader {
        sector: g.sector,
        nr_sectors: g.nr,
        flags: g.flags,
        data_len: g.mark.len() as u64,
    }
}

/// The log bytes for `gens`, as the target writes them.
fn build(ss: usize, gens: &[Gen]) -> Vec<u8> {
    let mut log = vec![0u8; ss];
    Super {
        nr_entries: gens.len() as u64,
        sector_size: ss as u32,
    }
    .encode(&mut log)
    .unwrap();
    for g in gens {
        let mut sector = vec![0u8; ss];
        header(g).encode(&g.mark, &mut sector).unwrap();
        log.extend_from_slice(&sector);
        if g.flags & (FLAG_DISCARD | FLAG_MARK) == 0 {
            log.extend(std::iter::repeat_n(g.fill, g.nr as usize * ss));
        }
    }
    log
}

/// What replaying `gens` does to a zeroed device (discards as zeroes).
fn model(ss: usize, gens: &[Gen]) -> Vec<u8> {
    let mut dev = vec![0u8; DEV_SECTORS as usize * ss];
    for g in gens {
        let r = g.sector as usize * ss..(g.sector + g.nr) as usize * ss;
        if g.flags & FLAG_DISCARD != 0 {
            dev[r].fill(0);
        } else if g.flags & FLAG_MARK == 0 {
            dev[r].fill(g.fill);
        }
    }
    dev
}

fn scratch_file(ss: usize) -> (std::path::PathBuf, Target) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let p = std::env::temp_dir().join(format!(
        "lwlog-prop-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&p, vec![0u8; DEV_SECTORS as usize * ss]).unwrap();
    let t = Target::open(&p, true).unwrap();
    (p, t)
}

fn replay(ss: usize, log: &Log<Vec<u8>>, sel: &Selection) -> Vec<u8> {
    let entries = sel.resolve(log).unwrap();
    let (p, t) = scratch_file(ss);
    let mut r = Replayer::new(log, t, lwlog::progress::Progress::new(0));
    for e in &entries {
        r.apply(e, sel.touches(e)).unwrap();
    }
    r.sync().unwrap();
    let out = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    out
}

/// `replay` as `lwlog replay` does it without a stop point: the log read
/// once, from a file, through `LogStream`.
fn replay_streaming(ss: usize, bytes: &[u8], sel: &Selection) -> Vec<u8> {
    use lwlog::log::StreamEntries;
    use lwlog::stream::LogStream;
    let (logp, _) = scratch_file(ss);
    std::fs::write(&logp, bytes).unwrap();
    let log = Log::open(&logp).unwrap();
    let stream = std::cell::RefCell::new(LogStream::open(&logp, ss as u64, log.size()).unwrap());
    let (p, t) = scratch_file(ss);
    let mut r = Replayer::streaming(&log, &stream, t, lwlog::progress::Progress::new(0));
    sel.walk_from(
        &log,
        StreamEntries::new(&log, &stream),
        |e| -> Result<(), lwlog::error::Error> { r.apply(&e, sel.touches(&e)) },
    )
    .unwrap();
    r.sync().unwrap();
    let out = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    std::fs::remove_file(&logp).unwrap();
    out
}

fn sector_size() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![512usize, 4096])
}

/// A crash state as `crash::run` materialised it: what it applied (entry
/// indices) and the device's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    n: u64,
    epoch: usize,
    applied: Vec<u64>,
    torn: Option<crash::Torn>,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Collect(Vec<Seen>);

impl Inspect for Collect {
    fn inspect(
        &mut self,
        target: &std::fs::File,
        n: u64,
        state: &State<'_>,
    ) -> Result<Verdict, Error> {
        let mut bytes = vec![0u8; lwlog::log::size_of(target).unwrap() as usize];
        target.read_exact_at(&mut bytes, 0).unwrap();
        self.0.push(Seen {
            n,
            epoch: state.epoch,
            applied: state.applied.iter().map(|e| e.index).collect(),
            torn: state.torn.clone(),
            bytes,
        });
        Ok(Verdict::Passed)
    }
}

/// Runs crash-states over `log` onto a zeroed device: the states seen, or
/// with `o.only` the device left behind.
fn crash_states(ss: usize, log: &Log<Vec<u8>>, o: &Options) -> Result<(Vec<Seen>, Vec<u8>), Error> {
    let sel = Selection::default();
    let entries = sel.resolve(log).unwrap();
    let (p, t) = scratch_file(ss);
    let mut r = Replayer::new(log, t, lwlog::progress::Progress::new(0));
    let mut seen = Collect::default();
    let outcome = crash::run(&mut r, &sel, &entries, o, Some(&mut seen));
    let device = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    outcome.map(|_| (seen.0, device))
}

/// Entries `gens` with distinct non-zero fills, so that every byte of a
/// crash state tells which write (or the durable prefix) put it there.
fn distinct_fills(mut gens: Vec<Gen>) -> Vec<Gen> {
    for (i, g) in gens.iter_mut().enumerate() {
        g.fill = i as u8 + 1;
    }
    gens
}

fn changes_device(g: &Gen) -> bool {
    g.nr > 0 && g.flags & FLAG_MARK == 0
}

/// What `g` puts in each byte it changes.
fn value(g: &Gen) -> u8 {
    if g.flags & FLAG_DISCARD != 0 {
        0
    } else {
        g.fill
    }
}

/// The model's flush epochs: index ranges of `gens`, each up to and
/// including a FLUSH entry (the last one may not end with one).
fn epochs(gens: &[Gen]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    for (i, g) in gens.iter().enumerate() {
        if g.flags & FLAG_FLUSH != 0 {
            out.push(from..i + 1);
            from = i + 1;
        }
    }
    if from < gens.len() {
        out.push(from..gens.len());
    }
    out
}

/// The device byte ranges of `g`'s atomic units: cut at multiples of
/// `unit` on the device.
fn unit_ranges(ss: usize, unit: usize, g: &Gen) -> Vec<Range<usize>> {
    let (start, end) = (g.sector as usize * ss, (g.sector + g.nr) as usize * ss);
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let next = ((at / unit + 1) * unit).min(end);
        out.push(at..next);
        at = next;
    }
    out
}

fn byte_range(ss: usize, g: &Gen) -> Range<usize> {
    g.sector as usize * ss..(g.sector + g.nr) as usize * ss
}

/// Checks one crash state against the device model; `Err` says what is
/// wrong.
fn check_state(ss: usize, unit: usize, gens: &[Gen], s: &Seen) -> Result<(), String> {
    let epoch = epochs(gens)
        .get(s.epoch)
        .cloned()
        .ok_or(format!("state {}: no epoch {}", s.n, s.epoch))?;
    let durable = model(ss, &gens[..epoch.start]);
    let in_epoch: Vec<usize> = epoch
        .clone()
        .filter(|&i| changes_device(&gens[i]))
        .collect();
    let fua: Vec<usize> = in_epoch
        .iter()
        .copied()
        .filter(|&i| gens[i].flags & FLAG_FUA != 0)
        .collect();
    let applied: Vec<usize> = s.applied.iter().map(|&i| i as usize).collect();
    let torn_at = s.torn.as_ref().map(|t| t.position);
    let mut sorted = applied.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != applied.len() || applied.iter().any(|i| !in_epoch.contains(i)) {
        return Err(format!(
            "state {}: applied {applied:?} is not a set of epoch {epoch:?}'s writes",
            s.n
        ));
    }
    // Whole FUA writes: a prefix of the epoch's, in log order.
    let whole_fua: Vec<usize> = applied
        .iter()
        .enumerate()
        .filter(|&(p, &i)| Some(p) != torn_at && fua.contains(&i))
        .map(|(_, &i)| i)
        .collect();
    if fua[..whole_fua.len().min(fua.len())] != whole_fua[..] {
        return Err(format!(
            "state {}: FUA writes {whole_fua:?} are not a prefix of {fua:?}",
            s.n
        ));
    }
    let mut expected = durable.clone();
    for (p, &i) in applied.iter().enumerate() {
        let g = &gens[i];
        match &s.torn {
            Some(t) if t.position == p => {
                let units = unit_ranges(ss, unit, g);
                if units.len() < 2 || t.units.count() != units.len() as u64 {
                    return Err(format!("state {}: entry {i} torn in {:?}", s.n, t.units));
                }
                if g.flags & FLAG_FUA != 0 {
                    // Only the FUA write in flight can be torn, after the
                    // durable ones.
                    if fua.get(whole_fua.len()) != Some(&i) {
                        return Err(format!(
                            "state {}: FUA entry {i} torn but not in flight",
                            s.n
                        ));
                    }
                    let last_fua = applied[..p].iter().filter(|j| fua.contains(j)).count();
                    if last_fua != whole_fua.len() {
                        return Err(format!("state {}: torn FUA {i} before a durable FUA", s.n));
                    }
                }
                let mut written = vec![false; units.len()];
                for r in &t.written {
                    for u in r.clone() {
                        *written.get_mut(u as usize).ok_or("unit out of range")? = true;
                    }
                }
                if written.iter().all(|&w| w) || !written.iter().any(|&w| w) {
                    return Err(format!("state {}: torn write units {written:?}", s.n));
                }
                // Per unit, all old or all new: never mixed.
                let later: Vec<&Gen> = applied[p + 1..].iter().map(|&j| &gens[j]).collect();
                for (u, r) in units.iter().enumerate() {
                    let mut kinds = std::collections::HashSet::new();
                    for sector in r.clone().step_by(ss) {
                        if later.iter().any(|h| byte_range(ss, h).contains(&sector)) {
                            continue;
                        }
                        let got = &s.bytes[sector..sector + ss];
                        let old = &expected[sector..sector + ss];
                        if got.iter().all(|&b| b == value(g)) && got != old {
                            kinds.insert("new");
                        } else if got == old && old.iter().any(|&b| b != value(g)) {
                            kinds.insert("old");
                        } else if got != old && got.iter().any(|&b| b != value(g)) {
                            return Err(format!("state {}: unit {u} of {i}: foreign bytes", s.n));
                        }
                    }
                    let forbidden = if written[u] { "old" } else { "new" };
                    if kinds.len() > 1 || kinds.contains(forbidden) {
                        return Err(format!(
                            "state {}: unit {u} of entry {i} is {kinds:?}, written {}",
                            s.n, written[u]
                        ));
                    }
                    if written[u] {
                        expected[r.clone()].fill(value(g));
                    }
                }
            }
            _ => expected[byte_range(ss, g)].fill(value(g)),
        }
    }
    // Every sector: durable, or what a write of the epoch put there.
    for sector in (0..s.bytes.len()).step_by(ss) {
        let got = &s.bytes[sector..sector + ss];
        let allowed = got == &durable[sector..sector + ss]
            || in_epoch.iter().any(|&i| {
                byte_range(ss, &gens[i]).contains(&sector)
                    && got.iter().all(|&b| b == value(&gens[i]))
            });
        if !allowed {
            return Err(format!(
                "state {}: sector {} holds what no write put there",
                s.n,
                sector / ss
            ));
        }
        // Nothing the state did not apply changed.
        let touched = applied
            .iter()
            .any(|&i| byte_range(ss, &gens[i]).contains(&sector));
        if !touched && got != &durable[sector..sector + ss] {
            return Err(format!(
                "state {}: durable sector {} changed",
                s.n,
                sector / ss
            ));
        }
    }
    if s.bytes != expected {
        return Err(format!(
            "state {}: bytes differ from the model of {applied:?}",
            s.n
        ));
    }
    Ok(())
}

/// Sector size and atomic write unit, the unit a multiple of the sector.
fn sector_and_unit() -> impl Strategy<Value = (usize, usize)> {
    prop::sample::select(vec![(512usize, 512usize), (512, 4096), (4096, 4096)])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_logs_round_trip(ss in sector_size(), gens in prop::collection::vec(entry(), 0..30)) {
        let log = Log::from_source(build(ss, &gens)).unwrap();
        let got: Vec<_> = log.entries().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(got.len(), gens.len());
        for (e, g) in got.iter().zip(&gens) {
            prop_assert_eq!(e.header, header(g));
            prop_assert_eq!(&e.mark, &g.mark);
        }
        let report = lwlog::verify::verify(&log).unwrap();
        prop_assert_eq!(report.entries, gens.len() as u64);
        prop_assert_eq!(report.used, log.size());
    }

    #[test]
    fn full_replay_equals_model(ss in sector_size(), gens in prop::collection::vec(entry(), 0..30)) {
        let log = Log::from_source(build(ss, &gens)).unwrap();
        prop_assert_eq!(replay(ss, &log, &Selection::default()), model(ss, &gens));
    }

    #[test]
    fn limit_and_start_entry_cut_like_the_model(
        ss in sector_size(),
        gens in prop::collection::vec(entry(), 1..30),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let log = Log::from_source(build(ss, &gens)).unwrap();
        let start = a.index(gens.len());
        let n = b.index(gens.len() - start) + 1;
        let sel = Selection { start: Start::Entry(start as u64), stop: Stop::Limit(n as u64), sectors: None };
        prop_assert_eq!(replay(ss, &log, &sel), model(ss, &gens[start..start + n]));
    }

    #[test]
    fn streaming_replay_equals_model(
        ss in sector_size(),
        gens in prop::collection::vec(entry(), 1..30),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let bytes = build(ss, &gens);
        prop_assert_eq!(replay_streaming(ss, &bytes, &Selection::default()), model(ss, &gens));
        let start = a.index(gens.len());
        let n = b.index(gens.len() - start) + 1;
        let sel = Selection { start: Start::Entry(start as u64), stop: Stop::Limit(n as u64), sectors: None };
        prop_assert_eq!(replay_streaming(ss, &bytes, &sel), model(ss, &gens[start..start + n]));
    }

    #[test]
    fn end_mark_stops_after_the_first_matching_mark(ss in sector_size(), gens in prop::collection::vec(entry(), 1..30)) {
        let log = Log::from_source(build(ss, &gens)).unwrap();
        match gens.iter().position(|g| g.flags == FLAG_MARK) {
            Some(i) => {
                let sel = Selection { stop: Stop::Mark(gens[i].mark.clone()), ..Default::default() };
                let first = gens.iter().position(|g| g.flags == FLAG_MARK && g.mark == gens[i].mark).unwrap();
                prop_assert_eq!(replay(ss, &log, &sel), model(ss, &gens[..=first]));
            }
            None => {
                let sel = Selection { stop: Stop::Mark(b"absent".to_vec()), ..Default::default() };
                prop_assert!(sel.resolve(&log).is_err());
            }
        }
    }

    #[test]
    fn corruption_is_reported_never_a_panic(
        ss in sector_size(),
        gens in prop::collection::vec(entry(), 1..20),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = build(ss, &gens);
        for (at, x) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(log) = Log::from_source(bytes) {
            let _ = lwlog::verify::verify(&log);
            let _ = log.scan().count();
            let _ = Selection::default().resolve(&log);
        }
    }

    #[test]
    fn nonzero_padding_names_the_entry(ss in sector_size(), gens in prop::collection::vec(entry(), 1..20), pick in any::<prop::sample::Index>()) {
        let mut bytes = build(ss, &gens);
        let log = Log::from_source(bytes.clone()).unwrap();
        let entries: Vec<_> = log.entries().collect::<Result<_, _>>().unwrap();
        let victim = &entries[pick.index(entries.len())];
        // The last byte of the header sector is padding for every entry.
        let at = victim.offset as usize + ss - 1;
        bytes[at] = 0x5a;
        let log = Log::from_source(bytes).unwrap();
        match lwlog::verify::verify(&log) {
            Err(LogError::Entry { index, offset, .. }) => {
                prop_assert_eq!(index, victim.index);
                prop_assert_eq!(offset, victim.offset);
            }
            other => prop_assert!(false, "expected an entry error, got {:?}", other.map(|r| r.entries)),
        }
    }
    #[test]
    fn crash_states_fit_the_device_model(
        (ss, unit) in sector_and_unit(),
        gens in prop::collection::vec(entry(), 1..30),
        per_epoch in 0..3u64,
        torn_per_epoch in 1..4u64,
        seed in any::<u64>(),
        pick in any::<prop::sample::Index>(),
    ) {
        let gens = distinct_fills(gens);
        let log = Log::from_source(build(ss, &gens)).unwrap();
        let torn = Some(TornOptions { unit: unit as u32, per_epoch: torn_per_epoch });
        let o = Options { per_epoch, max_states: 10_000, seed, only: None, torn };
        let (states, after) = crash_states(ss, &log, &o).unwrap();
        for s in &states {
            if let Err(why) = check_state(ss, unit, &gens, s) {
                prop_assert!(false, "{}", why);
            }
        }
        // Every state was undone: the device ends as the full replay.
        prop_assert!(after == model(ss, &gens));
        // Each epoch with a write of several units gets its torn states.
        let tearable = |i: usize| {
            changes_device(&gens[i]) && unit_ranges(ss, unit, &gens[i]).len() > 1
        };
        let epochs_tearable = epochs(&gens)
            .into_iter()
            .filter(|e| e.clone().any(tearable))
            .count() as u64;
        let torn_states = states.iter().filter(|s| s.torn.is_some()).count() as u64;
        prop_assert_eq!(torn_states, epochs_tearable * torn_per_epoch);

        // The same seed, the same states.
        let (again, _) = crash_states(ss, &log, &o).unwrap();
        prop_assert!(again == states);

        // Torn states come on top: the others are those of a run without.
        let (plain, _) = crash_states(ss, &log, &Options { torn: None, ..o }).unwrap();
        let untorn: Vec<_> = states
            .iter()
            .filter(|s| s.torn.is_none())
            .map(|s| (&s.applied, &s.bytes))
            .collect();
        let without: Vec<_> = plain.iter().map(|s| (&s.applied, &s.bytes)).collect();
        prop_assert!(without == untorn);

        // --only K leaves exactly state K's bytes; past the last, an error.
        if !states.is_empty() {
            let k = pick.index(states.len());
            let only = Options { only: Some(k as u64), ..o };
            let (none, device) = crash_states(ss, &log, &only).unwrap();
            prop_assert!(none.is_empty());
            prop_assert!(device == states[k].bytes, "--only {} differs", k);
        }
        let past = crash_states(ss, &log, &Options { only: Some(states.len() as u64), ..o });
        prop_assert!(matches!(past, Err(Error::NotFound(_))));
    }
}
