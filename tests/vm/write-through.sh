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
replay_matches $log $replay $data

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

# A write durable at completion over part of one that waits for a flush:
# on the device the newer data wins for good, though the older write is
# logged after it, when the flush makes it durable; a replay must find the
# newer data too. The newer write is a FUA write, or a plain one while the
# data disk's write cache is switched off.
echo "write back" >/sys/block/vda/queue/write_cache
head -c 8192 /dev/urandom >/tmp/old
head -c 4096 /dev/urandom >/tmp/new
for impl in rust c; do
	for how in fua cache-off; do
		step "$impl: a $how write over half of a write waiting for a flush"
		blkdiscard $data
		blkdiscard $log
		load_target $impl
		create_lw lw $data $log
		/usr/sbin/dd if=/tmp/old of=/dev/mapper/lw bs=8K count=1 oflag=direct status=none
		if [ $how = fua ]; then
			/usr/sbin/dd if=/tmp/new of=/dev/mapper/lw bs=4K seek=1 count=1 oflag=direct,dsync status=none
		else
			echo "write through" >/sys/block/vda/queue/write_cache
			/usr/sbin/dd if=/tmp/new of=/dev/mapper/lw bs=4K seek=1 count=1 oflag=direct status=none
			echo "write back" >/sys/block/vda/queue/write_cache
		fi
		sync /dev/mapper/lw
		dmsetup remove lw
		unload_target $impl
		blkdiscard $replay
		lwlog replay $log $replay
		if [ "$(sum $replay 8192)" = "$(sum $data 8192)" ]; then
			echo "$impl, $how: the replay holds the newer data"
		elif [ $impl = rust ]; then
			lwlog list $log
			fail "the replay holds the older data where the $how write overwrote it"
		else
			echo "$impl, $how: the replay holds the older data (README, robustness)"
		fi
	done
done
echo PASS
