// SPDX-License-Identifier: GPL-2.0

//! What the integration tests share.

// Each test crate uses a part of this.
#![allow(dead_code)]

use logformat::{EntryHeader, Super};
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
    let mut log = vec![0u8; ss];
    Super {
        nr_entries: entries.len() as u64,
        sector_size: ss as u32,
    }
    .encode(&mut log)
    .unwrap();
    for &(sector, nr_sectors, flags, text) in entries {
        let h = EntryHeader {
            sector,
            nr_sectors,
            flags,
            data_len: text.len() as u64,
        };
        let mut header = vec![0u8; ss];
        h.encode(text, &mut header).unwrap();
        log.extend_from_slice(&header);
        log.resize(log.len() + h.data_sectors() as usize * ss, 0xab);
    }
    TempFile::new(&log)
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
