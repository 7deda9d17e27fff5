// SPDX-License-Identifier: GPL-2.0

//! Which entries a replay covers: where it starts, where it stops and which
//! device sectors it touches, resolved against the log before anything is
//! written, so that a missing mark is an error and not a full replay.

use crate::error::{Error, Missing};
use crate::log::{Entry, Log, LogError, Source};
use logformat::{FLAG_FLUSH, FLAG_FUA};

#[derive(Debug, Clone, Default)]
pub enum Start {
    #[default]
    Beginning,
    /// Start at this entry index.
    Entry(u64),
    /// Start just after the mark with this text (as replay-log does).
    Mark(Vec<u8>),
}

#[derive(Debug, Clone, Default)]
pub enum Stop {
    /// Replay to the end of the log.
    #[default]
    End,
    /// Stop after the mark with this text.
    Mark(Vec<u8>),
    /// Stop after this many entries (at least one).
    Limit(u64),
    /// Stop after the first flush entry.
    NextFlush,
    /// Stop after the first FUA entry.
    NextFua,
}

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub start: Start,
    pub stop: Stop,
    /// Only entries touching log sectors `first..=last` of the device
    /// change it (marks and flushes still count as entries).
    pub sectors: Option<(u64, u64)>,
}

/// Why a selection could not be resolved.
#[derive(Debug)]
pub enum SelectError {
    Log(LogError),
    /// A start or stop point is not in the log.
    NotFound(Missing),
}

impl From<LogError> for SelectError {
    fn from(e: LogError) -> Self {
        SelectError::Log(e)
    }
}

impl std::fmt::Display for SelectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SelectError::Log(e) => write!(f, "{e}"),
            SelectError::NotFound(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for SelectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SelectError::Log(e) => Some(e),
            SelectError::NotFound(_) => None,
        }
    }
}

/// The device sectors `first..=last` a replay may change, either end open,
/// or `None` for all of them.
pub fn sector_range(first: Option<u64>, last: Option<u64>) -> Result<Option<(u64, u64)>, Error> {
    if first.is_none() && last.is_none() {
        return Ok(None);
    }
    let (start, end) = (first.unwrap_or(0), last.unwrap_or(u64::MAX));
    if start > end {
        return Err(Error::SectorRange { start, end });
    }
    Ok(Some((start, end)))
}

impl Selection {
    /// The entries to replay, in log order (headers only; data is read
    /// during the replay).
    pub fn resolve<S: Source>(&self, log: &Log<S>) -> Result<Vec<Entry>, SelectError> {
        let mut taken = Vec::new();
        self.walk(log, |e| -> Result<(), SelectError> {
            taken.push(e);
            Ok(())
        })?;
        Ok(taken)
    }

    /// Whether the stop point must be found before anything is written
    /// (so that a missing one is an error and not a full replay).
    pub fn needs_lookahead(&self) -> bool {
        !matches!(self.stop, Stop::End | Stop::Limit(_))
    }

    /// Calls `f` on each selected entry in order, reading headers as it
    /// goes; `f`'s error ends the walk. The error type is the caller's, so
    /// that a failure to apply an entry keeps its own type.
    pub fn walk<S: Source, E: From<SelectError>>(
        &self,
        log: &Log<S>,
        f: impl FnMut(Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        self.walk_from(log, log.entries(), f)
    }

    /// `walk` over entries read from `it` (the log's entries from the
    /// first, read some other way).
    pub fn walk_from<S: Source, E: From<SelectError>>(
        &self,
        log: &Log<S>,
        mut it: impl Iterator<Item = Result<Entry, LogError>>,
        mut f: impl FnMut(Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        // Skip to the start point.
        match &self.start {
            Start::Beginning => {}
            Start::Entry(n) => {
                if *n >= log.sup.nr_entries {
                    return Err(not_found(Missing::Entry {
                        index: *n,
                        entries: log.sup.nr_entries,
                    }));
                }
                for _ in 0..*n {
                    it.next().transpose().map_err(SelectError::Log)?;
                }
            }
            Start::Mark(m) => loop {
                match it.next().transpose().map_err(SelectError::Log)? {
                    Some(e) if e.header.is_mark() && e.mark == *m => break,
                    Some(_) => {}
                    None => return Err(not_found(missing_mark("start", m, log))),
                }
            },
        }
        let mut count = 0u64;
        let mut first = None;
        for e in it {
            let e = e.map_err(SelectError::Log)?;
            first.get_or_insert(e.index);
            count += 1;
            let done = match &self.stop {
                Stop::End => false,
                Stop::Mark(m) => e.header.is_mark() && e.mark == *m,
                Stop::Limit(n) => count >= *n,
                Stop::NextFlush => e.has(FLAG_FLUSH),
                Stop::NextFua => e.has(FLAG_FUA),
            };
            f(e)?;
            if done {
                return Ok(());
            }
        }
        let after = first.unwrap_or(log.sup.nr_entries);
        match &self.stop {
            Stop::End | Stop::Limit(_) => Ok(()),
            Stop::Mark(m) => Err(not_found(missing_mark("end", m, log))),
            Stop::NextFlush => Err(not_found(Missing::Flush { after })),
            Stop::NextFua => Err(not_found(Missing::Fua { after })),
        }
    }

    /// Whether replaying `e` changes the device under the sector range.
    pub fn touches(&self, e: &Entry) -> bool {
        if !e.touches_data() {
            return false;
        }
        match self.sectors {
            None => true,
            Some((first, last)) => {
                let end = e.header.sector.saturating_add(e.header.nr_sectors);
                end > first && e.header.sector <= last
            }
        }
    }
}

fn not_found<E: From<SelectError>>(m: Missing) -> E {
    SelectError::NotFound(m).into()
}

fn missing_mark<S: Source>(role: &'static str, text: &[u8], log: &Log<S>) -> Missing {
    Missing::Mark {
        role: Some(role),
        text: text.to_vec(),
        max_len: logformat::max_mark_len(log.sector_size()),
    }
}
