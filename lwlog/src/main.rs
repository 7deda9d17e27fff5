// SPDX-License-Identifier: GPL-2.0

//! `lwlog`: inspect, verify and replay logs written by the device-mapper
//! `log-writes` target (the C one or ours), check a filesystem at every
//! flush or FUA point, and generate crash states beyond log prefixes.

use clap::{Args, Parser, Subcommand};
use lwlog::check::{self, At};
use lwlog::command::Checker;
use lwlog::crash;
use lwlog::list::{self, Filter};
use lwlog::log::{Entry, FileSource, Log, LogError};
use lwlog::progress::Progress;
use lwlog::replay::{self, Replayer, Target};
use lwlog::select::{SelectError, Selection, Start, Stop};
use lwlog::verify;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// An I/O error on the log, the target or the scratch device.
const EXIT_IO: u8 = 1;
/// The log is invalid (bad magic, malformed entry, truncated).
const EXIT_BAD_LOG: u8 = 3;
/// A requested mark, entry, flush or FUA is not in the log.
const EXIT_NOT_FOUND: u8 = 4;
/// The check command failed on a replayed state.
const EXIT_CHECK_FAILED: u8 = 5;
/// The log is not a true durability record of the trace.
const EXIT_ORACLE: u8 = 6;

const EXIT_HELP: &str = "Exit status: 0 success, 1 I/O error, 2 bad usage, 3 invalid log, \
4 mark/entry/flush/FUA not found, 5 check command failed, 6 oracle: the log is not a true \
durability record.";

#[derive(Parser)]
#[command(
    name = "lwlog",
    version,
    about = "Inspect, verify and replay device-mapper log-writes logs",
    after_help = EXIT_HELP
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the super block and what the log actually holds.
    #[command(after_help = EXIT_HELP)]
    Info {
        /// Log device or image.
        log: PathBuf,
    },
    /// Print one line per entry: index@log-sector, device sector, size in
    /// bytes, flags, mark text.
    #[command(after_help = EXIT_HELP)]
    List {
        /// Log device or image.
        log: PathBuf,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// Only entries with this flag: flush, fua, discard, mark, metadata,
        /// or write (carries data). Repeat for any of several.
        #[arg(long = "flag", value_name = "FLAG", value_parser = parse_flag)]
        flags: Vec<u64>,
        /// Only entries from this index on.
        #[arg(long)]
        from_entry: Option<u64>,
        /// Only entries up to this index (inclusive).
        #[arg(long)]
        to_entry: Option<u64>,
        /// Only entries from this mark on (inclusive).
        #[arg(long)]
        from_mark: Option<String>,
        /// Only entries up to this mark (inclusive).
        #[arg(long)]
        to_mark: Option<String>,
    },
    /// Check the whole log's structure; name the first problem.
    #[command(after_help = EXIT_HELP)]
    Verify {
        /// Log device or image.
        log: PathBuf,
    },
    /// Check the log against a block trace of what the data device saw
    /// (the durability oracle): every flush, FUA and mark entry must be
    /// preceded by exactly the writes durable at that moment, in durability
    /// order. Names the first entry that is not.
    #[command(after_help = EXIT_HELP)]
    Oracle {
        /// Log device or image.
        log: PathBuf,
        /// Text of tracefs' `trace` with block_bio_queue/complete events
        /// (counter clock) and `lwmark-begin/-end NAME` markers.
        #[arg(long)]
        trace: PathBuf,
        /// The log-writes device, MAJOR:MINOR.
        #[arg(long, value_parser = parse_devno)]
        top: (u32, u32),
        /// The device between the target and the data disk, MAJOR:MINOR.
        #[arg(long, value_parser = parse_devno)]
        probe: (u32, u32),
        /// The log was cut short (logging failed or the log filled): do not
        /// require every durable write to be in it.
        #[arg(long)]
        partial: bool,
        /// What each write carried (`lw-workload block --journal`): check
        /// each logged write's data too.
        #[arg(long)]
        journal: Option<PathBuf>,
    },
    /// Write the log's entries onto TARGET, in log order.
    #[command(after_help = EXIT_HELP)]
    Replay {
        /// Log device or image.
        log: PathBuf,
        /// Device or image to write onto.
        target: PathBuf,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Replay incrementally and run a check command at chosen points,
    /// stopping at the first failure. The command runs with `sh -c` and sees
    /// LWLOG_DEV (the device to check), LWLOG_ENTRY, LWLOG_FLAGS, LWLOG_MARK.
    #[command(after_help = EXIT_HELP)]
    Check {
        /// Log device or image.
        log: PathBuf,
        /// Device or image to replay onto.
        target: PathBuf,
        /// The check command, e.g. 'e2fsck -fn $LWLOG_DEV'.
        #[arg(long)]
        fsck: String,
        /// When to check: a comma-separated list of fua, flush (the
        /// filesystem's), target (the target's own flushes under
        /// max_held_mb), mark, discard and every:N (entries), e.g. fua,flush.
        #[arg(long, value_parser = check::parse_at)]
        at: At,
        /// Check at most this many of the points, evenly spaced, the last
        /// one included (when checking all of them takes too long).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_checks: Option<u64>,
        /// Copy the target here before each check and check the copy, so a
        /// command that writes (a mount replaying a journal) cannot change
        /// the replay.
        #[arg(long)]
        scratch: Option<PathBuf>,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Generate crash states within each flush epoch (a prefix of its FUA
    /// writes plus a random subset of its other writes, in random order) on
    /// top of everything durable before it, materialise each on TARGET and
    /// optionally check it. TARGET must hold what the log's device held
    /// when logging began (usually zeroes).
    #[command(name = "crash-states", after_help = EXIT_HELP)]
    CrashStates {
        /// Log device or image.
        log: PathBuf,
        /// Device or image to materialise states on.
        target: PathBuf,
        /// States per flush epoch.
        #[arg(long, default_value_t = 4)]
        per_epoch: u64,
        /// Stop after this many states.
        #[arg(long, default_value_t = 100)]
        max_states: u64,
        /// Seed for choosing and ordering writes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Only materialise state N and leave it on TARGET.
        #[arg(long, value_name = "N", conflicts_with = "fsck")]
        only: Option<u64>,
        /// Check command run on each state (as for `check`; also sees
        /// LWLOG_STATE).
        #[arg(long)]
        fsck: Option<String>,
        /// Check a copy of the target, as for `check`.
        #[arg(long, requires = "fsck")]
        scratch: Option<PathBuf>,
        #[command(flatten)]
        select: SelectArgs,
    },
}

/// Which entries a replay covers (replay-log's options).
#[derive(Args)]
struct SelectArgs {
    /// Stop after the mark with this text (an error if there is none).
    #[arg(long, group = "stop")]
    end_mark: Option<String>,
    /// Stop after this many entries.
    #[arg(long, group = "stop", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Stop after the next flush entry.
    #[arg(long, group = "stop")]
    next_flush: bool,
    /// Stop after the next FUA entry.
    #[arg(long, group = "stop")]
    next_fua: bool,
    /// Start just after the mark with this text.
    #[arg(long, group = "start")]
    start_mark: Option<String>,
    /// Start at this entry index.
    #[arg(long, group = "start")]
    start_entry: Option<u64>,
    /// Ignore discard entries (replay-log's --no-discard).
    #[arg(long)]
    no_discard: bool,
    /// Only change device sectors from here on (log sectors): entries
    /// entirely before are skipped.
    #[arg(long)]
    start_sector: Option<u64>,
    /// Only change device sectors up to here (inclusive).
    #[arg(long)]
    end_sector: Option<u64>,
}

impl SelectArgs {
    fn selection(&self) -> Result<Selection, Failure> {
        let start = match (&self.start_mark, self.start_entry) {
            (Some(m), _) => Start::Mark(m.as_bytes().to_vec()),
            (None, Some(n)) => Start::Entry(n),
            (None, None) => Start::Beginning,
        };
        let stop = if let Some(m) = &self.end_mark {
            Stop::Mark(m.as_bytes().to_vec())
        } else if let Some(n) = self.limit {
            Stop::Limit(n)
        } else if self.next_flush {
            Stop::NextFlush
        } else if self.next_fua {
            Stop::NextFua
        } else {
            Stop::End
        };
        let sectors = match (self.start_sector, self.end_sector) {
            (None, None) => None,
            (s, e) => {
                let (s, e) = (s.unwrap_or(0), e.unwrap_or(u64::MAX));
                if s > e {
                    return Err(Failure(
                        2,
                        format!("--start-sector {s} is after --end-sector {e}"),
                    ));
                }
                Some((s, e))
            }
        };
        Ok(Selection {
            start,
            stop,
            sectors,
        })
    }
}

fn parse_flag(s: &str) -> Result<u64, String> {
    list::flag_by_name(s)
        .ok_or_else(|| format!("unknown flag '{s}' (flush, fua, discard, mark, metadata, write)"))
}

struct Failure(u8, String);

impl From<LogError> for Failure {
    fn from(e: LogError) -> Self {
        let code = if matches!(e, LogError::Io(..)) {
            EXIT_IO
        } else {
            EXIT_BAD_LOG
        };
        Failure(code, e.to_string())
    }
}

impl From<SelectError> for Failure {
    fn from(e: SelectError) -> Self {
        match e {
            SelectError::Log(e) => e.into(),
            SelectError::NotFound(s) => Failure(EXIT_NOT_FOUND, s),
            SelectError::Apply(s) => Failure(EXIT_IO, s),
        }
    }
}

fn io_fail<'a>(what: &'a str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Failure + 'a {
    move |e| Failure(EXIT_IO, format!("{what} {}: {e}", path.display()))
}

fn info(path: &Path) -> Result<(), Failure> {
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

fn mark_index(log: &Log, text: &str) -> Result<u64, Failure> {
    for e in log.entries() {
        let e = e?;
        if e.header.is_mark() && e.mark == text.as_bytes() {
            return Ok(e.index);
        }
    }
    Err(Failure(
        EXIT_NOT_FOUND,
        format!("mark '{text}' is not in the log"),
    ))
}

#[allow(clippy::too_many_arguments)]
fn list_cmd(
    path: &Path,
    json: bool,
    flags: &[u64],
    from_entry: Option<u64>,
    to_entry: Option<u64>,
    from_mark: Option<&str>,
    to_mark: Option<&str>,
) -> Result<(), Failure> {
    use std::io::Write;
    let log = Log::open(path)?;
    let mut filter = Filter {
        flags: flags.to_vec(),
        first: from_entry,
        last: to_entry,
    };
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

fn verify_cmd(path: &Path) -> Result<(), Failure> {
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

fn parse_devno(s: &str) -> Result<(u32, u32), String> {
    s.split_once(':')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| format!("'{s}' is not MAJOR:MINOR"))
}

fn oracle_cmd(
    path: &Path,
    trace: &Path,
    top: (u32, u32),
    probe: (u32, u32),
    complete: bool,
    journal: Option<&Path>,
) -> Result<(), Failure> {
    let log = Log::open(path)?;
    let ss = log.sector_size();
    let factor = u64::from(ss / 512);
    let mut entries = Vec::new();
    for e in log.entries() {
        let e = e?;
        let mut hashes = Vec::new();
        if journal.is_some() && e.touches_data() && !e.has(logformat::FLAG_DISCARD) {
            let mut data = vec![0u8; e.bytes(ss) as usize];
            log.read_at(&mut data, e.data_offset(ss))
                .map_err(io_fail("cannot read", path))?;
            hashes = data.chunks(512).map(logformat::sector_hash).collect();
        }
        entries.push(lwlog::oracle::LogEntry {
            index: e.index,
            sector: e.header.sector * factor,
            nr: e.header.nr_sectors * factor,
            flags: e.header.flags,
            mark: e.mark.clone(),
            hashes,
        });
    }
    let journal = match journal {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(io_fail("cannot read", p))?;
            lwlog::oracle::Journal::parse(&text)
                .map_err(|e| Failure(EXIT_BAD_LOG, format!("journal: {e}")))?
        }
        None => Default::default(),
    };
    let text = std::fs::read_to_string(trace).map_err(io_fail("cannot read", trace))?;
    let events =
        lwlog::oracle::parse_trace(&text).map_err(|e| Failure(EXIT_BAD_LOG, e.to_string()))?;
    let r = lwlog::oracle::check_with_data(&events, top, probe, &entries, complete, journal)
        .map_err(|v| {
            // The entries leading to the one named, for a look without the
            // log at hand (a failed run in CI).
            if let Some(at) = v.entry {
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
            Failure(EXIT_ORACLE, format!("not a true durability record: {v}"))
        })?;
    println!(
        "oracle: true durability record: {} entries ({} writes, {} discards, {} FUA, {} flushes of which {} the target's own, {} marks) against {} trace events; {} writes never became durable, {} discards superseded, data of {} writes checked",
        r.entries,
        r.writes,
        r.discards,
        r.fua,
        r.flushes,
        r.target_flushes,
        r.marks,
        events.len(),
        r.never_durable,
        r.superseded,
        r.data_checked
    );
    Ok(())
}

fn open_target(path: &Path, select: &SelectArgs) -> Result<Target, Failure> {
    Target::open(path, !select.no_discard).map_err(io_fail("cannot open target", path))
}

fn replay_cmd(log_path: &Path, target: &Path, select: &SelectArgs) -> Result<(), Failure> {
    let log = Log::open(log_path)?;
    let sel = select.selection()?;
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
    let t = open_target(target, select)?;
    let mut r = Replayer::new(&log, t, progress);
    let mut replayed = 0u64;
    let mut apply = |e: Entry| {
        replayed += 1;
        r.apply(&e, sel.touches(&e))
            .map_err(|err| SelectError::Apply(format!("replaying entry {}: {err}", e.index)))
    };
    match planned {
        Some(p) => p.into_iter().try_for_each(&mut apply)?,
        None => sel.walk(&log, &mut apply)?,
    }
    r.sync().map_err(io_fail("cannot sync target", target))?;
    r.finish();
    eprintln!("replayed {replayed} entries");
    Ok(())
}

/// What `check` and `crash-states` start from: the log, the selection,
/// the entries it selects and the opened target.
fn open_replay(
    log_path: &Path,
    target: &Path,
    select: &SelectArgs,
) -> Result<(Log<FileSource>, Selection, Vec<Entry>, Target), Failure> {
    let log = Log::open(log_path)?;
    let sel = select.selection()?;
    let entries = sel.resolve(&log)?;
    let t = open_target(target, select)?;
    Ok((log, sel, entries, t))
}

fn open_checker(fsck: &str, target: &Path, scratch: Option<&Path>) -> Result<Checker, Failure> {
    Checker::new(fsck.to_string(), target, scratch)
        .map_err(io_fail("cannot open scratch", scratch.unwrap_or(target)))
}

fn check_cmd(
    log_path: &Path,
    target: &Path,
    fsck: &str,
    at: At,
    max_checks: Option<u64>,
    scratch: Option<&Path>,
    select: &SelectArgs,
) -> Result<(), Failure> {
    let (log, sel, entries, t) = open_replay(log_path, target, select)?;
    let mut checker = open_checker(fsck, target, scratch)?;
    let mut r = Replayer::new(&log, t, Progress::new(0));
    let outcome = check::run(&mut r, &sel, &entries, at, max_checks, &mut checker);
    r.finish();
    match outcome.map_err(|s| Failure(EXIT_IO, s))? {
        check::Outcome::Passed(n) => {
            println!("{n} checks passed over {} entries", entries.len());
            Ok(())
        }
        check::Outcome::Failed { entry, why } => Err(Failure(
            EXIT_CHECK_FAILED,
            format!(
                "check failed after entry {} ({}): {why}",
                entry.index,
                check::describe(&log, &entry)
            ),
        )),
    }
}

fn crash_cmd(
    log_path: &Path,
    target: &Path,
    o: &crash::Options,
    fsck: Option<&str>,
    scratch: Option<&Path>,
    select: &SelectArgs,
) -> Result<(), Failure> {
    let (log, sel, entries, t) = open_replay(log_path, target, select)?;
    let mut checker = fsck
        .map(|cmd| open_checker(cmd, target, scratch))
        .transpose()?;
    let mut r = Replayer::new(&log, t, Progress::new(0));
    match crash::run(&mut r, &sel, &entries, o, checker.as_mut()) {
        Ok(crash::Outcome::Done(n)) => {
            if o.only.is_none() {
                eprintln!(
                    "{n} crash states{}",
                    if fsck.is_some() { " checked" } else { "" }
                );
            }
            Ok(())
        }
        Ok(crash::Outcome::Failed { state, why }) => Err(Failure(
            EXIT_CHECK_FAILED,
            format!("check failed on state {state}: {why} (materialise it with --only {state})"),
        )),
        Err(s) if s.starts_with("there are only") => Err(Failure(EXIT_NOT_FOUND, s)),
        Err(s) => Err(Failure(EXIT_IO, s)),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.cmd {
        Cmd::Info { log } => info(log),
        Cmd::List {
            log,
            json,
            flags,
            from_entry,
            to_entry,
            from_mark,
            to_mark,
        } => list_cmd(
            log,
            *json,
            flags,
            *from_entry,
            *to_entry,
            from_mark.as_deref(),
            to_mark.as_deref(),
        ),
        Cmd::Verify { log } => verify_cmd(log),
        Cmd::Oracle {
            log,
            trace,
            top,
            probe,
            partial,
            journal,
        } => oracle_cmd(log, trace, *top, *probe, !partial, journal.as_deref()),
        Cmd::Replay {
            log,
            target,
            select,
        } => replay_cmd(log, target, select),
        Cmd::Check {
            log,
            target,
            fsck,
            at,
            max_checks,
            scratch,
            select,
        } => check_cmd(
            log,
            target,
            fsck,
            *at,
            *max_checks,
            scratch.as_deref(),
            select,
        ),
        Cmd::CrashStates {
            log,
            target,
            per_epoch,
            max_states,
            seed,
            only,
            fsck,
            scratch,
            select,
        } => crash_cmd(
            log,
            target,
            &crash::Options {
                per_epoch: *per_epoch,
                max_states: *max_states,
                seed: *seed,
                only: *only,
            },
            fsck.as_deref(),
            scratch.as_deref(),
            select,
        ),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("lwlog: {msg}");
            ExitCode::from(code)
        }
    }
}
