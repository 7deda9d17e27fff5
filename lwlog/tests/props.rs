// SPDX-License-Identifier: GPL-2.0

//! Property tests: random logs round-trip through the reader, replays
//! equal a simple in-memory model, and corrupted logs are reported, never
//! a panic.

use logformat::{EntryHeader, Super, FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK};
use lwlog::log::{Log, LogError};
use lwlog::replay::{Replayer, Target};
use lwlog::select::{Selection, Start, Stop};
use proptest::prelude::*;

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
}
