// SPDX-License-Identifier: GPL-2.0

//! `lwlog group`: the merged timeline, replay to one group point, checks
//! at group points, and the logs it refuses.

mod common;

use common::{grouped_log_of, grouped_log_stamped, log_of, run_lwlog, TempFile};
use logformat::{FLAG_FLUSH, FLAG_FUA, FLAG_MARK};

const SS: usize = 512;

/// Member 0 and member 1 of group "g", their events interleaved:
/// 1: m0 writes sector 0 (0x01); 2: m1 writes sector 0 (0x02);
/// 3: m0 flushes; 4: m1 FUA-writes sector 1 (0x03); 5: m0 mark "m";
/// 6: m1 writes sector 2 (0x04).
fn two_members() -> (TempFile, TempFile) {
    let m0 = grouped_log_of(
        b"g",
        &[
            (1, 0, 1, 0, b"", 1),
            (3, 0, 0, FLAG_FLUSH, b"", 0),
            (5, 0, 0, FLAG_MARK, b"m", 0),
        ],
    );
    let m1 = grouped_log_of(
        b"g",
        &[
            (2, 0, 1, 0, b"", 2),
            (4, 1, 1, FLAG_FUA, b"", 3),
            (6, 2, 1, 0, b"", 4),
        ],
    );
    (m0, m1)
}

/// `lwlog group SUB --log L0 --target T0 --log L1 --target T1 EXTRA...`.
fn members(
    sub: &str,
    logs: [&TempFile; 2],
    targets: [&TempFile; 2],
    extra: &[&str],
) -> (u8, String, String) {
    let mut args = vec!["group", sub];
    for (l, t) in logs.iter().zip(&targets) {
        args.extend(["--log", l.path(), "--target", t.path()]);
    }
    args.extend_from_slice(extra);
    run_lwlog(&args)
}

fn zeroed() -> TempFile {
    TempFile::new(&[0u8; 8 * SS])
}

/// The first byte of each of the first three sectors.
fn sectors(t: &TempFile) -> [u8; 3] {
    let d = t.read();
    [d[0], d[SS], d[2 * SS]]
}

fn replay_to(m0: &TempFile, m1: &TempFile, to: &str) -> (u8, [u8; 3], [u8; 3], String) {
    let (t0, t1) = (zeroed(), zeroed());
    let (code, out, err) = members(
        "check",
        [m0, m1],
        [&t0, &t1],
        &[
            "--at",
            "every:1",
            "--max-checks",
            "2",
            "--fsck",
            "test $LWLOG_SEQ = 3 -o $LWLOG_SEQ = 6",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "2 checks passed over 6 group events (6 check points)"
    );
    // From the mark (event 5) on, only event 6 is a point.
    let (t0, t1) = (zeroed(), zeroed());
    let (code, out, err) = members(
        "check",
        [m0, m1],
        [&t0, &t1],
        &[
            "--at",
            "every:1",
            "--from",
            "mark:m",
            "--fsck",
            "test $LWLOG_SEQ = 6 && [ $(od -An -tu1 -j1024 -N1 $LWLOG_DEV1) = 4 ]",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "1 checks passed over 6 group events (1 check points)"
    );
    let (t0, t1) = (zeroed(), zeroed());
    let (code, _, err) = members("replay", [m0, m1], [&t0, &t1], &["--to", to]);
    (code, sectors(&t0), sectors(&t1), err)
}

#[test]
fn list_merges_the_members_in_group_order() {
    let (m0, m1) = two_members();
    let (code, out, err) = run_lwlog(&["group", "list", m0.path(), m1.path()]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(events, ["1 0", "2 1", "3 0", "4 1", "5 0", "6 1"]);
    assert!(out.starts_with("group g\n"), "{out}");
    let (code, out, _) = run_lwlog(&["group", "list", "--json", m0.path(), m1.path()]);
    assert_eq!(code, 0);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 1);
    assert_eq!(first["member"], 0);
    assert_eq!(first["sector"], 0);
    let (code, out, _) = run_lwlog(&["group", "verify", m0.path(), m1.path()]);
    assert_eq!(
        (code, out.trim()),
        (0, "group g: 2 members, 6 events, numbered 1 to 6")
    );
}

#[test]
fn replay_puts_every_member_at_the_same_instant() {
    let (m0, m1) = two_members();
    assert_eq!(replay_to(&m0, &m1, "seq:0").1, [0, 0, 0]);
    let (code, a, b, err) = replay_to(&m0, &m1, "seq:3");
    assert_eq!((code, a, b), (0, [1, 0, 0], [2, 0, 0]), "{err}");
    // The mark is event 5: member 1's FUA write (4) is in, its write 6 not.
    let (code, a, b, _) = replay_to(&m0, &m1, "mark:m");
    assert_eq!((code, a, b), (0, [1, 0, 0], [2, 3, 0]));
    let (code, a, b, _) = replay_to(&m0, &m1, "entry:1:1");
    assert_eq!((code, a, b), (0, [1, 0, 0], [2, 3, 0]));
    let (code, a, b, _) = replay_to(&m0, &m1, "end");
    assert_eq!((code, a, b), (0, [1, 0, 0], [2, 3, 4]));
    let (code, _, _, err) = replay_to(&m0, &m1, "mark:nope");
    assert_eq!(code, 4, "{err}");
    let (code, _, _, err) = replay_to(&m0, &m1, "entry:1:3");
    assert_eq!(code, 4, "{err}");
    let (code, _, _, err) = replay_to(&m0, &m1, "entry:2:0");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("there is no member 2"), "{err}");
}

#[test]
fn check_runs_at_the_chosen_points_and_stops_at_the_first_failure() {
    let (m0, m1) = two_members();
    let (t0, t1) = (zeroed(), zeroed());
    let seen = TempFile::new(b"");
    // Each point: the event, and what both devices hold then.
    let fsck = format!(
        "echo $LWLOG_SEQ $LWLOG_MEMBER $LWLOG_FLAGS \
         $(od -An -tu1 -j512 -N1 $LWLOG_DEV1 | tr -d ' ') \
         $([ $LWLOG_DEV = $LWLOG_DEV0 ] && echo same) >> {}",
        seen.path()
    );
    let (code, out, err) = members("check", [&m0, &m1], [&t0, &t1], &["--fsck", &fsck]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "3 checks passed over 6 group events (3 check points)"
    );
    assert_eq!(
        String::from_utf8(seen.read()).unwrap(),
        "3 0 FLUSH 0 same\n4 1 FUA 3 same\n5 0 MARK 3 same\n"
    );
    let (t0, t1) = (zeroed(), zeroed());
    let (code, _, err) = members(
        "check",
        [&m0, &m1],
        [&t0, &t1],
        &["--at", "every:1", "--fsck", "test $LWLOG_SEQ -lt 4"],
    );
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("check failed at group point 4 (member 1"),
        "{err}"
    );
    assert!(err.contains("entries per member 2, 2"), "{err}");
}

#[test]
fn a_member_log_verifies_and_its_padding_is_still_checked() {
    let (m0, _) = two_members();
    let (code, out, err) = run_lwlog(&["verify", m0.path()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("valid: 3 entries"), "{out}");
    // A byte between the super block's fields and the group tag.
    let mut bytes = m0.read();
    bytes[100] = 1;
    let bad = TempFile::new(&bytes);
    let (code, _, err) = run_lwlog(&["verify", bad.path()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("non-zero byte at offset 100"), "{err}");
    // A tag whose name is not a valid group name.
    let mut bytes = m0.read();
    bytes[SS - 72] = b'/';
    let bad = TempFile::new(&bytes);
    let (code, _, err) = run_lwlog(&["verify", bad.path()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("group tag holds no valid group name"), "{err}");
}

#[test]
fn logs_of_no_group_or_of_several_are_refused() {
    let (m0, m1) = two_members();
    let plain = log_of(SS, &[(0, 1, 0, b"")]);
    let (code, _, err) = run_lwlog(&["group", "verify", m0.path(), plain.path()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is not the log of a group member"), "{err}");
    let other = grouped_log_of(b"h", &[(7, 0, 1, 0, b"", 1)]);
    let (code, _, err) = run_lwlog(&["group", "verify", m0.path(), other.path()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is a log of group 'h'"), "{err}");
    let backwards = grouped_log_of(b"g", &[(9, 0, 1, 0, b"", 1), (8, 0, 1, 0, b"", 1)]);
    let (code, _, err) = run_lwlog(&["group", "verify", backwards.path()]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("entry 1: group sequence number 8 does not follow 9"),
        "{err}"
    );
    let twice = grouped_log_of(b"g", &[(4, 0, 1, 0, b"", 1)]);
    let (code, _, err) = run_lwlog(&["group", "verify", m1.path(), twice.path()]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("group sequence number 4 is taken twice"),
        "{err}"
    );
    let (code, _, err) = run_lwlog(&["group", "verify", m0.path(), m0.path()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn targets_must_pair_with_logs_and_not_overlap_them() {
    let (m0, m1) = two_members();
    let t0 = zeroed();
    let (code, _, err) = run_lwlog(&[
        "group",
        "replay",
        "--log",
        m0.path(),
        "--log",
        m1.path(),
        "--target",
        t0.path(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("2 --log and 1 --target"), "{err}");
    // Member 1's log given as member 0's target.
    let (code, _, err) = members("replay", [&m0, &m1], [&m1, &t0], &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        (m0.read()[SS], m1.read()[SS + SS]),
        (0, 2),
        "the logs must be untouched"
    );
}

/// Writes in volatile caches across members: 1: m0's write A (sector 0,
/// 0x01) completes; 2: m1's write B (sector 0, 0x02) completes; 3: m1's
/// FUA write C (sector 1, 0x03); 4, 5: m0 flushes (A durable at 4); 6, 7:
/// m1 flushes (B durable at 6).
fn cached_writes() -> (TempFile, TempFile) {
    let m0 = grouped_log_stamped(
        b"g",
        &[(4, 1, 0, 1, 0, b"", 1), (5, 5, 0, 0, FLAG_FLUSH, b"", 0)],
    );
    let m1 = grouped_log_stamped(
        b"g",
        &[
            (3, 3, 1, 1, FLAG_FUA, b"", 3),
            (6, 2, 0, 1, 0, b"", 2),
            (7, 7, 0, 0, FLAG_FLUSH, b"", 0),
        ],
    );
    (m0, m1)
}

#[test]
fn crash_states_add_only_writes_then_in_a_cache() {
    let (m0, m1) = cached_writes();
    let (t0, t1) = (zeroed(), zeroed());
    let seen = TempFile::new(b"");
    let fsck = format!(
        "echo $LWLOG_SEQ $(od -An -tu1 -N1 $LWLOG_DEV0) $(od -An -tu1 -N1 $LWLOG_DEV1) \
         $(od -An -tu1 -j512 -N1 $LWLOG_DEV1) >> {}",
        seen.path()
    );
    let (code, out, err) = members(
        "crash-states",
        [&m0, &m1],
        [&t0, &t1],
        &["--per-point", "8", "--fsck", &fsck],
    );
    assert_eq!(code, 0, "{err}");
    // Points 3 (A and B cached), 4 and 5 (B cached); none after 6.
    assert!(out.ends_with("24 states\n"), "{out}");
    let states = String::from_utf8(seen.read()).unwrap();
    let mut a_at_3 = std::collections::BTreeSet::new();
    let mut b_seen = std::collections::BTreeSet::new();
    for line in states.lines() {
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let (seq, a, b, c) = (v[0], v[1], v[2], v[3]);
        assert!((3..=5).contains(&seq), "{line}");
        // C is durable from 3 on; A from 4 on; B may or may not be there.
        assert_eq!(c, 3, "{line}");
        if seq == 3 {
            a_at_3.insert(a);
        } else {
            assert_eq!(a, 1, "{line}");
        }
        assert!(b == 0 || b == 2, "{line}");
        b_seen.insert(b);
    }
    assert_eq!(a_at_3.into_iter().collect::<Vec<_>>(), [0, 1], "{states}");
    assert_eq!(b_seen.into_iter().collect::<Vec<_>>(), [0, 2], "{states}");
    // Every state undone: the targets end as the logs do.
    assert_eq!((sectors(&t0), sectors(&t1)), ([1, 0, 0], [2, 3, 0]));
    // Only after point 4: the states of point 5.
    let (t0, t1) = (zeroed(), zeroed());
    let (code, out, err) = members(
        "crash-states",
        [&m0, &m1],
        [&t0, &t1],
        &["--per-point", "3", "--from", "seq:4"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("state ")).count(),
        3,
        "{out}"
    );
    assert!(out.starts_with("state 0 at group point 5:"), "{out}");
    // One state, left on the targets.
    let (t0, t1) = (zeroed(), zeroed());
    let (code, out, err) = members(
        "crash-states",
        [&m0, &m1],
        [&t0, &t1],
        &["--per-point", "8", "--only", "0"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("state 0 at group point 3: member 0 +"),
        "{out}"
    );
    assert_eq!(sectors(&t1)[1], 3);
}
