// SPDX-License-Identifier: GPL-2.0

//! Why a command failed, and the exit status that tells scripts so.
//!
//! The exit status is a property of the failure's type, never of its
//! message, so that rewording a message cannot change what a test script
//! sees. Every variant keeps what is needed to name the failure (the file,
//! the entry, the I/O error) and prints it the way `lwlog` always has.

use crate::group::{Failure, GroupError};
use crate::log::{escape, Entry, LogError};
use crate::oracle::{ParseError, Violation};
use crate::overlap::Overlap;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Exit status: an I/O error on the log, the target, the scratch device or
/// an input file.
pub const EXIT_IO: u8 = 1;
/// Exit status: bad usage (clap exits with the same status for what it
/// finds itself).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the log (or the trace or journal the oracle reads) is
/// invalid.
pub const EXIT_BAD_LOG: u8 = 3;
/// Exit status: a requested mark, entry, flush, FUA or crash state is not
/// there.
pub const EXIT_NOT_FOUND: u8 = 4;
/// Exit status: the check command failed on a replayed state.
pub const EXIT_CHECK_FAILED: u8 = 5;
/// Exit status: the log is not a true durability record of the trace.
pub const EXIT_NOT_DURABLE: u8 = 6;

/// A failed `lwlog` command.
#[derive(Debug)]
pub enum Error {
    /// An operation on a file or device named on the command line failed;
    /// `what` is the operation as the message starts, e.g. "cannot open
    /// target".
    File {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Replaying an entry failed other than by a failed write to the
    /// target (that is a `TargetWrite`): reading its data from the log, or
    /// an entry past the largest offset a device can have.
    Replay { index: u64, source: io::Error },
    /// I/O on the target `path` outside of replaying one entry.
    Target {
        op: TargetOp,
        path: PathBuf,
        source: io::Error,
    },
    /// Writing `len` bytes at byte `at` of the target `path` failed (it is
    /// full, or failing), while replaying entry `entry` if one was being
    /// replayed. A write merged from several entries is issued by a later
    /// entry or by a sync, so `at` and `len` say which bytes better than
    /// `entry` does.
    TargetWrite {
        path: PathBuf,
        at: u64,
        len: u64,
        entry: Option<u64>,
        source: io::Error,
    },
    /// The check command could not be started.
    RunCheck(io::Error),
    /// `--start-sector` is after `--end-sector`.
    SectorRange { start: u64, end: u64 },
    /// `crash-states --torn`: the atomic write unit, in bytes, is not a
    /// multiple of the log's sector size, so units would split sectors.
    TornUnit { unit: u32, sector_size: u32 },
    /// Two paths that must differ share storage (the target is the log).
    Overlap(Overlap),
    /// `check --jobs`: `given` scratch paths for `jobs` checks at once
    /// (each running check needs a copy of its own).
    ScratchCount { jobs: usize, given: usize },
    /// `check --scratch-dir`: the directory's filesystem has `free`
    /// bytes, too few for `count` images of `size` bytes.
    ScratchSpace {
        dir: PathBuf,
        count: usize,
        size: u64,
        free: u64,
    },
    /// The log could not be read or is invalid.
    Log(LogError),
    /// The oracle's block trace is malformed.
    Trace(ParseError),
    /// The oracle's write journal is malformed.
    Journal(ParseError),
    /// Something the command was asked for is not there.
    NotFound(Missing),
    /// The check command failed after `entry` was replayed.
    CheckFailed {
        entry: Box<Entry>,
        /// The log's sector size, to print the entry as `lwlog list` does.
        sector_size: u32,
        why: String,
    },
    /// `bisect`: the check command already fails at the first check
    /// point, after `entry`, so no passing state bounds the search.
    FailsAtFirstPoint {
        entry: Box<Entry>,
        sector_size: u32,
        why: String,
    },
    /// The check command failed on a crash state.
    StateCheckFailed { state: u64, why: String },
    /// `diff`: point `a`, the state after `a_applied` entries, comes
    /// after point `b`.
    PointOrder {
        a: String,
        a_applied: u64,
        b: String,
        b_applied: u64,
    },
    /// The log departs from the durability record the trace gives.
    NotDurable(Violation),
    /// The logs given are not one group's.
    Group(Box<GroupError>),
    /// `group check`: the command failed at a group point.
    GroupCheckFailed(Box<Failure>),
}

/// What I/O on the target was for, when it failed outside of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOp {
    /// Issuing the write merged from earlier entries.
    Write,
    /// Making the replay durable before a check or at the end.
    Sync,
    /// Reading what a crash state overwrites at this byte, to restore it.
    Save { at: u64 },
    /// Writing back what a crash state overwrote at this byte.
    Restore { at: u64 },
}

/// What a command looked for and did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// A mark with this text; `role` is the part it played ("start",
    /// "end") when the message should say so.
    Mark {
        role: Option<&'static str>,
        text: Vec<u8>,
        /// Longest mark text the log's sector size allows: a longer text
        /// cannot be found, since the target cuts marks to this.
        max_len: usize,
    },
    /// Entry `index`, in a log of `entries` entries.
    Entry { index: u64, entries: u64 },
    /// A flush entry at or after entry `after`.
    Flush { after: u64 },
    /// A FUA entry at or after entry `after`.
    Fua { after: u64 },
    /// Crash state `state`, when there are only `states`.
    State { state: u64, states: u64 },
    /// No entry of the `entries` selected is a check point.
    CheckPoints { entries: u64 },
}

impl Error {
    /// The exit status documented in `lwlog --help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::File { .. }
            | Error::Replay { .. }
            | Error::Target { .. }
            | Error::TargetWrite { .. } => EXIT_IO,
            Error::RunCheck(_) => EXIT_IO,
            Error::Log(LogError::Io(..)) => EXIT_IO,
            Error::SectorRange { .. }
            | Error::Overlap(_)
            | Error::ScratchCount { .. }
            | Error::ScratchSpace { .. }
            | Error::PointOrder { .. }
            | Error::TornUnit { .. } => EXIT_USAGE,
            Error::Log(_) | Error::Trace(_) | Error::Journal(_) => EXIT_BAD_LOG,
            Error::NotFound(_) => EXIT_NOT_FOUND,
            Error::CheckFailed { .. }
            | Error::FailsAtFirstPoint { .. }
            | Error::StateCheckFailed { .. } => EXIT_CHECK_FAILED,
            Error::NotDurable(_) => EXIT_NOT_DURABLE,
            Error::Group(e) => match **e {
                GroupError::NoMembers
                | GroupError::Pairs { .. }
                | GroupError::Devices { .. }
                | GroupError::Twice { .. }
                | GroupError::NoSuchMember { .. } => EXIT_USAGE,
                _ => EXIT_BAD_LOG,
            },
            Error::GroupCheckFailed(_) => EXIT_CHECK_FAILED,
        }
    }

    /// A `map_err` adapter for I/O on the file at `path`.
    pub fn file(what: &'static str, path: &std::path::Path) -> impl FnOnce(io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::File { what, path, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::File { what, path, source } => {
                write!(f, "{what} {}: {source}", path.display())
            }
            Error::Replay { index, source } => write!(f, "replaying entry {index}: {source}"),
            Error::Target { op, path, source } => {
                let path = path.display();
                match op {
                    TargetOp::Write => write!(f, "writing target {path}: {source}"),
                    TargetOp::Sync => write!(f, "syncing target {path}: {source}"),
                    TargetOp::Save { at } => {
                        write!(f, "saving target {path}'s bytes at {at}: {source}")
                    }
                    TargetOp::Restore { at } => {
                        write!(f, "restoring target {path}'s bytes at {at}: {source}")
                    }
                }
            }
            Error::TargetWrite {
                path,
                at,
                len,
                entry,
                source,
            } => {
                write!(
                    f,
                    "cannot write {len} bytes at byte {at} of target {}",
                    path.display()
                )?;
                if let Some(index) = entry {
                    write!(f, " (replaying entry {index})")?;
                }
                write!(f, ": {source}")
            }
            Error::RunCheck(source) => write!(f, "running the check: {source}"),
            Error::SectorRange { start, end } => {
                write!(f, "--start-sector {start} is after --end-sector {end}")
            }
            Error::TornUnit { unit, sector_size } => write!(
                f,
                "--torn {unit}: the atomic write unit must be a multiple of the log's sector \
                 size, {sector_size} bytes"
            ),
            Error::Overlap(e) => write!(f, "{e}"),
            Error::ScratchCount { jobs, given } if given > jobs => write!(
                f,
                "--scratch is given {given} times for --jobs {jobs}: give it once per job"
            ),
            Error::ScratchCount { jobs, given } => write!(
                f,
                "--jobs {jobs} checks copies of the target, one per job: give --scratch \
                 {jobs} times (it is given {given} times) or --scratch-dir DIR"
            ),
            Error::ScratchSpace {
                dir,
                count,
                size,
                free,
            } => write!(
                f,
                "the scratch directory {} has {free} bytes free, too few for {count} \
                 images of {size} bytes (the target's size)",
                dir.display()
            ),
            Error::Log(e) => write!(f, "{e}"),
            Error::Trace(e) => write!(f, "{e}"),
            // ParseError names a trace line; the journal is another file.
            Error::Journal(e) => write!(f, "journal line {}: {}", e.line, e.why),
            Error::NotFound(m) => write!(f, "{m}"),
            Error::CheckFailed {
                entry,
                sector_size,
                why,
            } => write!(
                f,
                "check failed after entry {} ({}): {why}",
                entry.index,
                crate::list::text_line(entry, *sector_size)
            ),
            Error::FailsAtFirstPoint {
                entry,
                sector_size,
                why,
            } => write!(
                f,
                "check fails already at the first point, after entry {} ({}): {why}; no \
                 point passes before it (does the target hold what the log's device held \
                 when logging began?)",
                entry.index,
                crate::list::text_line(entry, *sector_size)
            ),
            Error::PointOrder {
                a,
                a_applied,
                b,
                b_applied,
            } => {
                let state = |n: &u64| match n {
                    0 => "the state before entry 0".to_string(),
                    n => format!("the state after entry {}", n - 1),
                };
                write!(
                    f,
                    "{a} ({}) comes after {b} ({}): give the earlier point first",
                    state(a_applied),
                    state(b_applied)
                )
            }
            Error::StateCheckFailed { state, why } => write!(
                f,
                "check failed on state {state}: {why} (materialise it with --only {state})"
            ),
            Error::NotDurable(v) => write!(f, "not a true durability record: {v}"),
            Error::Group(e) => write!(f, "{e}"),
            Error::GroupCheckFailed(fail) => write!(f, "{fail}"),
        }
    }
}

// The messages above already include their source's text, since `lwlog`
// prints only the outermost error; `source` is for callers that inspect it.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::File { source, .. }
            | Error::Replay { source, .. }
            | Error::Target { source, .. }
            | Error::TargetWrite { source, .. }
            | Error::RunCheck(source) => Some(source),
            Error::Log(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Mark {
                role,
                text,
                max_len,
            } => {
                if let Some(role) = role {
                    write!(f, "{role} ")?;
                }
                write!(f, "mark '{}' is not in the log", escape(text))?;
                if text.len() > *max_len {
                    write!(
                        f,
                        " (the target keeps only the first {max_len} bytes of a mark)"
                    )?;
                }
                Ok(())
            }
            Missing::Entry { index, entries } => {
                write!(f, "entry {index}: the log has {entries} entries")
            }
            Missing::Flush { after } => write!(f, "no FLUSH entry at or after entry {after}"),
            Missing::Fua { after } => write!(f, "no FUA entry at or after entry {after}"),
            Missing::State { state, states } => {
                write!(f, "there are only {states} states, no state {state}")
            }
            Missing::CheckPoints { entries } => write!(
                f,
                "no check point (see --at) among the {entries} entries selected"
            ),
        }
    }
}

impl From<LogError> for Error {
    fn from(e: LogError) -> Self {
        Error::Log(e)
    }
}

impl From<crate::select::SelectError> for Error {
    fn from(e: crate::select::SelectError) -> Self {
        match e {
            crate::select::SelectError::Log(e) => Error::Log(e),
            crate::select::SelectError::NotFound(m) => Error::NotFound(m),
        }
    }
}

impl From<GroupError> for Error {
    fn from(e: GroupError) -> Self {
        Error::Group(Box::new(e))
    }
}

impl From<Missing> for Error {
    fn from(m: Missing) -> Self {
        Error::NotFound(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logformat::FormatError;

    fn io() -> io::Error {
        io::Error::from_raw_os_error(libc::EIO)
    }

    // One value of every variant, with the status and message scripts see.
    // The messages are those `lwlog` printed before errors were typed.
    #[test]
    fn every_variant_has_its_documented_status_and_message() {
        let entry = Entry {
            index: 7,
            offset: 8 * 512,
            header: logformat::EntryHeader {
                sector: 16,
                nr_sectors: 1,
                flags: logformat::FLAG_FLUSH,
                data_len: 0,
            },
            mark: Vec::new(),
            group: None,
        };
        let cases: Vec<(Error, u8, &str)> = vec![
            (
                Error::file("cannot open target", "/dev/x".as_ref())(io()),
                1,
                "cannot open target /dev/x: Input/output error (os error 5)",
            ),
            (
                Error::Replay {
                    index: 3,
                    source: io(),
                },
                1,
                "replaying entry 3: Input/output error (os error 5)",
            ),
            (
                Error::Target {
                    op: TargetOp::Sync,
                    path: "/dev/t".into(),
                    source: io(),
                },
                1,
                "syncing target /dev/t: Input/output error (os error 5)",
            ),
            (
                Error::TargetWrite {
                    path: "/dev/t".into(),
                    at: 4096,
                    len: 512,
                    entry: Some(3),
                    source: io::Error::from_raw_os_error(libc::ENOSPC),
                },
                1,
                "cannot write 512 bytes at byte 4096 of target /dev/t (replaying entry 3): No \
                 space left on device (os error 28)",
            ),
            (
                Error::TargetWrite {
                    path: "/dev/t".into(),
                    at: 0,
                    len: 1024,
                    entry: None,
                    source: io::Error::from_raw_os_error(libc::ENOSPC),
                },
                1,
                "cannot write 1024 bytes at byte 0 of target /dev/t: No space left on device \
                 (os error 28)",
            ),
            (
                Error::RunCheck(io()),
                1,
                "running the check: Input/output error (os error 5)",
            ),
            (
                Error::Log(LogError::Io("cannot open log l".into(), io())),
                1,
                "cannot open log l: Input/output error (os error 5)",
            ),
            (
                Error::SectorRange { start: 9, end: 2 },
                2,
                "--start-sector 9 is after --end-sector 2",
            ),
            (
                Error::TornUnit {
                    unit: 512,
                    sector_size: 4096,
                },
                2,
                "--torn 512: the atomic write unit must be a multiple of the log's sector size, \
                 4096 bytes",
            ),
            (
                Error::Log(LogError::Super(FormatError::Short)),
                3,
                "super block (byte offset 0): buffer shorter than a sector",
            ),
            (
                Error::Log(LogError::Truncated {
                    index: 2,
                    offset: 1536,
                }),
                3,
                "entry 2 (byte offset 1536): log ends inside the entry",
            ),
            (
                Error::Trace(ParseError {
                    line: 4,
                    why: "bad sector",
                }),
                3,
                "trace line 4: bad sector",
            ),
            (
                Error::Journal(ParseError {
                    line: 5,
                    why: "not a W line",
                }),
                3,
                "journal line 5: not a W line",
            ),
            (
                Missing::Mark {
                    role: Some("end"),
                    text: b"m\n".to_vec(),
                    max_len: 480,
                }
                .into(),
                4,
                "end mark 'm\\x0a' is not in the log",
            ),
            (
                Missing::Mark {
                    role: None,
                    text: b"abc".to_vec(),
                    max_len: 2,
                }
                .into(),
                4,
                "mark 'abc' is not in the log (the target keeps only the first 2 bytes of a mark)",
            ),
            (
                Missing::Entry {
                    index: 9,
                    entries: 4,
                }
                .into(),
                4,
                "entry 9: the log has 4 entries",
            ),
            (
                Missing::Flush { after: 1 }.into(),
                4,
                "no FLUSH entry at or after entry 1",
            ),
            (
                Missing::Fua { after: 0 }.into(),
                4,
                "no FUA entry at or after entry 0",
            ),
            (
                Missing::State {
                    state: 12,
                    states: 3,
                }
                .into(),
                4,
                "there are only 3 states, no state 12",
            ),
            (
                Error::CheckFailed {
                    entry: Box::new(entry.clone()),
                    sector_size: 512,
                    why: "exit status 1".into(),
                },
                5,
                "check failed after entry 7 (7@8: sector 16, size 512, flags FLUSH): exit status 1",
            ),
            (
                Error::FailsAtFirstPoint {
                    entry: Box::new(entry),
                    sector_size: 512,
                    why: "exit status 8".into(),
                },
                5,
                "check fails already at the first point, after entry 7 (7@8: sector 16, size 512, \
                 flags FLUSH): exit status 8; no point passes before it (does the target hold \
                 what the log's device held when logging began?)",
            ),
            (
                Error::PointOrder {
                    a: "mark:x".into(),
                    a_applied: 5,
                    b: "start".into(),
                    b_applied: 0,
                },
                2,
                "mark:x (the state after entry 4) comes after start (the state before entry 0): \
                 give the earlier point first",
            ),
            (
                Missing::CheckPoints { entries: 3 }.into(),
                4,
                "no check point (see --at) among the 3 entries selected",
            ),
            (
                Error::StateCheckFailed {
                    state: 2,
                    why: "exit status 8".into(),
                },
                5,
                "check failed on state 2: exit status 8 (materialise it with --only 2)",
            ),
            (
                Error::NotDurable(Violation {
                    entry: Some(5),
                    why: "not durable".into(),
                }),
                6,
                "not a true durability record: entry 5: not durable",
            ),
        ];
        for (e, code, msg) in cases {
            assert_eq!(e.exit_code(), code, "{e}");
            assert_eq!(e.to_string(), msg);
        }
    }
}
