# vm-run: --disk-size 512M --timeout 900
# When memory is short the logging thread still logs: it takes the header
# sector of each entry (and the super block) from a reserve of pages, and
# its bios, with their completion context, from a private bio set. The
# kernel's fail_page_alloc fault injection, limited to the logging thread,
# fails every page allocation it makes (those that may wait too) while
# four writers, FUA writes, flushes, discards and marks run. Logging must
# stay on; the log verifies, counts what status said, and a full replay
# equals the data device. Our earlier code disabled logging at the first
# failure ("Couldn't write log entry: error -12"). The writers' own copies
# are allocated in their context and are not failed: running out there
# disables logging, as in C.
. /extra/guest.sh
data=/dev/vda log=/dev/vdb replay=/dev/vdc
F=/sys/kernel/debug/fail_page_alloc
[ -d /sys/kernel/debug/tracing ] || mount -t debugfs debugfs /sys/kernel/debug
[ -d $F ] || fail "no fail_page_alloc in debugfs (CONFIG_FAIL_PAGE_ALLOC)"
dmsetup create data --table "0 262144 linear $data 0"
dmsetup create replay --table "0 262144 linear $replay 0"
dmsetup mknodes
blkdiscard $log
load_target rust
create_lw lw /dev/mapper/data $log
pid=$(grep -lx log-write /proc/[0-9]*/comm | head -n1 | cut -d/ -f3)
[ -n "$pid" ] || fail "no logging thread"

step "every page allocation of the logging thread (pid $pid) fails"
echo 1 >$F/task-filter
echo 100 >$F/probability
echo 0 >$F/interval
echo 1000000 >$F/times
echo 0 >$F/space
echo 0 >$F/verbose
echo N >$F/ignore-gfp-wait
echo N >$F/ignore-gfp-highmem
echo 0 >$F/min-order
echo 1 >/proc/"$pid"/make-it-fail
(
	i=0
	while [ ! -e /tmp/stop ]; do
		dmsetup message lw 0 mark "m$i" || exit 1
		i=$((i + 1))
		sleep 0.2
	done
) &
marker=$!
lw-workload block /dev/mapper/lw --threads 4 --seconds 8 --max-bytes $((200 << 20)) \
	--seed 5 || fail "workload failed"
touch /tmp/stop
wait $marker || fail "a mark message failed"
sync /dev/mapper/lw
settle lw
echo 0 >/proc/"$pid"/make-it-fail
failed=$((1000000 - $(cat $F/times)))
echo "page allocations failed in the logging thread: $failed"
[ "$failed" -gt 100 ] || fail "fault injection failed only $failed allocations: the test did not test"
dmsetup status lw
case $(dmsetup status lw) in *logging_disabled*) fail "logging was disabled" ;; esac
data_sum=$(sum /dev/mapper/data)
dmsetup remove lw
unload_target rust
lwlog info $log | tee /tmp/info
super=$(awk '/super entries/ {print $3}' /tmp/info)
[ "$super" = $((cur + 1)) ] || fail "super block has $super entries, status said $cur (+1 end mark)"
lwlog verify $log >/dev/null || fail "the log does not verify"
blkdiscard /dev/mapper/replay
lwlog replay $log /dev/mapper/replay
[ "$(sum /dev/mapper/replay)" = "$data_sum" ] || fail "replay differs from the data device"
dmsetup remove replay
dmsetup remove data
echo PASS
