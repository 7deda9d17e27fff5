// SPDX-License-Identifier: GPL-2.0

//! `lwlog crash-states`: crash states beyond log prefixes.
//!
//! The log is cut into flush epochs: the entries after one FLUSH entry up
//! to and including the next. Everything before an epoch is durable. A
//! crash inside it can leave on disk the epoch's FUA writes up to some
//! point (they are durable once complete, in log order) and any subset of
//! its other writes and discards, which sat in a volatile cache, in any
//! order (as CrashMonkey does). Each state is materialised on the target
//! on top of the durable prefix, checked, then undone by writing back what
//! it overwrote, and the prefix advances epoch by epoch.

use crate::command::{Checker, Verdict};
use crate::error::{Error, Missing};
use crate::log::{Entry, Source};
use crate::replay::Replayer;
use crate::select::Selection;
use crate::undo::{self, Saved};
use logformat::{FLAG_FLUSH, FLAG_FUA};

pub struct Options {
    /// States generated per epoch.
    pub per_epoch: u64,
    /// Stop after this many states in total.
    pub max_states: u64,
    pub seed: u64,
    /// Materialise only this state and leave it on the target.
    pub only: Option<u64>,
}

pub enum Outcome {
    /// This many states were generated (and checked, with a checker).
    Done(u64),
    Failed {
        state: u64,
        why: String,
    },
}

/// One crash state: the epoch's entries applied, in this order.
struct State<'e> {
    epoch: usize,
    applied: Vec<&'e Entry>,
}

pub fn run<S: Source>(
    r: &mut Replayer<'_, S>,
    sel: &Selection,
    entries: &[Entry],
    o: &Options,
    mut checker: Option<&mut Checker>,
) -> Result<Outcome, Error> {
    let epochs = split_epochs(entries);
    let mut rng = SplitMix(o.seed);
    let mut n = 0u64;
    for (k, epoch) in epochs.iter().enumerate() {
        let data: Vec<&Entry> = epoch.iter().filter(|e| sel.touches(e)).collect();
        for _ in 0..o.per_epoch {
            if n >= o.max_states || data.is_empty() {
                break;
            }
            let state = State {
                epoch: k,
                applied: pick(&data, &mut rng),
            };
            if o.only.is_none_or(|only| only == n) {
                let mut saved = apply_state(r, &state)?;
                println!("{}", describe(n, &state, epoch));
                if o.only.is_some() {
                    return Ok(Outcome::Done(1));
                }
                let verdict = match checker.as_deref_mut() {
                    Some(c) => {
                        let env = [("LWLOG_STATE", n.to_string())];
                        c.run(r.target.file(), &env).map_err(Error::RunCheck)?
                    }
                    None => Verdict::Passed,
                };
                undo::restore(r, &mut saved)?;
                if let Verdict::Failed(why) = verdict {
                    return Ok(Outcome::Failed { state: n, why });
                }
            }
            n += 1;
        }
        // The whole epoch, flush included, becomes the durable prefix.
        for e in epoch.iter() {
            r.apply(e, sel.touches(e))?;
        }
    }
    if let Some(state) = o.only {
        return Err(Missing::State { state, states: n }.into());
    }
    r.sync()?;
    Ok(Outcome::Done(n))
}

/// Epochs: runs of entries each ending with a FLUSH entry (the last one may
/// not).
fn split_epochs(entries: &[Entry]) -> Vec<&[Entry]> {
    entries
        .split_inclusive(|e| e.has(FLAG_FLUSH))
        .filter(|s| !s.is_empty())
        .collect()
}

/// A prefix of the FUA writes plus a random subset of the rest, shuffled
/// while FUA writes keep their order.
fn pick<'e>(data: &[&'e Entry], rng: &mut SplitMix) -> Vec<&'e Entry> {
    let fua: Vec<&Entry> = data.iter().copied().filter(|e| e.has(FLAG_FUA)).collect();
    let keep_fua = rng.below(fua.len() as u64 + 1) as usize;
    let mut chosen: Vec<&Entry> = data
        .iter()
        .copied()
        .filter(|e| !e.has(FLAG_FUA) && rng.below(2) == 1)
        .collect();
    // Fisher-Yates over the volatile writes, then FUA writes inserted at
    // random positions in their own order.
    for i in (1..chosen.len()).rev() {
        chosen.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut min_pos = 0;
    for f in &fua[..keep_fua] {
        let pos = min_pos + rng.below((chosen.len() - min_pos) as u64 + 1) as usize;
        chosen.insert(pos, f);
        min_pos = pos + 1;
    }
    chosen
}

/// Applies the state's entries, saving what they overwrite so that
/// `undo::restore` can take the state back.
fn apply_state<S: Source>(r: &mut Replayer<'_, S>, s: &State<'_>) -> Result<Saved, Error> {
    let mut saved = Saved::default();
    for e in &s.applied {
        undo::apply_saving(r, &mut saved, e, true)?;
    }
    r.sync()?;
    Ok(saved)
}

fn describe(n: u64, s: &State<'_>, epoch: &[Entry]) -> String {
    let first = epoch.first().map_or(0, |e| e.index);
    let last = epoch.last().map_or(0, |e| e.index);
    let order: Vec<String> = s.applied.iter().map(|e| e.index.to_string()).collect();
    format!(
        "state {n}: epoch {} (entries {first}..={last}), entries before {first} durable, applied [{}]",
        s.epoch,
        order.join(",")
    )
}

/// SplitMix64: seeded and dependency-free.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}
