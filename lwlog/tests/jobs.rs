// SPDX-License-Identifier: GPL-2.0

//! `lwlog check --jobs N`: several checks at once on copies of the target
//! must report what one check at a time reports (the first failing point
//! in log order, however the checks' ends interleave), and never run more
//! than N commands at once.
//!
//! The check command fails when the image holds the text POISON, which
//! only chosen entries write, so the first failing point is known in
//! advance.

use logformat::{EntryHeader, Super, FLAG_DISCARD, FLAG_FLUSH, FLAG_FUA, FLAG_MARK};
use std::path::{Path, PathBuf};
use std::process::Command;

const SS: usize = 512;

/// A directory under the temp directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "lwlog-jobs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One log entry to build: a write of `nr` sectors at `sector` filled
/// with `fill` repeated, or a flush, mark or discard.
#[derive(Clone, Debug)]
struct Gen {
    sector: u64,
    nr: u64,
    flags: u64,
    fill: Vec<u8>,
}

fn write(sector: u64, fill: &str) -> Gen {
    Gen {
        sector,
        nr: 1,
        flags: 0,
        fill: fill.as_bytes().to_vec(),
    }
}

fn log_bytes(gens: &[Gen]) -> Vec<u8> {
    let mut log = vec![0u8; SS];
    Super {
        nr_entries: gens.len() as u64,
        sector_size: SS as u32,
    }
    .encode(&mut log)
    .unwrap();
    for g in gens {
        let text: &[u8] = if g.flags & FLAG_MARK != 0 {
            &g.fill
        } else {
            b""
        };
        let h = EntryHeader {
            sector: g.sector,
            nr_sectors: g.nr,
            flags: g.flags,
            data_len: text.len() as u64,
        };
        let mut header = vec![0u8; SS];
        h.encode(text, &mut header).unwrap();
        log.extend_from_slice(&header);
        let data = h.data_sectors() as usize * SS;
        log.extend(g.fill.iter().cycle().take(data));
    }
    log
}

/// What a run of `lwlog` said and how it ended.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn lwlog(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_lwlog"))
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().expect("lwlog was killed by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `gens` as a log and a zeroed target of `target_sectors` into
/// `dir`; their paths.
fn files(dir: &TempDir, gens: &[Gen], target_sectors: usize) -> (PathBuf, PathBuf) {
    let (log, target) = (dir.path("log"), dir.path("target"));
    std::fs::write(&log, log_bytes(gens)).unwrap();
    std::fs::write(&target, vec![0u8; target_sectors * SS]).unwrap();
    (log, target)
}

/// A check command that appends `+ ENTRY` to `record` when it starts and
/// `- ENTRY` when it ends (appends of one short line are atomic, so the
/// record's order is the order of the events), sleeps `sleep_ms` (a shell
/// expression) milliseconds and fails when the image holds POISON.
fn recording_check(record: &Path, sleep_ms: &str) -> String {
    format!(
        "echo \"+ $LWLOG_ENTRY\" >> {rec}; \
         sleep $(printf '%d.%03d' $(( ({ms}) / 1000 )) $(( ({ms}) % 1000 ))); \
         if LC_ALL=C grep -qa POISON \"$LWLOG_DEV\"; then r=1; else r=0; fi; \
         echo \"- $LWLOG_ENTRY\" >> {rec}; exit $r",
        rec = record.display(),
        ms = sleep_ms
    )
}

/// The most commands the record shows running at once, and the pairs
/// (earlier, later) of entries whose checks ended later-first.
fn overlap_and_inversions(record: &Path) -> (usize, Vec<(u64, u64)>) {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let (mut running, mut most) = (Vec::new(), 0);
    let mut ended = Vec::new();
    let mut inversions = Vec::new();
    for line in text.lines() {
        let (what, entry) = line.split_once(' ').unwrap();
        let entry: u64 = entry.parse().unwrap();
        if what == "+" {
            running.push(entry);
            most = most.max(running.len());
        } else {
            running.retain(|&e| e != entry);
            inversions.extend(ended.iter().filter(|&&l| l > entry).map(|&l| (entry, l)));
            ended.push(entry);
        }
    }
    assert!(running.is_empty(), "commands still running: {running:?}");
    (most, inversions)
}

/// `n` one-sector writes to sectors 0..n, entry `poison` writing POISON
/// (and the rest text of their own).
fn writes(n: u64, poison: Option<u64>) -> Vec<Gen> {
    (0..n)
        .map(|i| {
            if Some(i) == poison {
                write(i, "POISON")
            } else {
                write(i, &format!("w{i}."))
            }
        })
        .collect()
}

fn check_args<'a>(log: &'a Path, target: &'a Path, fsck: &'a str, at: &'a str) -> Vec<&'a str> {
    vec![
        "check",
        log.to_str().unwrap(),
        target.to_str().unwrap(),
        "--fsck",
        fsck,
        "--at",
        at,
    ]
}

#[test]
fn three_jobs_report_exactly_the_poisoned_entry() {
    const N: u64 = 10;
    let mut inversions = 0;
    for k in 0..N {
        let dir = TempDir::new();
        let (log, target) = files(&dir, &writes(N, Some(k)), N as usize);
        let record = dir.path("record");
        // Earlier points sleep longer, so later points (failing too, the
        // POISON staying) end first.
        let fsck = recording_check(&record, &format!("({N} - $LWLOG_ENTRY) * 25"));
        let mut args = check_args(&log, &target, &fsck, "every:1");
        // Empty files: the first copy fills them.
        let scratch: Vec<String> = (0..3)
            .map(|i| {
                let p = dir.path(&format!("s{i}"));
                std::fs::write(&p, b"").unwrap();
                p.to_str().unwrap().to_string()
            })
            .collect();
        let scratch_dir = dir.path("scratch");
        std::fs::create_dir(&scratch_dir).unwrap();
        args.extend(["--jobs", "3"]);
        // Both ways of giving the scratch space.
        if k % 2 == 0 {
            for s in &scratch {
                args.extend(["--scratch", s]);
            }
        } else {
            args.extend(["--scratch-dir", scratch_dir.to_str().unwrap()]);
        }
        let run = lwlog(&args);
        assert_eq!(run.code, 5, "K = {k}: {run:?}");
        let want = format!("lwlog: check failed after entry {k} ({k}@");
        assert!(run.stderr.starts_with(&want), "K = {k}: {run:?}");
        let (most, inv) = overlap_and_inversions(&record);
        assert!(most <= 3, "K = {k}: {most} commands at once");
        inversions += inv.iter().filter(|&&(e, _)| e == k).count();
        // The images lwlog made are gone.
        assert_eq!(std::fs::read_dir(&scratch_dir).unwrap().count(), 0);
    }
    // The case that matters happened: a later point's check ended before
    // the failing point's.
    assert!(inversions > 0);
}

#[test]
fn no_more_than_n_commands_run_at_once() {
    const N: u64 = 16;
    for jobs in [2u64, 3] {
        let dir = TempDir::new();
        let (log, target) = files(&dir, &writes(N, None), N as usize);
        let record = dir.path("record");
        // Sleeps of 20..100 ms in an irregular order, so commands end in
        // an order unlike their start.
        let fsck = recording_check(&record, "20 + ($LWLOG_ENTRY * 37 % 5) * 20");
        let jobs_text = jobs.to_string();
        let scratch_dir = dir.path("scratch");
        std::fs::create_dir(&scratch_dir).unwrap();
        let mut args = check_args(&log, &target, &fsck, "every:1");
        args.extend(["--jobs", &jobs_text]);
        args.extend(["--scratch-dir", scratch_dir.to_str().unwrap()]);
        let run = lwlog(&args);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout, format!("{N} checks passed over {N} entries\n"));
        let (most, _) = overlap_and_inversions(&record);
        assert!(
            most <= jobs as usize,
            "{most} commands at once for --jobs {jobs}"
        );
        // And the checks did overlap (sleeps of 20 ms and more against a
        // replay of microseconds).
        assert!(most >= 2, "the checks never overlapped");
    }
}

/// A small generator (xorshift64*), enough for test logs and with no
/// crate behind it.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
    }
}

/// A random log over 24 sectors: writes (some POISON, which later writes
/// and discards can remove again), FUA writes, flushes, marks, discards.
fn random_log(rng: &mut Rng) -> Vec<Gen> {
    let n = 1 + rng.below(40);
    (0..n)
        .map(|i| {
            let sector = rng.below(22);
            let nr = 1 + rng.below(2);
            match rng.below(10) {
                0 => Gen {
                    sector: 0,
                    nr: 0,
                    flags: FLAG_FLUSH,
                    fill: Vec::new(),
                },
                1 => Gen {
                    sector: 0,
                    nr: 0,
                    flags: FLAG_MARK,
                    fill: format!("m{i}").into_bytes(),
                },
                2 => Gen {
                    sector,
                    nr,
                    flags: FLAG_DISCARD,
                    fill: Vec::new(),
                },
                k => Gen {
                    sector,
                    nr,
                    flags: if k < 5 { FLAG_FUA } else { 0 },
                    fill: if rng.below(6) == 0 {
                        b"POISON".to_vec()
                    } else {
                        format!("w{i}.").into_bytes()
                    },
                },
            }
        })
        .collect()
}

#[test]
fn jobs_report_what_one_job_reports_on_random_logs() {
    let ats = [
        "fua",
        "flush",
        "fua,flush",
        "mark",
        "every:1",
        "every:3",
        "discard",
    ];
    let mut failures = 0;
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let gens = random_log(&mut rng);
        let at = ats[rng.below(ats.len() as u64) as usize];
        let max_checks = (rng.below(3) == 0).then(|| (1 + rng.below(5)).to_string());
        let jobs = (2 + rng.below(3)).to_string();
        let run = |jobs: Option<&str>| {
            let dir = TempDir::new();
            let (log, target) = files(&dir, &gens, 24);
            let record = dir.path("record");
            let fsck = recording_check(&record, "($LWLOG_ENTRY * 7 % 4) * 10");
            let mut args = check_args(&log, &target, &fsck, at);
            if let Some(m) = &max_checks {
                args.extend(["--max-checks", m]);
            }
            let scratch_dir = dir.path("scratch");
            std::fs::create_dir(&scratch_dir).unwrap();
            if let Some(j) = jobs {
                args.extend(["--jobs", j, "--scratch-dir", scratch_dir.to_str().unwrap()]);
            }
            let run = lwlog(&args);
            let (most, _) = overlap_and_inversions(&record);
            let limit = jobs.map_or(1, |j| j.parse().unwrap());
            assert!(most <= limit, "seed {seed}: {most} at once");
            // The paths differ between the runs; the rest must not.
            Run {
                stderr: run.stderr.replace(dir.0.to_str().unwrap(), "DIR"),
                ..run
            }
        };
        let one = run(None);
        let many = run(Some(&jobs));
        assert_eq!(one, many, "seed {seed}, --at {at}, --jobs {jobs}: {gens:?}");
        failures += u32::from(one.code == 5);
    }
    // Both outcomes came up.
    assert!(failures > 0 && failures < 40, "{failures} of 40 failed");
}

#[test]
fn too_little_scratch_is_bad_usage() {
    let dir = TempDir::new();
    let (log, target) = files(&dir, &writes(4, None), 4);
    let (a, b) = (dir.path("a"), dir.path("b"));
    std::fs::write(&a, b"").unwrap();
    std::fs::write(&b, b"").unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let base = check_args(&log, &target, "true", "every:1");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--jobs", "2"],
            "lwlog: --jobs 2 checks copies of the target",
        ),
        (
            &["--jobs", "3", "--scratch", a, "--scratch", b],
            "lwlog: --jobs 3 checks copies of the target, one per job: give --scratch 3 \
             times (it is given 2 times) or --scratch-dir DIR",
        ),
        (
            &["--scratch", a, "--scratch", b],
            "lwlog: --scratch is given 2 times for --jobs 1",
        ),
        (
            &["--jobs", "2", "--scratch", a, "--scratch", a],
            "lwlog: the scratch",
        ),
        (
            &["--jobs", "0", "--scratch-dir", "."],
            "error: invalid value '0'",
        ),
    ];
    for (extra, message) in cases {
        let mut args = base.clone();
        args.extend_from_slice(extra);
        let run = lwlog(&args);
        assert_eq!(run.code, 2, "{extra:?}: {run:?}");
        assert!(run.stderr.starts_with(message), "{extra:?}: {run:?}");
    }
    // The same file twice is refused as an overlap, naming both.
    let mut args = base.clone();
    args.extend(["--jobs", "2", "--scratch", a, "--scratch", a]);
    assert!(lwlog(&args).stderr.contains("are the same file"));
    // A scratch directory on nothing that exists cannot be used.
    let mut args = base;
    args.extend(["--jobs", "2", "--scratch-dir", "/nonexistent/dir"]);
    let run = lwlog(&args);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run
        .stderr
        .starts_with("lwlog: cannot use scratch directory /nonexistent/dir"));
}

#[test]
fn a_check_that_writes_its_scratch_does_not_leak_into_later_checks() {
    // The check fails when it finds DIRTY anywhere, then writes DIRTY
    // into a sector no entry writes (as a mount replaying a journal or
    // e2fsck -y writes where it likes). Every state of the replay is
    // clean, so every check must pass: what one command wrote must not be
    // on its scratch when a later point is copied there.
    const N: u64 = 8;
    let dir = TempDir::new();
    let (log, target) = files(&dir, &writes(N, None), 2 * N as usize);
    let fsck = format!(
        "if LC_ALL=C grep -qa DIRTY \"$LWLOG_DEV\"; then exit 1; fi; \
         printf DIRTY | dd of=\"$LWLOG_DEV\" bs={SS} seek={N} conv=notrunc status=none"
    );
    let scratch_dir = dir.path("scratch");
    std::fs::create_dir(&scratch_dir).unwrap();
    for jobs in ["1", "2"] {
        let mut args = check_args(&log, &target, &fsck, "every:1");
        args.extend([
            "--jobs",
            jobs,
            "--scratch-dir",
            scratch_dir.to_str().unwrap(),
        ]);
        let run = lwlog(&args);
        assert_eq!(run.code, 0, "--jobs {jobs}: {run:?}");
        assert_eq!(run.stdout, format!("{N} checks passed over {N} entries\n"));
    }
}

#[test]
fn a_hanging_check_is_killed_and_fails_its_point_under_jobs_too() {
    // Entry 1's check hangs, holding stdout open from a background child;
    // from entry 3 on the checks fail at once, most likely before entry
    // 1's is killed. The first failing point is still entry 1's, timed
    // out; and with every check hanging, entry 0's.
    let hang = "sleep 34.5 & sleep 34.5";
    let cases = [
        (
            format!("if [ $LWLOG_ENTRY -eq 1 ]; then {hang}; fi; test $LWLOG_ENTRY -lt 3"),
            1,
        ),
        (hang.to_string(), 0),
    ];
    for (fsck, first) in cases {
        let dir = TempDir::new();
        let (log, target) = files(&dir, &writes(6, None), 6);
        let scratch_dir = dir.path("scratch");
        std::fs::create_dir(&scratch_dir).unwrap();
        let mut args = check_args(&log, &target, &fsck, "every:1");
        args.extend([
            "--jobs",
            "2",
            "--scratch-dir",
            scratch_dir.to_str().unwrap(),
        ]);
        args.extend(["--timeout", "0.5"]);
        let start = std::time::Instant::now();
        let run = lwlog(&args);
        let took = start.elapsed();
        // Far longer than the run may take: a run this long hung.
        assert!(took.as_secs() < 10, "{fsck}: took {took:?}");
        assert_eq!(run.code, 5, "{fsck}: {run:?}");
        let want = format!("lwlog: check failed after entry {first} ({first}@");
        assert!(run.stderr.starts_with(&want), "{fsck}: {run:?}");
        assert!(
            run.stderr.ends_with(": timed out after 0.5 s\n"),
            "{fsck}: {run:?}"
        );
        assert_eq!(std::fs::read_dir(&scratch_dir).unwrap().count(), 0);
    }
}
