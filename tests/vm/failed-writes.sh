# Writes that fail on the data device must not be logged as if they had
# succeeded. The data device is linear over its first half and dm-error over
# the second (which gets no flushes, so flushes succeed): plain and FUA
# writes to the second half fail. C logs them; ours does not, says so in the
# kernel log, and its log replays to what the device holds.
# vm-run: --disks 3 --disk-size 64M
. /extra/guest.sh
log=/dev/vdb replay=/dev/vdc
half=$(($(sectors /dev/vda) / 2))
head -c 1048576 /dev/urandom >/tmp/pattern
dmsetup create data --table "0 $half linear /dev/vda 0
$half $half error"
dmsetup mknodes data
for impl in rust c; do
	step "good and failing writes on the $impl target"
	blkdiscard -l $((half * 512)) /dev/mapper/data
	blkdiscard $log
	dmesg -c >/dev/null
	load_target $impl
	create_lw lw /dev/mapper/data $log
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=4 oflag=direct status=none
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=512 count=8 seek=$((half + 8)) oflag=direct status=none 2>/dev/null &&
		fail "a write to the error half succeeded"
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=512 count=8 seek=$((half + 64)) oflag=direct,dsync status=none 2>/dev/null &&
		fail "a FUA write to the error half succeeded"
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=4 seek=16 oflag=direct conv=fdatasync status=none
	dmsetup remove lw
	unload_target $impl
	lwlog verify $log

	failed=$(lwlog list $log | awk -v h=$half '{gsub(",", "", $3); if ($3 + 0 >= h && $0 !~ /MARK/) n++} END {print n + 0}')
	echo "$impl: $failed failed writes in the log"
	if [ $impl = c ]; then
		[ "$failed" = 2 ] || fail "C logged $failed of the 2 failed writes: the test does not show its weakness"
	else
		[ "$failed" = 0 ] || fail "ours logged $failed failed writes"
		dmesg | grep -q "not logged" || fail "no kernel message about the failed writes"
		dmesg | grep "not logged"
		replay_matches $log $replay /dev/vda $((half * 512)) "our log (the data device's good half)"
	fi
done
dmsetup remove data
echo PASS
