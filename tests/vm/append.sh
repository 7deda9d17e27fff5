# The `append` option (`log-writes <dev> <logdev> 1 append`) continues a
# valid existing log: after a second session the log verifies, holds both
# sessions' marks, replays to the first session's mark and, whole, to the
# data device; `dmsetup table` echoes the option. A log device without a
# valid log (zeroes, garbage, a corrupt entry) is refused with a clear
# constructor error and left untouched. Bad optional arguments are refused.
# C ignores the option and starts over (its first session's mark is gone).
# vm-run: --disks 3 --disk-size 64M
. /extra/guest.sh
data=/dev/vda log=/dev/vdb replay=/dev/vdc
n=$(sectors $data)
head -c 1048576 /dev/urandom >/tmp/pattern

# session IMPL TABLE_OPTS SEEK MARK: write, flush, checksum, mark, remove.
session() {
	load_target "$1"
	dmsetup create lw --table "0 $n log-writes $data $log $2"
	dmsetup mknodes lw
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=8 seek="$3" oflag=direct conv=fdatasync status=none
	sum /dev/mapper/lw >"/tmp/$4.sum"
	dmsetup message lw 0 mark "$4"
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=4 seek=$(($3 + 100)) oflag=direct,dsync status=none
	dmsetup table lw >/tmp/table
	dmsetup remove lw
	unload_target "$1"
}

# refused WHY: `1 append` on the current log device fails with WHY in the
# kernel log, and the log device is unchanged.
refused() {
	before=$(sum $log 1048576)
	dmesg -c >/dev/null
	load_target rust
	dmsetup create lw --table "0 $n log-writes $data $log 1 append" 2>/dev/null && fail "append accepted: $1"
	dmesg | grep -q "log-writes: $1" || {
		dmesg
		fail "no kernel message '$1'"
	}
	echo "refused: $(dmesg | grep -o "log-writes: $1.*")"
	unload_target rust
	[ "$(sum $log 1048576)" = "$before" ] || fail "a refused append changed the log device"
}

for impl in rust c; do
	step "two sessions on the $impl target, the second with '1 append'"
	blkdiscard $data
	blkdiscard $log
	session $impl "" 0 first
	first=$(lwlog info $log | awk '/super entries/ {print $3}')
	session $impl "1 append" 1000 second
	cat /tmp/table
	lwlog list --flag mark $log
	if [ $impl = c ]; then
		lwlog list --flag mark $log | grep -q '"first"' && fail "C kept the first session: the test does not show its weakness"
		continue
	fi
	grep -q "log-writes 254:0 254:16 1 append$" /tmp/table || fail "dmsetup table does not echo '1 append'"
	lwlog verify $log || fail "the appended log does not verify"
	[ "$(lwlog list --flag mark $log | sed 's/.*mark "\([^"]*\)"/\1/' | tr '\n' ' ')" = "first dm-log-writes-end second dm-log-writes-end " ] ||
		fail "the marks of both sessions are not in order"
	total=$(lwlog info $log | awk '/super entries/ {print $3}')
	[ "$total" -gt "$first" ] || fail "the second session added no entries"
	blkdiscard $replay
	lwlog replay --end-mark first $log $replay
	[ "$(sum $replay)" = "$(cat /tmp/first.sum)" ] || fail "replay to the first session's mark differs"
	replay_matches $log $replay $data "" "both sessions' log"
	cp /tmp/table /tmp/rust.table
done

step "append refuses what is not a valid log, and leaves it untouched"
blkdiscard $log
refused "Log device holds no valid log to append to"
head -c 4096 /dev/urandom | /usr/sbin/dd of=$log bs=4096 oflag=direct status=none
refused "Log device holds no valid log to append to"
blkdiscard $log
session rust "" 0 again
# Entry 2's padding gets a byte: the walk must stop there.
off=$(lwlog list --json --from-entry 2 --to-entry 2 $log | sed 's/.*"log_offset":\([0-9]*\).*/\1/')
printf 'x' | /usr/sbin/dd of=$log bs=1 seek=$((off + 100)) conv=notrunc status=none
sync $log
refused "Log holds an invalid entry"

step "bad optional arguments"
load_target rust
for opts in "1 bogus" "2 append" "x append" "0 append"; do
	dmesg -c >/dev/null
	dmsetup create lw --table "0 $n log-writes $data $log $opts" 2>/dev/null && fail "accepted: $opts"
	echo "refused: $opts -> $(dmesg | grep -o 'log-writes: [A-Z].*' | tail -n1)"
done
unload_target rust
echo PASS
