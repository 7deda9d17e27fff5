// SPDX-License-Identifier: GPL-2.0

//! A one-line progress bar on stderr, shown only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    total: u64,
    done: u64,
    start: Instant,
    last: Instant,
    shown: bool,
    enabled: bool,
}

const EVERY: Duration = Duration::from_millis(200);
/// Replays of fewer log bytes than this show no bar.
const MIN_TOTAL: u64 = 64 << 20;

impl Progress {
    /// A bar for `total` bytes of log; silent unless stderr is a terminal
    /// and the replay is long enough to be worth watching.
    pub fn new(total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            total: total.max(1),
            done: 0,
            start: now,
            last: now,
            shown: false,
            enabled: total >= MIN_TOTAL && std::io::stderr().is_terminal(),
        }
    }

    pub fn add(&mut self, bytes: u64) {
        self.done += bytes;
        if self.enabled && self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            self.draw();
        }
    }

    fn draw(&mut self) {
        const WIDTH: u64 = 30;
        let frac = self.done.min(self.total) * WIDTH / self.total;
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        eprint!(
            "\r[{}{}] {:5.1}% {:.0}/{:.0} MiB {:.0} MiB/s ",
            "#".repeat(frac as usize),
            ".".repeat((WIDTH - frac) as usize),
            self.done.min(self.total) as f64 * 100.0 / self.total as f64,
            mib(self.done),
            mib(self.total),
            mib(self.done) / secs
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
