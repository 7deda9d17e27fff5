# vm-run: --disk-size 1G --memory 1G
# Concurrency on the debug kernel: four writers with random sizes and
# offsets, FUA writes (also over their own writes not flushed yet), flushes
# and discards, while marks are dropped from
# another process, for a bounded time. Afterwards a full replay equals the
# data device, and the entry counts in status, in the super block and in
# the log agree. Any kernel report (lockdep, KFENCE, list debugging, hung
# task...) fails the run in vm-run. The durability oracle checks the log
# against the block trace of the log-writes device and its data device,
# and each logged write's data against what the writers wrote.
. /extra/guest.sh
data_sectors=262144 # 128 MiB slices of vda and vdc keep checksums quick

dmsetup create data --table "0 $data_sectors linear /dev/vda 0"
dmsetup create replay --table "0 $data_sectors linear /dev/vdc 0"
dmsetup mknodes
blkdiscard /dev/vdb
load_target rust
create_lw lw /dev/mapper/data /dev/vdb
oracle_start lw data

step "writers and marks for ${STRESS_SECONDS:=20}s"
(
	i=0
	while [ ! -e /tmp/stop ]; do
		oracle_mark lw "m$i" || exit 1
		i=$((i + 1))
		sleep 0.2
	done
	echo "$i" >/tmp/marks
) &
marker=$!
lw-workload block /dev/mapper/lw --threads 4 --seconds "$STRESS_SECONDS" \
	--max-bytes $((600 << 20)) --seed "${STRESS_SEED:-1}" --fua-over-unflushed \
	--journal /tmp/journal || fail "workload failed"
touch /tmp/stop
wait $marker || fail "a mark message failed"
echo "marks: $(cat /tmp/marks)"

step "flush, let the logging thread drain, compare counts"
sync /dev/mapper/lw
settle lw
dmsetup status lw
case $(dmsetup status lw) in *logging_disabled*) fail "logging was disabled" ;; esac
data_sum=$(sum /dev/mapper/data)
dmsetup remove lw
unload_target rust
oracle_stop
oracle_check /dev/vdb --journal /tmp/journal
lwlog info /dev/vdb | tee /tmp/info
super=$(awk '/super entries/ {print $3}' /tmp/info)
found=$(awk '/entries found/ {print $3}' /tmp/info)
# Removing the device logs one more entry: the dm-log-writes-end mark.
[ "$super" = $((cur + 1)) ] || fail "super block has $super entries, status said $cur (+1 end mark)"
[ "$found" = "$super" ] || fail "log holds $found entries, super block says $super"
[ "$cur" -gt 1000 ] || fail "only $cur entries logged: the workload did not run"

step "full replay equals the data device"
blkdiscard /dev/mapper/replay
lwlog replay /dev/vdb /dev/mapper/replay
[ "$(sum /dev/mapper/replay)" = "$data_sum" ] || fail "replay differs from the data device"
dmsetup remove replay
dmsetup remove data
echo PASS
