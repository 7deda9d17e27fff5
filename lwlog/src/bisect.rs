// SPDX-License-Identifier: GPL-2.0

//! `lwlog bisect`: the first check point at which the check command fails,
//! found with a logarithmic number of checks, assuming that once the check
//! fails it keeps failing.
//!
//! Replay only moves forward, and going back is needed whenever a point
//! fails. Two ways to go back exist: replay again from the beginning onto a
//! fresh copy of the initial device, or undo. The initial content is only
//! on TARGET itself (usually zeroes, but lwlog cannot know), so a fresh
//! copy means copying the whole device before starting, in time and in
//! space. Undoing instead keeps, from the last passing point on, the bytes
//! the entries overwrite (the `undo` module `crash-states` uses too) and
//! writes them back to return to that point: it costs only what the
//! entries since the last passing point touch, at most the device once,
//! since a byte is saved once however often it is rewritten. Nothing before
//! the last passing point is ever needed again: the first failure cannot
//! be there.

use crate::check::{self, At};
use crate::command::{Checker, Verdict};
use crate::error::Error;
use crate::log::{Entry, Source};
use crate::replay::Replayer;
use crate::select::Selection;
use crate::undo::{self, Saved};

/// What a bisection found. Positions are indices into the selected
/// entries, not entry indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Check points in the selection.
    pub points: usize,
    /// Checks run.
    pub checks: u64,
    /// The last point that passed before the first failing one (or the last
    /// point, when every point passes); none when the first point fails.
    pub last_passing: Option<usize>,
    /// The first failing point and why it failed; none when every point
    /// passes.
    pub first_failing: Option<(usize, String)>,
}

/// Where the target stands: `entries[..applied]` are replayed, and `saved`
/// holds what the target held after `entries[..base]`.
struct Position {
    applied: usize,
    base: usize,
    saved: Saved,
}

impl Position {
    /// Brings the target to the state after `entries[..want]`, saving
    /// what forward steps overwrite when `keep` is set (the state may have
    /// to be left again).
    fn go<S: Source>(
        &mut self,
        r: &mut Replayer<'_, S>,
        sel: &Selection,
        entries: &[Entry],
        want: usize,
        keep: bool,
    ) -> Result<(), Error> {
        if self.applied > want {
            undo::restore(r, &mut self.saved)?;
            self.applied = self.base;
        }
        for e in &entries[self.applied..want] {
            if keep {
                undo::apply_saving(r, &mut self.saved, e, sel.touches(e))?;
            } else {
                r.apply(e, sel.touches(e))?;
            }
        }
        self.applied = want;
        r.sync()
    }

    /// The current state passed: nothing before it is needed any more.
    fn rebase(&mut self) {
        self.saved.forget();
        self.base = self.applied;
    }
}

/// Bisects the check points `at` picks in `entries` (the selection `sel`
/// resolved), replaying onto `r`'s target, which must hold what the log's
/// device held before `entries[0]`. Leaves the target in the state after
/// the first failing point, or after the last point when all pass.
pub fn run<S: Source>(
    r: &mut Replayer<'_, S>,
    sel: &Selection,
    entries: &[Entry],
    at: At,
    checker: &mut Checker,
) -> Result<Report, Error> {
    let points: Vec<usize> = (0..entries.len())
        .filter(|&i| at.hits(&entries[i], i as u64 + 1))
        .collect();
    let mut pos = Position {
        applied: 0,
        base: 0,
        saved: Saved::default(),
    };
    // Points below `next_unknown` pass (the one before it was checked, or
    // it is 0); points from `failing` on fail (`points.len()`: none known).
    let (mut next_unknown, mut failing) = (0usize, points.len());
    let mut why_failing = String::new();
    let mut checks = 0u64;
    while next_unknown < failing {
        let mid = next_unknown + (failing - next_unknown) / 2;
        let e = &entries[points[mid]];
        pos.go(r, sel, entries, points[mid] + 1, true)?;
        checks += 1;
        let verdict = checker
            .run(r.target.file(), &check::env(e))
            .map_err(Error::RunCheck)?;
        let said = match &verdict {
            Verdict::Passed => "passed".to_string(),
            Verdict::Failed(why) => format!("failed: {why}"),
        };
        eprintln!(
            "check {checks}: point {} of {}, after entry {}: {said}",
            mid + 1,
            points.len(),
            e.index
        );
        match verdict {
            Verdict::Passed => {
                next_unknown = mid + 1;
                pos.rebase();
            }
            Verdict::Failed(why) => {
                failing = mid;
                why_failing = why;
            }
        }
    }
    let last_passing = next_unknown.checked_sub(1);
    // Leave the state worth looking at: the first failure, else the last
    // point. Only forward steps are left to take (the last check was one of
    // the two), but `go` could go back too.
    let shown = if failing < points.len() {
        Some(failing)
    } else {
        last_passing
    };
    if let Some(p) = shown {
        pos.go(r, sel, entries, points[p] + 1, false)?;
    }
    Ok(Report {
        points: points.len(),
        checks,
        last_passing: last_passing.map(|p| points[p]),
        first_failing: (failing < points.len()).then(|| (points[failing], why_failing)),
    })
}

/// Most checks a bisection of `points` points runs: each check at least
/// halves the points not known yet, from `points`, so it ends after
/// ceil(log2(points + 1)).
pub fn max_checks(points: usize) -> u64 {
    u64::from(usize::BITS - points.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_checks_is_the_bit_length() {
        assert_eq!(max_checks(0), 0);
        assert_eq!(max_checks(1), 1);
        assert_eq!(max_checks(2), 2);
        assert_eq!(max_checks(3), 2);
        assert_eq!(max_checks(4), 3);
        assert_eq!(max_checks(7), 3);
        assert_eq!(max_checks(8), 4);
    }
}
