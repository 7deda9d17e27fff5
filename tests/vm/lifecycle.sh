# Lifecycle under load: rmmod is refused while a device exists; remove
# while writers run fails busy (and a deferred remove completes when they
# stop); suspend/resume (with and without flushing, while flushes of the
# filesystem's and of the target's own are slow and in flight) leave a log
# the durability oracle accepts, and table reloads during writes one that
# verifies and replays to the device; 100
# create/write/remove cycles leave no leak: kmemleak (scanned by vm-run
# after this script) finds nothing and slab and free memory are back to
# their baseline.
# vm-run: --disks 3 --disk-size 256M --timeout 1500
. /extra/guest.sh
data=/dev/vda log=/dev/vdb replay=/dev/vdc
n=$(sectors $data)
head -c 1048576 /dev/urandom >/tmp/pattern

# writers SECONDS SEED: lw-workload block on the device in the background.
writers() {
	lw-workload block /dev/mapper/lw --threads 3 --seconds "$1" --max-io 16384 --max-bytes $((96 << 20)) --seed "$2" >/tmp/writers.out 2>&1 &
	writers_pid=$!
	sleep 1
}
wait_writers() {
	wait $writers_pid || {
		cat /tmp/writers.out
		fail "the writers failed"
	}
	cat /tmp/writers.out
}

# replay_equals_data: remove lw; the log verifies and a full replay of it
# equals the data device.
replay_equals_data() {
	dmsetup remove lw
	replay_matches $log $replay $data
}

fresh() {
	blkdiscard $data
	blkdiscard $log
	create_lw lw $data $log
}

load_target rust

step "rmmod is refused while a device exists"
fresh
rmmod rust_dm_logwrites 2>/tmp/err && fail "rmmod succeeded with a device in use"
cat /tmp/err
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=8 oflag=direct,dsync status=none ||
	fail "the device broke after the refused rmmod"
replay_equals_data

step "remove while writers run: busy, then a deferred remove completes when they stop"
fresh
writers 6 1
dmsetup remove lw 2>/tmp/err && fail "remove succeeded while the device was open"
cat /tmp/err
dmsetup remove --deferred lw
dmsetup info lw | grep -q DEFERRED || fail "no deferred remove pending"
wait_writers
sleep 1
dmsetup info lw >/dev/null 2>&1 && fail "the deferred remove did not happen"
replay_matches $log $replay $data "" "the log of the deferred remove"

for opts in "" " 1 max_held_mb:1"; do
	step "suspend/resume during writes, flushes slowed by 40 ms, table options:${opts:- none}"
	# Flushes of the filesystem's and, with the bound, of the target's own
	# are in flight at each suspend; the oracle checks the log against
	# the block trace of the device and of a probe above the data disk.
	blkdiscard $data
	blkdiscard $log
	slow_flush_dev slow $data 40
	probe_dev probe /dev/mapper/slow
	dmsetup create lw --table "0 $n log-writes /dev/mapper/probe $log$opts"
	dmsetup mknodes lw
	oracle_start lw probe
	writers 8 2
	for i in 1 2 3 4; do
		dmsetup suspend lw
		sleep 0.3
		dmsetup resume lw
		dmsetup suspend --noflush lw
		sleep 0.3
		dmsetup resume lw
		oracle_mark lw resumed$i
	done
	wait_writers
	dmsetup remove lw
	oracle_stop
	oracle_check $log
	for i in 1 2 3 4; do lwlog list --flag mark $log | grep -q "resumed$i" || fail "mark resumed$i missing"; done
	dmsetup remove probe
	dmsetup remove slow
	replay_matches $log $replay $data
done

step "table reloads during writes (each starts a new log, like C)"
fresh
writers 8 3
sleep 1
dmsetup reload lw --table "0 $n log-writes $data $log"
dmsetup resume lw
sleep 1
dmsetup reload lw --table "0 $n linear $data 0"
dmsetup resume lw
sleep 1
dmsetup reload lw --table "0 $n log-writes $data $log"
dmsetup resume lw
wait_writers
# Flush what the writers left unflushed, and let the thread log it.
sync /dev/mapper/lw
sleep 1
dmsetup status lw
entries=$(dmsetup status lw | awk '{print $4}')
dmsetup remove lw
lwlog verify $log >/dev/null || fail "the log after reloads does not verify"
# The last log counts what the last table logged, plus the end mark.
[ "$(lwlog info $log | awk '/super entries/ {print $3}')" = $((entries + 1)) ] ||
	fail "the last log does not hold the last table's $entries entries"

step "100 create/write/remove cycles, then no leak"
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
settle() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sleep 1
}
cycle() {
	create_lw lw $data $log
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=64 seek=$(($1 * 64)) oflag=direct status=none
	dmsetup message lw 0 mark cycle$1
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=4 oflag=direct,dsync status=none
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=64 seek=$(($1 * 64)) oflag=direct conv=fdatasync status=none
	dmsetup remove lw
}
for i in 1 2 3; do cycle $i; done
settle
slab0=$(meminfo SUnreclaim) free0=$(meminfo MemFree)
for i in $(seq 100); do cycle $i; done
settle
slab1=$(meminfo SUnreclaim) free1=$(meminfo MemFree)
echo "unreclaimable slab: $slab0 kB -> $slab1 kB; free: $free0 kB -> $free1 kB"
# A cycle logs 130 writes; leaking one 64-byte object per write would add
# 800 kB over 100 cycles, one page per write 52 MB.
[ $((slab1 - slab0)) -lt 400 ] || fail "unreclaimable slab grew by $((slab1 - slab0)) kB"
[ $((free0 - free1)) -lt 8192 ] || fail "free memory shrank by $((free0 - free1)) kB"
lwlog verify $log >/dev/null || fail "the last cycle's log does not verify"
unload_target rust
echo PASS
