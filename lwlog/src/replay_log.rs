// SPDX-License-Identifier: GPL-2.0

//! `replay-log` mode: the command line, output and exit status of
//! xfstests' `src/log-writes/replay-log`, for the binary called by that
//! name, so that xfstests (`common/dmlogwrites` and the tests that call the
//! program directly) can run on lwlog unchanged.
//!
//! What the scripts parse is reproduced exactly: `--find` prints
//! `ENTRY@SECTOR` (the log sector just past the entry found), `--num-entries`
//! the count, the info line, the `-v`/`-vv` lines that go into `.full`
//! files, and the exit status (0; 1 for a usage error, an unreadable log, a
//! missing start point, a failed replay or check, and a `--find` that finds
//! nothing; 255 for a log that breaks during `--find`). Options are parsed
//! the way glibc's `getopt_long` does (abbreviations, `--opt=value`,
//! options after operands, `-vv`).
//!
//! Where replay-log writes what was not asked for, this mode refuses and
//! writes nothing, as no test depends on the trap: a replay whose stop point
//! (end mark, next flush or FUA) is not in the log, a replay onto the log
//! itself or a device that holds it, a check whose command was killed by a
//! signal (counted as a success by replay-log). Discards outside
//! `--start-sector`/`--end-sector` are skipped like writes, and a discard
//! the target cannot do is zeroed whatever its size (replay-log skips those
//! above 128 MiB).

use crate::index::{self, Found, LogIndex};
use crate::log::{Entry, FileSource, Log, LogError, StreamEntries};
use crate::overlap;
use crate::progress::Progress;
use crate::replay::{Replayer, Target};
use crate::stream::LogStream;
use logformat::{FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK, FLAG_METADATA};
use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The name that selects this mode.
pub const NAME: &str = "replay-log";

/// Longest mark replay-log keeps of `--start-mark`/`--end-mark`: a 4 KiB
/// sector less the entry header, less one byte for the terminating NUL.
const MARK_MAX: usize = 4097 - logformat::ENTRY_LEN;

/// The flags replay-log names; the rest print as `UNKNOWN.0x..`.
const NAMED_FLAGS: [(u64, &str); 5] = [
    (FLAG_FLUSH, "FLUSH"),
    (FLAG_FUA, "FUA"),
    (FLAG_DISCARD, "DISCARD"),
    (FLAG_MARK, "MARK"),
    (FLAG_METADATA, "METADATA"),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Opt {
    NextFlush,
    NextFua,
    StartEntry,
    EndMark,
    Log,
    Replay,
    Limit,
    Verbose,
    Find,
    NumEntries,
    NoDiscard,
    Fsck,
    Check,
    StartMark,
    StartSector,
    EndSector,
}

/// The long options, in replay-log's order (abbreviations resolve to the
/// first of equivalent matches, as in `getopt_long`), with whether each
/// takes an argument.
const LONG_OPTIONS: [(&str, bool, Opt); 16] = [
    ("next-flush", false, Opt::NextFlush),
    ("next-fua", false, Opt::NextFua),
    ("start-entry", true, Opt::StartEntry),
    ("end-mark", true, Opt::EndMark),
    ("log", true, Opt::Log),
    ("replay", true, Opt::Replay),
    ("limit", true, Opt::Limit),
    ("verbose", false, Opt::Verbose),
    ("find", false, Opt::Find),
    ("num-entries", false, Opt::NumEntries),
    ("no-discard", false, Opt::NoDiscard),
    ("fsck", true, Opt::Fsck),
    ("check", true, Opt::Check),
    ("start-mark", true, Opt::StartMark),
    ("start-sector", true, Opt::StartSector),
    ("end-sector", true, Opt::EndSector),
];

/// When `--check` runs the `--fsck` command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CheckAt {
    /// After every Nth replayed entry.
    Every(u64),
    Fua,
    Flush,
    Discard,
}

#[derive(Debug)]
struct Options {
    verbose: u32,
    stop_flags: u64,
    start_entry: u64,
    start_mark: Option<Vec<u8>>,
    end_mark: Option<Vec<u8>>,
    log: Option<PathBuf>,
    replay: Option<PathBuf>,
    limit: u64,
    find: bool,
    num_entries: bool,
    discard: bool,
    fsck: Option<OsString>,
    check: Option<CheckAt>,
    start_sector: u64,
    end_sector: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            verbose: 0,
            stop_flags: 0,
            start_entry: 0,
            start_mark: None,
            end_mark: None,
            log: None,
            replay: None,
            limit: 0,
            find: false,
            num_entries: false,
            discard: true,
            fsck: None,
            check: None,
            start_sector: 0,
            end_sector: u64::MAX,
        }
    }
}

/// How a run ends early: the exit status, its message already printed.
struct Exit(u8);

type Run<T> = Result<T, Exit>;

fn fail<T>(code: u8, msg: impl std::fmt::Display) -> Run<T> {
    eprintln!("{msg}");
    Err(Exit(code))
}

fn usage<T>() -> Run<T> {
    eprintln!(
        "Usage: replay-log --log LOG [options]   (lwlog in replay-log mode)
  --replay DEV          write the entries onto DEV
  --limit N             stop after N entries
  --next-flush          stop at (or --find) the next flush entry
  --next-fua            stop at (or --find) the next FUA entry
  --end-mark NAME       stop at (or --find) the mark NAME
  --start-entry N       begin at entry N
  --start-mark NAME     begin just after the mark NAME
  --find                print ENTRY@SECTOR of the stop point instead of replaying
  --num-entries         print how many entries the log holds
  --no-discard          ignore discard entries
  --fsck CMD --check N|flush|fua|discard
                        run CMD after every Nth entry or each such entry
  --start-sector S, --end-sector E
                        only change device sectors S..=E
  -v, --verbose         print each replayed entry; -vv also skipped ones
See `lwlog --help` for the lwlog commands."
    );
    Err(Exit(1))
}

/// `strtoull(s, &end, 0)` accepting only when all of `s` was used, as
/// replay-log checks it: leading blanks and a sign, then a `0x` (hex), `0`
/// (octal) or decimal number; an empty string is 0, a negative number
/// wraps, an overflow gives `u64::MAX`.
fn parse_number(s: &[u8]) -> Option<u64> {
    let mut i = s
        .iter()
        .take_while(|b| b" \t\n\x0b\x0c\r".contains(b))
        .count();
    let all = s.len();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let hex = s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
    let (radix, digits) = if hex {
        (16, &s[i + 2..])
    } else if s.get(i) == Some(&b'0') {
        (8, &s[i..])
    } else {
        (10, &s[i..])
    };
    let n = digits
        .iter()
        .take_while(|&&b| (b as char).is_digit(radix))
        .count();
    if n == 0 {
        // No number at all: strtoull leaves the end at the start.
        return (all == 0).then_some(0);
    }
    if n != digits.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in digits {
        let d = u64::from((b as char).to_digit(radix)?);
        v = match v
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(d))
        {
            Some(v) => v,
            None => return Some(u64::MAX),
        };
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

fn number(arg: &OsStr, what: &str) -> Run<u64> {
    match parse_number(arg.as_bytes()) {
        Some(n) => Ok(n),
        None => fail(1, format_args!("Invalid {what} number")),
    }
}

fn mark_arg(arg: &OsStr) -> Vec<u8> {
    let b = arg.as_bytes();
    b[..b.len().min(MARK_MAX)].to_vec()
}

/// Finds the long option `name` names: exactly, or as an abbreviation of
/// options that all take the same kind of argument (the first of them).
fn find_long(argv0: &str, name: &[u8], shown: &str) -> Run<(bool, Opt)> {
    if let Some(&(_, has_arg, opt)) = LONG_OPTIONS.iter().find(|o| o.0.as_bytes() == name) {
        return Ok((has_arg, opt));
    }
    let matches: Vec<_> = LONG_OPTIONS
        .iter()
        .filter(|o| o.0.as_bytes().starts_with(name))
        .collect();
    let Some(first) = matches.first() else {
        eprintln!("{argv0}: unrecognized option '{shown}'");
        return usage();
    };
    let same = |o: &&&(&str, bool, Opt)| {
        o.1 == first.1 && (o.2 == Opt::Verbose) == (first.2 == Opt::Verbose)
    };
    if !matches.iter().all(|o| same(&o)) {
        let names: Vec<String> = matches.iter().map(|o| format!(" '--{}'", o.0)).collect();
        eprintln!(
            "{argv0}: option '{shown}' is ambiguous; possibilities:{}",
            names.concat()
        );
        return usage();
    }
    Ok((first.1, first.2))
}

fn parse(argv0: &str, args: &[OsString]) -> Run<Options> {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_bytes();
        i += 1;
        if a == b"--" {
            break;
        }
        if let Some(long) = a.strip_prefix(b"--") {
            let (name, inline) = match long.iter().position(|&b| b == b'=') {
                Some(p) => (&long[..p], Some(OsStr::from_bytes(&long[p + 1..]))),
                None => (long, None),
            };
            let shown = format!("--{}", String::from_utf8_lossy(name));
            let (has_arg, opt) = find_long(argv0, name, &shown)?;
            let value = match (has_arg, inline) {
                (false, Some(_)) => {
                    eprintln!("{argv0}: option '{shown}' doesn't allow an argument");
                    return usage();
                }
                (false, None) => None,
                (true, Some(v)) => Some(v.to_os_string()),
                (true, None) => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        Some(v.clone())
                    }
                    None => {
                        eprintln!("{argv0}: option '{shown}' requires an argument");
                        return usage();
                    }
                },
            };
            set(&mut o, opt, value)?;
        } else if a.len() > 1 && a[0] == b'-' {
            for &c in &a[1..] {
                if c != b'v' {
                    eprintln!("{argv0}: invalid option -- '{}'", c as char);
                    return usage();
                }
                o.verbose += 1;
            }
        }
        // Anything else is an operand, which replay-log ignores.
    }
    Ok(o)
}

fn set(o: &mut Options, opt: Opt, value: Option<OsString>) -> Run<()> {
    let v = value.unwrap_or_default();
    match opt {
        Opt::NextFlush => o.stop_flags |= FLAG_FLUSH,
        Opt::NextFua => o.stop_flags |= FLAG_FUA,
        Opt::StartEntry => o.start_entry = number(&v, "entry")?,
        Opt::EndMark => {
            o.end_mark = Some(mark_arg(&v));
            o.stop_flags |= FLAG_MARK;
        }
        Opt::StartMark => o.start_mark = Some(mark_arg(&v)),
        Opt::Log => o.log = Some(PathBuf::from(v)),
        Opt::Replay => o.replay = Some(PathBuf::from(v)),
        Opt::Limit => o.limit = number(&v, "entry")?,
        Opt::Verbose => o.verbose += 1,
        Opt::Find => o.find = true,
        Opt::NumEntries => o.num_entries = true,
        Opt::NoDiscard => o.discard = false,
        Opt::Fsck => o.fsck = Some(v),
        Opt::Check => {
            o.check = Some(match v.as_bytes() {
                b"flush" => CheckAt::Flush,
                b"fua" => CheckAt::Fua,
                b"discard" => CheckAt::Discard,
                n => match parse_number(n) {
                    Some(n) if n > 0 => CheckAt::Every(n),
                    _ => return fail(1, "Invalid entry number"),
                },
            })
        }
        Opt::StartSector => o.start_sector = number(&v, "sector")?,
        Opt::EndSector => o.end_sector = number(&v, "sector")?,
    }
    Ok(())
}

/// The flag names replay-log prints: `FLUSH|FUA`, `NONE`, and the bits it
/// does not know as `UNKNOWN.0x..`.
fn flag_string(flags: u64) -> String {
    let mut parts: Vec<String> = NAMED_FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| (*n).to_string())
        .collect();
    let known = NAMED_FLAGS.iter().fold(0, |a, (bit, _)| a | bit);
    if flags & !known != 0 {
        parts.push(format!("UNKNOWN.0x{:x}", flags & !known));
    }
    if parts.is_empty() {
        "NONE".into()
    } else {
        parts.join("|")
    }
}

/// replay-log's `should_stop`: a flag of `stop` is set, and when `stop`
/// includes the mark flag, the entry is that mark (compared as C strings,
/// the entry's text ending at its first NUL).
fn should_stop(e: &Entry, stop: u64, mark: Option<&[u8]>) -> bool {
    let text = e.mark.split(|&b| b == 0).next().unwrap_or_default();
    stops_at(e.flags(), e.has(FLAG_MARK).then_some(text), stop, mark)
}

/// `should_stop` on an entry's flags and mark text (`None`: not a mark),
/// as an index holds them.
fn stops_at(flags: u64, text: Option<&[u8]>, stop: u64, mark: Option<&[u8]>) -> bool {
    if flags & stop == 0 {
        return false;
    }
    if stop & FLAG_MARK == 0 {
        return true;
    }
    mark.is_some_and(|m| flags & FLAG_MARK != 0 && text == Some(m))
}

/// A log opened the way replay-log reads it: entries in order from a
/// position, with the printing it does along the way.
struct Reading<'a, W: Write> {
    log: &'a Log<FileSource>,
    path: &'a Path,
    entries: crate::log::Entries<'a, FileSource>,
    out: &'a mut W,
    verbose: u32,
    /// The log's index, once a question needed it; `None` inside when it
    /// did not match the log (then every question reads the headers, as
    /// replay-log does).
    index: Option<Option<LogIndex>>,
}

impl<'a, W: Write> Reading<'a, W> {
    /// The log's index, from its cache file or built now; none under -vv,
    /// which prints every header passed on the way.
    fn index(&mut self) -> Option<&LogIndex> {
        if self.verbose > 1 {
            return None;
        }
        let (log, path) = (self.log, self.path);
        self.index
            .get_or_insert_with(|| Some(index::load_or_build(path, log)))
            .as_ref()
    }

    /// Moves to entry `to` (at most the entries indexed) by the index,
    /// after checking that the entry before it and the entry itself (when
    /// indexed) are where and what the index says. Whether it moved: on a
    /// mismatch the cache file is dropped, and the caller reads on from
    /// where it was.
    fn jump(&mut self, to: u64) -> bool {
        let (log, path) = (self.log, self.path);
        let Some(ix) = self.index() else {
            return false;
        };
        // Where entry `to` starts: past the entry before it.
        let at = match to.checked_sub(1) {
            None => Some(u64::from(log.sector_size())),
            Some(before) => indexed_entry(log, ix, before),
        };
        let holds = match at {
            Some(a) if to < ix.len() => {
                ix.offset(to) == Some(a) && indexed_entry(log, ix, to).is_some()
            }
            Some(_) => to == ix.len(),
            None => false,
        };
        match at {
            Some(a) if holds => {
                self.entries = log.entries_from(to, a);
                true
            }
            _ => {
                index::forget(path, log);
                self.index = Some(None);
                false
            }
        }
    }

    /// Index of the entry `next` reads.
    fn at(&self) -> u64 {
        self.entries.position().0
    }
    fn ss(&self) -> u64 {
        u64::from(self.log.sector_size())
    }

    /// The next entry, or `None` at the end of what the super block counts.
    fn next(&mut self) -> Result<Option<Entry>, LogError> {
        self.entries.next().transpose()
    }

    /// The next entry as `log_seek_next_entry` reads it, printing it with -vv.
    fn seek_next(&mut self) -> Result<Option<Entry>, LogError> {
        let Some(e) = self.next()? else {
            return Ok(None);
        };
        if self.verbose > 1 {
            let _ = writeln!(
                self.out,
                "seek entry {}@{}: {}, size {}, flags 0x{:x}({})",
                e.index as i32,
                (e.offset + self.ss()) / self.ss(),
                e.header.sector,
                e.header.nr_sectors,
                e.flags(),
                flag_string(e.flags())
            );
        }
        Ok(Some(e))
    }
}

/// Reads entry `i` where `ix` says it is; its end offset if it is there
/// with the flags (and mark text) `ix` gives.
fn indexed_entry(log: &Log<FileSource>, ix: &LogIndex, i: u64) -> Option<u64> {
    let e = log.entries_from(i, ix.offset(i)?).next()?.ok()?;
    let text = e.mark.split(|&b| b == 0).next().unwrap_or_default();
    let same_text = !e.has(FLAG_MARK) || ix.mark(i) == Some(text);
    (e.flags() == ix.flags(i)? && same_text).then(|| e.end_offset(log.sector_size()))
}

/// Runs replay-log's command line `args` (without the program name).
pub fn main(argv0: &str, args: &[OsString]) -> u8 {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let code = match run(argv0, args, &mut out) {
        Ok(()) => 0,
        Err(Exit(code)) => code,
    };
    let _ = out.flush();
    code
}

fn log_error<T>(e: LogError) -> Run<T> {
    fail(1, format_args!("replay-log: {e}"))
}

fn run<W: Write>(argv0: &str, args: &[OsString], out: &mut W) -> Run<()> {
    let o = parse(argv0, args)?;
    let Some(log_path) = &o.log else {
        return usage();
    };
    let log = match Log::open(log_path) {
        Ok(l) => l,
        Err(e @ LogError::Io(..)) => return log_error(e),
        Err(LogError::Super(logformat::FormatError::BadMagic(_))) => {
            return fail(1, "Magic doesn't match")
        }
        Err(LogError::Super(logformat::FormatError::BadVersion(v))) => {
            return fail(
                1,
                format_args!(
                    "Version mismatch, wanted {}, have {}",
                    logformat::VERSION,
                    v as i32
                ),
            )
        }
        Err(e) => return log_error(e),
    };
    if let Some(r) = &o.replay {
        if let Err(e) = OpenOptions::new().write(true).open(r) {
            return fail(
                1,
                format_args!(
                    "Couldn't open replay file {}: {}",
                    r.display(),
                    e.raw_os_error().unwrap_or(0)
                ),
            );
        }
    }
    let mut rd = Reading {
        log: &log,
        path: log_path,
        entries: log.entries(),
        out,
        verbose: o.verbose,
        index: None,
    };
    let ss = rd.ss();

    // The start point: found by the index where it can be (to the entry
    // after the mark; to the first entry it could not index, to read the
    // error there), else by reading every header on the way.
    if let Some(m) = &o.start_mark {
        let found = rd.index().map(|ix| {
            (
                ix.first(0, |f, t| stops_at(f, t, FLAG_MARK, Some(m))),
                ix.len(),
            )
        });
        // Past the mark by the index, or else read on to it.
        let past_mark = match found {
            Some((Found::At(i), _)) => rd.jump(i + 1),
            Some((Found::Nowhere, _)) => return fail(1, "Couldn't find starting mark"),
            Some((Found::Unindexed, len)) => {
                rd.jump(len);
                false
            }
            None => false,
        };
        if !past_mark {
            loop {
                match rd.seek_next() {
                    Ok(Some(e)) if should_stop(&e, FLAG_MARK, Some(m)) => break,
                    Ok(Some(_)) => {}
                    Ok(None) => return fail(1, "Couldn't find starting mark"),
                    Err(e) => return log_error(e),
                }
            }
        }
    } else {
        if o.start_entry >= log.sup.nr_entries {
            return fail(1, "Invalid entry number");
        }
        if let Some(len) = rd.index().map(LogIndex::len) {
            rd.jump(o.start_entry.min(len));
        }
        for _ in rd.at()..o.start_entry {
            match rd.next() {
                Ok(Some(e)) => {
                    if o.verbose > 1 {
                        let _ = writeln!(
                            rd.out,
                            "seek entry {}@{}: {}, size {}, flags 0x{:x}",
                            e.index as i32,
                            e.offset / ss,
                            e.header.sector,
                            e.header.nr_sectors,
                            e.flags()
                        );
                    }
                }
                Ok(None) => return fail(1, "Invalid entry number"),
                Err(e) => return log_error(e),
            }
        }
    }
    if o.fsck.is_some() != o.check.is_some() {
        return usage();
    }

    if o.find {
        let from = rd.at();
        // The entry the scan below stops at: the limit's or the first
        // stop point, whichever comes first.
        let limit_at = (o.limit != 0).then(|| from.saturating_add(o.limit - 1));
        let found = rd.index().map(|ix| {
            let stop = ix.first(from, |f, t| {
                stops_at(f, t, o.stop_flags, o.end_mark.as_deref())
            });
            (stop, ix.len())
        });
        if let Some((stop, len)) = found {
            let target = match (stop, limit_at) {
                (Found::At(i), l) => Some(l.map_or(i, |l| l.min(i))),
                (_, Some(l)) if l < len => Some(l),
                (Found::Nowhere, _) => return fail(1, "Couldn't find entry"),
                (Found::Unindexed, _) => None,
            };
            match target {
                // Read that entry (the jump checked the one before it).
                Some(t) if rd.jump(t) => match rd.next() {
                    Ok(Some(e)) => {
                        let _ = writeln!(rd.out, "{}@{}", e.index, e.end_offset(ss as u32) / ss);
                        return Ok(());
                    }
                    Ok(None) => return fail(1, "Couldn't find entry"),
                    Err(e) => return fail(255, format_args!("replay-log: {e}")),
                },
                Some(_) => {}
                None => {
                    rd.jump(len);
                }
            }
        }
        let mut n = rd.at() - from;
        loop {
            match rd.seek_next() {
                Ok(Some(e)) => {
                    n += 1;
                    if (o.limit != 0 && n == o.limit)
                        || should_stop(&e, o.stop_flags, o.end_mark.as_deref())
                    {
                        let _ = writeln!(rd.out, "{}@{}", e.index, e.end_offset(ss as u32) / ss);
                        return Ok(());
                    }
                }
                Ok(None) => return fail(1, "Couldn't find entry"),
                Err(e) => return fail(255, format_args!("replay-log: {e}")),
            }
        }
    }
    if o.num_entries {
        let _ = writeln!(rd.out, "{}", log.sup.nr_entries);
        return Ok(());
    }
    let Some(target_path) = &o.replay else {
        let _ = writeln!(
            rd.out,
            "Log version={}, sectorsize={}, entries={}",
            logformat::VERSION,
            ss,
            log.sup.nr_entries
        );
        return Ok(());
    };
    replay(&o, &mut rd, log_path, target_path)
}

/// Whether replay-log skips `e` for the sector range (entries that change
/// no sector never are).
fn outside(o: &Options, e: &Entry) -> bool {
    let (sector, n) = (e.header.sector, e.header.nr_sectors);
    n != 0 && (sector.wrapping_add(n) <= o.start_sector || sector > o.end_sector)
}

fn stops(o: &Options, e: &Entry, count: u64) -> bool {
    (o.limit != 0 && count == o.limit) || should_stop(e, o.stop_flags, o.end_mark.as_deref())
}

fn replay<W: Write>(
    o: &Options,
    rd: &mut Reading<'_, W>,
    log_path: &Path,
    target_path: &Path,
) -> Run<()> {
    if let Err(e) = overlap::refuse_overlap(&[("log", log_path), ("replay target", target_path)]) {
        return fail(1, format_args!("replay-log: {e}"));
    }
    let ss = rd.ss();
    // Entries to a stop point are found before anything is written: a
    // missing one is an error, not a replay of the whole log.
    let mut planned: Option<std::vec::IntoIter<Entry>> = None;
    if o.stop_flags != 0 {
        let mut taken = Vec::new();
        loop {
            match rd.next() {
                Ok(Some(e)) => {
                    let stop = stops(o, &e, taken.len() as u64 + 1);
                    taken.push(e);
                    if stop {
                        break;
                    }
                }
                Ok(None) => return fail(1, "Couldn't find entry: nothing replayed"),
                Err(e) => return log_error(e),
            }
        }
        planned = Some(taken.into_iter());
    }
    let target = match Target::open(target_path, o.discard) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                1,
                format_args!("Couldn't open replay file {}: {e}", target_path.display()),
            )
        }
    };
    // With no stop point, the rest of the log is read in one pass, headers
    // and data from one stream (see `stream`).
    let stream = match planned {
        Some(_) => None,
        None => match LogStream::open(log_path, rd.entries.position().1, rd.log.size()) {
            Ok(st) => Some(RefCell::new(st)),
            Err(e) => return fail(1, format_args!("replay-log: cannot read the log: {e}")),
        },
    };
    let (mut r, mut streamed) = match &stream {
        Some(st) => (
            Replayer::streaming(rd.log, st, target, Progress::new(0)),
            Some(StreamEntries::starting_at(
                rd.log,
                st,
                rd.entries.position(),
            )),
        ),
        None => (Replayer::new(rd.log, target, Progress::new(0)), None),
    };
    let mut count = 0u64;
    loop {
        let next = match (planned.as_mut(), streamed.as_mut()) {
            (Some(p), _) => p.next(),
            (None, Some(st)) => match st.next().transpose() {
                Ok(e) => e,
                Err(e) => {
                    // As replay-log: the entries before the break stay
                    // replayed (merged writes are issued first).
                    let _ = r.sync();
                    return log_error(e);
                }
            },
            (None, None) => None,
        };
        let Some(e) = next else { break };
        count += 1;
        let skip = outside(o, &e);
        if o.verbose > 1 || (o.verbose > 0 && !skip) {
            let _ = writeln!(
                rd.out,
                "{} {}@{}: sector {}, size {}, flags 0x{:x}({})",
                if skip { "skipping" } else { "replaying" },
                e.index as i32,
                (e.offset + ss) / ss,
                e.header.sector,
                e.header.nr_sectors.wrapping_mul(ss),
                e.flags(),
                flag_string(e.flags())
            );
        }
        let zeroed = r.target.discard_zeroed();
        if let Err(err) = r.apply(&e, !skip) {
            return fail(1, format_args!("replay-log: {err}"));
        }
        if o.verbose > 0 && !zeroed && r.target.discard_zeroed() {
            let _ = writeln!(
                rd.out,
                "replay device doesn't support discard, switching to writing zeros"
            );
        }
        if let (Some(cmd), Some(at)) = (&o.fsck, o.check) {
            let due = match at {
                CheckAt::Every(n) => count.is_multiple_of(n),
                CheckAt::Fua => e.has(FLAG_FUA),
                CheckAt::Flush => e.has(FLAG_FLUSH),
                CheckAt::Discard => e.has(FLAG_DISCARD),
            };
            if due && !run_check(&mut r, rd.out, cmd) {
                return fail(1, format_args!("Fsck errored out on entry {}", e.index));
            }
        }
        if stops(o, &e, count) {
            break;
        }
    }
    if let Err(e) = r.sync() {
        return fail(1, format_args!("replay-log: {e}"));
    }
    Ok(())
}

/// Makes the replay durable and runs the check command with `sh -c`;
/// whether it exited with status 0.
fn run_check<W: Write>(r: &mut Replayer<'_, FileSource>, out: &mut W, cmd: &OsStr) -> bool {
    if r.sync().is_err() {
        return false;
    }
    let _ = out.flush();
    match Command::new("/bin/sh").arg("-c").arg(cmd).status() {
        Ok(s) => s.success() && s.signal().is_none(),
        Err(e) => {
            eprintln!("replay-log: cannot run the check command: {e}");
            false
        }
    }
}

/// The program name `argv0` selects replay-log mode.
pub fn called_as_replay_log(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new(NAME))
}

/// The arguments as `main` takes them.
pub fn args_from_env() -> (String, Vec<OsString>) {
    let mut it = std::env::args_os();
    let argv0 = it.next().unwrap_or_else(|| NAME.into());
    (
        String::from_utf8_lossy(&argv0.clone().into_vec()).into_owned(),
        it.collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_like_strtoull() {
        assert_eq!(parse_number(b"12"), Some(12));
        assert_eq!(parse_number(b"0x1f"), Some(31));
        assert_eq!(parse_number(b"010"), Some(8));
        assert_eq!(parse_number(b"0"), Some(0));
        assert_eq!(parse_number(b""), Some(0));
        assert_eq!(parse_number(b"  7"), Some(7));
        assert_eq!(parse_number(b"-1"), Some(u64::MAX));
        assert_eq!(parse_number(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_number(b"09"), None);
        assert_eq!(parse_number(b"12a"), None);
        assert_eq!(parse_number(b"abc"), None);
        assert_eq!(parse_number(b" "), None);
        assert_eq!(parse_number(b"-"), None);
        // "0x" with no hex digit is the number 0 followed by "x".
        assert_eq!(parse_number(b"0x"), None);
    }

    fn opts(args: &[&str]) -> Option<Options> {
        let a: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse("replay-log", &a).ok()
    }

    #[test]
    fn options_parse_like_getopt_long() {
        let o = opts(&["-vv", "--log=L", "x", "--rep", "R", "--start", "3"]).unwrap();
        assert_eq!(o.verbose, 2);
        assert_eq!(o.log.as_deref(), Some(Path::new("L")));
        assert_eq!(o.replay.as_deref(), Some(Path::new("R")));
        assert_eq!(o.start_entry, 3);
        // Equivalent abbreviations take the first: --next is --next-flush.
        assert_eq!(opts(&["--next"]).unwrap().stop_flags, FLAG_FLUSH);
        // --f could be --find or --fsck: ambiguous.
        assert!(opts(&["--f"]).is_none());
        assert!(opts(&["--find=1"]).is_none());
        assert!(opts(&["--log"]).is_none());
        assert!(opts(&["-x"]).is_none());
        assert!(opts(&["--limit", "1x"]).is_none());
        assert!(opts(&["--check", "0"]).is_none());
        let o = opts(&["--end-mark", "m", "--next-fua", "--", "--bogus"]).unwrap();
        assert_eq!(o.stop_flags, FLAG_MARK | FLAG_FUA);
        assert_eq!(o.end_mark.as_deref(), Some(&b"m"[..]));
    }

    #[test]
    fn flags_print_like_replay_log() {
        assert_eq!(flag_string(0), "NONE");
        assert_eq!(flag_string(FLAG_FLUSH | FLAG_FUA), "FLUSH|FUA");
        assert_eq!(
            flag_string(FLAG_FLUSH | logformat::FLAG_TARGET),
            "FLUSH|UNKNOWN.0x20"
        );
    }
}
