// SPDX-License-Identifier: GPL-2.0

//! The `lwlog` binary's exit statuses and messages, which the VM test
//! scripts check: one run per status, on a log built here.

use logformat::{EntryHeader, Super, FLAG_FLUSH, FLAG_MARK};
use lwlog::error::EXIT_USAGE;
use lwlog::error::{EXIT_BAD_LOG, EXIT_CHECK_FAILED, EXIT_IO, EXIT_NOT_DURABLE, EXIT_NOT_FOUND};
use std::path::PathBuf;
use std::process::Command;

const SS: usize = 512;

/// A file under the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &[u8]) -> TempFile {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "lwlog-cli-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes, a flush, a mark, another write and a flush; the writes carry
/// 0xab.
fn small_log() -> TempFile {
    let entries = [
        (0, 2, 0, &b""[..]),
        (8, 1, 0, b""),
        (0, 0, FLAG_FLUSH, b""),
        (0, 0, FLAG_MARK, b"middle"),
        (16, 1, 0, b""),
        (0, 0, FLAG_FLUSH, b""),
    ];
    let mut log = vec![0u8; SS];
    Super {
        nr_entries: entries.len() as u64,
        sector_size: SS as u32,
    }
    .encode(&mut log)
    .unwrap();
    for (sector, nr_sectors, flags, text) in entries {
        let h = EntryHeader {
            sector,
            nr_sectors,
            flags,
            data_len: text.len() as u64,
        };
        let mut header = vec![0u8; SS];
        h.encode(text, &mut header).unwrap();
        log.extend_from_slice(&header);
        log.resize(log.len() + h.data_sectors() as usize * SS, 0xab);
    }
    TempFile::new(&log)
}

/// Runs `lwlog args`: its exit status and stderr.
fn lwlog(args: &[&str]) -> (u8, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lwlog"))
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().expect("lwlog was killed by a signal");
    (
        code as u8,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that `lwlog args` exits with `code` and says `message` first.
fn fails(args: &[&str], code: u8, message: &str) {
    let (got, stderr) = lwlog(args);
    assert_eq!(got, code, "lwlog {args:?}: {stderr}");
    assert!(
        stderr.starts_with(message),
        "lwlog {args:?} said {stderr:?}, not {message:?}"
    );
}

#[test]
fn help_lists_the_exit_statuses_the_errors_have() {
    let out = Command::new(env!("CARGO_BIN_EXE_lwlog"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for (code, meaning) in [
        (EXIT_IO, "I/O error"),
        (EXIT_USAGE, "bad usage"),
        (EXIT_BAD_LOG, "invalid log"),
        (EXIT_NOT_FOUND, "mark/entry/flush/FUA not found"),
        (EXIT_CHECK_FAILED, "check command failed"),
        (EXIT_NOT_DURABLE, "oracle: the log is not a true"),
    ] {
        assert!(help.contains(&format!("{code} {meaning}")), "{help}");
    }
}

#[test]
fn success_is_zero() {
    let (log, target) = (small_log(), TempFile::new(&[0u8; 32 * SS]));
    assert_eq!(lwlog(&["verify", log.path()]).0, 0);
    let (code, stderr) = lwlog(&["replay", "--end-mark", "middle", log.path(), target.path()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "replayed 4 entries\n");
}

#[test]
fn io_errors_exit_1() {
    fails(
        &["verify", "/nonexistent/lwlog.log"],
        EXIT_IO,
        "lwlog: cannot open log /nonexistent/lwlog.log: ",
    );
    let log = small_log();
    fails(
        &["replay", log.path(), "/nonexistent/target"],
        EXIT_IO,
        "lwlog: cannot open target /nonexistent/target: ",
    );
}

#[test]
fn bad_usage_exits_2() {
    let (log, target) = (small_log(), TempFile::new(&[0u8; 32 * SS]));
    let (log, target) = (log.path(), target.path());
    fails(
        &[
            "replay",
            "--start-sector",
            "5",
            "--end-sector",
            "1",
            log,
            target,
        ],
        EXIT_USAGE,
        "lwlog: --start-sector 5 is after --end-sector 1",
    );
    // What clap rejects itself exits with the same status.
    assert_eq!(
        lwlog(&["replay", "--limit", "0", log, target]).0,
        EXIT_USAGE
    );
}

#[test]
fn writing_onto_the_log_is_refused_before_anything_is_written() {
    let (log, other) = (small_log(), TempFile::new(&[0u8; 32 * SS]));
    let before = std::fs::read(log.path()).unwrap();
    let (log, other) = (log.path(), other.path());
    let same = format!(
        "{}/./{}",
        std::path::Path::new(log).parent().unwrap().display(),
        std::path::Path::new(log)
            .file_name()
            .unwrap()
            .to_string_lossy()
    );
    let cases: [&[&str]; 4] = [
        &["replay", log, log],
        &["replay", log, &same],
        &[
            "check",
            "--fsck",
            "true",
            "--at",
            "flush",
            log,
            other,
            "--scratch",
            log,
        ],
        &[
            "crash-states",
            "--fsck",
            "true",
            log,
            other,
            "--scratch",
            other,
        ],
    ];
    for args in cases {
        let (code, stderr) = lwlog(args);
        assert_eq!(code, EXIT_USAGE, "lwlog {args:?}: {stderr}");
        assert!(
            stderr.contains("refusing to write anything"),
            "lwlog {args:?} said {stderr:?}"
        );
    }
    assert_eq!(std::fs::read(log).unwrap(), before, "the log was changed");
}

#[test]
fn an_invalid_log_exits_3() {
    let zeroes = TempFile::new(&[0u8; 4 * SS]);
    fails(
        &["verify", zeroes.path()],
        EXIT_BAD_LOG,
        "lwlog: super block (byte offset 0): bad magic",
    );
    let empty = TempFile::new(&[]);
    assert_eq!(lwlog(&["verify", empty.path()]).0, EXIT_BAD_LOG);
}

#[test]
fn what_is_not_there_exits_4() {
    let (log, target) = (small_log(), TempFile::new(&[0u8; 32 * SS]));
    let (log, target) = (log.path(), target.path());
    fails(
        &["replay", "--end-mark", "no-such-mark", log, target],
        EXIT_NOT_FOUND,
        "lwlog: end mark 'no-such-mark' is not in the log",
    );
    fails(
        &["replay", "--start-entry", "999999", log, target],
        EXIT_NOT_FOUND,
        "lwlog: entry 999999: the log has 6 entries",
    );
    fails(
        &["list", "--to-mark", "no-such-mark", log],
        EXIT_NOT_FOUND,
        "lwlog: mark 'no-such-mark' is not in the log",
    );
    fails(
        &["crash-states", "--only", "99", log, target],
        EXIT_NOT_FOUND,
        "lwlog: there are only ",
    );
}

#[test]
fn a_failing_check_exits_5() {
    let (log, target) = (small_log(), TempFile::new(&[0u8; 32 * SS]));
    let (log, target) = (log.path(), target.path());
    fails(
        &[
            "check",
            "--at",
            "flush",
            "--fsck",
            "test $LWLOG_ENTRY -lt 3",
            log,
            target,
        ],
        EXIT_CHECK_FAILED,
        "lwlog: check failed after entry 5 ",
    );
    fails(
        &["crash-states", "--fsck", "false", log, target],
        EXIT_CHECK_FAILED,
        "lwlog: check failed on state 0: exit status 1 (materialise it with --only 0)",
    );
}

#[test]
fn a_log_the_trace_does_not_support_exits_6() {
    let (log, trace) = (small_log(), TempFile::new(b""));
    let (code, stderr) = lwlog(&[
        "oracle",
        "--trace",
        trace.path(),
        "--top",
        "253:0",
        "--probe",
        "253:1",
        log.path(),
    ]);
    assert_eq!(code, EXIT_NOT_DURABLE, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("lwlog: not a true durability record: ")),
        "{stderr}"
    );
}
