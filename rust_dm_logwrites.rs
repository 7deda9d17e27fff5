// SPDX-License-Identifier: GPL-2.0

//! The device-mapper `log-writes` target, in Rust.

use kernel::prelude::*;

module! {
    type: LogWritesModule,
    name: "rust_dm_logwrites",
    author: "rust-dm-logwrites developers",
    description: "device-mapper log-writes target (Rust)",
    license: "GPL",
}

struct LogWritesModule;

impl kernel::Module for LogWritesModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("loaded\n");
        Ok(LogWritesModule)
    }
}

impl Drop for LogWritesModule {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
