// SPDX-License-Identifier: GPL-2.0

//! Running the user's check command on a replayed state, directly on the
//! target or on a scratch copy of it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

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
        let status = c.status()?;
        Ok(if status.success() {
            Verdict::Passed
        } else {
            Verdict::Failed(match status.code() {
                Some(code) => format!("exit status {code}"),
                None => format!("{status}"),
            })
        })
    }
}

/// Makes `dst` equal to `src` over `src`'s length, writing only the chunks
/// that differ.
fn copy_changed(src: &File, dst: &File) -> io::Result<()> {
    const CHUNK: usize = 4 << 20;
    let len = crate::log::size_of(src)?;
    let (mut a, mut b) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(CHUNK as u64) as usize;
        src.read_exact_at(&mut a[..n], at)?;
        let same = match dst.read_exact_at(&mut b[..n], at) {
            Ok(()) => a[..n] == b[..n],
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
            Err(e) => return Err(e),
        };
        if !same {
            dst.write_all_at(&a[..n], at)?;
        }
        at += n as u64;
    }
    dst.sync_all()
}
