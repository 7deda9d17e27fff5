// SPDX-License-Identifier: GPL-2.0

//! Any bytes as a log: opening, verifying, scanning and resolving replay
//! selections must return results, never panic or loop forever.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lwlog::log::Log;
use lwlog::select::{Selection, Start, Stop};

fuzz_target!(|data: &[u8]| {
    let _ = logformat::EntryHeader::decode(data);
    let _ = logformat::Super::decode(data);
    let Ok(log) = Log::from_source(data.to_vec()) else {
        return;
    };
    let _ = lwlog::verify::verify(&log);
    for e in log.scan() {
        let _ = e.map(|e| (e.flag_names(), e.mark_text()));
    }
    for (start, stop) in [
        (Start::Beginning, Stop::End),
        (Start::Entry(1), Stop::NextFua),
        (Start::Mark(b"m".to_vec()), Stop::Mark(b"end".to_vec())),
        (Start::Beginning, Stop::Limit(3)),
    ] {
        let sel = Selection {
            start,
            stop,
            sectors: Some((8, 64)),
        };
        if let Ok(entries) = sel.resolve(&log) {
            let _ = entries.iter().filter(|e| sel.touches(e)).count();
        }
    }
});
