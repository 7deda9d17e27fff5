# Memory held for writes not yet logged can be bounded, and only on request.
# 512 MiB of O_DIRECT writes with no flush at all: C holds a copy of all of it
# until the next flush, and so does ours with the plain table, whose log is
# byte-identical to C's. With max_held_mb:256 or :64 ours stays under the
# bound, because past half of it it flushes the data device itself (logged
# as a FLUSH entry flagged TARGET: the writes it covers are durable when it
# completes) and writers wait while the bound is reached. The peak is the
# largest drop in free memory sampled during the burst. Our logs verify;
# the last replays to the data device.
# vm-run: --disks 3 --disk-size 600M --memory 2G --timeout 1800 --no-kmemleak
. /extra/guest.sh
data=/dev/vda log=/dev/vdb replay=/dev/vdc
n=$(sectors $data)
mb=512

# burst IMPL OPTS TAG [LOGDEV]: prints the peak memory held (kB) for $mb MiB
# with no flush; the table logs to LOGDEV (default $log, over which it is).
burst() {
	blkdiscard $data
	blkdiscard $log
	load_target "$1"
	dmsetup create lw --table "0 $n log-writes $data ${4:-$log} $2"
	dmsetup mknodes lw
	sync
	echo 3 >/proc/sys/vm/drop_caches
	before=$(free_memory_kb)
	(while :; do free_memory_kb; sleep 0.1; done) >/tmp/free &
	sampler=$!
	/usr/sbin/dd if=/dev/zero of=/dev/mapper/lw bs=1M count=$mb oflag=direct status=none
	free_memory_kb >>/tmp/free
	kill $sampler
	wait $sampler 2>/dev/null || true
	low=$(sort -n /tmp/free | head -n1)
	peak=$((before - low))
	dmsetup status lw >&2
	sync /dev/mapper/lw
	dmsetup remove lw
	[ -n "${4:-}" ] && dmsetup remove "${4#/dev/mapper/}"
	unload_target "$1"
	used=$(lwlog info $log | awk '/log bytes used/ {print $4}')
	sum $log "$used" >"/tmp/log.$1.$3"
	echo "$peak"
}

step "C, plain table"
c_peak=$(burst c "" plain)
echo "C: peak held $((c_peak / 1024)) MiB for $mb MiB unflushed"
[ "$c_peak" -gt $((mb * 3 / 4 * 1024)) ] || fail "C held only $((c_peak / 1024)) MiB: the test does not show its weakness"

step "ours, plain table: no bound, C's log byte for byte"
peak=$(burst rust "" plain)
echo "ours: peak held $((peak / 1024)) MiB for $mb MiB unflushed"
cmp /tmp/log.c.plain /tmp/log.rust.plain || fail "the plain table's log differs from C's"
[ "$(lwlog list --flag target $log | wc -l)" = 0 ] || fail "the plain table sent flushes of its own"

for bound in 256 64; do
	opts="1 max_held_mb:$bound"
	step "ours, table options '$opts'"
	peak=$(burst rust "$opts" $bound)
	echo "ours: peak held $((peak / 1024)) MiB for $mb MiB unflushed, bound $bound MiB"
	# Slack for the writes in flight and per-write bookkeeping.
	[ "$peak" -le $(((bound + 32) * 1024)) ] || fail "ours held $((peak / 1024)) MiB, over its $bound MiB bound"
	flushes=$(lwlog list --flag target $log | wc -l)
	echo "flushes the target sent (logged): $flushes"
	[ "$flushes" -ge $((mb / bound)) ] || fail "only $flushes flush entries for $mb MiB under a $bound MiB bound"
	lwlog verify $log
done
step "the last log (64 MiB bound) replays to the data device"
replay_matches $log $replay $data $((mb << 20))

# The bound counts a write until its log entry is written, not until the
# thread takes it: with a log device slower than the data device, the
# thread took entries off its queue faster than their log writes
# completed, and the copies in flight to the log were not counted (with
# every log write delayed 400 ms: far over the bound).
step "ours, table options '1 max_held_mb:64', every log write delayed 400 ms"
slow_data_dev slowlog $log 400 0
peak=$(burst rust "1 max_held_mb:64" slowlog /dev/mapper/slowlog)
echo "ours: peak held $((peak / 1024)) MiB for $mb MiB unflushed, bound 64 MiB, slow log"
[ "$peak" -le $(((64 + 32) * 1024)) ] || fail "ours held $((peak / 1024)) MiB, over its 64 MiB bound, with a slow log device"
lwlog verify $log

# start_writers: ours at max_held_mb:1 over the data device with 300 ms
# flushes, and eight writers of 10 MiB each that never flush, in the
# background ($pids).
start_writers() {
	blkdiscard $data
	blkdiscard $log
	load_target rust
	slow_flush_dev slow $data 300
	dmsetup create lw --table "0 $n log-writes /dev/mapper/slow $log 1 max_held_mb:1"
	dmsetup mknodes lw
	pids=
	for i in 0 1 2 3 4 5 6 7; do
		/usr/sbin/dd if=/dev/urandom of=/dev/mapper/lw bs=256K count=40 seek=$((i * 40)) \
			oflag=direct status=none &
		pids="$pids $!"
	done
}

# Writers that never flush, while the data device's flushes are slow: the
# writes that complete while our flush is in flight may alone fill the
# bound, and when it completes nothing the thread logs frees room. The
# waiting writers must be woken to ask for the next flush (they hung
# here, and in the durability test's reorder runs, before they were).
step "eight writers, no flush of their own, bound 1 MiB, flushes 300 ms"
start_writers
# A writer stuck in the target cannot be killed: give up on it after 90 s.
waited=0
for p in $pids; do
	while kill -0 "$p" 2>/dev/null; do
		[ $waited -lt 90 ] || fail "writers still waiting for room after 90 s"
		sleep 1
		waited=$((waited + 1))
	done
	wait "$p" || fail "a writer failed"
done
echo "8 x 10 MiB written in about $waited s"
dmsetup remove lw
dmsetup remove slow
unload_target rust
flushes=$(lwlog list --flag target $log | wc -l)
echo "flushes the target sent (logged): $flushes"
[ "$flushes" -ge 20 ] || fail "only $flushes flush entries for 80 MiB under a 1 MiB bound"
replay_matches $log $replay $data $((80 << 20)) "the log of the never-flushing writers"

# A suspend drains: every write completed by then is made durable and
# logged, so that a table taking over the log device loses nothing. With
# a flush of ours in flight at that moment, the writes completed after it
# was sent need one more (the drain stopped after the first, and left them
# out of the log).
step "suspend three times under those writers: each time the log replays to the data device"
start_writers
for round in 1 2 3; do
	sleep 2
	dmsetup suspend lw
	replay_matches $log $replay $data $((80 << 20)) "the log at suspend $round"
	dmsetup resume lw
done
for p in $pids; do wait "$p" || fail "a writer failed"; done
dmsetup remove lw
dmsetup remove slow
unload_target rust
replay_matches $log $replay $data $((80 << 20)) "the log after the suspends"

# Log writes that fail while a writer waits at the bound: each failed
# entry must still stop counting when its write completes, and once
# logging turns off the writer must go on (bound 64 MiB, log writes slow
# and failing after 2 s).
step "ours, max_held_mb:64, the log device's writes failing under a writer at the bound"
blkdiscard $data
blkdiscard $log
load_target rust
flaky_dev flakylog $log 2 600
slow_data_dev slowflaky /dev/mapper/flakylog 200 0
dmsetup create lw --table "0 $n log-writes $data /dev/mapper/slowflaky 1 max_held_mb:64"
dmsetup mknodes lw
/usr/sbin/dd if=/dev/zero of=/dev/mapper/lw bs=1M count=$mb oflag=direct status=none &
writer=$!
waited=0
while kill -0 $writer 2>/dev/null; do
	[ $waited -lt 120 ] || fail "the writer still waits for room 120 s after the log failed"
	sleep 1
	waited=$((waited + 1))
done
wait $writer || fail "the writer failed"
dmsetup status lw | grep -q "log-writes" || fail "no status"
echo "$mb MiB written in about $waited s; logging: $(dmsetup status lw)"
dmsetup remove lw
dmsetup remove slowflaky
dmsetup remove flakylog
unload_target rust
echo PASS
