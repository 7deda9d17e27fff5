// SPDX-License-Identifier: GPL-2.0

//! `lwlog diff`: which device sectors the entries between two points of
//! the log write or discard, as maximal ranges with the entries behind
//! each, so that "what changed between these two states" needs no hex.

use crate::error::{Error, Missing};
use crate::list::json_string;
use crate::log::{Entry, Log, Source};

/// A state of the device, named on the command line: the state after an
/// entry (or a mark, an entry too), or the state before the first entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Point {
    /// Before any entry.
    Start,
    /// After the entry with this index.
    Entry(u64),
    /// After the first mark with this text.
    Mark(Vec<u8>),
}

/// Parses `start`, `entry:N`, `mark:NAME` or a bare entry index `N`.
pub fn parse_point(s: &str) -> Result<Point, String> {
    if s == "start" {
        return Ok(Point::Start);
    }
    if let Some(text) = s.strip_prefix("mark:") {
        return Ok(Point::Mark(text.as_bytes().to_vec()));
    }
    let number = s.strip_prefix("entry:").unwrap_or(s);
    number
        .parse()
        .map(Point::Entry)
        .map_err(|_| format!("'{s}' is not entry:N, mark:NAME, start or an entry index"))
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Point::Start => write!(f, "start"),
            Point::Entry(n) => write!(f, "entry:{n}"),
            Point::Mark(m) => write!(f, "mark:{}", crate::log::escape(m)),
        }
    }
}

/// How many entries are applied in the state `p` names.
pub fn resolve_point<S: Source>(log: &Log<S>, p: &Point) -> Result<u64, Error> {
    match p {
        Point::Start => Ok(0),
        Point::Entry(n) if *n < log.sup.nr_entries => Ok(n + 1),
        Point::Entry(n) => Err(Missing::Entry {
            index: *n,
            entries: log.sup.nr_entries,
        }
        .into()),
        Point::Mark(text) => {
            for e in log.entries() {
                let e = e?;
                if e.header.is_mark() && e.mark == *text {
                    return Ok(e.index + 1);
                }
            }
            Err(Missing::Mark {
                role: None,
                text: text.clone(),
                max_len: logformat::max_mark_len(log.sector_size()),
            }
            .into())
        }
    }
}

/// Device sectors `first..end` (log sectors, `end` exclusive) that
/// `entries` write or discard, every one of them; no sector just before or
/// just after is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRange {
    pub first: u64,
    pub end: u64,
    /// The entries touching the range, in log order.
    pub entries: Vec<Entry>,
}

/// The sectors `entries` write or discard, as maximal ranges in sector
/// order. Marks and empty flushes touch nothing.
pub fn changed_ranges(entries: impl IntoIterator<Item = Entry>) -> Vec<ChangedRange> {
    let mut touching: Vec<Entry> = entries.into_iter().filter(|e| e.touches_data()).collect();
    // By first sector, then log order, so each range lists its entries in
    // log order once sorted by index below.
    touching.sort_by_key(|e| (e.header.sector, e.index));
    let mut ranges: Vec<ChangedRange> = Vec::new();
    for e in touching {
        let (first, end) = (
            e.header.sector,
            e.header.sector.saturating_add(e.header.nr_sectors),
        );
        match ranges.last_mut() {
            // Overlapping or adjacent: the same changed run of sectors.
            Some(r) if first <= r.end => {
                r.end = r.end.max(end);
                r.entries.push(e);
            }
            _ => ranges.push(ChangedRange {
                first,
                end,
                entries: vec![e],
            }),
        }
    }
    for r in &mut ranges {
        r.entries.sort_by_key(|e| e.index);
    }
    ranges
}

/// `sectors FIRST..=LAST (N sectors, B bytes): INDEX FLAGS, ...`.
pub fn text_line(r: &ChangedRange, sector_size: u32) -> String {
    let sectors = r.end - r.first;
    let by: Vec<String> = r
        .entries
        .iter()
        .map(|e| format!("{} {}", e.index, e.flag_names()))
        .collect();
    format!(
        "sectors {}..={} ({sectors} sectors, {} bytes): {}",
        r.first,
        r.end - 1,
        sectors.saturating_mul(u64::from(sector_size)),
        by.join(", ")
    )
}

/// One JSON object for a range, with each entry's own sectors.
pub fn json_line(r: &ChangedRange, sector_size: u32) -> String {
    let sectors = r.end - r.first;
    let entries: Vec<String> = r
        .entries
        .iter()
        .map(|e| {
            let flags: Vec<String> = logformat::FLAG_NAMES
                .iter()
                .filter(|(bit, _)| e.has(*bit))
                .map(|(_, n)| json_string(n.as_bytes()))
                .collect();
            format!(
                "{{\"index\":{},\"sector\":{},\"nr_sectors\":{},\"flags\":[{}],\"discard\":{}}}",
                e.index,
                e.header.sector,
                e.header.nr_sectors,
                flags.join(","),
                e.header.is_discard()
            )
        })
        .collect();
    format!(
        "{{\"first_sector\":{},\"last_sector\":{},\"sectors\":{sectors},\"bytes\":{},\"entries\":[{}]}}",
        r.first,
        r.end - 1,
        sectors.saturating_mul(u64::from(sector_size)),
        entries.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse() {
        assert_eq!(parse_point("start"), Ok(Point::Start));
        assert_eq!(parse_point("12"), Ok(Point::Entry(12)));
        assert_eq!(parse_point("entry:3"), Ok(Point::Entry(3)));
        assert_eq!(parse_point("mark:a:b"), Ok(Point::Mark(b"a:b".to_vec())));
        assert_eq!(parse_point("mark:"), Ok(Point::Mark(Vec::new())));
        for bad in ["", "entry:", "entry:-1", "x", "mark", "Entry:1", " 1"] {
            assert!(parse_point(bad).is_err(), "{bad}");
        }
    }
}
