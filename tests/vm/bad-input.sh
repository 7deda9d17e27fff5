# Bad tables and bad messages: each is refused, the kernel log says why, a
# log already being written loses nothing, no refused table writes to its
# log device, there is no kernel report and the module unloads afterwards.
# vm-run: --disks 3 --disk-size 64M
. /extra/guest.sh
data=/dev/vda log=/dev/vdb other=/dev/vdc
n=$(sectors $data)
bs=$VM_BLOCK_SIZE
max_mark=$((bs - 33))

# refused_table REASON ARGS...: a table with these log-writes arguments is
# refused, with REASON in the kernel log, and leaves no device behind.
refused_table() {
	why=$1
	shift
	dmesg -c >/dev/null
	if dmsetup create bad --table "0 $n log-writes $*" 2>/tmp/err; then
		fail "table accepted: log-writes $*"
	fi
	dmesg | grep -q "log-writes: $why" || {
		dmesg
		fail "no kernel message '$why' for: log-writes $*"
	}
	echo "refused: log-writes $* -> $(dmesg | grep -o "log-writes: $why.*")"
	dmsetup info bad >/dev/null 2>&1 && fail "a device was left behind"
	return 0
}

# refused_message REASON ARGS...: `dmsetup message lw 0 ARGS` fails, with
# REASON in the kernel log.
refused_message() {
	why=$1
	shift
	dmesg -c >/dev/null
	if dmsetup message lw 0 "$@" 2>/tmp/err; then
		fail "message accepted: $*"
	fi
	dmesg | grep -q "$why" || {
		dmesg
		fail "no kernel message '$why' for message: $*"
	}
	echo "refused: message $(printf '%.40s' "$*") -> $(dmesg | grep -o "$why.*" | head -n1)"
}

load_target rust
blkdiscard $data
blkdiscard $log
head -c 1048576 /dev/urandom >/tmp/pattern

step "a device logging to $log, with a mark, while the bad inputs are tried"
create_lw lw $data $log
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=64K count=4 oflag=direct conv=fdatasync status=none
dmsetup message lw 0 mark before
sum $other >/tmp/other.sum

step "bad tables"
refused_table "Invalid argument count" ""
refused_table "Invalid argument count" $data
refused_table "Invalid argument count" $data $other extra
refused_table "Device lookup failed" /dev/no-such-device $other
refused_table "Log device lookup failed" $data /dev/no-such-device
refused_table "Data and log device are the same device" $other $other
# The same device by another name (major:minor).
majmin() { set -- $(stat -L -c '%t %T' "$1"); echo "$((0x$1)):$((0x$2))"; }
refused_table "Data and log device are the same device" $other "$(majmin $other)"
dmsetup create tiny --table "0 1 linear $other 0"
dmsetup mknodes tiny
refused_table "Log device too small" $data /dev/mapper/tiny
dmsetup remove tiny
blockdev --setro $other
refused_table "Log device is read-only" $data $other
blockdev --setrw $other
[ "$(sum $other)" = "$(cat /tmp/other.sum)" ] || fail "a refused table wrote to $other"

step "bad messages"
dmesg -c >/dev/null
dmsetup message lw 0 2>/tmp/err && fail "an empty message was accepted"
echo "refused: empty message -> $(cat /tmp/err)"
refused_message "expect 2 arguments, got 1" mark
refused_message "expect 2 arguments, got 3" mark two words
refused_message "Unrecognised log writes target message received: frob" frob x
long=$(head -c $((max_mark + 1)) /dev/zero | tr '\0' 'm')
refused_message "Mark of $((max_mark + 1)) bytes rejected: at most $max_mark bytes" mark "$long"
refused_message "byte 0xc3 is not printable ASCII" mark "$(printf 'caf\303\251')"
refused_message "byte 0x01 is not printable ASCII" mark "$(printf 'a\001b')"
# The longest mark that fits, and any case of the verb, are accepted.
dmsetup message lw 0 MARK "$(head -c $max_mark /dev/zero | tr '\0' 'k')"
dmsetup message lw 0 mark after

step "the log lost nothing and holds only the accepted marks"
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count=3 seek=100 oflag=direct,dsync status=none
sync /dev/mapper/lw
dmsetup remove lw
unload_target rust
lwlog verify $log || fail "the log does not verify"
lwlog list --flag mark $log | sed 's/.*mark "\([^"]\{0,20\}\).*/\1/' >/tmp/marks
printf '%s\n' before kkkkkkkkkkkkkkkkkkkk after dm-log-writes-end | cmp - /tmp/marks ||
	fail "marks in the log: $(cat /tmp/marks)"
blkdiscard $other
lwlog replay $log $other
[ "$(sum $other)" = "$(sum $data)" ] || fail "the replayed log differs from the data device"
echo PASS
