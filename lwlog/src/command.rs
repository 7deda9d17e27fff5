// SPDX-License-Identifier: GPL-2.0

//! Running the user's check command on a replayed state, directly on the
//! target or on a scratch copy of it.
//!
//! With a time limit (`--timeout`), each run of the command is started in a
//! process group of its own and, past the limit, the whole group is killed:
//! a hung fsck or a mount that never returns would otherwise hang `lwlog`
//! with no verdict, and killing only the shell would leave what it started
//! running (and holding the scratch, or the pipe a caller reads). Without a
//! limit the command stays in `lwlog`'s group, as before, so that Ctrl-C at
//! the terminal reaches it too.

use crate::error::Error;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Where and how the check command runs.
pub struct Checker {
    pub cmd: String,
    /// The devices the command checks, one per target: the scratch copy
    /// where there is one.
    devs: Vec<PathBuf>,
    /// The scratch copy of each target, if any.
    scratch: Vec<Option<File>>,
    /// Longest one run of the command may take (`--timeout`); none: no
    /// limit.
    timeout: Option<Duration>,
}

/// How a check went.
pub enum Verdict {
    Passed,
    Failed(String),
}

impl Checker {
    /// With `scratch`, each check first makes SCRATCH a copy of the target
    /// and runs the command on it, so a command that writes (mount replays
    /// a journal) never changes the replay.
    pub fn new(cmd: String, target: &Path, scratch: Option<&Path>) -> io::Result<Checker> {
        Checker::for_targets(cmd, &[(target, scratch)])
    }

    /// The command checks several targets together (the members of a
    /// group), each with its scratch copy if given. Fails on the first
    /// scratch it cannot open (`Err` names its index).
    pub fn for_targets(cmd: String, targets: &[(&Path, Option<&Path>)]) -> io::Result<Checker> {
        let mut devs = Vec::new();
        let mut scratch = Vec::new();
        for &(target, copy) in targets {
            scratch.push(match copy {
                Some(p) => Some(OpenOptions::new().read(true).write(true).open(p)?),
                None => None,
            });
            devs.push(copy.unwrap_or(target).to_path_buf());
        }
        Ok(Checker {
            cmd,
            devs,
            scratch,
            timeout: None,
        })
    }

    /// The device the command checks for the first target (`LWLOG_DEV`).
    pub fn dev(&self) -> &Path {
        self.devs.first().map_or(Path::new(""), PathBuf::as_path)
    }

    /// The checker with each run of the command limited to `timeout`
    /// (none: no limit): a run past it is killed, with its process group,
    /// and fails (see the module's documentation).
    pub fn with_timeout(self, timeout: Option<Duration>) -> Checker {
        Checker { timeout, ..self }
    }

    /// Runs the command with `env` added to its environment (plus
    /// `LWLOG_DEV`, the device to check). `target` must be synced. The
    /// time limit counts only the command, not the copy to the scratch.
    pub fn run(&mut self, target: &File, env: &[(&str, String)]) -> io::Result<Verdict> {
        self.run_all(&[target], env)
    }

    /// Runs the command on the state of every target (as [`Checker::run`];
    /// `targets` in the order given to [`Checker::for_targets`]). With
    /// several, it also sees `LWLOG_DEV0`, `LWLOG_DEV1`... one per target;
    /// `LWLOG_DEV` is the first.
    pub fn run_all(&mut self, targets: &[&File], env: &[(&str, String)]) -> io::Result<Verdict> {
        for (target, scratch) in targets.iter().zip(&self.scratch) {
            if let Some(s) = scratch {
                copy_changed(target, s)?;
            }
        }
        let mut c = Command::new("sh");
        c.arg("-c").arg(&self.cmd).env("LWLOG_DEV", self.dev());
        if self.devs.len() > 1 {
            for (i, d) in self.devs.iter().enumerate() {
                c.env(format!("LWLOG_DEV{i}"), d);
            }
        }
        for (k, v) in env {
            c.env(k, v);
        }
        Run::start(c, self.timeout)?.wait()
    }
}

/// Parses `--timeout`: seconds, whole or decimal (`30`, `0.5`), above zero.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        // Below a nanosecond rounds to no time at all.
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{s}' is not a number of seconds above 0 (e.g. 30 or 0.5)"))
}

/// Why a run killed at its time limit failed: "timed out after 0.5 s",
/// the limit in the fewest digits that give it back exactly (`30`, not
/// `30.000`).
fn timed_out(limit: Duration) -> String {
    format!("timed out after {} s", limit.as_secs_f64())
}

/// One run of the check command, killed when it outlives its time limit.
struct Run {
    child: Child,
    /// The time limit; with one, the command leads a process group of its
    /// own (its pid is the group's id).
    limit: Option<Duration>,
    /// When the limit runs out; none with no limit, or one too far away
    /// for the clock to name.
    deadline: Option<Instant>,
    /// Whether the command has been reaped: its pid, and so the group's
    /// id, may then be another process's.
    reaped: bool,
}

/// Longest sleep between two looks at a synchronous run with a time
/// limit: a check ends at most this much later than it would unlimited.
const MAX_NAP: Duration = Duration::from_millis(10);

impl Run {
    /// Starts `c`, in a process group of its own when there is a `limit`.
    fn start(mut c: Command, limit: Option<Duration>) -> io::Result<Run> {
        if limit.is_some() {
            c.process_group(0);
        }
        let child = c.spawn()?;
        Ok(Run {
            child,
            limit,
            deadline: limit.and_then(|l| Instant::now().checked_add(l)),
            reaped: false,
        })
    }

    /// The verdict once the command has ended, or has outlived its limit
    /// (it and its group are then killed and it is reaped); none while it
    /// runs.
    fn poll(&mut self) -> io::Result<Option<Verdict>> {
        if let Some(status) = self.child.try_wait()? {
            self.reaped = true;
            return Ok(Some(verdict(status)));
        }
        match (self.limit, self.deadline) {
            (Some(limit), Some(at)) if Instant::now() >= at => {
                self.kill()?;
                Ok(Some(Verdict::Failed(timed_out(limit))))
            }
            _ => Ok(None),
        }
    }

    /// Waits for the verdict. With a limit, looks at the command again
    /// after a twentieth of the time it has run (at most `MAX_NAP`), so
    /// that looking costs little and a quick check is not slowed much.
    fn wait(mut self) -> io::Result<Verdict> {
        if self.limit.is_none() {
            let status = self.child.wait()?;
            self.reaped = true;
            return Ok(verdict(status));
        }
        let started = Instant::now();
        loop {
            if let Some(v) = self.poll()? {
                return Ok(v);
            }
            let mut nap = (started.elapsed() / 20).clamp(Duration::from_micros(100), MAX_NAP);
            if let Some(at) = self.deadline {
                nap = nap.min(at.saturating_duration_since(Instant::now()));
            }
            std::thread::sleep(nap);
        }
    }

    /// Kills the command's process group (the command and whatever it
    /// started that stayed in the group) and reaps the command.
    fn kill(&mut self) -> io::Result<()> {
        // A pid is above 1 (pid 1 is init, never our child): -1 would
        // send the signal to every process we may signal.
        let pgid = libc::pid_t::try_from(self.child.id())
            .ok()
            .filter(|&pid| pid > 1)
            .ok_or_else(|| io::Error::other("the check command has no valid pid"))?;
        // The group is the one the command was made the leader of at
        // spawn (process_group(0)), and the command is not reaped yet
        // (`reaped` is false when this is called): while its pid is
        // taken, even by a zombie, no other process can be given it as a
        // pid or group id, so the signal reaches only the command's group.
        // SAFETY: kill takes no pointers and changes no memory of ours.
        let r = unsafe { libc::kill(-pgid, libc::SIGKILL) };
        if r != 0 {
            let e = io::Error::last_os_error();
            // No such group: it has ended already; the wait below says
            // how.
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(e);
            }
        }
        self.child.wait()?;
        self.reaped = true;
        Ok(())
    }
}

impl Drop for Run {
    /// A run dropped before its verdict (an error part-way, in `Pool` or
    /// while waiting) leaves nothing behind: with a time limit it is
    /// killed at once, with its group, rather than left to outlive a
    /// scratch about to be removed; without one it is waited for, as
    /// before limits existed (Ctrl-C reaches it then).
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        if self.limit.is_some() {
            let _ = self.kill();
        } else {
            let _ = self.child.wait();
        }
    }
}

/// What an ended check command's `status` says.
fn verdict(status: ExitStatus) -> Verdict {
    if status.success() {
        Verdict::Passed
    } else {
        Verdict::Failed(match status.code() {
            Some(code) => format!("exit status {code}"),
            None => format!("{status}"),
        })
    }
}

/// The check command run on several copies of the target at once, one
/// scratch device or image per running command (`check --jobs N`).
/// Replaying is cheap next to a filesystem check, so the replay goes on
/// while the commands run; each point is copied before the replay moves
/// past it, so every command sees the state at its own point.
pub struct Pool {
    cmd: String,
    /// Longest one run of the command may take (`--timeout`).
    timeout: Option<Duration>,
    slots: Vec<Slot>,
    /// The earliest failing point among the checks that ended, by its
    /// position in the log, and why it failed.
    failed: Option<(usize, String)>,
}

/// One scratch and the command running on it, if any.
struct Slot {
    path: PathBuf,
    file: File,
    /// The point being checked there (its position in the log) and the
    /// command checking it.
    running: Option<(usize, Run)>,
    /// The byte ranges (start, length) of the target changed since the
    /// last copy to this scratch, while nothing else can have changed
    /// it; `None` before the first copy and once a command has run on
    /// it, when the copy compares the whole device.
    stale: Option<Vec<(u64, u64)>>,
}

/// How long to sleep between looks at the running commands when every
/// scratch is busy (or, at the end, while any runs): short next to any
/// real check, long enough not to spin. It is also how late past its
/// time limit a command may be killed.
const POLL: Duration = Duration::from_millis(2);

/// Most changed ranges remembered for one scratch (16 bytes each).
const MAX_STALE_RANGES: usize = 1 << 16;

impl Pool {
    /// A pool with one slot per path of `scratch`, each opened now so
    /// that a missing one is reported before anything is replayed; each
    /// run of `cmd` is limited to `timeout`, as for `Checker`.
    pub fn new(cmd: String, scratch: &[PathBuf], timeout: Option<Duration>) -> Result<Pool, Error> {
        let mut slots = Vec::with_capacity(scratch.len());
        for path in scratch {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(Error::file("cannot open scratch", path))?;
            slots.push(Slot {
                path: path.clone(),
                file,
                running: None,
                stale: None,
            });
        }
        Ok(Pool {
            cmd,
            timeout,
            slots,
            failed: None,
        })
    }

    /// Checks the state of `target` (synced) at `point`, a position that
    /// grows from call to call, `written` (start, length) being the byte
    /// ranges of the target changed since the previous call: waits for a
    /// free scratch, copies `target` onto it and starts the command there
    /// with `env`, without waiting for it. Once some check has failed it
    /// starts nothing and returns false: every earlier point has been
    /// started already, and later ones cannot change which failure comes
    /// first.
    pub fn start(
        &mut self,
        target: &File,
        point: usize,
        written: &[(u64, u64)],
        env: &[(&str, String)],
    ) -> Result<bool, Error> {
        for slot in &mut self.slots {
            if let Some(stale) = &mut slot.stale {
                stale.extend_from_slice(written);
                // A scratch left idle while fast checks keep finding
                // another free would collect ranges without bound: past
                // this many, comparing the device once costs less.
                if stale.len() > MAX_STALE_RANGES {
                    slot.stale = None;
                }
            }
        }
        let free = loop {
            self.reap()?;
            if self.failed.is_some() {
                return Ok(false);
            }
            if let Some(free) = self.slots.iter().position(|s| s.running.is_none()) {
                break free;
            }
            std::thread::sleep(POLL);
        };
        let slot = &mut self.slots[free];
        match slot.stale.take() {
            None => copy_changed(target, &slot.file),
            Some(ranges) => copy_ranges(target, &slot.file, ranges),
        }
        .map_err(Error::file("cannot copy the target to scratch", &slot.path))?;
        slot.stale = Some(Vec::new());
        let mut c = Command::new("sh");
        c.arg("-c").arg(&self.cmd).env("LWLOG_DEV", &slot.path);
        for (k, v) in env {
            c.env(k, v);
        }
        let run = Run::start(c, self.timeout).map_err(Error::RunCheck)?;
        slot.running = Some((point, run));
        Ok(true)
    }

    /// Collects the verdicts of the commands that have ended, freeing
    /// their scratch; a command past its time limit is killed here and
    /// fails.
    fn reap(&mut self) -> Result<(), Error> {
        for slot in &mut self.slots {
            let Some((point, run)) = &mut slot.running else {
                continue;
            };
            let Some(verdict) = run.poll().map_err(Error::RunCheck)? else {
                continue;
            };
            if let Verdict::Failed(why) = verdict {
                if self
                    .failed
                    .as_ref()
                    .is_none_or(|(first, _)| *point < *first)
                {
                    self.failed = Some((*point, why));
                }
            }
            slot.running = None;
            // The command may have written its scratch (a mount replaying
            // a journal, a repairing fsck): that scratch now differs from
            // the target outside the ranges the replay changed, and only a
            // whole comparison finds where.
            slot.stale = None;
        }
        Ok(())
    }

    /// Waits for every command still running (later points than a known
    /// failure too: none is killed before its time limit, so no command
    /// outlives `lwlog` on a scratch it may remove, and without a limit
    /// Ctrl-C reaches all of them); the earliest failing point and why, if
    /// any failed. With a time limit this ends within it.
    pub fn finish(mut self) -> Result<Option<(usize, String)>, Error> {
        while self.slots.iter().any(|s| s.running.is_some()) {
            self.reap()?;
            if self.slots.iter().any(|s| s.running.is_some()) {
                std::thread::sleep(POLL);
            }
        }
        Ok(self.failed.take())
    }
}

impl Drop for Pool {
    /// An error part-way (a replay that cannot read the log) must not
    /// leave commands running on scratch images about to be removed:
    /// dropping each run kills it when it has a time limit, and waits for
    /// it otherwise (see `Run`'s `drop`).
    fn drop(&mut self) {
        for slot in &mut self.slots {
            slot.running = None;
        }
    }
}

/// The image files `check --scratch-dir` copies the target to, removed
/// when dropped.
pub struct ScratchImages {
    pub paths: Vec<PathBuf>,
}

impl ScratchImages {
    /// Creates `count` sparse files of `size` bytes in `dir`, after
    /// making sure the filesystem has room for all of them filled: a
    /// copy failing half-way through the checks would waste the ones
    /// already run.
    pub fn create(dir: &Path, count: usize, size: u64) -> Result<ScratchImages, Error> {
        let need = size.saturating_mul(count as u64);
        let free = free_bytes(dir).map_err(Error::file("cannot use scratch directory", dir))?;
        if free < need {
            return Err(Error::ScratchSpace {
                dir: dir.to_path_buf(),
                count,
                size,
                free,
            });
        }
        let mut images = ScratchImages { paths: Vec::new() };
        for k in 0..count {
            let path = dir.join(format!("lwlog-scratch-{}-{k}.img", std::process::id()));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(Error::file("cannot create scratch", &path))?;
            images.paths.push(path.clone());
            file.set_len(size)
                .map_err(Error::file("cannot create scratch", &path))?;
        }
        Ok(images)
    }
}

impl Drop for ScratchImages {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Bytes an unprivileged user may still write to the filesystem of `dir`.
fn free_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` is large enough for
    // the statvfs the call fills in.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs succeeded, so it filled `st` in.
    let st = unsafe { st.assume_init() };
    // Both fields are u64 only on 64-bit targets; the casts keep 32-bit
    // ones building.
    #[allow(clippy::unnecessary_cast)]
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Makes `dst` equal to `src` over `src`'s length, writing only the
/// 64 KiB pieces that differ. Both are read (and `dst` written) with
/// O_DIRECT where they allow it: a filesystem-sized device is compared
/// whole before every check, and going through the page cache costs
/// several times more (measured in the test VM: 1.1 s against 0.2 s to read
/// 64 MiB).
fn copy_changed(src: &File, dst: &File) -> io::Result<()> {
    const CHUNK: usize = 4 << 20;
    const PIECE: usize = 64 << 10;
    let len = crate::log::size_of(src)?;
    let (src_direct, dst_direct) = (reopen_direct(src, false), reopen_direct(dst, true));
    let (mut va, mut vb) = (vec![0u8; CHUNK + 4095], vec![0u8; CHUNK + 4095]);
    let (a, b) = (aligned(&mut va, CHUNK), aligned(&mut vb, CHUNK));
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(CHUNK as u64) as usize;
        read_at(src, src_direct.as_ref(), &mut a[..n], at)?;
        let dst_len = match read_at(dst, dst_direct.as_ref(), &mut b[..n], at) {
            Ok(()) => n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        for off in (0..n).step_by(PIECE) {
            let end = (off + PIECE).min(n);
            if end <= dst_len && a[off..end] == b[off..end] {
                continue;
            }
            write_at(dst, dst_direct.as_ref(), &a[off..end], at + off as u64)?;
        }
        at += n as u64;
    }
    dst.sync_all()
}

/// Copies the byte `ranges` (start, length; in any order, overlapping or
/// not) of `src` onto `dst`, the rest of `dst` being equal to `src`
/// already.
fn copy_ranges(src: &File, dst: &File, mut ranges: Vec<(u64, u64)>) -> io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let len = crate::log::size_of(src)?;
    ranges.sort_unstable();
    let mut buf = vec![0u8; CHUNK as usize];
    // The end of what is copied already: overlapping ranges go once.
    let mut done = 0u64;
    for (start, n) in ranges {
        let mut at = start.max(done);
        let end = start.saturating_add(n).min(len);
        while at < end {
            let piece = (end - at).min(CHUNK) as usize;
            src.read_exact_at(&mut buf[..piece], at)?;
            dst.write_all_at(&buf[..piece], at)?;
            at += piece as u64;
        }
        done = done.max(end);
    }
    dst.sync_all()
}

/// A second descriptor for `f` opened with O_DIRECT, if its file allows it.
fn reopen_direct(f: &File, write: bool) -> Option<File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_DIRECT)
        .open(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .ok()
}

/// Whether `len` bytes at `at` suit an O_DIRECT transfer (the buffer is
/// aligned by the caller).
fn direct_ok(len: usize, at: u64) -> bool {
    const ALIGN: usize = 4096;
    len.is_multiple_of(ALIGN) && at.is_multiple_of(ALIGN as u64)
}

/// Writes `buf` at `at` through `direct` when it can, else through `f`.
fn write_at(f: &File, direct: Option<&File>, buf: &[u8], at: u64) -> io::Result<()> {
    if let Some(d) = direct.filter(|_| direct_ok(buf.len(), at)) {
        match d.write_all_at(buf, at) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            r => return r,
        }
    }
    f.write_all_at(buf, at)
}

/// Reads `buf` at `at` through `direct` when it can, else through `f`.
fn read_at(f: &File, direct: Option<&File>, buf: &mut [u8], at: u64) -> io::Result<()> {
    if let Some(d) = direct.filter(|_| direct_ok(buf.len(), at)) {
        match d.read_exact_at(buf, at) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            r => return r,
        }
    }
    f.read_exact_at(buf, at)
}

/// `len` bytes of `v` aligned for O_DIRECT (`v` has 4095 bytes to spare).
fn aligned(v: &mut [u8], len: usize) -> &mut [u8] {
    let off = v.as_ptr().align_offset(4096);
    &mut v[off..off + len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_changed_makes_dst_equal_to_src() {
        let dir = std::env::temp_dir().join(format!("lwlog-copy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Not a multiple of the chunk or of 4096: the tail goes buffered.
        let len = (9 << 20) + 1234;
        let src_data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut dst_data = src_data.clone();
        dst_data[5 << 20] ^= 1;
        dst_data[len - 1] ^= 1;
        dst_data.truncate(len - 100);
        let (sp, dp) = (dir.join("src"), dir.join("dst"));
        std::fs::write(&sp, &src_data).unwrap();
        std::fs::write(&dp, &dst_data).unwrap();
        let src = File::open(&sp).unwrap();
        let dst = OpenOptions::new().read(true).write(true).open(&dp).unwrap();
        copy_changed(&src, &dst).unwrap();
        assert!(std::fs::read(&dp).unwrap() == src_data);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        assert_eq!(parse_timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("1e-3"), Ok(Duration::from_millis(1)));
        for bad in ["0", "-1", "0.0", "abc", "", "inf", "NaN", "1e-10", "1e300"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?}");
        }
        for (text, said) in [
            ("0.5", "0.5"),
            ("30", "30"),
            ("2.25", "2.25"),
            ("1e-3", "0.001"),
        ] {
            let d = parse_timeout(text).unwrap();
            assert_eq!(timed_out(d), format!("timed out after {said} s"));
        }
    }

    /// A file under the temp directory, removed when dropped.
    struct Temp(PathBuf);

    impl Temp {
        fn new(name: &str, contents: &[u8]) -> Temp {
            let p =
                std::env::temp_dir().join(format!("lwlog-command-{}-{name}", std::process::id()));
            std::fs::write(&p, contents).unwrap();
            Temp(p)
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Whether process `pid` is gone or only a zombie (killed) within a
    /// few seconds: a SIGKILL sent is not yet a process dead.
    fn dead(pid: u32) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            let dead = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => true,
                Ok(stat) => {
                    let state = stat.rsplit(") ").next().unwrap_or_default();
                    state.starts_with('Z') || state.starts_with('X')
                }
            };
            if dead {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// The pid the command started with `pidfile` writes there, once it
    /// has.
    fn pid_in(pidfile: &Path) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(pid) = std::fs::read_to_string(pidfile)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no pid");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_checker_kills_a_run_past_its_limit_with_what_it_started() {
        let target = Temp::new("checker-target", &[0u8; 4096]);
        let pidfile = Temp::new("checker-pid", b"");
        // The shell's child records its pid, then everything hangs.
        let cmd = format!("sleep 36.5 & echo $! > {}; wait", pidfile.0.display());
        let mut checker = Checker::new(cmd, &target.0, None)
            .unwrap()
            .with_timeout(Some(Duration::from_millis(300)));
        let file = File::open(&target.0).unwrap();
        let start = Instant::now();
        let Verdict::Failed(why) = checker.run(&file, &[]).unwrap() else {
            panic!("a hanging check passed");
        };
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(why, "timed out after 0.3 s");
        let pid = pid_in(&pidfile.0);
        assert!(dead(pid), "the shell's child {pid} survived");
    }

    #[test]
    fn a_dropped_pool_kills_its_commands_when_they_have_a_limit() {
        let target = Temp::new("pool-target", &[0u8; 4096]);
        let scratch = Temp::new("pool-scratch", b"");
        let pidfile = Temp::new("pool-pid", b"");
        let cmd = format!("sleep 37.5 & echo $! > {}; wait", pidfile.0.display());
        // A limit far away: only the drop can end the command in time.
        let limit = Some(Duration::from_secs(600));
        let mut pool = Pool::new(cmd, std::slice::from_ref(&scratch.0), limit).unwrap();
        let file = File::open(&target.0).unwrap();
        assert!(pool.start(&file, 0, &[], &[]).unwrap());
        let pid = pid_in(&pidfile.0);
        let start = Instant::now();
        drop(pool);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(dead(pid), "the shell's child {pid} survived");
    }

    #[test]
    fn a_scratch_directory_without_room_is_bad_usage() {
        let dir = std::env::temp_dir();
        let e = ScratchImages::create(&dir, 3, u64::MAX / 4).err().unwrap();
        assert!(matches!(e, Error::ScratchSpace { count: 3, .. }), "{e}");
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        assert!(e.to_string().contains("too few for 3 images"), "{e}");
    }
}
