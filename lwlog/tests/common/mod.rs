// SPDX-License-Identifier: GPL-2.0

//! What the integration tests share.

// Each test crate uses a part of this.
#![allow(dead_code)]

use std::path::PathBuf;

/// A file under the temp directory, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(contents: &[u8]) -> TempFile {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "lwlog-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    pub fn read(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
