// SPDX-License-Identifier: GPL-2.0

//! `lwlog list`: one line per entry, as text or JSON, with filters.

use crate::log::Entry;
use serde::Serialize;

/// Which entries `list` prints.
#[derive(Default)]
pub struct Filter {
    /// Entries having any of these flag bits (`ANY_WRITE` for data
    /// writes); empty means all.
    pub flags: Vec<u64>,
    pub first: Option<u64>,
    pub last: Option<u64>,
}

/// Pseudo flag for `--flag write`: an entry carrying data.
pub const ANY_WRITE: u64 = 1 << 63;

/// The flag bit for a name given on the command line.
pub fn flag_by_name(name: &str) -> Option<u64> {
    if name.eq_ignore_ascii_case("write") {
        return Some(ANY_WRITE);
    }
    logformat::FLAG_NAMES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(bit, _)| *bit)
}

impl Filter {
    pub fn wants(&self, e: &Entry) -> bool {
        let in_range =
            self.first.is_none_or(|f| e.index >= f) && self.last.is_none_or(|l| e.index <= l);
        let flag_ok = self.flags.is_empty()
            || self.flags.iter().any(|&f| {
                if f == ANY_WRITE {
                    e.touches_data() && !e.header.is_discard()
                } else {
                    e.has(f)
                }
            });
        in_range && flag_ok
    }
}

/// `index@log_sector: sector S, size BYTES, flags NAMES [mark "TEXT"]`.
pub fn text_line(e: &Entry, sector_size: u32) -> String {
    let mut s = format!(
        "{}@{}: sector {}, size {}, flags {}",
        e.index,
        e.offset / u64::from(sector_size),
        e.header.sector,
        e.bytes(sector_size),
        e.flag_names()
    );
    if e.header.is_mark() {
        s.push_str(&format!(" mark \"{}\"", e.mark_text()));
    }
    s
}

/// One entry as `list --json` prints it.
#[derive(Serialize)]
struct EntryJson {
    index: u64,
    log_offset: u64,
    sector: u64,
    nr_sectors: u64,
    bytes: u64,
    flags: Vec<&'static str>,
    /// The mark text as Latin-1: each byte one character.
    mark: Option<String>,
}

/// One JSON object with every field of the entry.
pub fn json_line(e: &Entry, sector_size: u32) -> String {
    let line = EntryJson {
        index: e.index,
        log_offset: e.offset,
        sector: e.header.sector,
        nr_sectors: e.header.nr_sectors,
        bytes: e.bytes(sector_size),
        flags: logformat::FLAG_NAMES
            .iter()
            .filter(|(bit, _)| e.has(*bit))
            .map(|(_, n)| *n)
            .collect(),
        mark: e.header.is_mark().then(|| latin1(&e.mark)),
    };
    // Serialising plain integers and strings cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

/// Raw bytes as a string with each byte one character (Latin-1), so that
/// any mark text round-trips through JSON.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// A JSON string for raw bytes (see `latin1`).
pub fn json_string(bytes: &[u8]) -> String {
    serde_json::to_string(&latin1(bytes)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use logformat::{EntryHeader, FLAG_MARK};

    #[test]
    fn json_marks_round_trip_every_byte() {
        let text: Vec<u8> = (0..=255u8).collect();
        let e = Entry {
            index: 3,
            offset: 4096,
            header: EntryHeader {
                sector: 0,
                nr_sectors: 0,
                flags: FLAG_MARK,
                data_len: text.len() as u64,
            },
            mark: text.clone(),
            group: None,
        };
        let line = json_line(&e, 512);
        assert!(
            line.starts_with(r#"{"index":3,"log_offset":4096,"sector":0,"#),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["flags"], serde_json::json!(["MARK"]));
        let back: Vec<u8> = v["mark"]
            .as_str()
            .unwrap()
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap())
            .collect();
        assert_eq!(back, text);
    }
}
