// SPDX-License-Identifier: GPL-2.0

//! What the integration tests share.

// Each test crate uses a part of this.
#![allow(dead_code)]

use logformat::{EntryHeader, GroupStamp, Super};
use std::path::PathBuf;
use std::process::Command;

/// Runs `lwlog args`: its exit status, stdout and stderr.
pub fn run_lwlog(args: &[&str]) -> (u8, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lwlog"))
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().expect("lwlog was killed by a signal");
    (
        code as u8,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file under the temp directory, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(contents: &[u8]) -> TempFile {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "lwlog-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    pub fn read(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The log of `entries` (sector, sectors, flags, mark text) with sector
/// size `ss`; written data is 0xab.
pub fn log_of(ss: usize, entries: &[(u64, u64, u64, &[u8])]) -> TempFile {
    let entries = entries
        .iter()
        .map(|&(sector, nr, flags, text)| (sector, nr, flags, text, 0xab, None));
    TempFile::new(&log_bytes(ss, None, entries))
}

/// A log of sector size `ss`, a member of `group` if given: each entry
/// (sector, sectors, flags, mark text, data byte, group stamp).
fn log_bytes<'a>(
    ss: usize,
    group: Option<&[u8]>,
    entries: impl ExactSizeIterator<Item = (u64, u64, u64, &'a [u8], u8, Option<GroupStamp>)>,
) -> Vec<u8> {
    let mut log = vec![0u8; ss];
    Super {
        nr_entries: entries.len() as u64,
        sector_size: ss as u32,
    }
    .encode(&mut log)
    .unwrap();
    if let Some(name) = group {
        log[logformat::group_tag_offset(ss as u32)..]
            .copy_from_slice(&logformat::group_tag(name).unwrap());
    }
    for (sector, nr_sectors, flags, text, fill, stamp) in entries {
        let h = EntryHeader {
            sector,
            nr_sectors,
            flags,
            data_len: text.len() as u64,
        };
        let mut header = vec![0u8; ss];
        h.encode(text, &mut header).unwrap();
        if let Some(stamp) = stamp {
            header[logformat::group_trailer_offset(ss as u32)..]
                .copy_from_slice(&logformat::group_trailer(stamp));
        }
        log.extend_from_slice(&header);
        log.resize(log.len() + h.data_sectors() as usize * ss, fill);
    }
    log
}

/// A directory under the temp directory, removed with its files when
/// dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let f = TempFile::new(b"");
        let p = f.0.with_extension("d");
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An entry of a grouped test log: (group sequence number, sector,
/// sectors, flags, mark text, data byte).
pub type GroupedEntry<'a> = (u64, u64, u64, u64, &'a [u8], u8);
/// As [`GroupedEntry`], with the completion number after the sequence
/// number.
pub type StampedEntry<'a> = (u64, u64, u64, u64, u64, &'a [u8], u8);

/// A grouped log (`group:<name>`, sector size 512) of `entries`, each
/// durable when it completed.
pub fn grouped_log_of(name: &[u8], entries: &[GroupedEntry<'_>]) -> TempFile {
    let stamped: Vec<_> = entries
        .iter()
        .map(|&(seq, sector, nr, flags, text, fill)| (seq, seq, sector, nr, flags, text, fill))
        .collect();
    grouped_log_stamped(name, &stamped)
}

/// As [`grouped_log_of`], with each entry's completion number.
pub fn grouped_log_stamped(name: &[u8], entries: &[StampedEntry<'_>]) -> TempFile {
    let entries = entries
        .iter()
        .map(|&(seq, completed, sector, nr, flags, text, fill)| {
            (
                sector,
                nr,
                flags,
                text,
                fill,
                Some(GroupStamp { seq, completed }),
            )
        });
    TempFile::new(&log_bytes(512, Some(name), entries))
}
