// SPDX-License-Identifier: GPL-2.0

//! Grouped logs (`lwlog group ...`): the logs of several log-writes devices
//! in one group (the `group:<name>` table option), whose entries share one
//! order of durability events.
//!
//! Every entry of a grouped log carries its group sequence number, taken
//! when it became durable; each member's log is in that order, and numbers
//! are unique across the group. A *group point* is a sequence number `s`:
//! the state in which every member holds exactly its entries numbered up
//! to `s`, which is what each device held, durably, at the instant event
//! `s` happened. Between two events only one member changes, so the group
//! points are the merged timeline of the members' entries.

use crate::check::At;
use crate::command::{Checker, Verdict};
use crate::error::{Error, Missing};
use crate::list;
use crate::log::{escape, Entry, FileSource, Log};
use crate::overlap;
use crate::progress::Progress;
use crate::replay::{Replayer, Target};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a set of logs is not one group's.
#[derive(Debug)]
pub enum GroupError {
    /// No log given.
    NoMembers,
    /// `--log` and `--target` counts differ.
    Pairs { logs: usize, targets: usize },
    /// `group oracle`: `--log`, `--top` and `--probe` counts differ.
    Devices {
        logs: usize,
        tops: usize,
        probes: usize,
    },
    /// A log of no group.
    NotGrouped { path: PathBuf },
    /// Two logs of different groups.
    OtherGroup {
        path: PathBuf,
        name: Vec<u8>,
        first: PathBuf,
        first_name: Vec<u8>,
    },
    /// The same log twice.
    Twice { path: PathBuf },
    /// An entry of a grouped log without a group sequence number.
    NoSeq { path: PathBuf, index: u64 },
    /// An entry numbered at or before the one before it in its log.
    OutOfOrder {
        path: PathBuf,
        index: u64,
        seq: u64,
        prev: u64,
    },
    /// `entry:MEMBER:INDEX` names a member beyond those given.
    NoSuchMember { member: usize, members: usize },
    /// Two members' entries with the same number.
    SameSeq {
        seq: u64,
        a: (PathBuf, u64),
        b: (PathBuf, u64),
    },
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::NoMembers => write!(f, "no log given"),
            GroupError::Pairs { logs, targets } => write!(
                f,
                "{logs} --log and {targets} --target: give one target per log, in the same order"
            ),
            GroupError::Devices { logs, tops, probes } => write!(
                f,
                "{logs} --log, {tops} --top and {probes} --probe: give one of each per member, in the same order"
            ),
            GroupError::NotGrouped { path } => write!(
                f,
                "{} is not the log of a group member (no group name in its super block)",
                path.display()
            ),
            GroupError::OtherGroup {
                path,
                name,
                first,
                first_name,
            } => write!(
                f,
                "{} is a log of group '{}', {} of group '{}'",
                path.display(),
                escape(name),
                first.display(),
                escape(first_name)
            ),
            GroupError::Twice { path } => write!(f, "{} is given twice", path.display()),
            GroupError::NoSuchMember { member, members } => write!(
                f,
                "there is no member {member}: {members} logs are given (numbered from 0)"
            ),
            GroupError::NoSeq { path, index } => write!(
                f,
                "{} entry {index}: no group sequence number in a grouped log",
                path.display()
            ),
            GroupError::OutOfOrder {
                path,
                index,
                seq,
                prev,
            } => write!(
                f,
                "{} entry {index}: group sequence number {seq} does not follow {prev}, the \
                 previous entry's",
                path.display()
            ),
            GroupError::SameSeq { seq, a, b } => write!(
                f,
                "group sequence number {seq} is taken twice: by {} entry {} and by {} entry {}",
                a.0.display(),
                a.1,
                b.0.display(),
                b.1
            ),
        }
    }
}

/// One member's log, read whole.
pub struct Member {
    pub path: PathBuf,
    pub log: Log<FileSource>,
    pub entries: Vec<Entry>,
}

impl Member {
    /// The group sequence number of entry `i` (checked when opened).
    fn seq(&self, i: usize) -> u64 {
        self.entries[i].group.map_or(0, |g| g.seq)
    }
}

/// One durability event of the group: entry `entry` (a position in
/// `Member::entries`) of member `member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub member: usize,
    pub entry: usize,
}

/// The logs of a group's members, checked to be one group's.
pub struct Group {
    pub name: Vec<u8>,
    pub members: Vec<Member>,
    /// Every entry of every member, in group order.
    pub timeline: Vec<Event>,
}

/// A group point, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupPoint {
    /// After event number N (`seq:N`; 0: before every event).
    Seq(u64),
    /// After the first mark with this text, in any member (`mark:NAME`).
    Mark(Vec<u8>),
    /// After entry I of member M, counting from 0 in the order given
    /// (`entry:M:I`).
    Entry { member: usize, index: u64 },
    /// After the last event (`end`).
    End,
}

/// Parses `seq:N`, `mark:NAME`, `entry:M:I` or `end`.
pub fn parse_point(s: &str) -> Result<GroupPoint, String> {
    if s == "end" {
        return Ok(GroupPoint::End);
    }
    if let Some(m) = s.strip_prefix("mark:") {
        return Ok(GroupPoint::Mark(m.as_bytes().to_vec()));
    }
    if let Some(n) = s.strip_prefix("seq:").and_then(|n| n.parse().ok()) {
        return Ok(GroupPoint::Seq(n));
    }
    if let Some((m, i)) = s.strip_prefix("entry:").and_then(|r| r.split_once(':')) {
        if let (Ok(member), Ok(index)) = (m.parse(), i.parse()) {
            return Ok(GroupPoint::Entry { member, index });
        }
    }
    Err(format!(
        "'{s}' is not seq:N, mark:NAME, entry:MEMBER:INDEX (both from 0) or end"
    ))
}

impl Group {
    /// Opens and reads the logs at `paths` and checks that they are the
    /// logs of one group's members.
    pub fn open(paths: &[PathBuf]) -> Result<Group, Error> {
        if paths.is_empty() {
            return Err(GroupError::NoMembers.into());
        }
        let mut name: Option<Vec<u8>> = None;
        let mut members: Vec<Member> = Vec::new();
        for path in paths {
            if members.iter().any(|m| m.path == *path) {
                return Err(GroupError::Twice { path: path.clone() }.into());
            }
            let log = Log::open(path)?;
            let Some(this) = log.group.clone() else {
                return Err(GroupError::NotGrouped { path: path.clone() }.into());
            };
            match &name {
                Some(first) if *first != this => {
                    return Err(GroupError::OtherGroup {
                        path: path.clone(),
                        name: this,
                        first: paths[0].clone(),
                        first_name: first.clone(),
                    }
                    .into())
                }
                Some(_) => {}
                None => name = Some(this),
            }
            let entries = log.entries().collect::<Result<Vec<_>, _>>()?;
            let mut prev = 0;
            for e in &entries {
                let seq = e.group.map(|g| g.seq).ok_or_else(|| GroupError::NoSeq {
                    path: path.clone(),
                    index: e.index,
                })?;
                if seq <= prev {
                    return Err(GroupError::OutOfOrder {
                        path: path.clone(),
                        index: e.index,
                        seq,
                        prev,
                    }
                    .into());
                }
                prev = seq;
            }
            members.push(Member {
                path: path.clone(),
                log,
                entries,
            });
        }
        let mut timeline: Vec<Event> = members
            .iter()
            .enumerate()
            .flat_map(|(m, member)| {
                (0..member.entries.len()).map(move |i| Event {
                    seq: member.seq(i),
                    member: m,
                    entry: i,
                })
            })
            .collect();
        timeline.sort_by_key(|e| e.seq);
        if let Some(w) = timeline.windows(2).find(|w| w[0].seq == w[1].seq) {
            let at = |e: &Event| {
                (
                    members[e.member].path.clone(),
                    members[e.member].entries[e.entry].index,
                )
            };
            return Err(GroupError::SameSeq {
                seq: w[0].seq,
                a: at(&w[0]),
                b: at(&w[1]),
            }
            .into());
        }
        Ok(Group {
            name: name.unwrap_or_default(),
            members,
            timeline,
        })
    }

    /// The entry of event `e`.
    pub fn entry(&self, e: &Event) -> &Entry {
        &self.members[e.member].entries[e.entry]
    }

    /// The sequence number `point` names.
    pub fn resolve(&self, point: &GroupPoint) -> Result<u64, Error> {
        match point {
            GroupPoint::Seq(n) => Ok(*n),
            GroupPoint::End => Ok(self.timeline.last().map_or(0, |e| e.seq)),
            GroupPoint::Mark(text) => self
                .timeline
                .iter()
                .find(|e| {
                    let entry = self.entry(e);
                    entry.header.is_mark() && entry.mark == *text
                })
                .map(|e| e.seq)
                .ok_or_else(|| {
                    Missing::Mark {
                        role: None,
                        text: text.clone(),
                        max_len: self
                            .members
                            .iter()
                            .map(|m| logformat::max_grouped_mark_len(m.log.sector_size()))
                            .max()
                            .unwrap_or(0),
                    }
                    .into()
                }),
            GroupPoint::Entry { member, index } => {
                let m = self.members.get(*member).ok_or(GroupError::NoSuchMember {
                    member: *member,
                    members: self.members.len(),
                })?;
                m.entries
                    .iter()
                    .find(|e| e.index == *index)
                    .and_then(|e| e.group.map(|g| g.seq))
                    .ok_or_else(|| {
                        Missing::Entry {
                            index: *index,
                            entries: m.entries.len() as u64,
                        }
                        .into()
                    })
            }
        }
    }

    /// How many entries of each member the state at group point `seq`
    /// holds.
    pub fn prefix(&self, seq: u64) -> Vec<usize> {
        self.members
            .iter()
            .map(|m| {
                m.entries
                    .partition_point(|e| e.group.map_or(0, |g| g.seq) <= seq)
            })
            .collect()
    }
}

/// `lwlog group list`: the merged timeline, one line per event:
/// `SEQ MEMBER:` and the entry as `lwlog list` prints it.
pub fn list(paths: &[PathBuf], json: bool) -> Result<(), Error> {
    let g = Group::open(paths)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !json {
        let _ = writeln!(out, "group {}", escape(&g.name));
        for (i, m) in g.members.iter().enumerate() {
            let _ = writeln!(
                out,
                "member {i}: {} ({} entries)",
                m.path.display(),
                m.entries.len()
            );
        }
    }
    for e in &g.timeline {
        let ss = g.members[e.member].log.sector_size();
        let entry = g.entry(e);
        let line = if json {
            // The entry's object as `lwlog list --json` has it, with the
            // event's number and member added.
            let mut obj = serde_json::Map::new();
            obj.insert("seq".into(), e.seq.into());
            obj.insert("member".into(), e.member.into());
            if let Ok(serde_json::Value::Object(fields)) =
                serde_json::from_str(&list::json_line(entry, ss))
            {
                obj.extend(fields);
            }
            serde_json::Value::Object(obj).to_string()
        } else {
            format!("{} {}:{}", e.seq, e.member, list::text_line(entry, ss))
        };
        if writeln!(out, "{line}").is_err() {
            return Ok(());
        }
    }
    let _ = out.flush();
    Ok(())
}

/// `lwlog group verify`: the logs are one group's (see [`Group::open`]).
pub fn verify(paths: &[PathBuf]) -> Result<(), Error> {
    let g = Group::open(paths)?;
    println!(
        "group {}: {} members, {} events{}",
        escape(&g.name),
        g.members.len(),
        g.timeline.len(),
        match (g.timeline.first(), g.timeline.last()) {
            (Some(a), Some(b)) => format!(", numbered {} to {}", a.seq, b.seq),
            _ => String::new(),
        }
    );
    Ok(())
}

/// The members' logs and the targets to replay them onto, in pairs.
pub struct Pairs<'a> {
    pub logs: &'a [PathBuf],
    pub targets: &'a [PathBuf],
    /// Replay discards (not `--no-discard`).
    pub discard: bool,
}

impl Pairs<'_> {
    /// Refuses logs and targets (and `others`) that overlap, then opens
    /// the group and the targets.
    fn open(&self, others: &[(&'static str, &Path)]) -> Result<(Group, Vec<Target>), Error> {
        if self.logs.len() != self.targets.len() {
            return Err(GroupError::Pairs {
                logs: self.logs.len(),
                targets: self.targets.len(),
            }
            .into());
        }
        let mut paths: Vec<(&'static str, &Path)> = Vec::new();
        for (l, t) in self.logs.iter().zip(self.targets) {
            paths.push(("log", l));
            paths.push(("target", t));
        }
        paths.extend_from_slice(others);
        overlap::refuse_overlap(&paths).map_err(Error::Overlap)?;
        let g = Group::open(self.logs)?;
        let targets = self
            .targets
            .iter()
            .map(|t| Target::open(t, self.discard).map_err(Error::file("cannot open target", t)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((g, targets))
    }
}

impl Pairs<'_> {
    /// As [`Pairs::open`], with a scratch copy of each target (none, or
    /// one per member); also returns each target with its scratch.
    #[allow(clippy::type_complexity)]
    fn open_with_scratch<'a>(
        &'a self,
        scratch: &'a [PathBuf],
    ) -> Result<(Group, Vec<Target>, Vec<(&'a Path, Option<&'a Path>)>), Error> {
        if !scratch.is_empty() && scratch.len() != self.logs.len() {
            return Err(Error::ScratchCount {
                jobs: self.logs.len(),
                given: scratch.len(),
            });
        }
        let others: Vec<(&'static str, &Path)> =
            scratch.iter().map(|p| ("scratch", p.as_path())).collect();
        let (g, targets) = self.open(&others)?;
        let copies = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_path(), scratch.get(i).map(PathBuf::as_path)))
            .collect();
        Ok((g, targets, copies))
    }
}

/// The checker running `cmd` on the targets (or their scratch copies).
fn checker(
    cmd: &str,
    copies: &[(&Path, Option<&Path>)],
    timeout: Option<Duration>,
) -> Result<Checker, Error> {
    Ok(Checker::for_targets(cmd.to_string(), copies)
        .map_err(Error::file("cannot open scratch", Path::new("(scratch)")))?
        .with_timeout(timeout))
}

impl Group {
    /// A replayer per member, onto its target.
    fn replayers(&self, targets: Vec<Target>) -> Vec<Replayer<'_, FileSource>> {
        self.members
            .iter()
            .zip(targets)
            .map(|(m, t)| Replayer::new(&m.log, t, Progress::new(0)))
            .collect()
    }
}

/// Lands what is pending on every target (unless `outcome` failed
/// already: the targets then stay as they are) and ends the replays.
fn finish(
    replayers: &mut [Replayer<'_, FileSource>],
    outcome: Result<(), Error>,
) -> Result<(), Error> {
    let outcome = outcome.and_then(|()| replayers.iter_mut().try_for_each(Replayer::sync));
    for r in replayers.iter_mut() {
        r.finish();
    }
    outcome
}

/// `lwlog group replay`: each member's entries up to group point `to`
/// onto its target, so that the targets together hold what the devices
/// held at that instant.
pub fn replay(pairs: &Pairs<'_>, to: &GroupPoint) -> Result<(), Error> {
    let (g, targets) = pairs.open(&[])?;
    let seq = g.resolve(to)?;
    let prefix = g.prefix(seq);
    for ((m, t), n) in g.members.iter().zip(targets).zip(&prefix) {
        let mut r = Replayer::new(&m.log, t, Progress::new(0));
        for e in &m.entries[..*n] {
            r.apply(e, true)?;
        }
        r.sync()?;
        r.finish();
    }
    let counts: Vec<String> = prefix.iter().map(usize::to_string).collect();
    eprintln!(
        "replayed group point {seq}: entries per member {}",
        counts.join(", ")
    );
    Ok(())
}

/// A failed check at a group point, and what happened there.
#[derive(Debug)]
pub struct Failure {
    pub seq: u64,
    pub member: usize,
    pub path: PathBuf,
    pub entry: u64,
    pub flags: String,
    pub why: String,
    pub prefix: Vec<usize>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<String> = self.prefix.iter().map(usize::to_string).collect();
        write!(
            f,
            "check failed at group point {} (member {} {} entry {}, flags {}; entries per \
             member {}): {}; reproduce with: lwlog group replay --to seq:{} ...",
            self.seq,
            self.member,
            self.path.display(),
            self.entry,
            self.flags,
            counts.join(", "),
            self.why,
            self.seq
        )
    }
}

/// `lwlog group check`: replays the group event by event and runs `fsck`
/// at every event after group point `from` that `at` picks (at most `max_checks` of them, evenly spaced;
/// on copies in `scratch`, one per member, if given), stopping at the first
/// failure. The command sees `LWLOG_DEV0`,
/// `LWLOG_DEV1`... (one per member, in the order given), `LWLOG_SEQ`, and
/// `LWLOG_MEMBER`, `LWLOG_ENTRY`, `LWLOG_FLAGS`, `LWLOG_MARK` of the event.
pub fn check(
    pairs: &Pairs<'_>,
    fsck: &str,
    at: At,
    from: &GroupPoint,
    max_checks: Option<u64>,
    scratch: &[PathBuf],
    timeout: Option<Duration>,
) -> Result<(), Error> {
    let (g, targets, copies) = pairs.open_with_scratch(scratch)?;
    let mut checker = checker(fsck, &copies, timeout)?;
    let from = g.resolve(from)?;
    let mut replayers = g.replayers(targets);
    let is_point = |nth: u64, e: &Event| e.seq > from && at.hits(g.entry(e), nth);
    let points = (1..)
        .zip(&g.timeline)
        .filter(|(nth, e)| is_point(*nth, e))
        .count() as u64;
    let chosen = crate::check::sample(points, max_checks);
    let mut point = 0u64;
    let mut done = vec![0usize; g.members.len()];
    let mut checks = 0u64;
    let mut outcome = Ok(());
    for (nth, e) in (1..).zip(&g.timeline) {
        let entry = g.entry(e);
        if let Err(err) = replayers[e.member].apply(entry, true) {
            outcome = Err(err);
            break;
        }
        done[e.member] += 1;
        if !is_point(nth, e) {
            continue;
        }
        point += 1;
        if !chosen(point - 1) {
            continue;
        }
        if let Err(err) = replayers.iter_mut().try_for_each(Replayer::sync) {
            outcome = Err(err);
            break;
        }
        let files: Vec<&std::fs::File> = replayers.iter().map(|r| r.target.file()).collect();
        let mut env = vec![
            ("LWLOG_SEQ", e.seq.to_string()),
            ("LWLOG_MEMBER", e.member.to_string()),
        ];
        env.extend(crate::check::env(entry));
        checks += 1;
        match checker.run_all(&files, &env) {
            Ok(Verdict::Passed) => {}
            Ok(Verdict::Failed(why)) => {
                outcome = Err(Error::GroupCheckFailed(Box::new(Failure {
                    seq: e.seq,
                    member: e.member,
                    path: g.members[e.member].path.clone(),
                    entry: entry.index,
                    flags: entry.flag_names(),
                    why,
                    prefix: done.clone(),
                })));
                break;
            }
            Err(err) => {
                outcome = Err(Error::RunCheck(err));
                break;
            }
        }
    }
    // What follows the last state or check point lands too: the targets
    // end as the logs do.
    finish(&mut replayers, outcome)?;
    if checks == 0 {
        return Err(Missing::CheckPoints {
            entries: g.timeline.len() as u64,
        }
        .into());
    }
    println!(
        "{checks} checks passed over {} group events ({points} check points)",
        g.timeline.len()
    );
    Ok(())
}

/// What `group crash-states` generates.
pub struct CrashOptions {
    /// States per group point that has writes in a cache.
    pub per_point: u64,
    /// Stop after this many states.
    pub max_states: u64,
    pub seed: u64,
    /// Materialise only this state and leave it on the targets.
    pub only: Option<u64>,
    /// Only at group points after this one (crash states of a filesystem
    /// after its mkfs, say).
    pub from: GroupPoint,
}

/// Which plain writes sit in each member's volatile cache as the group
/// replays event by event: completed (completion number at or before the
/// point) and not durable yet (durability number after it).
struct Caches {
    /// Each member's plain writes that change the device, as (completion
    /// number, position in its entries), by completion number.
    by_completion: Vec<Vec<(u64, usize)>>,
    /// How many of `by_completion` have completed.
    next: Vec<usize>,
    /// The cached writes, by position in the member's entries.
    cached: Vec<std::collections::BTreeSet<usize>>,
}

impl Caches {
    fn new(g: &Group) -> Caches {
        let by_completion: Vec<Vec<(u64, usize)>> = g
            .members
            .iter()
            .map(|m| {
                let mut v: Vec<(u64, usize)> = m
                    .entries
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| {
                        let stamp = e.group?;
                        // Durable at once (FUA, a flush, a mark) is never
                        // in a cache.
                        (stamp.completed < stamp.seq && e.touches_data())
                            .then_some((stamp.completed, i))
                    })
                    .collect();
                v.sort_unstable();
                v
            })
            .collect();
        Caches {
            next: vec![0; by_completion.len()],
            cached: vec![Default::default(); by_completion.len()],
            by_completion,
        }
    }

    /// Event `e` happened: its entry is durable, and every write completed
    /// by then and not durable is cached.
    fn advance(&mut self, g: &Group, e: &Event) {
        self.cached[e.member].remove(&e.entry);
        for (m, list) in self.by_completion.iter().enumerate() {
            while let Some(&(completed, i)) = list.get(self.next[m]) {
                if completed > e.seq {
                    break;
                }
                if g.members[m].seq(i) > e.seq {
                    self.cached[m].insert(i);
                }
                self.next[m] += 1;
            }
        }
    }
}

/// `lwlog group crash-states`: at each group point (after `o.from`) at which some member
/// has plain writes that completed into its volatile cache and were not
/// durable yet, states in which every member holds what was durable then
/// plus a random subset of its cached writes, persisted in a random order;
/// each materialised on the targets, checked with `fsck` if given, then
/// undone. Cached writes of different members are chosen independently:
/// a power cut stops every device at the same instant, each with its own
/// cache. The targets must hold what the devices held when logging began.
pub fn crash_states(
    pairs: &Pairs<'_>,
    o: &CrashOptions,
    fsck: Option<&str>,
    scratch: &[PathBuf],
    timeout: Option<Duration>,
) -> Result<(), Error> {
    let (g, targets, copies) = pairs.open_with_scratch(scratch)?;
    let mut checker = fsck.map(|cmd| checker(cmd, &copies, timeout)).transpose()?;
    let mut replayers = g.replayers(targets);
    let mut rng = crate::crash::StateRng::new(o.seed);
    let mut caches = Caches::new(&g);
    let from = g.resolve(&o.from)?;
    let mut n = 0u64;
    let mut outcome = Ok(());
    let mut left_on_targets = false;
    'events: for e in &g.timeline {
        if n >= o.max_states {
            break;
        }
        if let Err(err) = replayers[e.member].apply(g.entry(e), true) {
            outcome = Err(err);
            break;
        }
        caches.advance(&g, e);
        if e.seq <= from {
            continue;
        }
        let cache: Vec<Vec<usize>> = caches
            .cached
            .iter()
            .map(|c| c.iter().copied().collect())
            .collect();
        if cache.iter().all(Vec::is_empty) {
            continue;
        }
        for _ in 0..o.per_point {
            if n >= o.max_states {
                break;
            }
            // Each member: a random subset of its cached writes, shuffled.
            let chosen: Vec<Vec<usize>> = cache
                .iter()
                .map(|c| {
                    let mut pick: Vec<usize> =
                        c.iter().copied().filter(|_| rng.below(2) == 1).collect();
                    for i in (1..pick.len()).rev() {
                        pick.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                    pick
                })
                .collect();
            if o.only.is_some_and(|only| only != n) {
                n += 1;
                continue;
            }
            let mut saved: Vec<crate::undo::Saved> = Vec::new();
            for ((r, m), pick) in replayers.iter_mut().zip(&g.members).zip(&chosen) {
                let mut s = crate::undo::Saved::default();
                let applied = pick
                    .iter()
                    .try_for_each(|&i| crate::undo::apply_saving(r, &mut s, &m.entries[i], true))
                    .and_then(|()| r.sync());
                saved.push(s);
                if let Err(err) = applied {
                    outcome = Err(err);
                    break 'events;
                }
            }
            let parts: Vec<String> = chosen
                .iter()
                .zip(&cache)
                .zip(&g.members)
                .enumerate()
                .map(|(i, ((pick, c), m))| {
                    let idx: Vec<String> = pick
                        .iter()
                        .map(|&j| m.entries[j].index.to_string())
                        .collect();
                    format!(
                        "member {i} +{} of {} cached [{}]",
                        pick.len(),
                        c.len(),
                        idx.join(" ")
                    )
                })
                .collect();
            println!("state {n} at group point {}: {}", e.seq, parts.join(", "));
            if o.only.is_some() {
                left_on_targets = true;
                break 'events;
            }
            if let Some(c) = checker.as_mut() {
                let files: Vec<&std::fs::File> =
                    replayers.iter().map(|r| r.target.file()).collect();
                let env = [
                    ("LWLOG_SEQ", e.seq.to_string()),
                    ("LWLOG_STATE", n.to_string()),
                ];
                match c.run_all(&files, &env) {
                    Ok(Verdict::Passed) => {}
                    Ok(Verdict::Failed(why)) => {
                        outcome = Err(Error::StateCheckFailed { state: n, why });
                    }
                    Err(err) => outcome = Err(Error::RunCheck(err)),
                }
            }
            for (r, s) in replayers.iter_mut().zip(&mut saved) {
                if let Err(err) = crate::undo::restore(r, s) {
                    outcome = outcome.and(Err(err));
                }
            }
            if outcome.is_err() {
                break 'events;
            }
            n += 1;
        }
    }
    // What follows the last state or check point lands too: the targets
    // end as the logs do.
    finish(&mut replayers, outcome)?;
    match o.only {
        Some(_) if left_on_targets => return Ok(()),
        Some(state) => return Err(Missing::State { state, states: n }.into()),
        None => {}
    }
    println!("{n} states");
    Ok(())
}

/// One member for `group oracle`: its log and, in the block trace, its
/// log-writes device and the device below it.
pub struct OracleMember {
    pub log: PathBuf,
    pub top: crate::oracle::DevNo,
    pub probe: crate::oracle::DevNo,
}

/// An entry's number and the span of the record in which it became durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    pub seq: u64,
    pub index: u64,
    pub lo: u64,
    pub hi: u64,
}

/// The group order against the record: an entry of one member that was
/// durable for certain (`hi`) before an entry of another could have become
/// durable (`lo`) must have the smaller number. `members[m]` are member
/// `m`'s timed entries. Returns the first pair that breaks it: (member,
/// entry) with the larger number, then the one with the smaller.
pub fn order_violation(members: &[Vec<Timed>]) -> Option<((usize, Timed), (usize, Timed))> {
    for (a, xs) in members.iter().enumerate() {
        // Entries of member `a` by `hi`, with the largest number so far.
        let mut by_hi: Vec<Timed> = xs.clone();
        by_hi.sort_by_key(|x| x.hi);
        let mut best: Vec<Timed> = Vec::with_capacity(by_hi.len());
        for x in &by_hi {
            let keep = match best.last() {
                Some(b) if b.seq >= x.seq => *b,
                _ => *x,
            };
            best.push(keep);
        }
        for (b, ys) in members.iter().enumerate() {
            if a == b {
                continue;
            }
            for y in ys {
                // Entries of `a` durable for certain before `y` could be.
                let n = by_hi.partition_point(|x| x.hi < y.lo);
                if n > 0 && best[n - 1].seq > y.seq {
                    return Some(((a, best[n - 1]), (b, *y)));
                }
            }
        }
    }
    None
}

/// `lwlog group oracle`: each member's log against the block trace (as
/// `lwlog oracle`), then the group's order against the same trace (see
/// [`order_violation`]).
pub fn oracle(members: &[OracleMember], trace: &Path, complete: bool) -> Result<(), Error> {
    let paths: Vec<PathBuf> = members.iter().map(|m| m.log.clone()).collect();
    let g = Group::open(&paths)?;
    let events = crate::commands::read_trace(trace)?;
    let mut timed = Vec::new();
    for (m, member) in g.members.iter().zip(members) {
        let entries = crate::commands::oracle_entries(&m.log, &m.path, false)?;
        let r = crate::oracle::check(&events, member.top, member.probe, &entries, complete)
            .map_err(|v| crate::commands::not_durable(&entries, v))?;
        crate::commands::print_oracle_report(&r, events.len());
        timed.push(
            r.moments
                .iter()
                .filter_map(|t| {
                    let e = m.entries.iter().find(|e| e.index == t.index)?;
                    Some(Timed {
                        seq: e.group?.seq,
                        index: t.index,
                        lo: t.lo,
                        hi: t.hi,
                    })
                })
                .collect::<Vec<_>>(),
        );
    }
    if let Some(((a, x), (b, y))) = order_violation(&timed) {
        return Err(Error::NotDurable(crate::oracle::Violation {
            entry: Some(y.index),
            why: format!(
                "member {b} ({}) entry {} has group number {}, but became durable only after \
                 {} in the record, when member {a} ({}) entry {} with the larger number {} was \
                 durable already (by {})",
                g.members[b].path.display(),
                y.index,
                y.seq,
                y.lo,
                g.members[a].path.display(),
                x.index,
                x.seq,
                x.hi
            ),
        }));
    }
    let pairs: usize = timed.iter().map(Vec::len).sum();
    println!(
        "oracle: the group's order agrees with the record: {} members, {pairs} entries timed",
        g.members.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse() {
        assert_eq!(parse_point("end"), Ok(GroupPoint::End));
        assert_eq!(parse_point("seq:12"), Ok(GroupPoint::Seq(12)));
        assert_eq!(
            parse_point("mark:a b"),
            Ok(GroupPoint::Mark(b"a b".to_vec()))
        );
        assert_eq!(
            parse_point("entry:1:40"),
            Ok(GroupPoint::Entry {
                member: 1,
                index: 40
            })
        );
        for bad in ["", "seq:", "seq:-1", "entry:1", "entry:a:1", "12"] {
            assert!(parse_point(bad).is_err(), "{bad}");
        }
    }

    fn t(seq: u64, lo: u64, hi: u64) -> Timed {
        Timed {
            seq,
            index: seq,
            lo,
            hi,
        }
    }

    #[test]
    fn order_follows_the_record() {
        // Member 0 durable by 10 and by 30; member 1 from 20 and from 40.
        let good = [
            vec![t(1, 5, 10), t(3, 25, 30)],
            vec![t(2, 20, 22), t(4, 40, 41)],
        ];
        assert_eq!(order_violation(&good), None);
        // Overlapping spans order nothing: either number is right.
        let overlap = [vec![t(2, 5, 25)], vec![t(1, 20, 22)]];
        assert_eq!(order_violation(&overlap), None);
        // Member 1's entry became durable after 20, member 0's was by 10,
        // yet member 1's has the smaller number.
        let bad = [vec![t(5, 5, 10)], vec![t(4, 20, 22)]];
        assert_eq!(
            order_violation(&bad),
            Some(((0, t(5, 5, 10)), (1, t(4, 20, 22))))
        );
        // The largest number among the earlier entries is the one compared.
        let bad = [vec![t(1, 1, 2), t(9, 3, 4), t(2, 5, 6)], vec![t(8, 50, 60)]];
        assert_eq!(
            order_violation(&bad),
            Some(((0, t(9, 3, 4)), (1, t(8, 50, 60))))
        );
    }
}
