// SPDX-License-Identifier: GPL-2.0

//! `lw-workload`: seeded, bounded workloads for the test bench. Each
//! subcommand drives a device or filesystem the way a test needs it; the
//! same seed gives the same sequence of operations per writer.

mod bench;
mod block;
mod blockdev;
mod files;
mod rng;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lw-workload",
    version,
    about = "Seeded workloads for log-writes tests"
)]
#[command(after_help = "Exit status: 0 success, 1 an operation failed, 2 bad usage.")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Concurrent writers on a block device: O_DIRECT writes of random sizes
    /// and offsets, O_DSYNC (FUA) writes, fdatasync (flush) and discards.
    /// Each writer owns a disjoint slice of the device.
    Block {
        /// Block device to write to.
        dev: PathBuf,
        /// Number of concurrent writers.
        #[arg(long, default_value_t = 4)]
        threads: u64,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Stop once this many bytes have been written in total.
        #[arg(long, default_value_t = 256 << 20)]
        max_bytes: u64,
        /// Largest single write, in bytes (a multiple of the block size).
        #[arg(long, default_value_t = 256 << 10)]
        max_io: u64,
        /// Seed of the per-writer operation sequences.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Count failed writes, flushes and discards and go on, for devices
        /// that fail on purpose.
        #[arg(long)]
        keep_going: bool,
        /// Let FUA writes overwrite ranges written since the writer's last
        /// flush (by default a writer flushes first, as filesystems do):
        /// the log must then carry the FUA write's data in the older write.
        #[arg(long)]
        fua_over_unflushed: bool,
        /// Record every write that succeeded in this file, one line each:
        /// `W <byte offset> <bytes> <hash of each 512-byte sector>...` (hex;
        /// logformat::sector_hash), in the order each writer made them, for
        /// `lwlog oracle --journal`.
        #[arg(long)]
        journal: Option<PathBuf>,
    },
    /// Timed O_DIRECT writes of one size to a block device, for the bench;
    /// prints elapsed=<s> bytes=<n> ops=<n>.
    Write {
        /// Block device to write to.
        dev: PathBuf,
        /// Size of each write in bytes.
        #[arg(long, default_value_t = 4096)]
        io_size: u64,
        #[arg(long, value_enum, default_value_t = bench::Pattern::Random)]
        pattern: bench::Pattern,
        /// Bytes each thread writes.
        #[arg(long, default_value_t = 16 << 20)]
        bytes: u64,
        /// Sync after this many writes (0: once at the end).
        #[arg(long, default_value_t = 0)]
        sync_every: u64,
        #[arg(long, value_enum, default_value_t = bench::SyncKind::Fdatasync)]
        sync: bench::SyncKind,
        #[arg(long, default_value_t = 1)]
        threads: u64,
        /// Write only within the first this many bytes (0: the whole device).
        #[arg(long, default_value_t = 0)]
        span: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Timed small files, each written, fsynced and closed, for the bench;
    /// prints elapsed=<s> bytes=<n> ops=<n>.
    Smallfiles {
        /// Directory to create them in.
        dir: PathBuf,
        #[arg(long, default_value_t = 200)]
        files: u64,
        /// Smallest file in bytes.
        #[arg(long, default_value_t = 1024)]
        min: u64,
        /// Largest file in bytes.
        #[arg(long, default_value_t = 16384)]
        max: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Concurrent threads changing a directory tree: create, write, append,
    /// fsync, fdatasync, rename (also over a file), unlink, truncate, hard
    /// links, mkdir, rmdir and directory fsync. Each thread owns the
    /// subtree w<N> and continues what an earlier run left there.
    Files {
        /// Directory to work in (on the filesystem under test).
        dir: PathBuf,
        /// Number of concurrent threads.
        #[arg(long, default_value_t = 4)]
        threads: u64,
        /// Operations per thread.
        #[arg(long, default_value_t = 100)]
        ops: u64,
        /// Largest file size and write, in bytes.
        #[arg(long, default_value_t = 256 << 10)]
        max_file: u64,
        /// Seed of the per-thread operation sequences.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Block {
            dev,
            threads,
            seconds,
            max_bytes,
            max_io,
            seed,
            keep_going,
            fua_over_unflushed,
            journal,
        } => block::run(&block::Options {
            dev,
            threads,
            seconds,
            seed,
            max_io,
            max_bytes,
            keep_going,
            fua_over_unflushed,
            journal,
        }),
        Cmd::Write {
            dev,
            io_size,
            pattern,
            bytes,
            sync_every,
            sync,
            threads,
            span,
            seed,
        } => bench::write(&bench::WriteOptions {
            dev,
            io_size,
            pattern,
            bytes,
            sync_every,
            sync,
            threads,
            span,
            seed,
        }),
        Cmd::Smallfiles {
            dir,
            files,
            min,
            max,
            seed,
        } => bench::smallfiles(&dir, files, min, max, seed),
        Cmd::Files {
            dir,
            threads,
            ops,
            max_file,
            seed,
        } => files::run(&files::Options {
            dir,
            threads,
            ops,
            seed,
            max_file,
        }),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lw-workload: {e}");
            ExitCode::FAILURE
        }
    }
}
