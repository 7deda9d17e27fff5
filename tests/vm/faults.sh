# Faults under the target. The log device failing (dm-flakey erroring every
# write, and a working log device switched to dm-error mid-run): logging is
# disabled with a kernel message, status says so, marks are refused, writes
# to the data device still succeed, nothing hangs and remove works; what
# was logged before stays readable. The data device failing: the error
# reaches the writer. The log device filling up: logging is disabled with a
# message, writes go on, the log verifies, its super block counts exactly
# the entries on it, and a replay to its last mark matches the checksum taken
# at that mark. The log device failing while the super block lags behind
# FUA entries and the device is removed: the super block on disk stays the
# last one written and the log verifies. A log write failing while later
# ones are in flight, then suspend: nothing reaches the log device after
# suspend returns. The durability oracle checks the logs of the failing
# log and data devices.
# vm-run: --disks 3 --disk-size 64M
. /extra/guest.sh
data=/dev/vda log=/dev/vdb replay=/dev/vdc
n=$(sectors $data)
insmod "$MODDIR/dm-flakey.ko"
head -c 4194304 /dev/urandom >/tmp/pattern

# disabled_says WHY: status ends in logging_disabled and the kernel log has WHY.
disabled_says() {
	dmsetup status lw | grep -q ' logging_disabled$' || fail "status does not say logging_disabled: $(dmsetup status lw)"
	dmesg | grep -q "$1" || fail "no kernel message '$1'"
	if dmsetup message lw 0 mark late 2>/dev/null; then fail "a mark was accepted with logging disabled"; fi
}

# writes_still_work: 1 MiB of O_DIRECT writes plus fdatasync reach the data
# device.
writes_still_work() {
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=64K count=16 seek=64 oflag=direct conv=fdatasync status=none ||
		fail "a write failed with logging disabled"
	[ "$(head -c 1048576 /tmp/pattern | sha256sum | cut -d' ' -f1)" = \
		"$(/usr/sbin/dd if=$data bs=64K count=16 skip=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)" ] ||
		fail "the data device does not hold what was written"
}

load_target rust

step "log device on dm-flakey failing every write"
blkdiscard $data
blkdiscard $log
dmesg -c >/dev/null
dmsetup create flog --table "0 $(sectors $log) flakey $log 0 0 1 1 error_writes"
dmsetup mknodes flog
create_lw lw $data /dev/mapper/flog
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=4 oflag=direct,dsync status=none
writes_still_work
disabled_says "Error writing log block"
dmsetup status lw
dmsetup remove lw
dmsetup remove flog

step "log device switched to dm-error mid-run"
blkdiscard $data
blkdiscard $log
dmesg -c >/dev/null
dmsetup create elog --table "0 $(sectors $log) linear $log 0"
dmsetup mknodes elog
probe_dev probe $data
create_lw lw /dev/mapper/probe /dev/mapper/elog
oracle_start lw probe
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=64K count=4 oflag=direct conv=fdatasync status=none
oracle_mark lw before-error
sync /dev/mapper/lw
sum $data >/tmp/before.sum
dmsetup suspend elog
dmsetup load elog --table "0 $(sectors $log) error"
dmsetup resume elog
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=4 seek=2000 oflag=direct,dsync status=none
writes_still_work
disabled_says "Error writing log block"
dmsetup remove lw
dmsetup remove elog
oracle_stop
oracle_check $log --partial
dmsetup remove probe
lwlog verify $log || fail "what was logged before the error does not verify"
blkdiscard $replay
lwlog replay --end-mark before-error $log $replay
[ "$(sum $replay)" = "$(cat /tmp/before.sum)" ] || fail "replay to the mark before the error differs"

# The super block lags up to a second behind FUA entries: remove must write
# it, and when the log device fails right then, the super block on disk
# must stay the last one written, the log must verify, and nothing logged
# before must be lost. The device fails between a FUA write and the
# thread's own catch-up a second later; when the catch-up wins the race
# (a slow guest), the step is tried again.
step "log device failing while the super block lags behind a FUA entry, then remove"
reached=0
for try in 1 2 3 4 5; do
	blkdiscard $data
	blkdiscard $log
	dmesg -c >/dev/null
	dmsetup create elog --table "0 $(sectors $log) linear $log 0"
	dmsetup mknodes elog
	create_lw lw $data /dev/mapper/elog
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=64K count=4 oflag=direct conv=fdatasync status=none
	sum /dev/mapper/lw >/tmp/lag.sum
	dmsetup message lw 0 mark before-lag
	dmsetup load elog --table "0 $(sectors $log) error"
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=1 seek=3000 oflag=direct,dsync status=none
	# Every entry on the log device before it fails: only the super
	# block write can fail.
	blockdev --flushbufs $log
	found=$(lwlog info $log | awk '/entries found/ {print $3}')
	entries=$(dmsetup status lw | awk '{print $4}')
	dmsetup suspend elog
	dmsetup resume elog
	blockdev --flushbufs $log
	counted=$(lwlog info $log | awk '/super entries/ {print $3}')
	echo "try $try: status $entries entries, $found on the log device, super block counts $counted"
	dmsetup remove lw
	dmsetup suspend elog
	dmsetup load elog --table "0 $(sectors $log) linear $log 0"
	dmsetup resume elog
	dmsetup remove elog
	blockdev --flushbufs $log
	if [ "$counted" -lt "$entries" ] && [ "$found" = "$entries" ]; then
		reached=1
		# Every entry was on the log device: only a super block write
		# could fail.
		dmesg | grep -q "Error writing log block" || fail "remove did not report the failed super block write"
		lwlog verify $log || fail "the log does not verify after a failed super block write at remove"
		after=$(lwlog info $log | awk '/super entries/ {print $3}')
		[ "$after" = "$counted" ] || fail "the super block counts $after after the failed write, $counted before"
		blkdiscard $replay
		lwlog replay --end-mark before-lag $log $replay
		[ "$(sum $replay)" = "$(cat /tmp/lag.sum)" ] || fail "replay to the mark before the failure differs"
		break
	fi
done
[ "$reached" = 1 ] || fail "the log device never failed while the super block lagged (5 tries)"

# A log write fails while later ones are still in flight (the log device
# delays writes by a second, and one of its sectors fails them): suspend
# must not return before those land, or they would reach the log device
# while another table may own it. The log device must not change after
# suspend returned.
step "log write failing with later ones in flight, then suspend"
blkdiscard $data
blkdiscard $log
dmesg -c >/dev/null
ls=$(sectors $log)
dmsetup create hole --table "0 20000 linear $log 0
20000 8 error
20008 $((ls - 20008)) linear $log 20008"
dmsetup mknodes hole
slow_data_dev slowlog /dev/mapper/hole 1000 1000
create_lw lw $data /dev/mapper/slowlog
rm -f /tmp/stop-writes
(
	# Plain writes and a flush: a burst of entries per round, no FUA, so
	# the thread never waits for its log writes on its own.
	while [ ! -e /tmp/stop-writes ]; do
		/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=64K count=16 seek=$((RANDOM % 900)) \
			oflag=direct conv=fdatasync status=none
	done
) &
writes_pid=$!
i=0
while ! dmsetup status lw | grep -q logging_disabled; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "the failing log sector did not disable logging in 60 s"
	sleep 0.05
done
dmsetup suspend lw
before=$(/usr/sbin/dd if=$log bs=1M iflag=direct status=none | sha256sum)
sleep 2
after=$(/usr/sbin/dd if=$log bs=1M iflag=direct status=none | sha256sum)
touch /tmp/stop-writes
dmsetup resume lw
wait $writes_pid
dmesg | grep -q "Error writing log block" || fail "no 'Error writing log block' message"
[ "$before" = "$after" ] || fail "the log device changed after suspend returned: log writes were still in flight"
dmsetup remove lw
dmsetup remove slowlog
dmsetup remove hole
lwlog verify $log || fail "the log does not verify after a failed log write"

step "data device failing: the error reaches the writer"
blkdiscard $log
dmsetup create fdata --table "0 $n flakey $data 0 0 1 1 error_writes"
dmsetup mknodes fdata
probe_dev probe /dev/mapper/fdata
create_lw lw /dev/mapper/probe $log
oracle_start lw probe
if /usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=4 oflag=direct status=none 2>/tmp/err; then
	fail "a write to a failing data device succeeded"
fi
cat /tmp/err
grep -q "Input/output error" /tmp/err || fail "the writer did not get EIO"
if /usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=4 conv=fsync status=none 2>/tmp/err; then
	fail "a buffered write + fsync to a failing data device succeeded"
fi
dmsetup status lw
dmsetup remove lw
oracle_stop
oracle_check $log
dmsetup remove probe
dmsetup remove fdata
lwlog verify $log || fail "the log does not verify after data errors"

# fill_log IMPL: 64 KiB writes, each followed by fdatasync, into a 1 MiB log
# until logging is disabled; the first 5 also by a checksum and a mark, so
# the log fills up after entries that do not update the super block in C.
fill_log() {
	blkdiscard $data
	blkdiscard $log
	dmesg -c >/dev/null
	load_target "$1"
	dmsetup create small --table "0 2048 linear $log 0"
	dmsetup mknodes small
	create_lw lw $data /dev/mapper/small
	i=0
	while ! dmsetup status lw | grep -q logging_disabled; do
		i=$((i + 1))
		[ $i -le 40 ] || fail "40 writes of 64 KiB did not fill a 1 MiB log"
		/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=64K count=1 seek=$i skip=$i oflag=direct conv=fdatasync status=none
		if [ $i -le 5 ]; then
			sum /dev/mapper/lw >/tmp/mark.m$i.sum
			dmsetup message lw 0 mark m$i
		fi
	done
	writes_still_work
	status_entries=$(dmsetup status lw | awk '{print $4}')
	dmesg | grep -q "Ran out of space on the logdev" || fail "no 'Ran out of space' message"
	dmsetup remove lw
	dmsetup remove small
	unload_target "$1"
}

unload_target rust

step "log device full (ours)"
fill_log rust
lwlog info $log | tee /tmp/info
lwlog verify $log || fail "the full log does not verify"
super=$(awk '/super entries/ {print $3}' /tmp/info)
found=$(awk '/entries found/ {print $3}' /tmp/info)
[ "$super" = "$found" ] || fail "super block counts $super entries, the log holds $found"
[ "$super" = "$status_entries" ] || fail "super block counts $super entries, status said $status_entries"
last=$(lwlog list --flag mark $log | sed -n 's/.*mark "\(m[0-9]*\)"$/\1/p' | tail -n1)
[ "$last" = m5 ] || fail "the last mark in the log is '$last', not m5"
blkdiscard $replay
lwlog replay --end-mark "$last" $log $replay
[ "$(sum $replay)" = "$(cat /tmp/mark.$last.sum)" ] || fail "replay to the last logged mark $last differs"
echo "full log: $super entries, last mark $last replays to its checksum"

step "log device full (C, for comparison: its super block counts up to the last FUA or mark)"
fill_log c
lwlog info $log | grep -E 'super entries|entries found'
echo PASS
