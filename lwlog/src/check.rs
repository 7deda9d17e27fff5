// SPDX-License-Identifier: GPL-2.0

//! `lwlog check`: replay incrementally and run a check command at chosen
//! points, stopping at the first failure.

use crate::command::{Checker, Pool, Verdict};
use crate::error::Error;
use crate::log::{Entry, Source};
use crate::replay::Replayer;
use crate::select::Selection;
use logformat::{FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK, FLAG_TARGET};
use std::fs::File;

/// Where checks run: after entries with any of `flags`, and after every
/// `every`-th entry. `FLAG_FLUSH` selects the flushes the filesystem
/// issued, `FLAG_TARGET` those the target sent on its own (a real
/// durability point, but one a filesystem that forgot a flush would not
/// have had).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct At {
    pub flags: u64,
    pub every: Option<u64>,
}

/// Parses a comma-separated list of `fua`, `flush`, `target` (the target's
/// own flushes), `mark`, `discard` and `every:N`, e.g. `fua,flush`.
pub fn parse_at(s: &str) -> Result<At, String> {
    let mut at = At::default();
    for part in s.split(',') {
        match part {
            "fua" => at.flags |= FLAG_FUA,
            "flush" => at.flags |= FLAG_FLUSH,
            "target" => at.flags |= FLAG_TARGET,
            "mark" => at.flags |= FLAG_MARK,
            "discard" => at.flags |= FLAG_DISCARD,
            _ => match part.strip_prefix("every:").map(str::parse::<u64>) {
                Some(Ok(n)) if n > 0 && at.every.is_none() => at.every = Some(n),
                _ => {
                    return Err(format!(
                        "'{part}' is not fua, flush, target, mark, discard or every:N with N > 0 (once)"
                    ))
                }
            },
        }
    }
    Ok(at)
}

impl At {
    /// Whether the `nth` entry (counting from 1) of the selection, `e`, is
    /// a check point.
    pub fn hits(&self, e: &Entry, nth: u64) -> bool {
        let flags = if e.has(FLAG_TARGET) {
            // The target's own flush is a point only when asked for.
            e.flags() & !FLAG_FLUSH
        } else {
            e.flags()
        };
        flags & self.flags != 0 || self.every.is_some_and(|n| nth.is_multiple_of(n))
    }
}

/// Which of `points` check points to check when at most `max` may run:
/// all of them, or `max` spread evenly over them, the last one included.
pub fn sample(points: u64, max: Option<u64>) -> impl Fn(u64) -> bool {
    let max = max.unwrap_or(points).min(points);
    // Point k (0-based) is checked when it is the last one of its share of
    // `points / max`, so the chosen points are evenly spaced and end at the
    // last point.
    move |k| max > 0 && (k + 1) * max / points != k * max / points
}

/// What the check command learns about the point it checks, besides
/// `LWLOG_DEV`.
pub fn env(e: &Entry) -> [(&'static str, String); 3] {
    [
        ("LWLOG_ENTRY", e.index.to_string()),
        ("LWLOG_FLAGS", e.flag_names()),
        ("LWLOG_MARK", e.mark_text()),
    ]
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
    max_checks: Option<u64>,
    checker: &mut Checker,
) -> Result<Outcome, Error> {
    let mut failed = None;
    let checks = walk(r, sel, entries, at, max_checks, |point, target, _| {
        let e = &entries[point];
        match checker.run(target, &env(e)).map_err(Error::RunCheck)? {
            Verdict::Passed => Ok(true),
            Verdict::Failed(why) => {
                failed = Some((point, why));
                Ok(false)
            }
        }
    })?;
    outcome(r, entries, checks, failed)
}

/// Like `run`, with the checks run by `pool` on copies, several at once;
/// the outcome is the one `run` would give (the first failing point in
/// log order, not the first failure to be seen).
pub fn run_jobs<S: Source>(
    r: &mut Replayer<'_, S>,
    sel: &Selection,
    entries: &[Entry],
    at: At,
    max_checks: Option<u64>,
    mut pool: Pool,
) -> Result<Outcome, Error> {
    let checks = walk(r, sel, entries, at, max_checks, |point, target, written| {
        pool.start(target, point, written, &env(&entries[point]))
    })?;
    let failed = pool.finish()?;
    outcome(r, entries, checks, failed)
}

fn outcome<S: Source>(
    r: &mut Replayer<'_, S>,
    entries: &[Entry],
    checks: u64,
    failed: Option<(usize, String)>,
) -> Result<Outcome, Error> {
    match failed {
        Some((point, why)) => Ok(Outcome::Failed {
            entry: entries[point].clone(),
            why,
        }),
        None => {
            r.sync()?;
            Ok(Outcome::Passed(checks))
        }
    }
}

/// Replays `entries` and, at each check point `at` and `max_checks`
/// choose, syncs the target and calls `check` with the point's position
/// in `entries`, the target and the byte ranges (start, length) of the
/// target written or discarded since the previous call; stops when
/// `check` returns false. Returns how many calls returned true.
fn walk<S: Source>(
    r: &mut Replayer<'_, S>,
    sel: &Selection,
    entries: &[Entry],
    at: At,
    max_checks: Option<u64>,
    mut check: impl FnMut(usize, &File, &[(u64, u64)]) -> Result<bool, Error>,
) -> Result<u64, Error> {
    let ss = r.log.sector_size();
    let mut written = Vec::new();
    let points = (1..)
        .zip(entries)
        .filter(|(nth, e)| at.hits(e, *nth))
        .count() as u64;
    let chosen = sample(points, max_checks);
    if max_checks.is_some_and(|m| m < points) {
        eprintln!(
            "checking {} of {points} points, evenly spaced",
            max_checks.unwrap_or(points)
        );
    }
    let mut checks = 0;
    let mut point = 0;
    for (i, e) in entries.iter().enumerate() {
        let change = sel.touches(e);
        r.apply(e, change)?;
        if change {
            written.push((e.header.sector.saturating_mul(u64::from(ss)), e.bytes(ss)));
        }
        if !at.hits(e, i as u64 + 1) {
            continue;
        }
        point += 1;
        if !chosen(point - 1) {
            continue;
        }
        r.sync()?;
        if !check(i, r.target.file(), &written)? {
            break;
        }
        written.clear();
        checks += 1;
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        let at = parse_at("fua,flush,every:3").unwrap();
        assert_eq!(at.flags, FLAG_FUA | FLAG_FLUSH);
        let e = |flags| Entry {
            index: 0,
            offset: 0,
            header: logformat::EntryHeader {
                flags,
                ..Default::default()
            },
            mark: Vec::new(),
            group: None,
        };
        assert!(at.hits(&e(FLAG_FLUSH), 1));
        assert!(!at.hits(&e(FLAG_FLUSH | FLAG_TARGET), 1));
        assert!(parse_at("target")
            .unwrap()
            .hits(&e(FLAG_FLUSH | FLAG_TARGET), 1));
        assert_eq!(at.every, Some(3));
        assert!(parse_at("fua,bogus").is_err());
        assert!(parse_at("every:0").is_err());
        assert!(parse_at("every:2,every:3").is_err());
        assert!(parse_at("").is_err());
    }

    #[test]
    fn samples_evenly_and_ends_at_the_last_point() {
        for points in 1..60u64 {
            for max in 1..70u64 {
                let pick = sample(points, Some(max));
                let chosen: Vec<u64> = (0..points).filter(|&k| pick(k)).collect();
                assert_eq!(chosen.len() as u64, max.min(points), "{points} {max}");
                assert_eq!(chosen.last(), Some(&(points - 1)));
                // Gaps differ by at most one point.
                let gaps: Vec<u64> = chosen.windows(2).map(|w| w[1] - w[0]).collect();
                if let (Some(lo), Some(hi)) = (gaps.iter().min(), gaps.iter().max()) {
                    assert!(hi - lo <= 1, "{points} {max} {gaps:?}");
                }
            }
            assert!((0..points).all(sample(points, None)));
        }
    }
}
