# vm-run: --disk-size 512M --memory 2G --timeout 1500
# The log is a true durability record on hostile data devices: flushes that
# take 150 ms, completions reordered by random delays on a multi-queue disk,
# writes and flushes that fail for seconds at a time, a log device that
# fills, a write cache switched off and on while writes run, and the
# target's own flushes under a memory bound (also while the device is
# suspended and resumed and flushes fail). Each run has four concurrent
# writers (writes, FUA writes, also over their own unflushed writes,
# flushes, discards; lw-workload block) and marks dropped from another
# process, or ext4 with a parallel file workload, and each log is checked
# by the durability oracle against the block trace of the log-writes
# device and of a probe device just above the hostile one, and, for the
# block runs, each logged write's data against what the writers wrote.
#
# DURABILITY_SEEDS (default "1 2") and DURABILITY_SECONDS (default 6) size
# the block runs, DURABILITY_FS_SEEDS (default "7") the ext4 runs (one run
# of the file workload per seed), DURABILITY_ONLY picks devices (see want
# below); DURABILITY_TARGET=c runs the C target instead (a developer check:
# it fails there, see README).
. /extra/guest.sh
seeds=${DURABILITY_SEEDS:-1 2}
fs_seeds=${DURABILITY_FS_SEEDS:-7}
secs=${DURABILITY_SECONDS:-6}
impl=${DURABILITY_TARGET:-rust}
# DURABILITY_ONLY="slow reorder flaky cache tiny-log" (the default: all)
# runs only those devices' cases.
want() { case " ${DURABILITY_ONLY:-slow reorder flaky cache tiny-log} " in *" $1 "*) ;; *) return 1 ;; esac; }
load_target "$impl"
runs=0

# suspends_start DEV LOGDEV / suspends_stop: suspend DEV and resume it
# every 0.7 s meanwhile. While DEV is suspended the log on LOGDEV is whole:
# it verifies, and its super block counts every entry the status reports
# (the drain made durable and logged what it could; a failed flush leaves
# its writes out, not the super block behind).
suspends_start() {
	rm -f /tmp/stop-suspends
	(
		n=0
		while [ ! -e /tmp/stop-suspends ]; do
			sleep 0.7
			dmsetup suspend "$1" || exit 1
			# Marks dropped while the device is suspended are logged
			# at once (they drain it), but the status counts a mark
			# from when the thread takes it, before its entry and
			# super block are written: none is dropped while the log
			# is read (the marks hold the device's lock), and the
			# log is read between two statuses.
			dev_lock "$1" || exit 1
			bad=
			before=$(dmsetup status "$1" | awk '{print $4}')
			info=$(lwlog info "$2") || bad="lwlog info failed"
			after=$(dmsetup status "$1" | awk '{print $4}')
			counted=$(echo "$info" | awk '/^super entries:/ {print $3}')
			found=$(echo "$info" | awk '/^entries found:/ {print $3}')
			if [ -n "$bad" ]; then
				:
			elif [ "$counted" -lt "$before" ] || [ "$counted" -gt "$after" ] ||
				[ "$found" -lt "$counted" ] || [ "$found" -gt "$after" ]; then
				bad="the status counted $before then $after entries; the log's super block $counted, entries found $found"
			elif ! lwlog verify "$2" >/dev/null; then
				bad="the log does not verify"
			fi
			dev_unlock "$1"
			# Resumed in any case, or the writers would wait forever.
			dmsetup resume "$1" || exit 1
			[ -z "$bad" ] || { echo "suspend $n: $bad"; exit 1; }
			n=$((n + 1))
		done
		echo "suspended $n times, the log whole each time"
	) &
	suspends_pid=$!
}
suspends_stop() {
	touch /tmp/stop-suspends
	wait "$suspends_pid" || fail "a suspend left the log short or broken"
}

# finish LOGDEV [ORACLE_OPTIONS...]: remove the log-writes device, check
# the log with the oracle (cut short when logging was disabled), drop the
# probe. The status is read once the device is suspended: its drain logs
# the writes still waiting for a flush, which may fill the log.
finish() {
	partial=
	dmsetup suspend lw
	case $(dmsetup status lw) in *logging_disabled*) partial=--partial ;; esac
	dmsetup remove lw
	oracle_stop
	oracle_check "$@" $partial
	lwlog verify "$1" >/dev/null || fail "the log on $1 does not verify"
	dmsetup remove probe
	runs=$((runs + 1))
}

# block_run LABEL DATADEV LOGDEV SEED [OPTIONS...]: the concurrent writers.
# With TOGGLE_CACHE=1 the probe's write cache is switched meanwhile, with
# SUSPENDS=1 the log-writes device is suspended and resumed.
block_run() {
	label=$1 data=$2 log=$3 seed=$4
	shift 4
	step "$label: block writers, seed $seed"
	blkdiscard "$log" 2>/dev/null || true
	probe_dev probe "$data"
	opts=
	[ $# -gt 0 ] && opts=" $# $*"
	dmsetup create lw --table "0 $(sectors /dev/mapper/probe) log-writes /dev/mapper/probe $log$opts"
	dmsetup mknodes lw
	oracle_start lw probe
	marks_start lw
	[ "${TOGGLE_CACHE:-0}" = 1 ] && cache_toggle_start probe
	[ "${SUSPENDS:-0}" = 1 ] && suspends_start lw "$log"
	lw-workload block /dev/mapper/lw --threads 4 --seconds "$secs" --max-io 131072 \
		--max-bytes $((200 << 20)) --seed "$seed" --keep-going --fua-over-unflushed \
		--journal /tmp/journal || fail "workload failed"
	[ "${SUSPENDS:-0}" = 1 ] && suspends_stop
	[ "${TOGGLE_CACHE:-0}" = 1 ] && cache_toggle_stop
	marks_stop
	finish "$log" --journal /tmp/journal
}

# fs_mark DEV NAME: drop a mark; once the log is full, marks are refused
# (on purpose).
fs_mark() {
	oracle_mark "$1" "$2" || dmsetup status "$1" | grep -q logging_disabled ||
		fail "mark $2 failed"
}

# fs_run LABEL DATADEV LOGDEV: ext4 and the parallel file workload, once
# per seed of DURABILITY_FS_SEEDS. With TOGGLE_CACHE=1 the probe's write
# cache is switched meanwhile.
fs_run() {
	for fs_seed in $fs_seeds; do fs_run_seed "$@" "$fs_seed"; done
}

fs_run_seed() {
	label=$1 data=$2 log=$3 seed=$4
	step "$label: ext4 file workload, seed $seed"
	blkdiscard "$log" 2>/dev/null || true
	probe_dev probe "$data"
	dmsetup create lw --table "0 $(sectors /dev/mapper/probe) log-writes /dev/mapper/probe $log"
	dmsetup mknodes lw
	oracle_start lw probe
	[ "${TOGGLE_CACHE:-0}" = 1 ] && cache_toggle_start probe
	mkfs.ext4 -F -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 /dev/mapper/lw
	fs_mark lw mkfs
	mkdir -p /mnt/fs
	mount /dev/mapper/lw /mnt/fs
	lw-workload files /mnt/fs --threads 4 --ops 40 --seed "$seed" >/dev/null || fail "file workload failed"
	fs_mark lw files
	umount /mnt/fs
	[ "${TOGGLE_CACHE:-0}" = 1 ] && cache_toggle_stop
	finish "$log"
}

if want slow; then
step "slow flushes: dm-delay adds 150 ms to every flush"
slow_flush_dev slow /dev/vda 150
for s in $seeds; do block_run slow-flush /dev/mapper/slow /dev/vdb "$s"; done
fs_run slow-flush /dev/mapper/slow /dev/vdb
# The target's own flushes (a 1 MiB bound) while flushes are slow.
for s in $seeds; do block_run "slow-flush, max_held_mb:1" /dev/mapper/slow /dev/vdb "$s" max_held_mb:1; done
dmsetup remove slow
fi

if want reorder; then
step "reordered completions: scsi_debug, random delays up to 3 ms, 4 queues"
sd=$(reorder_disk 256 3000000)
for s in $seeds; do block_run reorder "$sd" /dev/vdb "$s"; done
fs_run reorder "$sd" /dev/vdb
for s in $seeds; do block_run "reorder, max_held_mb:1" "$sd" /dev/vdb "$s" max_held_mb:1; done
rmmod scsi_debug
fi

if want flaky; then
step "failing writes and flushes: dm-flakey, up 2 s, down 1 s"
flaky_dev flaky /dev/vda 2 1
for s in $seeds; do block_run flaky /dev/mapper/flaky /dev/vdb "$s"; done
# Suspends under the memory bound while flushes fail: each drain's flush
# may fail, and writers waiting for room must not hang the suspend.
for s in $seeds; do
	SUSPENDS=1 block_run "flaky, max_held_mb:1, suspended every 0.7 s" \
		/dev/mapper/flaky /dev/vdb "$s" max_held_mb:1
done
dmsetup remove flaky
fi

if want cache; then
step "a write cache switched off and on while writes run"
for s in $seeds; do TOGGLE_CACHE=1 block_run cache-switching /dev/vda /dev/vdb "$s"; done
TOGGLE_CACHE=1 block_run "cache-switching, max_held_mb:1" /dev/vda /dev/vdb 3 max_held_mb:1
TOGGLE_CACHE=1 fs_run cache-switching /dev/vda /dev/vdb
fi

if want tiny-log; then
step "a log device that fills: 24 MiB"
dmsetup create tinylog --table "0 49152 linear /dev/vdc 0"
dmsetup mknodes tinylog
for s in $seeds; do block_run tiny-log /dev/vda /dev/mapper/tinylog "$s"; done
fs_run tiny-log /dev/vda /dev/mapper/tinylog
dmsetup remove tinylog
fi

unload_target "$impl"
echo "$runs runs checked by the oracle"
echo PASS
