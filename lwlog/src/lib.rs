// SPDX-License-Identifier: GPL-2.0

//! The library behind `lwlog`: reading, verifying, selecting and replaying
//! device-mapper log-writes logs, and the `lwlog` subcommands built on
//! them (`commands`, failing with an `error::Error` that carries the exit
//! status). The binary (`main.rs`) only parses the command line; the
//! property tests and the fuzz target use the library directly.

pub mod bisect;
pub mod check;
pub mod command;
pub mod commands;
pub mod crash;
pub mod diff;
pub mod error;
pub mod group;
pub mod index;
pub mod list;
pub mod log;
pub mod oracle;
pub mod overlap;
pub mod progress;
pub mod replay;
pub mod replay_log;
pub mod select;
pub mod stream;
pub mod undo;
pub mod verify;
