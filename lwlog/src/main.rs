// SPDX-License-Identifier: GPL-2.0

//! `lwlog`: inspect and replay logs written by the device-mapper
//! `log-writes` target (the C one or ours).

mod log;
mod replay;

use clap::{Parser, Subcommand};
use log::{Log, LogError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status: the log is invalid (bad magic, malformed entry, truncated).
const EXIT_BAD_LOG: u8 = 3;
/// Exit status: a requested mark is not in the log.
const EXIT_NO_MARK: u8 = 4;
/// Exit status: an I/O error on the log or the target.
const EXIT_IO: u8 = 1;

#[derive(Parser)]
#[command(
    name = "lwlog",
    version,
    about = "Inspect and replay device-mapper log-writes logs"
)]
#[command(
    after_help = "Exit status: 0 success, 1 I/O error, 2 bad usage, 3 invalid log, 4 mark not found."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the super block and what the log actually holds.
    Info {
        /// Log device or image.
        log: PathBuf,
    },
    /// Write the log's entries onto TARGET, in log order.
    Replay {
        /// Log device or image.
        log: PathBuf,
        /// Device or image to write onto.
        target: PathBuf,
        /// Stop after the mark with this text (an error if there is none).
        #[arg(long)]
        end_mark: Option<String>,
        /// Replay discards as zero writes.
        #[arg(long)]
        no_discard: bool,
    },
}

struct Failure(u8, String);

impl From<LogError> for Failure {
    fn from(e: LogError) -> Self {
        let code = if matches!(e, LogError::Io(..)) {
            EXIT_IO
        } else {
            EXIT_BAD_LOG
        };
        Failure(code, e.to_string())
    }
}

fn info(path: &Path) -> Result<(), Failure> {
    let log = Log::open(path)?;
    let mut found = 0u64;
    let mut used = u64::from(log.sector_size());
    for e in log.scan() {
        let e = e?;
        found += 1;
        used = e.data_offset(log.sector_size())
            + e.header.data_sectors() * u64::from(log.sector_size());
    }
    println!("version:        {}", logformat::VERSION);
    println!("sector size:    {}", log.sector_size());
    println!("super entries:  {}", log.sup.nr_entries);
    println!("entries found:  {found}");
    println!("log bytes used: {used} of {}", log.len());
    Ok(())
}

fn replay(
    log: &Path,
    target: &Path,
    end_mark: Option<&str>,
    no_discard: bool,
) -> Result<(), Failure> {
    let log = Log::open(log)?;
    let mut t = replay::Target::open(target, !no_discard).map_err(|e| {
        Failure(
            EXIT_IO,
            format!("cannot open target {}: {e}", target.display()),
        )
    })?;
    let mut replayed = 0u64;
    let mut found_mark = false;
    for e in log.entries() {
        let e = e?;
        t.apply(&log, &e)
            .map_err(|err| Failure(EXIT_IO, format!("replaying entry {}: {err}", e.index)))?;
        replayed += 1;
        if let Some(m) = end_mark {
            if e.header.is_mark() && e.mark == m.as_bytes() {
                found_mark = true;
                break;
            }
        }
    }
    t.sync()
        .map_err(|e| Failure(EXIT_IO, format!("syncing target: {e}")))?;
    if let (Some(m), false) = (end_mark, found_mark) {
        return Err(Failure(
            EXIT_NO_MARK,
            format!("mark '{m}' not found (replayed all {replayed} entries)"),
        ));
    }
    eprintln!("replayed {replayed} entries");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.cmd {
        Cmd::Info { log } => info(log),
        Cmd::Replay {
            log,
            target,
            end_mark,
            no_discard,
        } => replay(log, target, end_mark.as_deref(), *no_discard),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("lwlog: {msg}");
            ExitCode::from(code)
        }
    }
}
