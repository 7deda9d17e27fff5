// SPDX-License-Identifier: GPL-2.0

//! Target bytes saved before entries overwrite them, so that a replayed
//! state can be taken back: `crash-states` undoes each crash state it
//! materialised, `bisect` goes back to its last passing point.
//!
//! Only the first save of a byte is kept: it holds the content the byte had
//! in the base state (when saving began), so restoring every saved piece
//! returns the target to that state whatever order entries overlapped in,
//! and a sector rewritten a thousand times since is saved once.

use crate::error::{Error, TargetOp};
use crate::log::{Entry, Source};
use crate::replay::Replayer;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes read and kept at a time: a large discard (mkfs discards the whole
/// device) is saved piece by piece, and pieces of zeroes take no memory.
const PIECE: u64 = 1 << 20;

enum Piece {
    /// The base state held this many zero bytes here.
    Zeroes(u64),
    Bytes(Vec<u8>),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Zeroes(n) => *n,
            Piece::Bytes(b) => b.len() as u64,
        }
    }
}

/// What the target held in the base state, for every byte written since.
#[derive(Default)]
pub struct Saved {
    /// Non-overlapping pieces by byte offset.
    pieces: BTreeMap<u64, Piece>,
}

impl Saved {
    /// The parts of `[at, end)` not saved yet, in order.
    fn gaps(&self, at: u64, end: u64) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut cursor = at;
        // A piece starting before `at` may reach into the range.
        let before = self.pieces.range(..at).next_back();
        for (&start, piece) in before.into_iter().chain(self.pieces.range(at..end)) {
            let piece_end = start.saturating_add(piece.len());
            if piece_end <= cursor {
                continue;
            }
            if start > cursor {
                gaps.push((cursor, start.min(end)));
            }
            cursor = cursor.max(piece_end);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            gaps.push((cursor, end));
        }
        gaps
    }

    /// Saves what `file` (the target `path`) holds in `[at, end)` where
    /// nothing is saved yet.
    fn save(&mut self, file: &File, path: &Path, at: u64, end: u64) -> Result<(), Error> {
        for (gap_start, gap_end) in self.gaps(at, end) {
            let mut start = gap_start;
            while start < gap_end {
                let len = (gap_end - start).min(PIECE);
                let mut buf = vec![0u8; len as usize];
                read_upto(file, &mut buf, start).map_err(|source| Error::Target {
                    op: TargetOp::Save { at: start },
                    path: path.to_path_buf(),
                    source,
                })?;
                let piece = if buf.iter().all(|&b| b == 0) {
                    Piece::Zeroes(len)
                } else {
                    Piece::Bytes(buf)
                };
                self.pieces.insert(start, piece);
                start += len;
            }
        }
        Ok(())
    }

    /// Forgets everything saved: the target's current state becomes the
    /// base state.
    pub fn forget(&mut self) {
        self.pieces.clear();
    }
}

/// Applies `e` as `Replayer::apply` does, first saving the bytes it changes
/// that are not saved yet.
pub fn apply_saving<S: Source>(
    r: &mut Replayer<'_, S>,
    saved: &mut Saved,
    e: &Entry,
    change: bool,
) -> Result<(), Error> {
    if change && e.touches_data() {
        let ss = u64::from(r.log.sector_size());
        let at = e.header.sector.saturating_mul(ss);
        let end = at.saturating_add(e.bytes(r.log.sector_size()));
        save_range(r, saved, at, end)?;
    }
    r.apply(e, change)
}

/// Saves the target's bytes `[at, end)` that are not saved yet, before
/// something overwrites them.
pub fn save_range<S: Source>(
    r: &mut Replayer<'_, S>,
    saved: &mut Saved,
    at: u64,
    end: u64,
) -> Result<(), Error> {
    if saved.gaps(at, end).is_empty() {
        return Ok(());
    }
    // A merged write still pending may cover the bytes to save.
    issue(r)?;
    saved.save(r.target.file(), r.target.path(), at, end)
}

/// Issues the target's pending merged write.
fn issue<S: Source>(r: &mut Replayer<'_, S>) -> Result<(), Error> {
    let target = &mut r.target;
    target.issue().map_err(|source| {
        target.error(source, None, |source| Error::Target {
            op: TargetOp::Write,
            path: target.path().to_path_buf(),
            source,
        })
    })
}

/// Writes every saved byte back, returning the target to the base state,
/// and forgets them (the base state is current again).
pub fn restore<S: Source>(r: &mut Replayer<'_, S>, saved: &mut Saved) -> Result<(), Error> {
    // What is pending was written after the base state: it must land
    // before the old bytes, not on top of them.
    issue(r)?;
    let zeroes = vec![0u8; PIECE as usize];
    for (at, piece) in std::mem::take(&mut saved.pieces) {
        let bytes = match &piece {
            Piece::Zeroes(n) => &zeroes[..*n as usize],
            Piece::Bytes(b) => &b[..],
        };
        r.target
            .file()
            .write_all_at(bytes, at)
            .map_err(|source| Error::Target {
                op: TargetOp::Restore { at },
                path: r.target.path().to_path_buf(),
                source,
            })?;
    }
    Ok(())
}

/// Reads what there is (an image file may be shorter than the range: the
/// rest reads as zeroes).
fn read_upto(f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], at + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(pieces: &[(u64, u64)]) -> Saved {
        Saved {
            pieces: pieces
                .iter()
                .map(|&(at, len)| (at, Piece::Zeroes(len)))
                .collect(),
        }
    }

    #[test]
    fn gaps_are_what_no_piece_covers() {
        let s = saved(&[(10, 5), (20, 5)]);
        assert_eq!(s.gaps(0, 10), [(0, 10)]);
        assert_eq!(s.gaps(0, 30), [(0, 10), (15, 20), (25, 30)]);
        assert_eq!(s.gaps(12, 22), [(15, 20)]);
        assert_eq!(s.gaps(10, 15), []);
        assert_eq!(s.gaps(11, 13), []);
        assert_eq!(s.gaps(14, 21), [(15, 20)]);
        assert_eq!(s.gaps(24, 40), [(25, 40)]);
        assert_eq!(saved(&[]).gaps(3, 4), [(3, 4)]);
    }
}
