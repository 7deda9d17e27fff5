// SPDX-License-Identifier: GPL-2.0

//! The index replay-log mode keeps of a log between runs
//! (`lwlog/src/index.rs`): it changes no answer, a log changed since is
//! indexed again, and a cache file that lies is caught and dropped.

mod common;
use common::{log_of, TempDir, TempFile};
use logformat::{FLAG_FLUSH, FLAG_FUA, FLAG_MARK};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

const SS: usize = 512;

/// Runs lwlog as replay-log with `LWLOG_INDEX_DIR=dir`: status and stdout.
fn replay_log(dir: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lwlog"))
        .arg0("replay-log")
        .env("LWLOG_INDEX_DIR", dir)
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().expect("killed by a signal");
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Marks the log as last modified an hour ago: old enough to be cached.
fn age(log: &TempFile) {
    let f = std::fs::File::options().write(true).open(&log.0).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

/// Writes, flushes, FUA writes and marks: (sector, sectors, flags, text).
fn entries(fua_at: usize) -> Vec<(u64, u64, u64, &'static [u8])> {
    (0..40)
        .map(|i| match i {
            _ if i == fua_at => (i as u64 * 8, 1 + i as u64 % 3, FLAG_FUA, &b""[..]),
            _ if i % 9 == 4 => (0, 0, FLAG_MARK, &b"m"[..]),
            _ if i % 7 == 3 => (0, 0, FLAG_FLUSH, &b""[..]),
            _ if i % 5 == 2 => (i as u64 * 8, 2, FLAG_FUA, &b""[..]),
            _ => (i as u64 * 8, 1 + i as u64 % 3, 0, &b""[..]),
        })
        .collect()
}

/// The questions xfstests asks, at every start entry.
fn questions(log: &str) -> Vec<Vec<String>> {
    let mut q = Vec::new();
    for k in 0..42 {
        let k = k.to_string();
        for stop in [&["--next-fua"][..], &["--next-flush"], &["--end-mark", "m"]] {
            let mut a = vec!["--log", log, "--find", "--start-entry", &k];
            a.extend_from_slice(stop);
            q.push(a.iter().map(|s| s.to_string()).collect());
        }
        let a = ["--log", log, "--find", "--start-entry", &k, "--limit", "3"];
        q.push(a.iter().map(|s| s.to_string()).collect());
        let a = ["--log", log, "--find", "--start-mark", "m", "--limit", &k];
        q.push(a.iter().map(|s| s.to_string()).collect());
    }
    q
}

fn cache_files(dir: &TempDir) -> usize {
    std::fs::read_dir(&dir.0).map_or(0, |d| d.count())
}

fn dir_str(dir: &TempDir) -> &str {
    dir.0.to_str().unwrap()
}

#[test]
fn answers_from_the_index_equal_answers_from_reading_the_log() {
    let log = log_of(SS, &entries(11));
    age(&log);
    let dir = TempDir::new();
    for q in questions(log.path()) {
        let args: Vec<&str> = q.iter().map(String::as_str).collect();
        let read = replay_log("", &args);
        assert_eq!(replay_log(dir_str(&dir), &args), read, "{args:?}");
    }
    assert_eq!(cache_files(&dir), 1, "no index was cached");
}

/// The question the tests below ask of `log`.
fn next_fua_from_9(log: &TempFile) -> [&str; 6] {
    let args = ["--find", "--next-fua", "--start-entry", "9"];
    ["--log", log.path(), args[0], args[1], args[2], args[3]]
}

#[test]
fn a_log_rewritten_since_is_indexed_again() {
    let log = log_of(SS, &entries(11));
    age(&log);
    let dir = TempDir::new();
    let q = next_fua_from_9(&log);
    let before = replay_log(dir_str(&dir), &q);
    assert_eq!(before.0, 0);
    assert_eq!(cache_files(&dir), 1);
    // The same size, entry count and modification time; the FUA write
    // moved from entry 11 to entry 14.
    let other = log_of(SS, &entries(14));
    assert_eq!(other.read().len(), log.read().len());
    std::fs::write(&log.0, other.read()).unwrap();
    age(&log);
    let after = replay_log(dir_str(&dir), &q);
    assert_eq!(after, replay_log("", &q));
    assert_ne!(after, before);
}

#[test]
fn an_index_that_lies_is_caught_and_dropped() {
    let log = log_of(SS, &entries(11));
    age(&log);
    let dir = TempDir::new();
    let q = next_fua_from_9(&log);
    let truth = replay_log(dir_str(&dir), &q);
    // Entry 9 (a plain write) flagged FUA in the cache file: magic, the
    // identity's length and text, the complete byte, the count, then 16
    // bytes (offset, flags) per entry.
    let file = std::fs::read_dir(&dir.0)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut b = std::fs::read(&file).unwrap();
    let id_len = u64::from_le_bytes(b[8..16].try_into().unwrap()) as usize;
    let flags_of_9 = 16 + id_len + 1 + 8 + 9 * 16 + 8;
    b[flags_of_9] |= FLAG_FUA as u8;
    std::fs::write(&file, &b).unwrap();
    assert_eq!(replay_log(dir_str(&dir), &q), truth);
    assert!(!Path::new(&file).exists(), "the lying cache file was kept");
}

#[test]
fn a_log_modified_a_moment_ago_is_not_cached() {
    let log = log_of(SS, &entries(11));
    let dir = TempDir::new();
    let q = ["--log", log.path(), "--find", "--next-fua"];
    assert_eq!(replay_log(dir_str(&dir), &q).0, 0);
    assert_eq!(cache_files(&dir), 0);
}
