// SPDX-License-Identifier: GPL-2.0

//! A one-line progress bar on stderr, shown only when stderr is a terminal
//! and the replay is long enough to be worth watching.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    /// Counting entries (a streaming replay) rather than log bytes.
    entries: bool,
    bar: ProgressBar,
}

/// Replays of fewer log bytes or entries than this show no bar.
const MIN_BYTES: u64 = 64 << 20;
const MIN_ENTRIES: u64 = 4096;

impl Progress {
    /// A bar for `total` bytes of log.
    pub fn new(total: u64) -> Progress {
        Self::make(false, total, total >= MIN_BYTES)
    }

    /// A bar for `total` entries, when the bytes are not known in advance.
    pub fn entries(total: u64) -> Progress {
        Self::make(true, total, total >= MIN_ENTRIES)
    }

    fn make(entries: bool, total: u64, long: bool) -> Progress {
        // indicatif draws nothing when stderr is not a terminal.
        let target = if long {
            ProgressDrawTarget::stderr_with_hz(5)
        } else {
            ProgressDrawTarget::hidden()
        };
        let template = if entries {
            "[{bar:30}] {percent:>3}% {pos}/{len} entries {per_sec} {eta}"
        } else {
            "[{bar:30}] {percent:>3}% {bytes}/{total_bytes} {bytes_per_sec} {eta}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>.");
        let bar = ProgressBar::with_draw_target(Some(total.max(1)), target).with_style(style);
        Progress { entries, bar }
    }

    /// Counts one entry of `bytes` log bytes.
    pub fn add(&mut self, bytes: u64) {
        self.bar.inc(if self.entries { 1 } else { bytes });
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}
