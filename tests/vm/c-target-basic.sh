# The C log-writes target (our reference) under the harness: create, O_DIRECT
# writes, a mark, remove; the log is readable, holds the mark, and a full
# replay reproduces the data device.
. /extra/guest.sh
step "load the C target"
load_target c
dmsetup targets | grep -q '^log-writes' || fail "log-writes not in dmsetup targets"

create_lw lw /dev/vda /dev/vdb
step "writes and a mark"
dd if=/dev/urandom of=/dev/mapper/lw bs=4096 count=16 oflag=direct 2>/dev/null
dd if=/dev/urandom of=/dev/mapper/lw bs=65536 count=4 seek=8 oflag=direct conv=fsync 2>/dev/null
dmsetup message lw 0 mark after-first
dd if=/dev/urandom of=/dev/mapper/lw bs=4096 count=3 seek=1000 oflag=direct conv=fsync 2>/dev/null
status=$(dmsetup status lw)
echo "status: $status"
entries=$(echo "$status" | awk '{print $4}')
[ "$entries" -gt 0 ] || fail "status reports no logged entries"
dmsetup remove lw
unload_target c

step "read the log"
lwlog info /dev/vdb | tee /tmp/info
grep -q 'sector size: *512' /tmp/info || fail "unexpected sector size"
super=$(awk '/super entries/ {print $3}' /tmp/info)
found=$(awk '/entries found/ {print $3}' /tmp/info)
[ "$super" = "$found" ] || fail "super block says $super entries, log holds $found"
[ "$super" -gt "$entries" ] || fail "log should hold more than the $entries entries counted before remove"

step "replay to the mark, then all of it"
lwlog replay /dev/vdb /dev/vdc --end-mark after-first
lwlog replay /dev/vdb /dev/vdd --end-mark no-such-mark && fail "replay to a missing mark succeeded"
lwlog replay /dev/vdb /dev/vdd
[ "$(sum /dev/vdd)" = "$(sum /dev/vda)" ] || fail "full replay differs from the data device"
[ "$(sum /dev/vdc)" != "$(sum /dev/vda)" ] || fail "replay to the mark should not have the later writes"
echo "PASS"
