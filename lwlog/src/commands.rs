// SPDX-License-Identifier: GPL-2.0

//! The body of each `lwlog` subcommand, with its arguments parsed. Kept out
//! of the binary so that tests can run a command and look at the error it
//! fails with, rather than only at its exit status.

use crate::bisect;
use crate::check::{self, At};
use crate::command::{Checker, Pool, ScratchImages};
use crate::crash;
use crate::diff::{self, Point};
use crate::error::{Error, Missing};
use crate::list::{self, Filter};
use crate::log::{Entry, FileSource, Log, Source, StreamEntries};
use crate::oracle;
use crate::overlap;
use crate::progress::Progress;
use crate::replay::{self, Replayer, Target};
use crate::select::{Selection, Stop};
use crate::stream::LogStream;
use crate::verify;
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `replay`, `check` and `crash-states` replay, and onto what.
pub struct ReplaySetup<'a> {
    pub log: &'a Path,
    pub target: &'a Path,
    pub selection: Selection,
    /// Replay discard entries (false: ignore them, like replay-log's
    /// --no-discard).
    pub discard: bool,
}

/// `lwlog info`: the super block and what the log actually holds.
pub fn info(path: &Path) -> Result<(), Error> {
    let log = Log::open(path)?;
    let mut found = 0u64;
    let mut used = u64::from(log.sector_size());
    for e in log.scan() {
        let e = e?;
        found += 1;
        used = e.end_offset(log.sector_size());
    }
    println!("version:        {}", logformat::VERSION);
    println!("sector size:    {}", log.sector_size());
    println!("super entries:  {}", log.sup.nr_entries);
    println!("entries found:  {found}");
    println!("log bytes used: {used} of {}", log.size());
    Ok(())
}

/// Index of the first mark with `text`.
fn mark_index<S: Source>(log: &Log<S>, text: &str) -> Result<u64, Error> {
    for e in log.entries() {
        let e = e?;
        if e.header.is_mark() && e.mark == text.as_bytes() {
            return Ok(e.index);
        }
    }
    Err(Missing::Mark {
        role: None,
        text: text.as_bytes().to_vec(),
        max_len: logformat::max_mark_len(log.sector_size()),
    }
    .into())
}

/// `lwlog list`: the entries `filter` wants, narrowed further to those
/// from mark `from_mark` up to mark `to_mark`.
pub fn list(
    path: &Path,
    json: bool,
    mut filter: Filter,
    from_mark: Option<&str>,
    to_mark: Option<&str>,
) -> Result<(), Error> {
    let log = Log::open(path)?;
    if let Some(m) = from_mark {
        let i = mark_index(&log, m)?;
        filter.first = Some(filter.first.map_or(i, |f| f.max(i)));
    }
    if let Some(m) = to_mark {
        let i = mark_index(&log, m)?;
        filter.last = Some(filter.last.map_or(i, |l| l.min(i)));
    }
    let ss = log.sector_size();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for e in log.entries() {
        let e = e?;
        if filter.last.is_some_and(|l| e.index > l) {
            break;
        }
        if !filter.wants(&e) {
            continue;
        }
        let line = if json {
            list::json_line(&e, ss)
        } else {
            list::text_line(&e, ss)
        };
        if writeln!(out, "{line}").is_err() {
            // A closed pipe (`| head`) is not an error worth reporting.
            return Ok(());
        }
    }
    let _ = out.flush();
    Ok(())
}

/// `lwlog verify`: the whole log's structure.
pub fn verify(path: &Path) -> Result<(), Error> {
    let log = Log::open(path)?;
    let r = verify::verify(&log)?;
    println!(
        "valid: {} entries, {} bytes used, sector size {}",
        r.entries,
        r.used,
        log.sector_size()
    );
    if r.uncounted > 0 {
        println!(
            "note: {} valid-looking entries follow the counted ones (an earlier log, or entries \
             logged after the last super block update)",
            r.uncounted
        );
    }
    Ok(())
}

/// `lwlog oracle`: the log against the block trace in `trace` of what the
/// `top` and `probe` devices saw, and, with a `journal`, each logged
/// write's data against what was written. Without `complete`, the log may
/// end before the last durable write.
pub fn oracle(
    path: &Path,
    trace: &Path,
    top: oracle::DevNo,
    probe: oracle::DevNo,
    complete: bool,
    journal: Option<&Path>,
) -> Result<(), Error> {
    let log = Log::open(path)?;
    let entries = oracle_entries(&log, path, journal.is_some())?;
    let journal = match journal {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(Error::file("cannot read", p))?;
            oracle::Journal::parse(&text).map_err(Error::Journal)?
        }
        None => Default::default(),
    };
    let events = read_trace(trace)?;
    let r = oracle::check_with_data(&events, top, probe, &entries, complete, journal)
        .map_err(|v| not_durable(&entries, v))?;
    print_oracle_report(&r, events.len());
    Ok(())
}

/// The log's entries as the oracle takes them (512-byte sectors), with
/// the hash of each sector of a write's data if `hashes`.
pub fn oracle_entries<S: Source>(
    log: &Log<S>,
    path: &Path,
    hashes: bool,
) -> Result<Vec<oracle::LogEntry>, Error> {
    let ss = log.sector_size();
    let factor = u64::from(ss / 512);
    let mut entries = Vec::new();
    for e in log.entries() {
        let e = e?;
        let mut sums = Vec::new();
        if hashes && e.touches_data() && !e.has(logformat::FLAG_DISCARD) {
            let mut data = vec![0u8; e.bytes(ss) as usize];
            log.read_at(&mut data, e.data_offset(ss))
                .map_err(Error::file("cannot read", path))?;
            sums = data.chunks(512).map(logformat::sector_hash).collect();
        }
        entries.push(oracle::LogEntry {
            index: e.index,
            sector: e.header.sector * factor,
            nr: e.header.nr_sectors * factor,
            flags: e.header.flags,
            mark: e.mark.clone(),
            hashes: sums,
        });
    }
    Ok(entries)
}

/// The block trace in the file `trace`.
pub fn read_trace(trace: &Path) -> Result<Vec<oracle::Event>, Error> {
    let text = std::fs::read_to_string(trace).map_err(Error::file("cannot read", trace))?;
    oracle::parse_trace(&text).map_err(Error::Trace)
}

/// The oracle's verdict as an error, after the entries that led to it.
pub fn not_durable(entries: &[oracle::LogEntry], v: oracle::Violation) -> Error {
    if let Some(at) = v.entry {
        print_entries_before(entries, at);
    }
    Error::NotDurable(v)
}

/// What the oracle checked, on one line.
pub fn print_oracle_report(r: &oracle::Report, events: usize) {
    println!(
        "oracle: true durability record: {} entries ({} writes, {} discards, {} FUA, {} flushes of which {} the target's own, {} marks) against {} trace events; {} writes never became durable, {} discards superseded, data of {} writes checked",
        r.entries,
        r.writes,
        r.discards,
        r.fua,
        r.flushes,
        r.target_flushes,
        r.marks,
        events,
        r.never_durable,
        r.superseded,
        r.data_checked
    );
}

/// The entries leading to entry `at`, on stderr: enough to look into a
/// failed run (in CI) without the log at hand.
fn print_entries_before(entries: &[oracle::LogEntry], at: u64) {
    let from = entries.partition_point(|e| e.index + 12 < at);
    for e in entries.iter().skip(from).take_while(|e| e.index <= at) {
        eprintln!(
            "  entry {}: sector {} + {} flags {:#x}{}",
            e.index,
            e.sector,
            e.nr,
            e.flags,
            if e.mark.is_empty() {
                String::new()
            } else {
                format!(" mark {}", String::from_utf8_lossy(&e.mark))
            }
        );
    }
}

/// Refuses a target or any of `others` (scratch devices, each named by
/// its role) that shares storage with the log or with each other, before
/// anything is written.
fn refuse_overlap(setup: &ReplaySetup<'_>, others: &[(&'static str, &Path)]) -> Result<(), Error> {
    let mut paths = vec![("log", setup.log), ("target", setup.target)];
    paths.extend_from_slice(others);
    overlap::refuse_overlap(&paths).map_err(Error::Overlap)
}

/// `scratch` as `refuse_overlap` takes it.
fn scratch_role(scratch: Option<&Path>) -> Option<(&'static str, &Path)> {
    scratch.map(|s| ("scratch", s))
}

fn open_target(setup: &ReplaySetup<'_>) -> Result<Target, Error> {
    Target::open(setup.target, setup.discard)
        .map_err(Error::file("cannot open target", setup.target))
}

/// `lwlog replay`: the selected entries onto the target, in log order.
pub fn replay(setup: &ReplaySetup<'_>) -> Result<(), Error> {
    refuse_overlap(setup, &[])?;
    let log = Log::open(setup.log)?;
    let sel = &setup.selection;
    let ss = log.sector_size();
    // Up to the end or a count, entries are replayed as they are read (one
    // pass over the log, like replay-log); a stop point is found first.
    let planned = if sel.needs_lookahead() {
        Some(sel.resolve(&log)?)
    } else {
        None
    };
    let progress = match &planned {
        Some(p) => Progress::new(replay::span(p, ss)),
        None => Progress::entries(match sel.stop {
            Stop::Limit(n) => n.min(log.sup.nr_entries),
            _ => log.sup.nr_entries,
        }),
    };
    let t = open_target(setup)?;
    let finish = |r: &mut Replayer<'_, FileSource>| -> Result<(), Error> {
        // A write still pending fails here when the target is full: name
        // its bytes, not only the sync.
        let t = &mut r.target;
        t.sync().map_err(|source| {
            t.error(
                source,
                None,
                Error::file("cannot sync target", setup.target),
            )
        })?;
        r.finish();
        Ok(())
    };
    let mut replayed = 0u64;
    match planned {
        Some(p) => {
            let mut r = Replayer::new(&log, t, progress);
            for e in p {
                replayed += 1;
                r.apply(&e, sel.touches(&e))?;
            }
            finish(&mut r)?;
        }
        None => {
            // One pass over the log: headers and data from one stream.
            let stream = LogStream::open(setup.log, u64::from(ss), log.size())
                .map_err(Error::file("cannot open log", setup.log))?;
            let stream = RefCell::new(stream);
            let mut r = Replayer::streaming(&log, &stream, t, progress);
            sel.walk_from(&log, StreamEntries::new(&log, &stream), |e| {
                replayed += 1;
                r.apply(&e, sel.touches(&e))
            })?;
            finish(&mut r)?;
        }
    }
    eprintln!("replayed {replayed} entries");
    Ok(())
}

/// What `check` and `crash-states` start from: the log, the entries the
/// selection picks and the opened target.
fn open_replay(setup: &ReplaySetup<'_>) -> Result<(Log<FileSource>, Vec<Entry>, Target), Error> {
    let log = Log::open(setup.log)?;
    let entries = setup.selection.resolve(&log)?;
    let t = open_target(setup)?;
    Ok((log, entries, t))
}

fn open_checker(
    fsck: &str,
    target: &Path,
    scratch: Option<&Path>,
    timeout: Option<Duration>,
) -> Result<Checker, Error> {
    let checker = Checker::new(fsck.to_string(), target, scratch).map_err(Error::file(
        "cannot open scratch",
        scratch.unwrap_or(target),
    ))?;
    Ok(checker.with_timeout(timeout))
}

/// Where `check` copies the target to check it: the paths given, or
/// images it makes in a directory, one per job.
#[derive(Clone, Copy, Default)]
pub struct Scratch<'a> {
    pub paths: &'a [PathBuf],
    pub dir: Option<&'a Path>,
}

/// `lwlog check`: replays incrementally and runs `fsck` at the points `at`
/// picks (at most `max_checks` of them), on a copy in `scratch` if given;
/// with `jobs` > 1, that many checks at once, each on a scratch of its own.
/// A run of `fsck` longer than `timeout` is killed and fails.
pub fn check(
    setup: &ReplaySetup<'_>,
    fsck: &str,
    at: At,
    max_checks: Option<u64>,
    scratch: Scratch<'_>,
    jobs: usize,
    timeout: Option<Duration>,
) -> Result<(), Error> {
    let given = scratch.paths.len();
    if given > jobs || (jobs > 1 && given < jobs && scratch.dir.is_none()) {
        return Err(Error::ScratchCount { jobs, given });
    }
    let mut others: Vec<_> = scratch
        .paths
        .iter()
        .map(|p| ("scratch", p.as_path()))
        .collect();
    // Before anything is created in it: a directory on the target's or
    // the log's device would be overwritten by the replay or corrupt it.
    others.extend(scratch.dir.map(|d| ("scratch directory", d)));
    refuse_overlap(setup, &others)?;
    let (log, entries, t) = open_replay(setup)?;
    let images = match scratch.dir {
        Some(dir) => {
            let size = crate::log::size_of(t.file())
                .map_err(Error::file("cannot find the size of target", setup.target))?;
            let images = ScratchImages::create(dir, jobs, size)?;
            let made: Vec<_> = images
                .paths
                .iter()
                .map(|p| ("scratch", p.as_path()))
                .collect();
            refuse_overlap(setup, &made)?;
            Some(images)
        }
        None => None,
    };
    let scratch_paths = images.as_ref().map_or(scratch.paths, |i| &i.paths[..]);
    let mut r = Replayer::new(&log, t, Progress::new(0));
    let outcome = if jobs > 1 {
        Pool::new(fsck.to_string(), scratch_paths, timeout).and_then(|pool| {
            check::run_jobs(&mut r, &setup.selection, &entries, at, max_checks, pool)
        })
    } else {
        open_checker(
            fsck,
            setup.target,
            scratch_paths.first().map(PathBuf::as_path),
            timeout,
        )
        .and_then(|mut checker| {
            check::run(
                &mut r,
                &setup.selection,
                &entries,
                at,
                max_checks,
                &mut checker,
            )
        })
    };
    r.finish();
    match outcome? {
        check::Outcome::Passed(n) => {
            println!("{n} checks passed over {} entries", entries.len());
            Ok(())
        }
        check::Outcome::Failed { entry, why } => Err(Error::CheckFailed {
            entry: Box::new(entry),
            sector_size: log.sector_size(),
            why,
        }),
    }
}

/// At most this many entries of a bisection's neighbourhood are listed.
const NEIGHBOURHOOD: usize = 20;

/// `lwlog bisect`: the first of the points `at` picks at which `fsck`
/// fails (on a copy in `scratch` if given), with the entries around it. A
/// run of `fsck` longer than `timeout` is killed and fails.
pub fn bisect(
    setup: &ReplaySetup<'_>,
    fsck: &str,
    at: At,
    scratch: Option<&Path>,
    timeout: Option<Duration>,
) -> Result<(), Error> {
    refuse_overlap(setup, scratch_role(scratch).as_slice())?;
    let (log, entries, t) = open_replay(setup)?;
    if !(1..).zip(&entries).any(|(nth, e)| at.hits(e, nth)) {
        return Err(Missing::CheckPoints {
            entries: entries.len() as u64,
        }
        .into());
    }
    let mut checker = open_checker(fsck, setup.target, scratch, timeout)?;
    let mut r = Replayer::new(&log, t, Progress::new(0));
    let report = bisect::run(&mut r, &setup.selection, &entries, at, &mut checker);
    r.finish();
    let report = report?;
    let ss = log.sector_size();
    let line = |e: &Entry| list::text_line(e, ss);
    println!(
        "{} checks over {} check points (at most {}), assuming that once the check fails it \
         keeps failing",
        report.checks,
        report.points,
        bisect::max_checks(report.points)
    );
    let Some((failing, why)) = report.first_failing else {
        if let Some(last) = report.last_passing {
            println!("every point passes; the last: {}", line(&entries[last]));
            println!(
                "{} holds the state after entry {}",
                setup.target.display(),
                entries[last].index
            );
        }
        return Ok(());
    };
    let failed = &entries[failing];
    println!("first failing point: {} ({why})", line(failed));
    let from = match report.last_passing {
        Some(p) => {
            println!("last passing point:  {}", line(&entries[p]));
            println!("entries after it up to the first failing point:");
            p + 1
        }
        None => {
            println!("last passing point:  none, the first point fails");
            println!("entries from the first one replayed up to the first failing point:");
            0
        }
    };
    print_capped(&entries[from..=failing], ss);
    let (before, after) = marks_around(&log, failed.index)?;
    let none = || "none".to_string();
    println!(
        "nearest mark before: {}",
        before.as_ref().map_or_else(none, line)
    );
    println!(
        "nearest mark after:  {}",
        after.as_ref().map_or_else(none, line)
    );
    println!("to replay the failing state onto what the target held before bisecting:");
    println!("  {}", replay_command(setup, &entries, failing));
    println!(
        "{} holds the state after entry {}, the first failing point",
        setup.target.display(),
        failed.index
    );
    let (entry, sector_size) = (Box::new(failed.clone()), ss);
    Err(match report.last_passing {
        Some(_) => Error::CheckFailed {
            entry,
            sector_size,
            why,
        },
        None => Error::FailsAtFirstPoint {
            entry,
            sector_size,
            why,
        },
    })
}

/// `entries` one per line, as `list` prints them; when there are too many,
/// the first and last few with a line saying how to list the rest.
fn print_capped(entries: &[Entry], sector_size: u32) {
    let show = |e: &Entry| println!("  {}", list::text_line(e, sector_size));
    if entries.len() <= NEIGHBOURHOOD {
        entries.iter().for_each(show);
        return;
    }
    let half = NEIGHBOURHOOD / 2;
    let (head, rest) = entries.split_at(half);
    let (hidden, tail) = rest.split_at(rest.len() - half);
    head.iter().for_each(show);
    if let (Some(a), Some(b)) = (hidden.first(), hidden.last()) {
        println!(
            "  ... {} more entries (lwlog list --from-entry {} --to-entry {}) ...",
            hidden.len(),
            a.index,
            b.index
        );
    }
    tail.iter().for_each(show);
}

/// The last mark before entry `index` and the first after it, in the
/// whole log (a mark outside the selection still says where one is).
fn marks_around<S: Source>(
    log: &Log<S>,
    index: u64,
) -> Result<(Option<Entry>, Option<Entry>), Error> {
    let mut before = None;
    for e in log.entries() {
        let e = e?;
        if !e.header.is_mark() || e.index == index {
            continue;
        }
        if e.index > index {
            return Ok((before, Some(e)));
        }
        before = Some(e);
    }
    Ok((before, None))
}

/// The `lwlog replay` command that replays the selected entries up to
/// `entries[upto]`, with the selection's other options.
fn replay_command(setup: &ReplaySetup<'_>, entries: &[Entry], upto: usize) -> String {
    let mut words: Vec<String> = vec![
        "lwlog".into(),
        "replay".into(),
        shell_quote(&setup.log.to_string_lossy()),
        shell_quote(&setup.target.to_string_lossy()),
    ];
    if let Some(first) = entries.first().filter(|e| e.index > 0) {
        words.extend(["--start-entry".into(), first.index.to_string()]);
    }
    words.extend(["--limit".into(), (upto + 1).to_string()]);
    if let Some((first, last)) = setup.selection.sectors {
        if first > 0 {
            words.extend(["--start-sector".into(), first.to_string()]);
        }
        if last < u64::MAX {
            words.extend(["--end-sector".into(), last.to_string()]);
        }
    }
    if !setup.discard {
        words.push("--no-discard".into());
    }
    words.join(" ")
}

/// `s` as one shell word.
fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./,:=+-@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `lwlog diff`: the device sectors the entries after point `a` up to
/// point `b` write or discard.
pub fn diff(path: &Path, a: &Point, b: &Point, json: bool) -> Result<(), Error> {
    let log = Log::open(path)?;
    let (from, to) = (diff::resolve_point(&log, a)?, diff::resolve_point(&log, b)?);
    if from > to {
        return Err(Error::PointOrder {
            a: a.to_string(),
            a_applied: from,
            b: b.to_string(),
            b_applied: to,
        });
    }
    let mut between = Vec::new();
    for e in log
        .entries()
        .take(usize::try_from(to).unwrap_or(usize::MAX))
    {
        let e = e?;
        if e.index >= from {
            between.push(e);
        }
    }
    let ranges = diff::changed_ranges(between);
    let ss = log.sector_size();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in &ranges {
        let line = if json {
            diff::json_line(r, ss)
        } else {
            diff::text_line(r, ss)
        };
        if writeln!(out, "{line}").is_err() {
            return Ok(());
        }
    }
    let _ = out.flush();
    let sectors = ranges
        .iter()
        .fold(0u64, |n, r| n.saturating_add(r.end - r.first));
    if from == to {
        eprintln!("no entries between the two points");
    } else {
        eprintln!(
            "{} ranges, {sectors} sectors written or discarded by entries {from}..={}",
            ranges.len(),
            to - 1
        );
    }
    Ok(())
}

/// `lwlog crash-states`: materialises the crash states `o` asks for and,
/// with `fsck`, checks each (on a copy in `scratch` if given); a run of
/// `fsck` longer than `timeout` is killed and fails.
pub fn crash_states(
    setup: &ReplaySetup<'_>,
    o: &crash::Options,
    fsck: Option<&str>,
    scratch: Option<&Path>,
    timeout: Option<Duration>,
) -> Result<(), Error> {
    refuse_overlap(setup, scratch_role(scratch).as_slice())?;
    let (log, entries, t) = open_replay(setup)?;
    let mut checker = fsck
        .map(|cmd| open_checker(cmd, setup.target, scratch, timeout))
        .transpose()?;
    let mut r = Replayer::new(&log, t, Progress::new(0));
    match crash::run(&mut r, &setup.selection, &entries, o, checker.as_mut())? {
        crash::Outcome::Done(n) => {
            if o.only.is_none() {
                eprintln!(
                    "{n} crash states{}",
                    if fsck.is_some() { " checked" } else { "" }
                );
            }
            Ok(())
        }
        crash::Outcome::Failed { state, why } => Err(Error::StateCheckFailed { state, why }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_BAD_LOG, EXIT_CHECK_FAILED, EXIT_IO, EXIT_NOT_DURABLE};
    use crate::error::{EXIT_NOT_FOUND, EXIT_USAGE};
    use crate::select::Start;
    use logformat::{EntryHeader, Super, FLAG_FLUSH, FLAG_MARK};
    use std::path::PathBuf;

    const SS: usize = 512;

    /// A file under the temp directory, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &[u8]) -> TempFile {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "lwlog-commands-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&p, contents).unwrap();
            TempFile(p)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A write of `nr` sectors at `sector` with `flags`; no sectors and
    /// FLAG_FLUSH make an empty flush.
    fn write(sector: u64, nr: u64, flags: u64) -> (EntryHeader, &'static [u8]) {
        let h = EntryHeader {
            sector,
            nr_sectors: nr,
            flags,
            data_len: 0,
        };
        (h, b"")
    }

    fn flush() -> (EntryHeader, &'static [u8]) {
        write(0, 0, FLAG_FLUSH)
    }

    fn mark(text: &'static [u8]) -> (EntryHeader, &'static [u8]) {
        let h = EntryHeader {
            flags: FLAG_MARK,
            data_len: text.len() as u64,
            ..Default::default()
        };
        (h, text)
    }

    /// The log the target writes for `entries`, writes carrying 0xab.
    fn log_bytes(entries: &[(EntryHeader, &[u8])]) -> Vec<u8> {
        let mut log = vec![0u8; SS];
        Super {
            nr_entries: entries.len() as u64,
            sector_size: SS as u32,
        }
        .encode(&mut log)
        .unwrap();
        for (h, text) in entries {
            let mut sector = vec![0u8; SS];
            h.encode(text, &mut sector).unwrap();
            log.extend_from_slice(&sector);
            log.resize(log.len() + h.data_sectors() as usize * SS, 0xab);
        }
        log
    }

    /// Two flush epochs of writes with a mark between them, then a write
    /// that was never flushed: three epochs.
    fn small_log() -> TempFile {
        TempFile::new(&log_bytes(&[
            write(0, 2, 0),
            write(8, 1, 0),
            flush(),
            mark(b"middle"),
            write(16, 1, 0),
            write(4, 1, 0),
            flush(),
            write(32, 1, 0),
        ]))
    }

    fn zeroed_target() -> TempFile {
        TempFile::new(&[0u8; 64 * SS])
    }

    fn setup<'a>(log: &'a TempFile, target: &'a TempFile, selection: Selection) -> ReplaySetup<'a> {
        ReplaySetup {
            log: &log.0,
            target: &target.0,
            selection,
            discard: true,
        }
    }

    fn crash_options(only: Option<u64>) -> crash::Options {
        crash::Options {
            per_epoch: 2,
            max_states: 100,
            seed: 1,
            only,
            torn: None,
        }
    }

    #[test]
    fn the_small_log_replays_checks_and_crashes_cleanly() {
        let (log, target) = (small_log(), zeroed_target());
        verify(&log.0).unwrap();
        replay(&setup(&log, &target, Selection::default())).unwrap();
        let every = At {
            flags: FLAG_FLUSH,
            every: Some(1),
        };
        check(
            &setup(&log, &target, Selection::default()),
            "true",
            every,
            None,
            Scratch::default(),
            1,
            None,
        )
        .unwrap();
        let target = zeroed_target();
        let o = crash_options(None);
        crash_states(
            &setup(&log, &target, Selection::default()),
            &o,
            Some("true"),
            None,
            None,
        )
        .unwrap();
    }

    #[test]
    fn a_missing_log_or_target_is_an_io_error() {
        let e = verify(Path::new("/nonexistent/lwlog.log")).unwrap_err();
        assert!(matches!(e, Error::Log(crate::log::LogError::Io(..))), "{e}");
        assert_eq!(e.exit_code(), EXIT_IO);

        let log = small_log();
        let e = replay(&ReplaySetup {
            log: &log.0,
            target: Path::new("/nonexistent/target"),
            selection: Selection::default(),
            discard: true,
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("cannot open target "), "{e}");
        assert_eq!(e.exit_code(), EXIT_IO);
    }

    #[test]
    fn an_inverted_sector_range_is_bad_usage() {
        assert_eq!(crate::select::sector_range(None, None).unwrap(), None);
        assert_eq!(
            crate::select::sector_range(Some(5), None).unwrap(),
            Some((5, u64::MAX))
        );
        let e = crate::select::sector_range(Some(5), Some(4)).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_USAGE);
    }

    #[test]
    fn a_malformed_log_is_invalid() {
        // Zeroes: no magic.
        let zeroes = TempFile::new(&[0u8; 4 * SS]);
        assert_eq!(verify(&zeroes.0).unwrap_err().exit_code(), EXIT_BAD_LOG);
        // An empty file has no super block at all.
        let empty = TempFile::new(&[]);
        assert_eq!(info(&empty.0).unwrap_err().exit_code(), EXIT_BAD_LOG);
        // The super block counts one entry more than there is.
        let mut bytes = log_bytes(&[write(0, 1, 0), flush()]);
        bytes.truncate(bytes.len() - SS);
        let cut = TempFile::new(&bytes);
        let e = verify(&cut.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "entry 1 (byte offset {}): log ends inside the entry",
                3 * SS
            )
        );
        assert_eq!(e.exit_code(), EXIT_BAD_LOG);
        // A replay stops at the same entry, with the same status.
        let target = zeroed_target();
        let e = replay(&setup(&cut, &target, Selection::default())).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_BAD_LOG);
    }

    #[test]
    fn missing_marks_entries_flushes_and_states_are_not_found() {
        let (log, target) = (small_log(), zeroed_target());
        let selections = [
            (Start::Beginning, Stop::Mark(b"absent".to_vec())),
            (Start::Mark(b"absent".to_vec()), Stop::End),
            (Start::Entry(8), Stop::End),
            (Start::Beginning, Stop::NextFua),
            (Start::Entry(7), Stop::NextFlush),
        ];
        for (start, stop) in selections {
            let what = format!("{start:?} {stop:?}");
            let sel = Selection {
                start,
                stop,
                sectors: None,
            };
            let e = replay(&setup(&log, &target, sel.clone())).unwrap_err();
            assert!(matches!(e, Error::NotFound(_)), "{what}: {e}");
            assert_eq!(e.exit_code(), EXIT_NOT_FOUND, "{what}");
            let e = check(
                &setup(&log, &target, sel),
                "true",
                At::default(),
                None,
                Scratch::default(),
                1,
                None,
            );
            assert_eq!(e.unwrap_err().exit_code(), EXIT_NOT_FOUND, "{what}");
        }
        let e = list(&log.0, false, Filter::default(), Some("absent"), None).unwrap_err();
        assert_eq!(e.to_string(), "mark 'absent' is not in the log");
        assert_eq!(e.exit_code(), EXIT_NOT_FOUND);

        // Three epochs of two states each: there is no state 6.
        let o = crash_options(Some(6));
        let e = crash_states(
            &setup(&log, &target, Selection::default()),
            &o,
            None,
            None,
            None,
        );
        let e = e.unwrap_err();
        assert_eq!(e.to_string(), "there are only 6 states, no state 6");
        assert_eq!(e.exit_code(), EXIT_NOT_FOUND);
        let o = crash_options(Some(5));
        crash_states(
            &setup(&log, &target, Selection::default()),
            &o,
            None,
            None,
            None,
        )
        .unwrap();
    }

    #[test]
    fn a_failing_check_command_names_the_entry_or_state() {
        let (log, target) = (small_log(), zeroed_target());
        let at = At {
            flags: FLAG_FLUSH,
            every: None,
        };
        let e = check(
            &setup(&log, &target, Selection::default()),
            "test $LWLOG_ENTRY -lt 3",
            at,
            None,
            Scratch::default(),
            1,
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "check failed after entry 6 (6@12: sector 0, size 0, flags FLUSH): exit status 1"
        );
        assert_eq!(e.exit_code(), EXIT_CHECK_FAILED);

        let target = zeroed_target();
        let o = crash_options(None);
        let e = crash_states(
            &setup(&log, &target, Selection::default()),
            &o,
            Some("test $LWLOG_STATE -ne 1"),
            None,
            None,
        )
        .unwrap_err();
        assert!(matches!(e, Error::StateCheckFailed { state: 1, .. }), "{e}");
        assert_eq!(e.exit_code(), EXIT_CHECK_FAILED);
    }

    #[test]
    fn the_oracle_rejects_bad_input_and_a_log_the_trace_does_not_support() {
        let log = small_log();
        let (top, probe) = ((253, 0), (253, 1));
        let bad = TempFile::new(b"x 5: block_bio_queue: 253 W 1 + 1 [a]\n");
        let e = oracle(&log.0, &bad.0, top, probe, true, None).unwrap_err();
        assert!(matches!(e, Error::Trace(_)), "{e}");
        assert_eq!(e.exit_code(), EXIT_BAD_LOG);

        let journal = TempFile::new(b"X 0 512 0\n");
        let empty = TempFile::new(b"");
        let e = oracle(&log.0, &empty.0, top, probe, true, Some(&journal.0)).unwrap_err();
        assert_eq!(e.to_string(), "journal line 1: not a W line");
        assert_eq!(e.exit_code(), EXIT_BAD_LOG);

        // No write in the trace: the log's first write was never made.
        let e = oracle(&log.0, &empty.0, top, probe, true, None).unwrap_err();
        assert!(matches!(e, Error::NotDurable(_)), "{e}");
        assert_eq!(e.exit_code(), EXIT_NOT_DURABLE);

        let e = oracle(
            &log.0,
            &log.0.with_extension("none"),
            top,
            probe,
            true,
            None,
        );
        assert_eq!(e.unwrap_err().exit_code(), EXIT_IO);
    }
}
