# Guest half of scripts/replay-speed (runs inside the VM): logs a real
# ext4 workload with our target, data on /dev/vda and the log on /dev/vdb.
# mkfs.ext4 (which discards the whole device first), a mount with
# `-o discard` (freed blocks are discarded as files go), then
# `lw-workload files` (creates, writes, renames, unlinks, truncates,
# fsyncs from 4 threads) and large files written and deleted, until the
# log holds about FS_LOG_BYTES.
. /extra/guest.sh
want=${FS_LOG_BYTES:-1073741824}
load_target rust
create_lw lw /dev/vda /dev/vdb
mkfs.ext4 -q /dev/mapper/lw
mkdir -p /mnt/lw
mount -o discard /dev/mapper/lw /mnt/lw
used() { lwlog info /dev/vdb | awk '/log bytes used/ {print $4}'; }
round=0
while :; do
	round=$((round + 1))
	lw-workload files /mnt/lw --threads 4 --ops 500 --seed "$round" \
		--max-file 524288 || fail "lw-workload files failed"
	/usr/sbin/dd if=/dev/urandom of=/mnt/lw/big bs=1M count=48 \
		conv=fsync status=none || fail "dd failed"
	rm /mnt/lw/big
	sync
	u=$(used)
	echo "round $round: log bytes used $u"
	[ "$u" -lt "$want" ] || break
done
umount /mnt/lw
dmsetup remove lw
unload_target rust
lwlog info /dev/vdb
lwlog verify /dev/vdb >/dev/null || fail "the log does not verify"
echo "fs log done"
