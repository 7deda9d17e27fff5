// SPDX-License-Identifier: GPL-2.0

//! A one-line progress bar on stderr, shown only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    /// Counting entries (a streaming replay) rather than log bytes.
    entries: bool,
    total: u64,
    done: u64,
    start: Instant,
    last: Instant,
    shown: bool,
    enabled: bool,
}

const EVERY: Duration = Duration::from_millis(200);
/// Replays of fewer log bytes or entries than this show no bar.
const MIN_BYTES: u64 = 64 << 20;
const MIN_ENTRIES: u64 = 4096;

impl Progress {
    /// A bar for `total` bytes of log; silent unless stderr is a terminal
    /// and the replay is long enough to be worth watching.
    pub fn new(total: u64) -> Progress {
        Self::make(false, total, total >= MIN_BYTES)
    }

    /// A bar for `total` entries, when the bytes are not known in advance.
    pub fn entries(total: u64) -> Progress {
        Self::make(true, total, total >= MIN_ENTRIES)
    }

    fn make(entries: bool, total: u64, long: bool) -> Progress {
        let now = Instant::now();
        Progress {
            entries,
            total: total.max(1),
            done: 0,
            start: now,
            last: now,
            shown: false,
            enabled: long && std::io::stderr().is_terminal(),
        }
    }

    /// Counts one entry of `bytes` log bytes.
    pub fn add(&mut self, bytes: u64) {
        self.done += if self.entries { 1 } else { bytes };
        if self.enabled && self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            self.draw();
        }
    }

    fn draw(&mut self) {
        const WIDTH: u64 = 30;
        let frac = self.done.min(self.total) * WIDTH / self.total;
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let (scale, unit) = if self.entries {
            (1.0, "entries")
        } else {
            ((1u64 << 20) as f64, "MiB")
        };
        let v = |n: u64| n as f64 / scale;
        eprint!(
            "\r[{}{}] {:5.1}% {:.0}/{:.0} {unit} {:.0} {unit}/s ",
            "#".repeat(frac as usize),
            ".".repeat((WIDTH - frac) as usize),
            self.done.min(self.total) as f64 * 100.0 / self.total as f64,
            v(self.done),
            v(self.total),
            v(self.done) / secs
        );
        let _ = std::io::stderr().flush();
        self.shown = true;
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if self.shown {
            eprint!("\r{}\r", " ".repeat(72));
            self.shown = false;
        }
    }
}
