#!/usr/bin/env bash
# A crash of the machine doing the logging must leave a readable log whose
# super block counts only entries that are completely on the log device.
# Tested by crashing, in effect: QEMU records every write the guest makes to
# the log device (vm-run --record: blklogwrites, with the guest's flushes),
# `lwlog crash-states` turns that recording into the states a power cut at
# any moment could leave on the log device (everything before a flush, plus
# any subset of the writes after it), and `lwlog verify` must accept each
# (a state with no super block yet, i.e. nothing logged, is fine). Ours
# passes; the C target, which never flushes its log device and rewrites the
# super block without waiting for the entries it counts, must fail.
. "$(dirname "$0")/../../scripts/common.sh"
cd "$REPO"
dir=$(mktemp -d "${TMPDIR:-/tmp}/crash-log.XXXXXX")
trap 'rm -rf "$dir"' EXIT
lwlog=$REPO/target/release/lwlog
check='cmp -s -n 512 "$LWLOG_DEV" /dev/zero || '"$lwlog"' verify "$LWLOG_DEV" >/dev/null 2>&1'

for impl in rust c; do
	say "recording the log device of the $impl target"
	rm -f "$dir"/*
	VM_DISK_DIR=$dir scripts/vm-run --disks 2 --disk-size 128M --no-kmemleak --record vdb \
		--env "IMPL=$impl" tests/host/guest/crash-log.sh tests/lib/guest.sh
	echo "recording: $("$lwlog" info "$dir/vdb.wlog" | grep -E 'entries found')," \
		"$("$lwlog" list --flag flush "$dir/vdb.wlog" | wc -l) flushes"
	truncate -s 128M "$dir/state.img"
	set +e
	"$lwlog" crash-states --per-epoch 2 --max-states 2000 --seed 1 --fsck "$check" \
		"$dir/vdb.wlog" "$dir/state.img" >"$dir/states.out" 2>&1
	rc=$?
	set -e
	tail -n 3 "$dir/states.out" | cut -c1-200
	case $impl:$rc in
	rust:0) say "ours: every crash state of the log verifies" ;;
	rust:*) die "a crash state of our log does not verify (exit $rc)" ;;
	c:5) say "C: a crash state fails, as expected" ;;
	c:0) die "every crash state of C's log verified: the test cannot tell" ;;
	c:*) die "lwlog crash-states failed on C's recording (exit $rc)" ;;
	esac
done
echo PASS
