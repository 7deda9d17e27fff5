// SPDX-License-Identifier: GPL-2.0

//! The library behind `lwlog`: reading, verifying, selecting and replaying
//! device-mapper log-writes logs. The binary (`main.rs`) is its command
//! line; the property tests and the fuzz target use it directly.

pub mod check;
pub mod command;
pub mod crash;
pub mod list;
pub mod log;
pub mod oracle;
pub mod progress;
pub mod replay;
pub mod select;
pub mod verify;
