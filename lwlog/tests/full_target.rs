// SPDX-License-Identifier: GPL-2.0

//! A target that runs out of space: `lwlog` must end with an I/O error
//! that names the target and the bytes it could not write (and the entry
//! being replayed, when there is one), not panic or blame the log.
//!
//! `/dev/full` fails every write with ENOSPC from the first byte; a small
//! tmpfs (when the test may mount one, as root) fills up part-way, as a
//! real device would.

mod common;
use common::{log_of, run_lwlog, TempDir, TempFile};
use logformat::FLAG_FLUSH;
use lwlog::error::EXIT_IO;
use std::path::Path;
use std::process::{Command, Stdio};

const SS: usize = 512;

/// Runs `lwlog args`: its exit status and stderr.
fn lwlog(args: &[&str]) -> (u8, String) {
    let (code, _, stderr) = run_lwlog(args);
    (code, stderr)
}

/// Writes of 64 KiB, at consecutive offsets: a size `lwlog` issues as it
/// comes rather than merging, so a failure happens during its entry.
fn large_writes(n: u64) -> TempFile {
    let entries: Vec<(u64, u64, u64, &[u8])> =
        (0..n).map(|i| (i * 128, 128, 0, &b""[..])).collect();
    log_of(SS, &entries)
}

/// Writes of 4 KiB, each followed by a flush: merged, and issued at the
/// next sync.
fn small_writes() -> TempFile {
    let entries = [
        (0, 8, 0, &b""[..]),
        (8, 8, 0, b""),
        (0, 0, FLAG_FLUSH, b""),
        (16, 8, 0, b""),
        (0, 0, FLAG_FLUSH, b""),
    ];
    log_of(SS, &entries)
}

#[test]
fn replaying_onto_dev_full_names_the_target_and_the_bytes() {
    let full = "/dev/full";
    if !Path::new(full).exists() {
        eprintln!("skipped: no {full}");
        return;
    }
    let (large, small) = (large_writes(2), small_writes());
    let cases: [(Vec<&str>, &str); 3] = [
        (
            vec!["replay", large.path(), full],
            "lwlog: cannot write 65536 bytes at byte 0 of target /dev/full (replaying entry \
             0): No space left on device (os error 28)\n",
        ),
        // All three merged, then issued by the final sync: no one entry to
        // name.
        (
            vec!["replay", small.path(), full],
            "lwlog: cannot write 12288 bytes at byte 0 of target /dev/full: No space left on \
             device (os error 28)\n",
        ),
        // The first two, issued by the sync before the first check.
        (
            vec![
                "check",
                small.path(),
                full,
                "--fsck",
                "true",
                "--at",
                "flush",
            ],
            "lwlog: cannot write 8192 bytes at byte 0 of target /dev/full: No space left on \
             device (os error 28)\n",
        ),
    ];
    for (args, message) in cases {
        let (code, stderr) = lwlog(&args);
        assert_eq!(code, EXIT_IO, "{args:?}: {stderr}");
        assert_eq!(stderr, message, "{args:?}");
    }
    // The other commands that replay fail the same way, naming the target.
    for sub in ["bisect", "crash-states"] {
        let args = [sub, small.path(), full, "--fsck", "true"];
        let (code, stderr) = lwlog(&args);
        assert_eq!(code, EXIT_IO, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("lwlog: ") && stderr.contains("target /dev/full"),
            "{args:?}: {stderr}"
        );
    }
}

/// A tmpfs of a fixed size, mounted on a directory of its own, unmounted
/// (and the directory removed) when dropped.
struct Tmpfs(TempDir);

impl Tmpfs {
    /// None when it cannot be mounted (mounting takes root).
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = TempDir::new();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "lwlog-test"])
            .arg(&dir.0)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0 .0).status();
    }
}

#[test]
fn a_target_filling_up_part_way_names_the_entry_and_the_bytes() {
    let Some(fs) = Tmpfs::mount("128k") else {
        eprintln!("skipped: cannot mount a tmpfs (not root?)");
        return;
    };
    // Two 64 KiB writes fill it; the third finds no room.
    let log = large_writes(4);
    let target = fs.0 .0.join("target");
    let target = target.to_str().unwrap();
    let want = format!(
        "lwlog: cannot write 65536 bytes at byte 131072 of target {target} (replaying entry \
         2): No space left on device (os error 28)\n"
    );
    for args in [
        vec!["replay", log.path(), target],
        vec![
            "check",
            log.path(),
            target,
            "--fsck",
            "true",
            "--at",
            "every:1",
        ],
    ] {
        // An empty image: the replay makes it grow.
        std::fs::write(target, b"").unwrap();
        let (code, stderr) = lwlog(&args);
        assert_eq!(code, EXIT_IO, "{args:?}: {stderr}");
        assert_eq!(stderr, want, "{args:?}");
        // What fitted was written.
        assert_eq!(std::fs::metadata(target).unwrap().len(), 128 << 10);
    }
}
