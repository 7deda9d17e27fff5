// SPDX-License-Identifier: GPL-2.0

//! The `lwlog` binary's exit statuses and messages, which the VM test
//! scripts check: one run per status, on a log built here.

mod common;
use common::{log_of, run_lwlog, TempFile};
use logformat::{FLAG_FLUSH, FLAG_MARK};
use lwlog::error::EXIT_USAGE;
use lwlog::error::{EXIT_BAD_LOG, EXIT_CHECK_FAILED, EXIT_IO, EXIT_NOT_DURABLE, EXIT_NOT_FOUND};
use std::process::Command;

const SS: usize = 512;

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
    log_of(SS, &entries)
}

/// Runs `lwlog args`: its exit status and stderr.
fn lwlog(args: &[&str]) -> (u8, String) {
    let (code, _, stderr) = run_lwlog(args);
    (code, stderr)
}

/// Runs `lwlog args`: its exit status, stdout and stderr.
fn lwlog_output(args: &[&str]) -> (u8, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lwlog"))
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().expect("lwlog was killed by a signal");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (code as u8, text(&out.stdout), text(&out.stderr))
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

#[test]
fn torn_states_are_printed_and_only_reproduces_them() {
    let log = small_log();
    let dir = std::env::temp_dir().join(format!("lwlog-cli-torn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = TempFile::new(&[0u8; 32 * SS]);
    // Each state's bytes, as the check command saw them.
    let copy = format!("cp \"$LWLOG_DEV\" '{}'/state-$LWLOG_STATE", dir.display());
    let args = ["crash-states", "--torn", "512", "--per-epoch", "1"];
    let mut all = args.to_vec();
    all.extend(["--fsck", &copy, log.path(), target.path()]);
    let (code, stdout, stderr) = lwlog_output(&all);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "4 crash states checked\n");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    // Epoch 0 (entries 0..=2): one state, then two where entry 0, two
    // sectors, is torn; epoch 1 has nothing of two units.
    assert!(
        !lines[0].contains("torn") && !lines[3].contains("torn"),
        "{stdout}"
    );
    for (k, line) in lines.iter().enumerate().skip(1).take(2) {
        assert!(line.starts_with(&format!("state {k}: epoch 0 ")), "{line}");
        assert!(line.contains("0(torn)"), "{line}");
        let unit = if line.contains("wrote only unit 0 (sector 0)") {
            0
        } else {
            assert!(line.contains("wrote only unit 1 (sector 1)"), "{line}");
            1
        };
        assert!(
            line.contains("; torn: entry 0 (NONE, sectors 0..=1, 2 units of 512 bytes)"),
            "{line}"
        );
        let seen = std::fs::read(dir.join(format!("state-{k}"))).unwrap();
        // The unit written holds the write's data, the other one its old
        // zeroes.
        assert!(seen[unit * SS..(unit + 1) * SS].iter().all(|&b| b == 0xab));
        assert!(seen[(1 - unit) * SS..(2 - unit) * SS]
            .iter()
            .all(|&b| b == 0));

        let fresh = TempFile::new(&[0u8; 32 * SS]);
        let k = k.to_string();
        let mut only = args.to_vec();
        only.extend(["--only", &k, log.path(), fresh.path()]);
        let (code, out, err) = lwlog_output(&only);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim_end(), *line);
        assert!(
            std::fs::read(&fresh.0).unwrap() == seen,
            "--only {k} differs"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_torn_unit_is_bad_usage() {
    let target = TempFile::new(&[0u8; 32 * 4096]);
    let small = small_log();
    for unit in ["1000", "256", "131072", "x"] {
        let (code, stderr) = lwlog(&["crash-states", "--torn", unit, small.path(), target.path()]);
        assert_eq!(code, EXIT_USAGE, "--torn {unit}: {stderr}");
        assert!(
            stderr.contains("is not a power of two from 512 to 65536"),
            "{stderr}"
        );
    }
    let (code, stderr) = lwlog(&[
        "crash-states",
        "--torn-per-epoch",
        "3",
        small.path(),
        target.path(),
    ]);
    assert_eq!(code, EXIT_USAGE, "{stderr}");
    let big_sectors = log_of(4096, &[(0, 2, 0, b""), (0, 0, FLAG_FLUSH, b"")]);
    let before = std::fs::read(&target.0).unwrap();
    fails(
        &[
            "crash-states",
            "--torn",
            "512",
            big_sectors.path(),
            target.path(),
        ],
        EXIT_USAGE,
        "lwlog: --torn 512: the atomic write unit must be a multiple of the log's sector size, \
         4096 bytes",
    );
    assert!(
        std::fs::read(&target.0).unwrap() == before,
        "the target was written"
    );
}

#[test]
fn an_entry_past_the_largest_offset_is_an_error_not_a_wrapped_write() {
    // One write of two sectors whose second sector would wrap to byte 0.
    let log = log_of(SS, &[(u64::MAX / SS as u64, 2, 0, b"")]);
    let target = TempFile::new(&[0u8; 4 * SS]);
    let (code, stderr) = lwlog(&["replay", log.path(), target.path()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("past the largest offset"), "{stderr}");
    assert_eq!(std::fs::read(target.path()).unwrap(), vec![0u8; 4 * SS]);
}
