// SPDX-License-Identifier: GPL-2.0

//! `lwlog check`: replay incrementally and run a check command at chosen
//! points, stopping at the first failure.

use crate::command::{Checker, Verdict};
use crate::log::{Entry, Log, Source};
use crate::replay::Replayer;
use crate::select::Selection;
use logformat::{FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK};

/// Where checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Flag(u64),
    /// After every N entries.
    Every(u64),
}

/// Parses `fua`, `flush`, `mark`, `discard` or `every:N`.
pub fn parse_at(s: &str) -> Result<At, String> {
    match s {
        "fua" => Ok(At::Flag(FLAG_FUA)),
        "flush" => Ok(At::Flag(FLAG_FLUSH)),
        "mark" => Ok(At::Flag(FLAG_MARK)),
        "discard" => Ok(At::Flag(FLAG_DISCARD)),
        _ => match s.strip_prefix("every:").map(str::parse::<u64>) {
            Some(Ok(n)) if n > 0 => Ok(At::Every(n)),
            _ => Err(format!(
                "'{s}' is not fua, flush, mark, discard or every:N with N > 0"
            )),
        },
    }
}

impl At {
    fn hits(&self, e: &Entry, nth: u64) -> bool {
        match *self {
            At::Flag(f) => e.has(f),
            At::Every(n) => nth.is_multiple_of(n),
        }
    }
}

pub enum Outcome {
    /// Every check passed; this many ran.
    Passed(u64),
    /// The check after this entry failed.
    Failed { entry: Entry, why: String },
}

/// Replays `entries` and runs `checker` after each entry `at` selects.
pub fn run<S: Source>(
    r: &mut Replayer<'_, S>,
    sel: &Selection,
    entries: &[Entry],
    at: At,
    checker: &mut Checker,
) -> Result<Outcome, String> {
    let mut checks = 0;
    for (i, e) in entries.iter().enumerate() {
        r.apply(e, sel.touches(e))
            .map_err(|err| format!("replaying entry {}: {err}", e.index))?;
        if !at.hits(e, i as u64 + 1) {
            continue;
        }
        r.sync()
            .map_err(|err| format!("syncing the target: {err}"))?;
        checks += 1;
        let env = [
            ("LWLOG_ENTRY", e.index.to_string()),
            ("LWLOG_FLAGS", e.flag_names()),
            ("LWLOG_MARK", e.mark_text()),
        ];
        match checker
            .run(r.target.file(), &env)
            .map_err(|err| format!("running the check: {err}"))?
        {
            Verdict::Passed => {}
            Verdict::Failed(why) => {
                return Ok(Outcome::Failed {
                    entry: e.clone(),
                    why,
                })
            }
        }
    }
    r.sync()
        .map_err(|err| format!("syncing the target: {err}"))?;
    Ok(Outcome::Passed(checks))
}

/// The entry as `lwlog list` prints it.
pub fn describe<S: Source>(log: &Log<S>, e: &Entry) -> String {
    crate::list::text_line(e, log.sector_size())
}
