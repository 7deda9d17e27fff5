// SPDX-License-Identifier: GPL-2.0

//! Running the user's check command on a replayed state, directly on the
//! target or on a scratch copy of it.

use crate::error::Error;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

/// Where and how the check command runs.
pub struct Checker {
    pub cmd: String,
    /// Device the command checks: the scratch copy if there is one.
    pub dev: PathBuf,
    scratch: Option<File>,
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
        let file = match scratch {
            Some(p) => Some(OpenOptions::new().read(true).write(true).open(p)?),
            None => None,
        };
        Ok(Checker {
            cmd,
            dev: scratch.unwrap_or(target).to_path_buf(),
            scratch: file,
        })
    }

    /// Runs the command with `env` added to its environment (plus
    /// `LWLOG_DEV`, the device to check). `target` must be synced.
    pub fn run(&mut self, target: &File, env: &[(&str, String)]) -> io::Result<Verdict> {
        if let Some(s) = &self.scratch {
            copy_changed(target, s)?;
        }
        let mut c = Command::new("sh");
        c.arg("-c").arg(&self.cmd).env("LWLOG_DEV", &self.dev);
        for (k, v) in env {
            c.env(k, v);
        }
        Ok(verdict(c.status()?))
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
    running: Option<(usize, Child)>,
    /// The byte ranges (start, length) of the target changed since the
    /// last copy to this scratch, while nothing else can have changed
    /// it; `None` before the first copy and once a command has run on
    /// it, when the copy compares the whole device.
    stale: Option<Vec<(u64, u64)>>,
}

/// How long to sleep between looks at the running commands when every
/// scratch is busy: short next to any real check, long enough not to
/// spin.
const POLL: Duration = Duration::from_millis(2);

/// Most changed ranges remembered for one scratch (16 bytes each).
const MAX_STALE_RANGES: usize = 1 << 16;

impl Pool {
    /// A pool with one slot per path of `scratch`, each opened now so
    /// that a missing one is reported before anything is replayed.
    pub fn new(cmd: String, scratch: &[PathBuf]) -> Result<Pool, Error> {
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
        slot.running = Some((point, c.spawn().map_err(Error::RunCheck)?));
        Ok(true)
    }

    /// Collects the verdicts of the commands that have ended, freeing
    /// their scratch.
    fn reap(&mut self) -> Result<(), Error> {
        for slot in &mut self.slots {
            let Some((point, child)) = &mut slot.running else {
                continue;
            };
            let Some(status) = child.try_wait().map_err(Error::RunCheck)? else {
                continue;
            };
            if let Verdict::Failed(why) = verdict(status) {
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
    /// failure too: none is killed, so no command outlives `lwlog` on a
    /// scratch it may remove, and Ctrl-C reaches all of them); the
    /// earliest failing point and why, if any failed.
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
    /// leave commands running on scratch images about to be removed.
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if let Some((_, child)) = &mut slot.running {
                let _ = child.wait();
            }
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
    fn a_scratch_directory_without_room_is_bad_usage() {
        let dir = std::env::temp_dir();
        let e = ScratchImages::create(&dir, 3, u64::MAX / 4).err().unwrap();
        assert!(matches!(e, Error::ScratchSpace { count: 3, .. }), "{e}");
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        assert!(e.to_string().contains("too few for 3 images"), "{e}");
    }
}
