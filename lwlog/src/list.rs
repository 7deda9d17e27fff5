// SPDX-License-Identifier: GPL-2.0

//! `lwlog list`: one line per entry, as text or JSON, with filters.

use crate::log::Entry;

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

/// One JSON object with every field of the entry.
pub fn json_line(e: &Entry, sector_size: u32) -> String {
    let flags: Vec<String> = logformat::FLAG_NAMES
        .iter()
        .filter(|(bit, _)| e.has(*bit))
        .map(|(_, n)| format!("\"{n}\""))
        .collect();
    let mark = if e.header.is_mark() {
        json_string(&e.mark)
    } else {
        "null".into()
    };
    format!(
        "{{\"index\":{},\"log_offset\":{},\"sector\":{},\"nr_sectors\":{},\"bytes\":{},\"flags\":[{}],\"mark\":{}}}",
        e.index,
        e.offset,
        e.header.sector,
        e.header.nr_sectors,
        e.bytes(sector_size),
        flags.join(","),
        mark
    )
}

/// A JSON string for raw bytes: each byte is one character (Latin-1), so
/// any mark text round-trips.
pub fn json_string(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\u{b:04x}")),
        }
    }
    s.push('"');
    s
}
