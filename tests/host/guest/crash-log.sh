# Guest half of tests/host/crash-log.sh: a log-writes device (IMPL, c or
# rust) over vda logging to vdb, whose every write QEMU records; FUA writes,
# flushes and marks make the target rewrite its super block often. At most
# 64 MiB of data, so that the 128 MiB log never fills (4 seconds of it, once
# the target got faster, came to 145 MB: the log filled, a mark was refused
# and the script stopped with the device still there).
. /extra/guest.sh
load_target "$IMPL"
create_lw lw /dev/vda /dev/vdb
lw-workload block /dev/mapper/lw --threads 2 --seconds 4 --max-bytes $((64 << 20)) --max-io 65536 --seed 3 &
pid=$!
for i in 1 2 3 4 5 6 7 8; do
	dmsetup message lw 0 mark m$i
	sleep 0.4
done
wait $pid
dmsetup remove lw
unload_target "$IMPL"
lwlog verify /dev/vdb
echo PASS
