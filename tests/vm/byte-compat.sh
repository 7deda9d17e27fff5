# The same deterministic workload on the C target and on ours must leave
# byte-identical log and data devices: O_DIRECT writes of several sizes one
# after another, fdatasync, O_DSYNC (FUA) writes, a discard, and marks, one
# of them the longest that fits in a log sector. Then a full replay of our
# log reproduces the data device, and a replay up to each mark reproduces
# the checksum the device had when the mark was dropped.
# vm-run: --disk-size 64M
. /extra/guest.sh
bs=$VM_BLOCK_SIZE
head -c $((4 * 1024 * 1024)) /dev/urandom >/tmp/pattern
# A header is 32 bytes and C keeps a NUL after the text: bs - 33 bytes fit.
# (C cuts a longer mark; ours rejects it, see tests/vm/bad-input.sh.)
long_mark=$(head -c $((bs - 33)) /dev/zero | tr '\0' 'm')

# mark TEXT: flush, so that every completed write is logged before the mark,
# record the device checksum and the mark text, then drop the mark.
nmarks=0
mark() {
	sync /dev/mapper/lw
	nmarks=$((nmarks + 1))
	sum /dev/mapper/lw >/tmp/mark.$nmarks.sum
	printf '%s' "$1" >/tmp/mark.$nmarks.text
	dmsetup message lw 0 mark "$1"
}

# Coreutils dd by path: busybox sh runs its own applets first.
workload() {
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4096 count=8 oflag=direct status=none
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=65536 count=4 seek=16 skip=1 oflag=direct conv=fdatasync status=none
	mark first
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=$bs count=3 seek=5000 skip=7 oflag=direct,dsync status=none
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=1048576 count=2 seek=40 skip=1 oflag=direct conv=fdatasync status=none
	blkdiscard -o $((16 * 65536)) -l 131072 /dev/mapper/lw
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=16384 count=5 seek=300 skip=9 oflag=direct,dsync status=none
	mark "$long_mark"
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=8192 count=2 seek=77 skip=3 oflag=direct conv=fdatasync status=none
}

for impl in c rust; do
	nmarks=0
	step "workload on the $impl target (block size $bs)"
	blkdiscard /dev/vda
	blkdiscard /dev/vdb
	load_target "$impl"
	create_lw lw /dev/vda /dev/vdb
	workload
	dmsetup status lw | tee /tmp/status.$impl
	dmsetup remove lw
	unload_target "$impl"
	sum /dev/vda >/tmp/data.$impl
	# Compare the logs over the bytes used plus some slack.
	used=$(lwlog info /dev/vdb | awk '/log bytes used/ {print $4}')
	echo "log bytes used: $used"
	sum /dev/vdb $((used + 1048576)) >/tmp/log.$impl
	lwlog info /dev/vdb >/tmp/info.$impl
done
cmp /tmp/status.c /tmp/status.rust || fail "status lines differ: $(cat /tmp/status.c) vs $(cat /tmp/status.rust)"
cmp /tmp/info.c /tmp/info.rust || fail "log summaries differ"
cmp /tmp/data.c /tmp/data.rust || fail "data devices differ"
cmp /tmp/log.c /tmp/log.rust || fail "log devices differ"

step "full replay of our log reproduces the data device"
blkdiscard /dev/vdc
lwlog replay /dev/vdb /dev/vdc
[ "$(sum /dev/vdc)" = "$(cat /tmp/data.rust)" ] || fail "replay differs from the data device"

for n in $(seq "$nmarks"); do
	text=$(cat /tmp/mark.$n.text)
	step "replay up to mark $n (${#text} bytes of text)"
	blkdiscard /dev/vdc
	lwlog replay --end-mark "$text" /dev/vdb /dev/vdc
	[ "$(sum /dev/vdc)" = "$(cat /tmp/mark.$n.sum)" ] ||
		fail "replay to mark $n differs from the device when the mark was dropped"
done
echo "PASS"
