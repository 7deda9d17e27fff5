# Devices without a volatile write cache ("write through"). When the
# log-writes device itself is write-through, the block layer drops flushes
# and FUA before they reach the target, so C logs nothing until the device
# is removed; ours logs each write when it completes (it is durable then),
# flagged FUA, with the super block kept current. When only the data disk is
# write-through (dm still passes flushes down), ours logs each write at
# completion too, without waiting for a flush it does not need.
# vm-run: --disks 3 --disk-size 64M
. /extra/guest.sh
data=/dev/vda log=/dev/vdb replay=/dev/vdc
head -c 1048576 /dev/urandom >/tmp/pattern
echo "write through" >/sys/block/vda/queue/write_cache

# entries: what status says has been logged, once the thread had time.
entries() {
	sleep 1
	dmsetup status lw | awk '{print $4}'
}

for impl in rust c; do
	step "16 writes and an fdatasync on a write-through $impl device"
	blkdiscard $data
	blkdiscard $log
	load_target $impl
	create_lw lw $data $log
	dm=dm-$(dmsetup info -c --noheadings -o minor lw | tr -d " ")
	echo "write through" >/sys/block/$dm/queue/write_cache
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=16 oflag=direct conv=fdatasync status=none
	n=$(entries)
	echo "$impl: $n entries logged while the device is live"
	if [ $impl = c ]; then
		[ "$n" = 0 ] || fail "C logged $n entries: the test does not show its weakness"
	else
		[ "$n" = 16 ] || fail "ours logged $n of 16 completed writes"
		lwlog info $log | grep -q 'super entries: *16$' || fail "the super block does not count the 16 writes"
		[ "$(lwlog list --flag fua $log | wc -l)" = 16 ] || fail "the writes are not flagged FUA"
	fi
	dmsetup remove lw
	unload_target $impl
done
step "our log replays to the data device"
lwlog verify $log
blkdiscard $replay
lwlog replay $log $replay
[ "$(sum $replay)" = "$(sum $data)" ] || fail "replay differs"

step "only the data disk write-through: writes are logged at completion, before any flush"
blkdiscard $data
blkdiscard $log
load_target rust
create_lw lw $data $log
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=8 oflag=direct status=none
n=$(entries)
[ "$n" = 8 ] || fail "ours logged $n of 8 writes to a write-through data disk"
dmsetup remove lw
unload_target rust
echo PASS
