// SPDX-License-Identifier: GPL-2.0

//! The optional table arguments, `[<#opt_args> <opt>...]` after the two
//! devices, as dm targets take them, and their echo in `dmsetup table`.
//!
//! Safe code on top of the abstractions.

use crate::abstractions::device_mapper::{dm_warn, Args};
use crate::logformat::{valid_group_name, GROUP_NAME_MAX};
use core::fmt::Write;
use kernel::alloc::{flags::GFP_KERNEL, KVec};
use kernel::c_str;
use kernel::str::CStr;

/// Default bound on the memory held for writes not yet logged: none, like
/// C. A bound makes the target send flushes of its own, which changes the
/// crash states the log describes, so it is opt-in (`max_held_mb:<MiB>`).
pub(crate) const DEFAULT_MAX_HELD_MB: u64 = 0;

pub(crate) struct Options {
    /// `append`: continue the log already on the log device.
    pub(crate) append: bool,
    /// `max_held_mb:<N>`: the bound on memory held for completed writes
    /// not yet logged, in MiB (0: no bound, like C); `None` when not given.
    pub(crate) max_held_mb: Option<u64>,
    /// `group:<name>`: the group whose order of durability events this
    /// log shares (`src/group.rs`).
    pub(crate) group: Option<KVec<u8>>,
}

impl Options {
    /// Parses the arguments after the two devices; on error returns the
    /// constructor's error text (the kernel log names the argument).
    pub(crate) fn parse(args: &Args<'_>) -> Result<Options, &'static CStr> {
        let mut o = Options {
            append: false,
            max_held_mb: None,
            group: None,
        };
        if args.len() == 2 {
            return Ok(o);
        }
        let count = args
            .get(2)
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.parse::<usize>().ok());
        if count != Some(args.len() - 3) {
            return Err(c_str!("Invalid argument count"));
        }
        for i in 3..args.len() {
            let arg = args.get(i).and_then(|a| a.to_str().ok()).unwrap_or("?");
            if arg == "append" && !o.append {
                o.append = true;
            } else if let (Some(v), None) = (arg.strip_prefix("max_held_mb:"), o.max_held_mb) {
                match v.parse::<u64>() {
                    Ok(mb) if mb <= u64::MAX >> 20 => o.max_held_mb = Some(mb),
                    _ => {
                        dm_warn!("Invalid max_held_mb value '{}' (a number of MiB)", v);
                        return Err(c_str!("Invalid max_held_mb value"));
                    }
                }
            } else if let (Some(name), None) = (arg.strip_prefix("group:"), &o.group) {
                if !valid_group_name(name.as_bytes()) {
                    dm_warn!(
                        "Invalid group name '{}' (1 to {} letters, digits, '_', '-' or '.')",
                        name,
                        GROUP_NAME_MAX
                    );
                    return Err(c_str!("Invalid group name"));
                }
                let mut v = KVec::new();
                v.extend_from_slice(name.as_bytes(), GFP_KERNEL)
                    .map_err(|_| c_str!("Cannot allocate context"))?;
                o.group = Some(v);
            } else {
                dm_warn!(
                    "Unknown or repeated optional argument '{}' (known: append, max_held_mb:<MiB>, group:<name>)",
                    arg
                );
                return Err(c_str!("Unknown optional argument"));
            }
        }
        Ok(o)
    }

    /// The bound in bytes (0: none).
    pub(crate) fn max_held(&self) -> u64 {
        self.max_held_mb.unwrap_or(DEFAULT_MAX_HELD_MB) << 20
    }

    /// Appends ` <#opt_args> <opt>...` for `dmsetup table`, or nothing when
    /// no option was given (the table then reads like C's).
    pub(crate) fn write_table(&self, out: &mut impl Write) -> core::fmt::Result {
        let n = usize::from(self.append)
            + usize::from(self.max_held_mb.is_some())
            + usize::from(self.group.is_some());
        if n == 0 {
            return Ok(());
        }
        write!(out, " {n}")?;
        if self.append {
            write!(out, " append")?;
        }
        if let Some(mb) = self.max_held_mb {
            write!(out, " max_held_mb:{mb}")?;
        }
        if let Some(name) = &self.group {
            // Valid names are ASCII.
            write!(out, " group:{}", core::str::from_utf8(name).unwrap_or("?"))?;
        }
        Ok(())
    }
}
