# shellcheck shell=sh
# Helpers for guest test scripts (sourced inside the VM from /extra/guest.sh).

set -eu

fail() {
	echo "FAIL: $*"
	exit 1
}
step() { echo "--- $*"; }

# load_target c|rust|baseline: insmod one log-writes implementation (all
# register the target name "log-writes", so only one may be loaded at a
# time); baseline is another build of ours (vm-run's VM_BASELINE_KO).
load_target() {
	case $1 in
	c) insmod "$LOGWRITES_C_KO" ;;
	rust) insmod "$LOGWRITES_RUST_KO" ;;
	baseline) insmod "${LOGWRITES_BASELINE_KO:?no baseline module}" ;;
	*) fail "load_target: unknown implementation '$1'" ;;
	esac
	# Registered as C registers it, on every kernel a test runs on.
	dmsetup targets | grep -Eq '^log-writes +v1\.1\.0$' ||
		fail "$1: dmsetup targets lacks log-writes v1.1.0: $(dmsetup targets | tr '\n' ' ')"
}

unload_target() {
	case $1 in
	c) rmmod dm_log_writes ;;
	rust | baseline) rmmod rust_dm_logwrites ;;
	esac
	if dmsetup targets | grep -q '^log-writes'; then fail "$1: log-writes still registered after rmmod"; fi
}

# tree_manifest DIR: the names under DIR and the checksum of every file,
# sorted: equal for equal trees.
tree_manifest() {
	(cd "$1" && find . | sort && find . -type f | sort | xargs -r sha256sum)
}

# sectors DEV: size in 512-byte sectors.
sectors() { blockdev --getsz "$1"; }

# free_memory_kb: free memory in kB, counting the pages on the per-CPU free
# lists (/proc/zoneinfo's pageset counts), which MemFree leaves out: a
# burst of page allocations refills those lists, and pages freed in a bio
# completion land there first; MemFree alone then shows several MiB held
# that nobody holds.
free_memory_kb() {
	awk '$1 == "MemFree:" {kb = $2} $1 == "count:" {pcp += $2} END {print kb + pcp * 4}' \
		/proc/meminfo /proc/zoneinfo
}

# create_lw NAME DATADEV LOGDEV: a log-writes device over the whole DATADEV;
# makes /dev/mapper/NAME (there is no udev in the guest).
create_lw() {
	dmsetup create "$1" --table "0 $(sectors "$2") log-writes $2 $3"
	dmsetup mknodes "$1"
	[ -b "/dev/mapper/$1" ] || fail "/dev/mapper/$1 is not a block device"
}

# sum DEV [BYTES]: sha256 of the first BYTES (default all) of DEV. Block
# devices are read with O_DIRECT: a device written through a dm device on
# top of it keeps stale pages in its own page cache.
# It is used inside command substitutions, where a failure would go
# unseen and both sides of a comparison would hash nothing: an unreadable
# DEV ends the whole test script instead.
sum() {
	_sum=$(
		set -o pipefail
		if [ -b "$1" ]; then
			/usr/sbin/dd if="$1" bs=1M iflag=direct${2:+,count_bytes} ${2:+count=$2} status=none
		elif [ $# -gt 1 ]; then
			head -c "$2" "$1"
		else
			cat "$1"
		fi | sha256sum
	) || {
		echo "FAIL: cannot read $1" >&2
		kill $$
		exit 1
	}
	echo "${_sum%% *}"
}

# replay_matches LOG REPLAY DEV [BYTES] [WHAT]: LOG verifies, and a full
# replay of it onto REPLAY (discarded first) equals DEV (its first BYTES);
# WHAT names the log in the failure message.
replay_matches() {
	lwlog verify "$1" >/dev/null || fail "${5:-the log} does not verify"
	blkdiscard "$2"
	lwlog replay "$1" "$2" 2>/dev/null || fail "replaying ${5:-the log} failed"
	# Each sum on its own line: a failing command substitution inside a
	# test would leave both sides empty, and equal.
	got=$(sum "$2" ${4:-}) || fail "cannot read $2"
	want=$(sum "$3" ${4:-}) || fail "cannot read $3"
	[ "$got" = "$want" ] || fail "a full replay of ${5:-the log} differs from $3"
}

# settle NAME: wait until the entry count in NAME's status stops changing
# (the logging thread writes entries asynchronously); leaves it in $cur.
settle() {
	prev=
	for _ in $(seq 50); do
		cur=$(dmsetup status "$1" | awk '{print $4}')
		[ "$cur" = "$prev" ] && return
		prev=$cur
		sleep 0.2
	done
}

# devno NAME: major:minor of the device-mapper device NAME.
devno() { dmsetup info -c --noheadings -o major,minor "$1" | tr -d ' '; }

# The durability oracle (lwlog oracle): the kernel's block trace records,
# from outside the target, each bio queued to and completed by the
# log-writes device (the top) and by a transparent device between the target
# and its data disk (the probe), in one global order.
TRACEFS=/sys/kernel/tracing

# oracle_start TOP PROBE [TOP PROBE]...: trace the dm devices TOP and PROBE
# (names), of one log-writes device or of several (a group's members: check
# them with oracle_check_group).
oracle_start() {
	[ -d $TRACEFS/events ] || mount -t tracefs tracefs $TRACEFS
	echo 0 >$TRACEFS/tracing_on
	# No task names recorded beside events (the block events carry their
	# own): enabling the first event would otherwise hook sched_switch,
	# live-patching __schedule on every CPU, which under TCG once left a
	# stale int3 there (an Oops in rcu_sched, vm-7.3/concurrency, CI of
	# 5a28bf3).
	echo 0 >$TRACEFS/options/record-cmd
	echo counter >$TRACEFS/trace_clock
	echo "${ORACLE_BUFFER_KB:-32768}" >$TRACEFS/buffer_size_kb
	echo >$TRACEFS/trace
	t=$(devno "$1")
	p=$(devno "$2")
	filter=
	for name in "$@"; do
		d=$(devno "$name")
		filter="${filter:+$filter || }dev == $(((${d%:*} << 20) | ${d#*:}))"
	done
	for e in block_bio_queue block_bio_complete; do
		echo "$filter" >$TRACEFS/events/block/$e/filter
		echo 1 >$TRACEFS/events/block/$e/enable
	done
	echo 1 >$TRACEFS/tracing_on
	ORACLE_TOP=$t
	ORACLE_PROBE=$p
}

# oracle_mark DEV TEXT: drop a mark, bracketed by trace markers so the
# oracle knows when it happened.
oracle_mark() {
	echo "lwmark-begin $2" >$TRACEFS/trace_marker
	dmsetup message "$1" 0 mark "$2" || return 1
	echo "lwmark-end $2" >$TRACEFS/trace_marker
}

# oracle_stop: stop tracing and keep the trace in /tmp/trace.txt; fails if
# the ring buffer overflowed (the record would be incomplete).
oracle_stop() {
	echo 0 >$TRACEFS/tracing_on
	for e in block_bio_queue block_bio_complete; do
		echo 0 >$TRACEFS/events/block/$e/enable
	done
	cat $TRACEFS/trace >/tmp/trace.txt
	lost=$(cat $TRACEFS/per_cpu/cpu*/stats | awk '/^overrun:/ {s += $2} END {print s + 0}')
	echo >$TRACEFS/trace
	[ "$lost" = 0 ] || fail "the block trace lost $lost events: raise ORACLE_BUFFER_KB"
	echo "trace: $(grep -c ': block_bio_' /tmp/trace.txt) events"
}

# oracle_check LOG [--partial]: the log on LOG must be a true durability
# record of the trace.
# With ORACLE_KEEP=DEV (a spare disk), a rejected log's trace and journal
# are written to DEV as a tar archive, for a look from the host (vm-run's
# VM_DISK_DIR keeps the disk images).
oracle_check() {
	lwlog oracle "$@" --trace /tmp/trace.txt --top "$ORACLE_TOP" --probe "$ORACLE_PROBE" && return 0
	if [ -n "${ORACLE_KEEP:-}" ]; then
		tar -cf "$ORACLE_KEEP" /tmp/trace.txt $(ls /tmp/journal 2>/dev/null) &&
			echo "oracle: trace kept on $ORACLE_KEEP (log: $1)"
	fi
	fail "oracle: the log on $1 is not a true durability record"
}

# oracle_check_group [--partial] LOG TOP PROBE [LOG TOP PROBE]...: the
# logs of a group's members, each against the trace (as oracle_check) and
# the group's order against it; TOP and PROBE are MAJOR:MINOR, as devno
# printed them while the devices existed (oracle_start traced them all).
oracle_check_group() {
	_args=
	[ "$1" = --partial ] && _args=--partial && shift
	while [ $# -ge 3 ]; do
		_args="$_args --log $1 --top $2 --probe $3"
		shift 3
	done
	# shellcheck disable=SC2086
	lwlog group oracle --trace /tmp/trace.txt $_args ||
		fail "oracle: the group's logs are not a true durability record"
}

# cache_toggle_start NAME: switch the write cache of dm device NAME (the
# probe) off and on, every 0.2 and 0.3 s, between the `lwcache` trace
# markers the oracle reads (naming the probe: other probes in the same
# trace keep their cache); cache_toggle_stop ends with it on.
cache_toggle_start() {
	wc=/sys/block/dm-$(dmsetup info -c --noheadings -o minor "$1" | tr -d ' ')/queue/write_cache
	_dev=$(devno "$1")
	rm -f /tmp/stop-cache
	(
		while [ ! -e /tmp/stop-cache ]; do
			echo "lwcache wt-begin $_dev" >$TRACEFS/trace_marker
			echo "write through" >"$wc"
			echo "lwcache wt-end $_dev" >$TRACEFS/trace_marker
			sleep 0.2
			echo "lwcache wb-begin $_dev" >$TRACEFS/trace_marker
			echo "write back" >"$wc"
			echo "lwcache wb-end $_dev" >$TRACEFS/trace_marker
			sleep 0.3
		done
	) &
	cache_pid=$!
}
cache_toggle_stop() {
	touch /tmp/stop-cache
	wait "$cache_pid" || fail "switching the write cache failed"
}

# Hostile data devices, each a dm device NAME over DEV (whole device):
#
# slow_flush_dev NAME DEV MS: flushes take MS milliseconds longer (dm-delay's
# separate flush delay), reads and writes pass at once.
slow_flush_dev() {
	dm_dev_over "$1" "$2" dm_delay dm-delay "delay $2 0 0 $2 0 0 $2 0 $3"
}

# slow_data_dev NAME DEV WRITE_MS FLUSH_MS: writes take WRITE_MS and
# flushes FLUSH_MS milliseconds longer (dm-delay), reads pass at once.
slow_data_dev() {
	dm_dev_over "$1" "$2" dm_delay dm-delay "delay $2 0 0 $2 0 $3 $2 0 $4"
}

# dm_dev_over NAME DEV MODULE KO TABLE: a dm device NAME over all of DEV
# with target line TABLE, loading MODULE (file KO.ko) first if needed.
dm_dev_over() {
	grep -q "^$3 " /proc/modules || insmod "$MODDIR/$4.ko"
	dmsetup create "$1" --table "0 $(sectors "$2") $5"
	dmsetup mknodes "$1"
}

# reorder_disk MB MAX_NS: a scsi_debug disk of MB MiB with a volatile write
# cache and discard (UNMAP) support, whose commands (writes, discards and
# SYNCHRONIZE CACHE alike) complete after
# random delays up to MAX_NS nanoseconds on four hardware queues, so
# completions come back out of order. Prints its /dev/sdX.
reorder_disk() {
	# The CRC modules scsi_debug needs: three on 6.12, one on 7.x.
	for m in crct10dif_common crct10dif_generic crc-t10dif; do
		[ -f "$MODDIR/$m.ko" ] || continue
		grep -q "^$(echo $m | tr - _) " /proc/modules || insmod "$MODDIR/$m.ko"
	done
	insmod "$MODDIR/scsi_debug.ko" dev_size_mb="$1" ndelay="$2" random=1 \
		submit_queues=4 sector_size="$VM_BLOCK_SIZE" lbpu=1 >/dev/null
	for _ in $(seq 50); do
		d=$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block 2>/dev/null | head -n1)
		[ -n "$d" ] && [ -b "/dev/$d" ] && break
		sleep 0.1
	done
	[ -b "/dev/$d" ] || fail "scsi_debug disk did not appear"
	[ "$(cat /sys/block/$d/queue/write_cache)" = "write back" ] ||
		fail "scsi_debug disk $d has no volatile write cache"
	echo "/dev/$d"
}

# flaky_dev NAME DEV UP DOWN: every write and flush fails for DOWN seconds
# after each UP seconds (dm-flakey error_writes).
flaky_dev() {
	dm_dev_over "$1" "$2" dm_flakey dm-flakey "flakey $2 0 $3 $4 1 error_writes"
}

# probe_dev NAME DEV: the transparent device the oracle watches, between the
# target and its data device (dm-linear over all of DEV).
probe_dev() {
	dmsetup create "$1" --table "0 $(sectors "$2") linear $2 0"
	dmsetup mknodes "$1"
}

# dev_lock NAME / dev_unlock NAME: a lock on dm device NAME among the
# processes of a test (mkdir is atomic). Whoever removes the device, or
# reads its log while it is suspended, holds it, as does each mark and
# each dependent write sent to it meanwhile: a device open for a write
# cannot be removed (EBUSY), and a mark being logged moves the status
# ahead of the super block for a moment. Gives up after 30 s, saying so.
dev_lock() {
	_n=0
	until mkdir "/tmp/lock-$1" 2>/dev/null; do
		_n=$((_n + 1))
		[ $_n -lt 600 ] || {
			echo "the lock of $1 was held for 30 s"
			return 1
		}
		sleep 0.05
	done
}
dev_unlock() { rmdir "/tmp/lock-$1"; }

# marks_start DEV... / marks_stop: drop a mark on each DEV in turn (through
# oracle_mark, holding dev_lock DEV), one every 0.3 s, meanwhile. Refused
# on purpose and not an error: once a log is full, and while a reloaded
# table resumes (EAGAIN); a DEV that does not exist (being removed and
# created again) is skipped.
marks_start() {
	rm -f /tmp/stop-marks
	(
		i=0
		while [ ! -e /tmp/stop-marks ]; do
			for d in "$@"; do
				dev_lock "$d" || exit 1
				if [ -b "/dev/mapper/$d" ]; then
					oracle_mark "$d" "m$i" 2>/tmp/mark.err ||
						grep -q "Resource temporarily unavailable" /tmp/mark.err ||
						dmsetup status "$d" | grep -q logging_disabled || {
						cat /tmp/mark.err
						exit 1
					}
				fi
				dev_unlock "$d"
				i=$((i + 1))
				sleep 0.3
			done
		done
	) &
	marks_pid=$!
}
marks_stop() {
	touch /tmp/stop-marks
	wait "$marks_pid" || fail "a mark message failed"
}
