// SPDX-License-Identifier: GPL-2.0

//! `lwlog`: inspect, verify and replay logs written by the device-mapper
//! `log-writes` target (the C one or ours), check a filesystem at every
//! flush or FUA point, and generate crash states beyond log prefixes.

use clap::{Args, Parser, Subcommand};
use lwlog::check::{self, At};
use lwlog::command;
use lwlog::commands::{self, ReplaySetup};
use lwlog::crash;
use lwlog::diff::{self, Point};
use lwlog::error::Error;
use lwlog::group;
use lwlog::list::{self, Filter};
use lwlog::replay_log;
use lwlog::select::{self, Selection, Start, Stop};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const EXIT_HELP: &str = "Exit status: 0 success, 1 I/O error, 2 bad usage, 3 invalid log, \
4 mark/entry/flush/FUA not found, 5 check command failed, 6 oracle: the log is not a true \
durability record.";

/// Torn states per flush epoch unless --torn-per-epoch says otherwise.
const DEFAULT_TORN_PER_EPOCH: u64 = 2;

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
    /// With --timeout, a run that takes too long is killed and fails.
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
        /// the replay. With --jobs N, give it N times: one per job.
        #[arg(long, value_name = "SCRATCH")]
        scratch: Vec<PathBuf>,
        /// Instead of --scratch: create the scratch images (one per job, of
        /// the target's size) in this directory, and remove them at the
        /// end.
        #[arg(long, value_name = "DIR", conflicts_with = "scratch")]
        scratch_dir: Option<PathBuf>,
        /// Run up to this many checks at once, each on a copy of its own
        /// (needs --scratch N times or --scratch-dir); the replay goes on
        /// while they run. The first failing point in log order is
        /// reported, as without --jobs.
        #[arg(long, default_value_t = 1, value_parser = parse_jobs)]
        jobs: usize,
        /// Give each run of the check command at most this many seconds
        /// (e.g. 600 or 0.5): a run that takes longer is killed, with
        /// everything it started, and its point fails with "timed out after
        /// SECONDS s", as any failed check does. With a limit the command
        /// runs in a process group of its own: Ctrl-C at the terminal ends
        /// lwlog but not a command running then, and a command that reads
        /// the terminal is stopped until it times out [default: no limit].
        #[arg(
            long,
            value_name = "SECONDS",
            value_parser = command::parse_timeout,
            allow_negative_numbers = true
        )]
        timeout: Option<Duration>,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Find the first check point at which a check command fails, with
    /// about log2(points) checks, assuming that once it fails it keeps
    /// failing; print the entries between the last passing point and it,
    /// the marks around it and the replay command that reproduces it. The
    /// command runs as for `check`. TARGET must hold what the log's device
    /// held when logging began (usually zeroes); it is left holding the
    /// state after the first failing point (after the last point when all
    /// pass).
    #[command(after_help = EXIT_HELP)]
    Bisect {
        /// Log device or image.
        log: PathBuf,
        /// Device or image to replay onto.
        target: PathBuf,
        /// The check command, e.g. 'e2fsck -fn $LWLOG_DEV'.
        #[arg(long)]
        fsck: String,
        /// The points to bisect, as for `check`. By default the
        /// filesystem's flushes and FUA writes, where it must be
        /// consistent, and marks, where the workload says where it is.
        #[arg(long, value_parser = check::parse_at, default_value = "fua,flush,mark")]
        at: At,
        /// Copy the target here before each check and check the copy, as
        /// for `check`.
        #[arg(long)]
        scratch: Option<PathBuf>,
        /// Kill a run of the check command after this many seconds, as for
        /// `check`; a point that times out is a failing point.
        #[arg(
            long,
            value_name = "SECONDS",
            value_parser = command::parse_timeout,
            allow_negative_numbers = true
        )]
        timeout: Option<Duration>,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// List the device sectors the entries after point A up to point B
    /// write or discard, merged into maximal ranges in sector order, each
    /// with the entries behind it. A point is entry:N or N (the state
    /// after entry N), mark:NAME (after the first mark NAME) or start
    /// (before entry 0).
    #[command(after_help = EXIT_HELP)]
    Diff {
        /// Log device or image.
        log: PathBuf,
        /// The earlier state.
        #[arg(value_parser = diff::parse_point)]
        a: Point,
        /// The later state.
        #[arg(value_parser = diff::parse_point)]
        b: Point,
        /// One JSON object per range instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Generate crash states within each flush epoch (a prefix of its FUA
    /// writes plus a random subset of its other writes, in random order) on
    /// top of everything durable before it, materialise each on TARGET and
    /// optionally check it. With --torn, also states where one write not
    /// yet durable was persisted only partly. TARGET must hold what the
    /// log's device held when logging began (usually zeroes).
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
        /// Also generate torn states: a write not yet durable (a volatile
        /// write or discard, or the FUA write in flight) persisted only in
        /// part, in atomic units of UNIT bytes aligned on the device, each
        /// unit all old or all new. UNIT is a power of two from 512 to
        /// 65536 and a multiple of the log's sector size.
        #[arg(long, value_name = "UNIT", value_parser = parse_torn_unit)]
        torn: Option<u32>,
        /// Torn states per flush epoch, after its --per-epoch states
        /// [default: 2].
        #[arg(long, value_name = "N", requires = "torn")]
        torn_per_epoch: Option<u64>,
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
        /// Kill a run of the check command after this many seconds, as for
        /// `check`; a state whose check times out fails.
        #[arg(
            long,
            value_name = "SECONDS",
            value_parser = command::parse_timeout,
            allow_negative_numbers = true,
            requires = "fsck"
        )]
        timeout: Option<Duration>,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// The logs of the devices of one group (the `group:<name>` table
    /// option) together: their merged timeline, replay to one group point,
    /// checks at every group point.
    Group {
        #[command(subcommand)]
        cmd: GroupCmd,
    },
}

/// `lwlog group ...`: the logs of a group's members together.
#[derive(Subcommand)]
enum GroupCmd {
    /// Print the group's merged timeline: one line per durability event,
    /// `SEQ MEMBER:` then the entry as `lwlog list` prints it (members
    /// numbered from 0 in the order given).
    #[command(after_help = EXIT_HELP)]
    List {
        /// The members' logs (devices or images).
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check that the logs are those of one group's members: the same
    /// group name, every entry numbered, each log in number order, no
    /// number taken twice.
    #[command(after_help = EXIT_HELP)]
    Verify {
        /// The members' logs.
        #[arg(required = true)]
        logs: Vec<PathBuf>,
    },
    /// Replay every member's log onto its target up to one group point, so
    /// that the targets together hold what the devices held, durably, at
    /// that instant.
    #[command(after_help = EXIT_HELP)]
    Replay {
        #[command(flatten)]
        pairs: PairArgs,
        /// The group point: seq:N (after event N), mark:NAME (after the
        /// first mark NAME of any member), entry:MEMBER:INDEX or end.
        #[arg(long, value_parser = group::parse_point, default_value = "end")]
        to: group::GroupPoint,
    },
    /// Replay the group event by event and run a check command at chosen
    /// group points, stopping at the first failure. The command runs with
    /// `sh -c` and sees LWLOG_DEV0, LWLOG_DEV1... (each member's device, in
    /// the order given; LWLOG_DEV is the first), LWLOG_SEQ, and the event's
    /// LWLOG_MEMBER, LWLOG_ENTRY, LWLOG_FLAGS and LWLOG_MARK.
    #[command(after_help = EXIT_HELP)]
    Check {
        #[command(flatten)]
        pairs: PairArgs,
        /// The check command, e.g. 'xfs_repair -n -l $LWLOG_DEV1 $LWLOG_DEV0'.
        #[arg(long)]
        fsck: String,
        /// At which members' entries to check, as for `check`.
        #[arg(long, value_parser = check::parse_at, default_value = "fua,flush,mark")]
        at: At,
        /// Check only after this group point (as for `replay --to`; e.g.
        /// mark:mkfs), replaying up to it without checks.
        #[arg(long, value_parser = group::parse_point, default_value = "seq:0")]
        from: group::GroupPoint,
        /// Check at most this many of the points, evenly spaced, the last
        /// one included.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_checks: Option<u64>,
        /// Copy each target here before each check (once per member, in
        /// order), so that a command that writes cannot change the replay.
        #[arg(long, value_name = "SCRATCH")]
        scratch: Vec<PathBuf>,
        /// Kill a run of the check command after this many seconds, as for
        /// `check`.
        #[arg(
            long,
            value_name = "SECONDS",
            value_parser = command::parse_timeout,
            allow_negative_numbers = true
        )]
        timeout: Option<Duration>,
    },
    /// Crash states across the members: at each group point where some
    /// member has plain writes that completed into its volatile cache and
    /// were not durable yet, states in which each member holds what was
    /// durable then plus a random subset of its cached writes (each member
    /// chosen independently), materialised on the targets, checked if
    /// --fsck is given, then undone. The targets must hold what the devices
    /// held when logging began (usually zeroes).
    #[command(name = "crash-states", after_help = EXIT_HELP)]
    CrashStates {
        #[command(flatten)]
        pairs: PairArgs,
        /// States per group point with cached writes.
        #[arg(long, default_value_t = 2)]
        per_point: u64,
        /// Stop after this many states.
        #[arg(long, default_value_t = 100)]
        max_states: u64,
        /// Seed for choosing and ordering writes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Only materialise state N and leave it on the targets.
        #[arg(long, value_name = "N", conflicts_with = "fsck")]
        only: Option<u64>,
        /// Only at group points after this one, as for `group check`.
        #[arg(long, value_parser = group::parse_point, default_value = "seq:0")]
        from: group::GroupPoint,
        /// Check command run on each state, as for `group check` (also sees
        /// LWLOG_STATE).
        #[arg(long)]
        fsck: Option<String>,
        /// Copy each target here before each check (once per member).
        #[arg(long, value_name = "SCRATCH", requires = "fsck")]
        scratch: Vec<PathBuf>,
        /// Kill a run of the check command after this many seconds.
        #[arg(
            long,
            value_name = "SECONDS",
            value_parser = command::parse_timeout,
            allow_negative_numbers = true,
            requires = "fsck"
        )]
        timeout: Option<Duration>,
    },
    /// The durability oracle for a group: each member's log against the
    /// block trace (as `oracle`), then the group's order against it: an
    /// entry of one member durable for certain before an entry of another
    /// could have become durable must have the smaller number.
    #[command(after_help = EXIT_HELP)]
    Oracle {
        /// Text of tracefs' `trace` with every member's devices traced.
        #[arg(long)]
        trace: PathBuf,
        /// A member's log; repeat for each member.
        #[arg(long = "log", value_name = "LOG", required = true)]
        logs: Vec<PathBuf>,
        /// The member's log-writes device, MAJOR:MINOR, in --log order.
        #[arg(long = "top", value_parser = parse_devno, required = true)]
        tops: Vec<(u32, u32)>,
        /// The device below it, MAJOR:MINOR, in --log order.
        #[arg(long = "probe", value_parser = parse_devno, required = true)]
        probes: Vec<(u32, u32)>,
        /// The logs were cut short: do not require every durable write.
        #[arg(long)]
        partial: bool,
    },
}

/// The members' logs and their targets, in pairs.
#[derive(Args)]
struct PairArgs {
    /// A member's log; repeat for each member.
    #[arg(long = "log", value_name = "LOG", required = true)]
    logs: Vec<PathBuf>,
    /// The target for the --log at the same place; repeat for each member.
    #[arg(long = "target", value_name = "TARGET", required = true)]
    targets: Vec<PathBuf>,
    /// Ignore discard entries.
    #[arg(long)]
    no_discard: bool,
}

impl PairArgs {
    fn pairs(&self) -> group::Pairs<'_> {
        group::Pairs {
            logs: &self.logs,
            targets: &self.targets,
            discard: !self.no_discard,
        }
    }
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
    fn selection(&self) -> Result<Selection, Error> {
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
        Ok(Selection {
            start,
            stop,
            sectors: select::sector_range(self.start_sector, self.end_sector)?,
        })
    }

    fn setup<'a>(&self, log: &'a Path, target: &'a Path) -> Result<ReplaySetup<'a>, Error> {
        Ok(ReplaySetup {
            log,
            target,
            selection: self.selection()?,
            discard: !self.no_discard,
        })
    }
}

fn parse_flag(s: &str) -> Result<u64, String> {
    list::flag_by_name(s)
        .ok_or_else(|| format!("unknown flag '{s}' (flush, fua, discard, mark, metadata, write)"))
}

/// An atomic write unit: what devices have (512-byte sectors, 4 KiB
/// pages, larger NVMe atomic units), and a power of two so that units are
/// whole sectors exactly when UNIT is at least the log's sector size.
fn parse_torn_unit(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|u| u.is_power_of_two() && (512..=65536).contains(u))
        .ok_or_else(|| format!("'{s}' is not a power of two from 512 to 65536 (bytes)"))
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{s}' is not a number of jobs (1 or more)")),
    }
}

fn parse_devno(s: &str) -> Result<(u32, u32), String> {
    s.split_once(':')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| format!("'{s}' is not MAJOR:MINOR"))
}

fn run(cmd: &Cmd) -> Result<(), Error> {
    match cmd {
        Cmd::Info { log } => commands::info(log),
        Cmd::List {
            log,
            json,
            flags,
            from_entry,
            to_entry,
            from_mark,
            to_mark,
        } => commands::list(
            log,
            *json,
            Filter {
                flags: flags.clone(),
                first: *from_entry,
                last: *to_entry,
            },
            from_mark.as_deref(),
            to_mark.as_deref(),
        ),
        Cmd::Verify { log } => commands::verify(log),
        Cmd::Oracle {
            log,
            trace,
            top,
            probe,
            partial,
            journal,
        } => commands::oracle(log, trace, *top, *probe, !partial, journal.as_deref()),
        Cmd::Replay {
            log,
            target,
            select,
        } => commands::replay(&select.setup(log, target)?),
        Cmd::Check {
            log,
            target,
            fsck,
            at,
            max_checks,
            scratch,
            scratch_dir,
            jobs,
            timeout,
            select,
        } => commands::check(
            &select.setup(log, target)?,
            fsck,
            *at,
            *max_checks,
            commands::Scratch {
                paths: scratch,
                dir: scratch_dir.as_deref(),
            },
            *jobs,
            *timeout,
        ),
        Cmd::Bisect {
            log,
            target,
            fsck,
            at,
            scratch,
            timeout,
            select,
        } => commands::bisect(
            &select.setup(log, target)?,
            fsck,
            *at,
            scratch.as_deref(),
            *timeout,
        ),
        Cmd::Diff { log, a, b, json } => commands::diff(log, a, b, *json),
        Cmd::CrashStates {
            log,
            target,
            per_epoch,
            max_states,
            seed,
            torn,
            torn_per_epoch,
            only,
            fsck,
            scratch,
            timeout,
            select,
        } => commands::crash_states(
            &select.setup(log, target)?,
            &crash::Options {
                per_epoch: *per_epoch,
                max_states: *max_states,
                seed: *seed,
                only: *only,
                torn: torn.map(|unit| crash::TornOptions {
                    unit,
                    per_epoch: torn_per_epoch.unwrap_or(DEFAULT_TORN_PER_EPOCH),
                }),
            },
            fsck.as_deref(),
            scratch.as_deref(),
            *timeout,
        ),
        Cmd::Group { cmd } => match cmd {
            GroupCmd::List { logs, json } => group::list(logs, *json),
            GroupCmd::Verify { logs } => group::verify(logs),
            GroupCmd::Replay { pairs, to } => group::replay(&pairs.pairs(), to),
            GroupCmd::Check {
                pairs,
                fsck,
                at,
                from,
                max_checks,
                scratch,
                timeout,
            } => group::check(
                &pairs.pairs(),
                fsck,
                *at,
                from,
                *max_checks,
                scratch,
                *timeout,
            ),
            GroupCmd::Oracle {
                trace,
                logs,
                tops,
                probes,
                partial,
            } => {
                if logs.len() != tops.len() || logs.len() != probes.len() {
                    return Err(group::GroupError::Devices {
                        logs: logs.len(),
                        tops: tops.len(),
                        probes: probes.len(),
                    }
                    .into());
                }
                let members: Vec<group::OracleMember> = logs
                    .iter()
                    .zip(tops)
                    .zip(probes)
                    .map(|((log, &top), &probe)| group::OracleMember {
                        log: log.clone(),
                        top,
                        probe,
                    })
                    .collect();
                group::oracle(&members, trace, !partial)
            }
            GroupCmd::CrashStates {
                pairs,
                per_point,
                max_states,
                seed,
                only,
                from,
                fsck,
                scratch,
                timeout,
            } => group::crash_states(
                &pairs.pairs(),
                &group::CrashOptions {
                    per_point: *per_point,
                    max_states: *max_states,
                    seed: *seed,
                    only: *only,
                    from: from.clone(),
                },
                fsck.as_deref(),
                scratch,
                *timeout,
            ),
        },
    }
}

fn main() -> ExitCode {
    // Called as `replay-log` (a link the build makes): xfstests' tool.
    let (argv0, args) = replay_log::args_from_env();
    if replay_log::called_as_replay_log(argv0.as_ref()) {
        return ExitCode::from(replay_log::main(&argv0, &args));
    }
    let cli = Cli::parse();
    match run(&cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lwlog: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
