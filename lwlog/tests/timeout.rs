// SPDX-License-Identifier: GPL-2.0

//! `--timeout`: a check command that hangs is killed, with everything it
//! started, and fails its point like any failed check; one that ends in
//! time is unaffected; nonsense limits are refused.
//!
//! The hanging commands start a background `sleep` that inherits the
//! stdout pipe the test reads `lwlog`'s output from: killing only the
//! shell would leave it holding the pipe, and the run would last as long
//! as that `sleep`. Each test's sleeps have a length of their own, so that
//! the test can also look for survivors in /proc.

mod common;
use common::{log_of, TempFile};
use logformat::FLAG_FLUSH;
use lwlog::error::{EXIT_CHECK_FAILED, EXIT_USAGE};
use std::process::Command;
use std::time::{Duration, Instant};

const SS: usize = 512;

/// Far longer than any run here may take: a run that lasts this long hung.
const HUNG: Duration = Duration::from_secs(10);

/// Three writes, each followed by a flush: the flush points are entries
/// 1, 3 and 5.
fn small_log() -> TempFile {
    let entries = [
        (0, 1, 0, &b""[..]),
        (0, 0, FLAG_FLUSH, b""),
        (1, 1, 0, b""),
        (0, 0, FLAG_FLUSH, b""),
        (2, 1, 0, b""),
        (0, 0, FLAG_FLUSH, b""),
    ];
    log_of(SS, &entries)
}

fn zeroed() -> TempFile {
    TempFile::new(&[0u8; 16 * SS])
}

/// What a run of `lwlog` said, how it ended and how long it took.
#[derive(Debug)]
struct Run {
    code: u8,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `lwlog args`, reading its output to the end: a process it left
/// holding the pipes makes the run last as long as that process.
fn lwlog(args: &[&str]) -> Run {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_lwlog"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Run {
        code: out.status.code().expect("lwlog was killed by a signal") as u8,
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
        took: start.elapsed(),
    }
}

/// The pids of processes still running `sleep SECS` a few seconds from
/// now, if any still are (a SIGKILL sent is not yet a process dead; a
/// zombie has no command line left, so a killed one is not counted).
fn sleeping(secs: &str) -> Vec<u32> {
    let want = format!("sleep\0{secs}\0");
    let start = Instant::now();
    loop {
        let mut found = Vec::new();
        for dir in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = dir.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if std::fs::read(dir.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()) {
                found.push(pid);
            }
        }
        if found.is_empty() || start.elapsed() > Duration::from_secs(5) {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_hanging_check_is_killed_and_fails_the_first_point() {
    let log = small_log();
    // A plain hang, and one whose background child holds stdout open.
    for (fsck, secs) in [
        ("sleep 31.25", "31.25"),
        ("sleep 32.25 & sleep 32.5", "32.25"),
    ] {
        let target = zeroed();
        let run = lwlog(&[
            "check",
            log.path(),
            target.path(),
            "--fsck",
            fsck,
            "--at",
            "flush",
            "--timeout",
            "0.5",
        ]);
        assert!(run.took < HUNG, "{fsck}: took {:?}", run.took);
        assert_eq!(run.code, EXIT_CHECK_FAILED, "{fsck}: {run:?}");
        assert_eq!(
            run.stderr,
            "lwlog: check failed after entry 1 (1@3: sector 0, size 0, flags FLUSH): timed \
             out after 0.5 s\n",
            "{fsck}"
        );
        assert_eq!(sleeping(secs), Vec::<u32>::new(), "{fsck}: survivors");
        assert_eq!(sleeping("32.5"), Vec::<u32>::new(), "{fsck}: survivors");
    }
}

#[test]
fn a_hanging_check_fails_its_state_in_crash_states() {
    let (log, target) = (small_log(), zeroed());
    let run = lwlog(&[
        "crash-states",
        log.path(),
        target.path(),
        "--fsck",
        "sleep 33.25 & sleep 33.5",
        "--timeout",
        "0.25",
    ]);
    assert!(run.took < HUNG, "took {:?}", run.took);
    assert_eq!(run.code, EXIT_CHECK_FAILED, "{run:?}");
    assert_eq!(
        run.stderr,
        "lwlog: check failed on state 0: timed out after 0.25 s (materialise it with --only 0)\n"
    );
    assert_eq!(sleeping("33.25"), Vec::<u32>::new(), "survivors");
}

#[test]
fn a_check_that_ends_in_time_is_unaffected_by_the_timeout() {
    let log = small_log();
    for jobs in ["1", "2"] {
        let (target, dir) = (zeroed(), common::TempDir::new());
        let mut args = vec![
            "check",
            log.path(),
            target.path(),
            "--at",
            "flush",
            "--timeout",
            "20",
            "--jobs",
            jobs,
            "--scratch-dir",
            dir.0.to_str().unwrap(),
        ];
        // Every point passes, after a while the limit leaves room for.
        let mut passing = args.clone();
        passing.extend(["--fsck", "sleep 0.1"]);
        let run = lwlog(&passing);
        assert_eq!(run.code, 0, "--jobs {jobs}: {run:?}");
        assert_eq!(run.stdout, "3 checks passed over 6 entries\n");
        // A failure in time is reported as without a limit.
        args.extend(["--fsck", "sleep 0.1; test $LWLOG_ENTRY -lt 3"]);
        let run = lwlog(&args);
        assert_eq!(run.code, EXIT_CHECK_FAILED, "--jobs {jobs}: {run:?}");
        assert_eq!(
            run.stderr,
            "lwlog: check failed after entry 3 (3@6: sector 0, size 0, flags FLUSH): exit \
             status 1\n",
            "--jobs {jobs}"
        );
    }
}

#[test]
fn a_timeout_that_is_not_a_positive_number_is_bad_usage() {
    let (log, target) = (small_log(), zeroed());
    for sub in ["check", "bisect", "crash-states"] {
        for bad in ["0", "0.0", "-1", "-0.5", "abc", "", "inf", "nan", "1e-12"] {
            let mut args = vec![sub, log.path(), target.path(), "--fsck", "true"];
            if sub == "check" {
                args.extend(["--at", "flush"]);
            }
            args.extend(["--timeout", bad]);
            let run = lwlog(&args);
            assert_eq!(run.code, EXIT_USAGE, "{sub} --timeout {bad:?}: {run:?}");
            let want = format!(
                "error: invalid value '{bad}' for '--timeout <SECONDS>': '{bad}' is not a \
                 number of seconds above 0"
            );
            assert!(
                run.stderr.starts_with(&want),
                "{sub} --timeout {bad:?}: {run:?}"
            );
        }
    }
    // Without a check command there is nothing to limit.
    let run = lwlog(&["crash-states", log.path(), target.path(), "--timeout", "1"]);
    assert_eq!(run.code, EXIT_USAGE, "{run:?}");
    assert!(run.stderr.contains("--fsck"), "{run:?}");
}
