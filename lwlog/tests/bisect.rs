// SPDX-License-Identifier: GPL-2.0

//! `lwlog bisect` and `lwlog diff` on logs built here.
//!
//! The bisect checks fail exactly when the device holds an `X` byte, which
//! only "poison" writes carry, on sectors nothing else writes: once one has
//! been replayed the check keeps failing, as bisect assumes, and the first
//! failing point is known without running anything.

mod common;
use common::{run_lwlog as lwlog, TempFile};
use logformat::{EntryHeader, Super, FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK, FLAG_METADATA};
use lwlog::bisect;
use lwlog::check::{self, parse_at};
use lwlog::command::Checker;
use lwlog::diff::{self, Point};
use lwlog::error::{EXIT_CHECK_FAILED, EXIT_NOT_FOUND, EXIT_USAGE};
use lwlog::log::Log;
use lwlog::progress::Progress;
use lwlog::replay::{Replayer, Target};
use lwlog::select::Selection;
use proptest::prelude::*;

const DEV_SECTORS: u64 = 64;
/// Ordinary writes and discards stay below this sector; poison writes
/// go above it, one sector each.
const POISON_FROM: u64 = 48;
const POISON: u8 = b'X';
const CHECK: &str = "! grep -q X \"$LWLOG_DEV\"";

/// One entry to build: header fields, mark text, and the byte a write's
/// data is made of.
#[derive(Debug, Clone)]
struct Gen {
    sector: u64,
    nr: u64,
    flags: u64,
    mark: Vec<u8>,
    fill: u8,
}

fn write(sector: u64, nr: u64, flags: u64, fill: u8) -> Gen {
    Gen {
        sector,
        nr,
        flags,
        mark: vec![],
        fill,
    }
}

fn discard(sector: u64, nr: u64) -> Gen {
    write(sector, nr, FLAG_DISCARD, 0)
}

fn flush() -> Gen {
    write(0, 0, FLAG_FLUSH, 0)
}

fn mark(text: &str) -> Gen {
    Gen {
        mark: text.as_bytes().to_vec(),
        ..write(0, 0, FLAG_MARK, 0)
    }
}

fn is_data(g: &Gen) -> bool {
    g.flags & (FLAG_DISCARD | FLAG_MARK) == 0 && g.nr > 0
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
        let h = EntryHeader {
            sector: g.sector,
            nr_sectors: g.nr,
            flags: g.flags,
            data_len: g.mark.len() as u64,
        };
        let mut sector = vec![0u8; ss];
        h.encode(&g.mark, &mut sector).unwrap();
        log.extend_from_slice(&sector);
        if is_data(g) {
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
        } else if is_data(g) {
            dev[r].fill(g.fill);
        }
    }
    dev
}

/// A zeroed device image.
fn zeroed(ss: usize) -> TempFile {
    TempFile::new(&vec![0u8; DEV_SECTORS as usize * ss])
}

/// The entry index at the start of the stdout line starting with `prefix`
/// (`prefix INDEX@...`), if there is one.
fn entry_after(stdout: &str, prefix: &str) -> Option<u64> {
    let rest = stdout.lines().find_map(|l| l.strip_prefix(prefix))?;
    rest.trim_start().split('@').next()?.parse().ok()
}

/// The number of checks bisect says it ran.
fn checks_run(stdout: &str) -> u64 {
    let first = stdout.lines().next().unwrap_or_default();
    first.split(' ').next().unwrap().parse().unwrap()
}

/// ceil(log2(n)), the bound (plus two) the checks must stay within.
fn ceil_log2(n: u64) -> u64 {
    u64::from(64 - (n.max(1) - 1).leading_zeros())
}

/// Indices of the check points of `gens` for `at` (as `check` picks them).
fn points(gens: &[Gen], at: &str) -> Vec<usize> {
    let log = Log::from_source(build(512, gens)).unwrap();
    let at = parse_at(at).unwrap();
    let entries = Selection::default().resolve(&log).unwrap();
    (0..entries.len())
        .filter(|&i| at.hits(&entries[i], i as u64 + 1))
        .collect()
}

/// A log with points of every kind (FUA, flushes, marks) among writes
/// that rewrite and discard the same few sectors again and again, so
/// going back must restore bytes written several times; the writes to
/// sectors of their own (from `POISON_FROM` on) are the poison
/// candidates.
fn mixed_log() -> Vec<Gen> {
    let mut gens = vec![mark("mkfs")];
    for i in 0..14u64 {
        let own = POISON_FROM + i;
        let shared = 8 + (i * 5) % 12;
        gens.push(write(shared, 1 + i % 3, 0, b'a' + i as u8));
        gens.push(write(own, 1, if i % 3 == 0 { FLAG_FUA } else { 0 }, b'o'));
        match i % 4 {
            0 => gens.push(flush()),
            1 => gens.push(discard(shared + 1, 2)),
            2 => gens.push(write(shared, 2, FLAG_FUA | FLAG_METADATA, b'm')),
            _ => gens.push(mark(&format!("step{i}"))),
        }
    }
    gens.push(write(2, 1, 0, b'z'));
    gens
}

#[test]
fn bisect_finds_the_first_failing_point_whichever_write_is_poisoned() {
    let clean = mixed_log();
    let pts = points(&clean, "fua,flush,mark");
    let candidates: Vec<usize> = (0..clean.len())
        .filter(|&i| clean[i].sector >= POISON_FROM)
        .collect();
    assert!(pts.len() > 12 && candidates.len() == 14);
    for &poisoned in &candidates {
        let mut gens = clean.clone();
        gens[poisoned].fill = POISON;
        let (log, target) = (TempFile::new(&build(512, &gens)), zeroed(512));
        let (code, out, err) = lwlog(&["bisect", "--fsck", CHECK, log.path(), target.path()]);
        let what = format!("poison at {poisoned}:\n{out}{err}");
        // The first point at or after the poisoned write; the point before.
        let Some(k) = pts.iter().position(|&p| p >= poisoned) else {
            // Poison after the last point: no point sees it.
            assert_eq!(code, 0, "{what}");
            assert!(out.contains("every point passes"), "{what}");
            continue;
        };
        assert_eq!(code, EXIT_CHECK_FAILED, "{what}");
        assert_eq!(
            entry_after(&out, "first failing point:"),
            Some(pts[k] as u64),
            "{what}"
        );
        match k.checked_sub(1) {
            Some(before) => {
                assert_eq!(
                    entry_after(&out, "last passing point:"),
                    Some(pts[before] as u64),
                    "{what}"
                );
                let expected = format!("lwlog: check failed after entry {} (", pts[k]);
                assert!(err.contains(&expected), "{what}");
            }
            None => {
                assert!(out.contains("last passing point:  none"), "{what}");
                assert!(
                    err.contains("lwlog: check fails already at the first point"),
                    "{what}"
                );
            }
        }
        assert!(
            checks_run(&out) <= ceil_log2(pts.len() as u64) + 2,
            "{what}"
        );
        // The entries in between are listed, the failing one last.
        let neighbours = format!("  {}@", pts[k]);
        assert!(out.contains(&neighbours), "{what}");
        assert!(out.contains("nearest mark before: "), "{what}");
        // The target is left in the first failing state, and the printed
        // command replays that state onto a zeroed device.
        assert!(
            target.read() == model(512, &gens[..=pts[k]]),
            "the target does not hold the failing state: {what}"
        );
        let command = out
            .lines()
            .find_map(|l| l.strip_prefix("  lwlog replay "))
            .unwrap_or_else(|| panic!("no replay command: {what}"));
        let fresh = zeroed(512);
        let args: Vec<&str> = std::iter::once("replay")
            .chain(command.split(' '))
            .map(|w| if w == target.path() { fresh.path() } else { w })
            .collect();
        let (code, _, err) = lwlog(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(fresh.read() == target.read(), "{args:?} differs: {what}");
    }
}

#[test]
fn bisect_exits_0_when_every_point_passes_and_leaves_the_last_point() {
    let gens = mixed_log();
    let pts = points(&gens, "fua,flush,mark");
    let (log, target) = (TempFile::new(&build(512, &gens)), zeroed(512));
    let (code, out, err) = lwlog(&["bisect", "--fsck", CHECK, log.path(), target.path()]);
    assert_eq!(code, 0, "{out}{err}");
    let last = *pts.last().unwrap();
    assert_eq!(
        entry_after(&out, "every point passes; the last:"),
        Some(last as u64),
        "{out}"
    );
    assert!(checks_run(&out) <= ceil_log2(pts.len() as u64) + 2, "{out}");
    assert!(target.read() == model(512, &gens[..=last]));
}

#[test]
fn bisect_uses_the_selection_and_says_when_there_is_no_point() {
    let mut gens = mixed_log();
    let poisoned = gens.iter().rposition(|g| g.sector >= POISON_FROM).unwrap();
    gens[poisoned].fill = POISON;
    let (log, target) = (TempFile::new(&build(512, &gens)), zeroed(512));
    // Stopping before the poison: every point passes.
    let stop = format!("{poisoned}");
    let (code, out, err) = lwlog(&[
        "bisect",
        "--fsck",
        CHECK,
        "--at",
        "every:1",
        "--limit",
        &stop,
        log.path(),
        target.path(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("every point passes"), "{out}");
    // Starting at the poison, with a target already holding the entries
    // before it: its own entry is the first point, and fails.
    let start = format!("{poisoned}");
    let (code, out, err) = lwlog(&[
        "bisect",
        "--fsck",
        CHECK,
        "--at",
        "every:1",
        "--start-entry",
        &start,
        log.path(),
        target.path(),
    ]);
    assert_eq!(code, EXIT_CHECK_FAILED, "{out}{err}");
    assert_eq!(
        entry_after(&out, "first failing point:"),
        Some(poisoned as u64)
    );
    assert!(
        out.contains(&format!("--start-entry {poisoned} --limit 1")),
        "{out}"
    );
    // Discards as points, then a log without any: no point to check.
    let (code, _, err) = lwlog(&[
        "bisect",
        "--fsck",
        "true",
        "--at",
        "discard",
        log.path(),
        target.path(),
    ]);
    assert_eq!(code, 0, "{err}");
    let gens: Vec<Gen> = gens
        .into_iter()
        .filter(|g| g.flags & FLAG_DISCARD == 0)
        .collect();
    let log = TempFile::new(&build(512, &gens));
    let (code, _, err) = lwlog(&[
        "bisect",
        "--fsck",
        "true",
        "--at",
        "discard",
        log.path(),
        target.path(),
    ]);
    assert_eq!(code, EXIT_NOT_FOUND, "{err}");
    assert!(err.starts_with("lwlog: no check point (see --at)"), "{err}");
}

#[test]
fn bisect_elides_the_middle_of_a_long_neighbourhood() {
    let mut gens = vec![write(0, 1, FLAG_FUA, b'f')];
    gens.extend((1..=30).map(|i| write(i % 7, 1, 0, b'w')));
    gens.push(write(POISON_FROM, 1, 0, POISON));
    gens.push(write(1, 1, FLAG_FUA, b'f'));
    let (log, target) = (TempFile::new(&build(512, &gens)), zeroed(512));
    let (code, out, err) = lwlog(&["bisect", "--fsck", CHECK, log.path(), target.path()]);
    assert_eq!(code, EXIT_CHECK_FAILED, "{out}{err}");
    assert_eq!(checks_run(&out), 2, "{out}");
    // Entries 1..=32 lie between the two points: 10, the rest, 10.
    let listed: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("entries after it"))
        .skip(1)
        .take_while(|l| l.starts_with("  ") && !l.starts_with("  lwlog"))
        .collect();
    assert_eq!(listed.len(), 21, "{out}");
    assert!(listed[0].starts_with("  1@"), "{out}");
    assert_eq!(
        listed[10],
        "  ... 12 more entries (lwlog list --from-entry 11 --to-entry 22) ..."
    );
    assert!(listed[20].starts_with("  32@"), "{out}");
    assert!(
        out.contains("nearest mark before: none\nnearest mark after:  none\n"),
        "{out}"
    );
}

/// A small log for `diff`: writes that overlap, touch and stand apart,
/// a discard and marks.
fn diff_log() -> Vec<Gen> {
    vec![
        write(0, 2, 0, b'a'),             // 0
        write(8, 1, FLAG_FUA, b'b'),      // 1
        flush(),                          // 2
        mark("middle"),                   // 3
        write(1, 2, 0, b'c'),             // 4: overlaps 0
        write(3, 1, FLAG_METADATA, b'd'), // 5: continues 4
        discard(9, 3),                    // 6: continues 1
        write(20, 4, 0, b'e'),            // 7
        mark("end"),                      // 8
    ]
}

#[test]
fn diff_lists_merged_ranges_with_their_entries() {
    let log = TempFile::new(&build(512, &diff_log()));
    let (code, out, err) = lwlog(&["diff", log.path(), "start", "mark:end"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "sectors 0..=3 (4 sectors, 2048 bytes): 0 NONE, 4 NONE, 5 METADATA\n\
         sectors 8..=11 (4 sectors, 2048 bytes): 1 FUA, 6 DISCARD\n\
         sectors 20..=23 (4 sectors, 2048 bytes): 7 NONE\n"
    );
    assert_eq!(
        err,
        "3 ranges, 12 sectors written or discarded by entries 0..=8\n"
    );
    let (code, out, _) = lwlog(&["diff", "--json", log.path(), "mark:middle", "entry:6"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "{\"first_sector\":1,\"last_sector\":3,\"sectors\":3,\"bytes\":1536,\"entries\":[\
         {\"index\":4,\"sector\":1,\"nr_sectors\":2,\"flags\":[],\"discard\":false},\
         {\"index\":5,\"sector\":3,\"nr_sectors\":1,\"flags\":[\"METADATA\"],\"discard\":false}]}\n\
         {\"first_sector\":9,\"last_sector\":11,\"sectors\":3,\"bytes\":1536,\"entries\":[\
         {\"index\":6,\"sector\":9,\"nr_sectors\":3,\"flags\":[\"DISCARD\"],\"discard\":true}]}\n"
    );
    // The same point twice, and a stretch with only a mark: nothing.
    for (a, b) in [("4", "entry:4"), ("7", "8")] {
        let (code, out, _) = lwlog(&["diff", log.path(), a, b]);
        assert_eq!((code, out.as_str()), (0, ""), "{a} {b}");
    }
}

#[test]
fn diff_rejects_points_out_of_order_missing_or_malformed() {
    let log = TempFile::new(&build(512, &diff_log()));
    let cases: [(&[&str], u8, &str); 5] = [
        (
            &["mark:end", "2"],
            EXIT_USAGE,
            "lwlog: mark:end (the state after entry 8) comes after entry:2 (the state after \
             entry 2): give the earlier point first",
        ),
        (
            &["start", "mark:nowhere"],
            EXIT_NOT_FOUND,
            "lwlog: mark 'nowhere' is not in the log",
        ),
        (
            &["0", "entry:9"],
            EXIT_NOT_FOUND,
            "lwlog: entry 9: the log has 9 entries",
        ),
        (
            &["sideways", "3"],
            EXIT_USAGE,
            "error: invalid value 'sideways'",
        ),
        (
            &["entry:-1", "3"],
            EXIT_USAGE,
            "error: invalid value 'entry:-1'",
        ),
    ];
    for (points, code, message) in cases {
        let mut args = vec!["diff", log.path()];
        args.extend(points);
        let (got, _, err) = lwlog(&args);
        assert_eq!(got, code, "{args:?}: {err}");
        assert!(err.starts_with(message), "{args:?} said {err:?}");
    }
}

fn entry() -> impl Strategy<Value = Gen> {
    let flags = prop::sample::select(vec![
        0,
        FLAG_FUA,
        FLAG_FLUSH,
        FLAG_FUA | FLAG_FLUSH,
        FLAG_METADATA,
    ]);
    let fill = any::<u8>().prop_filter("not poison", |&b| b != POISON);
    prop_oneof![
        4 => (0..POISON_FROM - 8, 1..8u64, flags.clone(), fill)
            .prop_map(|(sector, nr, flags, fill)| write(sector, nr, flags, fill)),
        1 => (0..POISON_FROM - 8, 1..8u64).prop_map(|(sector, nr)| discard(sector, nr)),
        1 => Just(flush()),
        1 => "[a-z]{1,6}".prop_map(|m| mark(&m)),
        1 => (POISON_FROM..DEV_SECTORS, flags)
            .prop_map(|(sector, flags)| write(sector, 1, flags, POISON)),
    ]
}

fn at_choice() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "fua",
        "flush",
        "fua,flush,mark",
        "every:1",
        "every:3",
        "mark,discard",
    ])
}

/// A zeroed target for `log`, replayed through the library.
fn replayer<'a>(log: &'a Log<Vec<u8>>, ss: usize) -> (TempFile, Replayer<'a, Vec<u8>>) {
    let file = zeroed(ss);
    let t = Target::open(&file.0, true).unwrap();
    (file, Replayer::new(log, t, Progress::new(0)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Bisect agrees with `check`'s linear scan over the same points, stays
    /// within its bound of checks, and leaves the documented state.
    #[test]
    fn bisect_agrees_with_a_linear_scan(
        ss in prop::sample::select(vec![512usize, 4096]),
        gens in prop::collection::vec(entry(), 1..30),
        at in at_choice(),
    ) {
        let log = Log::from_source(build(ss, &gens)).unwrap();
        let sel = Selection::default();
        let entries = sel.resolve(&log).unwrap();
        let at = parse_at(at).unwrap();

        let (linear_file, mut linear) = replayer(&log, ss);
        let mut checker = Checker::new(CHECK.into(), &linear_file.0, None).unwrap();
        let linear_first = match check::run(&mut linear, &sel, &entries, at, None, &mut checker).unwrap() {
            check::Outcome::Passed(_) => None,
            check::Outcome::Failed { entry, .. } => Some(entry.index as usize),
        };

        let (file, mut r) = replayer(&log, ss);
        let mut checker = Checker::new(CHECK.into(), &file.0, None).unwrap();
        let report = bisect::run(&mut r, &sel, &entries, at, &mut checker).unwrap();
        drop(r);

        let pts: Vec<usize> = (0..entries.len()).filter(|&i| at.hits(&entries[i], i as u64 + 1)).collect();
        prop_assert_eq!(report.points, pts.len());
        prop_assert_eq!(report.first_failing.as_ref().map(|f| f.0), linear_first);
        prop_assert!(report.checks <= ceil_log2(pts.len() as u64) + 2);
        prop_assert!(report.checks <= bisect::max_checks(pts.len()));
        let before_failing: Vec<usize> = pts.iter().copied().filter(|&p| linear_first.is_none_or(|f| p < f)).collect();
        prop_assert_eq!(report.last_passing, before_failing.last().copied());
        // The target holds the first failing state, else the last point's.
        let left = linear_first.or(report.last_passing);
        let expected = match left {
            Some(p) => model(ss, &gens[..=p]),
            None => model(ss, &[]),
        };
        prop_assert!(file.read() == expected, "target differs; left at {:?}", left);
    }

    /// `diff`'s ranges equal those read off a per-sector model: maximal
    /// runs of sectors some entry between the points writes or discards,
    /// with every such entry.
    #[test]
    fn diff_equals_a_per_sector_model(
        gens in prop::collection::vec(entry(), 0..30),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let log = Log::from_source(build(512, &gens)).unwrap();
        let (mut from, mut to) = (a.index(gens.len() + 1), b.index(gens.len() + 1));
        if from > to {
            std::mem::swap(&mut from, &mut to);
        }
        // The states after `from` and `to` entries, named as the command
        // line does.
        let name = |n: usize| if n == 0 { Point::Start } else { Point::Entry(n as u64 - 1) };
        prop_assert_eq!(diff::resolve_point(&log, &name(from)).unwrap(), from as u64);
        prop_assert_eq!(diff::resolve_point(&log, &name(to)).unwrap(), to as u64);
        let entries: Vec<_> = log.entries().collect::<Result<_, _>>().unwrap();
        let got: Vec<(u64, u64, Vec<u64>)> = diff::changed_ranges(entries[from..to].to_vec())
            .into_iter()
            .map(|r| (r.first, r.end, r.entries.iter().map(|e| e.index).collect()))
            .collect();

        let mut by_sector: Vec<Vec<u64>> = vec![Vec::new(); DEV_SECTORS as usize + 1];
        for (i, g) in gens.iter().enumerate().take(to).skip(from) {
            if g.flags & FLAG_MARK == 0 {
                for s in g.sector..g.sector + g.nr {
                    by_sector[s as usize].push(i as u64);
                }
            }
        }
        let mut want: Vec<(u64, u64, Vec<u64>)> = Vec::new();
        for (s, touched) in by_sector.iter().enumerate() {
            let s = s as u64;
            if touched.is_empty() {
                continue;
            }
            match want.last_mut() {
                Some((_, end, who)) if *end == s => {
                    *end = s + 1;
                    who.extend(touched);
                }
                _ => want.push((s, s + 1, touched.clone())),
            }
        }
        for (_, _, who) in &mut want {
            who.sort_unstable();
            who.dedup();
        }
        prop_assert_eq!(got, want);
    }
}

#[test]
fn bisect_counts_a_check_that_times_out_as_failing() {
    // The check hangs (a background child holding stdout open) once the
    // poison is on the device: with --timeout, each of those checks is
    // killed and fails, and bisect finds the same first failing point as
    // with a check that fails outright.
    let hang = "if grep -q X \"$LWLOG_DEV\"; then sleep 35.5 & sleep 35.5; fi";
    let clean = mixed_log();
    let pts = points(&clean, "fua,flush,mark");
    let poisoned = (0..clean.len())
        .filter(|&i| clean[i].sector >= POISON_FROM)
        .nth(6)
        .unwrap();
    let mut gens = clean;
    gens[poisoned].fill = POISON;
    let k = pts.iter().position(|&p| p >= poisoned).unwrap();
    assert!(k > 0);
    let (log, target) = (TempFile::new(&build(512, &gens)), zeroed(512));
    let start = std::time::Instant::now();
    let (code, out, err) = lwlog(&[
        "bisect",
        "--fsck",
        hang,
        "--timeout",
        "0.3",
        log.path(),
        target.path(),
    ]);
    // Far longer than the run may take: a run this long hung.
    let took = start.elapsed();
    assert!(took.as_secs() < 20, "took {took:?}");
    let what = format!("poison at {poisoned}:\n{out}{err}");
    assert_eq!(code, EXIT_CHECK_FAILED, "{what}");
    assert_eq!(
        entry_after(&out, "first failing point:"),
        Some(pts[k] as u64),
        "{what}"
    );
    assert!(out.contains("(timed out after 0.3 s)\n"), "{what}");
    assert_eq!(
        entry_after(&out, "last passing point:"),
        Some(pts[k - 1] as u64),
        "{what}"
    );
    assert!(err.contains(": failed: timed out after 0.3 s\n"), "{what}");
    let expected = format!("lwlog: check failed after entry {} (", pts[k]);
    assert!(err.contains(&expected), "{what}");
    assert!(err.ends_with("): timed out after 0.3 s\n"), "{what}");
}
