# Memory held for writes not yet logged is bounded. 1 GiB of O_DIRECT
# writes with no flush at all: C holds a copy of all of it until the next
# flush; ours stays under its bound (the default, 256 MiB, and
# max_held_mb:64), because past half the bound it flushes the data device
# itself (logged as a FLUSH entry like any other: the writes it covers are
# durable when it completes) and writers wait while the bound is reached.
# The peak is the largest drop in free memory sampled during the burst.
# Our logs verify; the last replays to the data device.
# vm-run: --disks 3 --disk-size 1100M --memory 3G --timeout 1800 --no-kmemleak
. /extra/guest.sh
data=/dev/vda log=/dev/vdb replay=/dev/vdc
n=$(sectors $data)
memfree() { awk '$1 == "MemFree:" {print $2}' /proc/meminfo; }

# burst IMPL OPTS: prints the peak memory held (kB) for 1 GiB with no flush.
burst() {
	blkdiscard $data
	blkdiscard $log
	load_target "$1"
	dmsetup create lw --table "0 $n log-writes $data $log $2"
	dmsetup mknodes lw
	sync
	echo 3 >/proc/sys/vm/drop_caches
	before=$(memfree)
	(while :; do memfree; sleep 0.1; done) >/tmp/free &
	sampler=$!
	/usr/sbin/dd if=/dev/zero of=/dev/mapper/lw bs=1M count=1024 oflag=direct status=none
	memfree >>/tmp/free
	kill $sampler
	wait $sampler 2>/dev/null || true
	low=$(sort -n /tmp/free | head -n1)
	peak=$((before - low))
	dmsetup status lw >&2
	sync /dev/mapper/lw
	dmsetup remove lw
	unload_target "$1"
	echo "$peak"
}

step "C, plain table"
c_peak=$(burst c "")
echo "C: peak held $((c_peak / 1024)) MiB for 1024 MiB unflushed"
[ "$c_peak" -gt $((768 * 1024)) ] || fail "C held only $((c_peak / 1024)) MiB: the test does not show its weakness"

for opts in "" "1 max_held_mb:64"; do
	bound=256
	[ -n "$opts" ] && bound=64
	step "ours, table options '$opts' (bound $bound MiB)"
	peak=$(burst rust "$opts")
	echo "ours: peak held $((peak / 1024)) MiB for 1024 MiB unflushed, bound $bound MiB"
	# Slack for the writes in flight and per-write bookkeeping.
	[ "$peak" -le $(((bound + 32) * 1024)) ] || fail "ours held $((peak / 1024)) MiB, over its $bound MiB bound"
	flushes=$(lwlog list --flag flush $log | wc -l)
	echo "flushes the target sent (logged): $flushes"
	[ "$flushes" -ge $((1024 / bound)) ] || fail "only $flushes flush entries for 1024 MiB under a $bound MiB bound"
	lwlog verify $log
done
step "the last log (64 MiB bound) replays to the data device"
blkdiscard $replay
lwlog replay $log $replay 2>/dev/null
[ "$(sum $replay $((1 << 30)))" = "$(sum $data $((1 << 30)))" ] || fail "the replay differs from the data device"
echo PASS
