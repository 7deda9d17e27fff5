# Security. A non-root user cannot create, reload, suspend, message or
# remove a log-writes device, even with /dev/mapper/control opened up to
# everyone (the kernel's CAP_SYS_ADMIN check is what must refuse). And no
# uninitialised kernel memory reaches the log: after free memory is filled
# with a poison pattern, marks of many lengths (1 byte up to the longest
# that fits) and writes of many sizes are logged, and `lwlog verify` finds
# every byte after each entry's header and mark text, and after the super
# block, zero.
# vm-run: --disks 3 --disk-size 64M
. /extra/guest.sh
data=/dev/vda log=/dev/vdb other=/dev/vdc
n=$(sectors $data)
bs=$VM_BLOCK_SIZE
max_mark=$((bs - 33))
load_target rust
blkdiscard $data
blkdiscard $log

step "a non-root user cannot drive the target"
create_lw lw $data $log
dmsetup message lw 0 mark by-root
dmsetup table lw >/tmp/table
chmod 666 /dev/mapper/control
as_user() {
	if su user -c "$1" 2>/tmp/err; then
		fail "user 1000 could: $1"
	fi
	echo "refused as user 1000: $1: $(cat /tmp/err)"
}
as_user "dmsetup create evil --table '0 8 log-writes $other $log'"
as_user "dmsetup reload lw --table '0 $n linear $data 0'"
as_user "dmsetup suspend lw"
as_user "dmsetup message lw 0 mark evil"
as_user "dmsetup remove lw"
as_user "dmsetup remove_all"
chmod 600 /dev/mapper/control
dmsetup info lw | grep -q 'State: *ACTIVE' || fail "lw is no longer active"
dmsetup table lw | cmp -s - /tmp/table || fail "the table of lw changed"
dmsetup info evil >/dev/null 2>&1 && fail "the user's device exists"
# As root, each works (the refusals were about privilege).
dmsetup suspend lw
dmsetup resume lw

step "poison free memory, then log marks and writes"
head -c $((256 << 20)) /dev/zero | tr '\0' '\245' >/tmp/poison
rm /tmp/poison
sync
echo 3 >/proc/sys/vm/drop_caches
head -c 1048576 /dev/urandom >/tmp/pattern
# Every length up to 64, then every 37th, then the longest.
lengths="$(seq 1 64) $(seq 65 37 $max_mark) $max_mark"
for len in $lengths; do
	dmsetup message lw 0 mark "$(head -c "$len" /dev/zero | tr '\0' 'p')"
done
for count in 1 2 3 8 33; do
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs="$bs" count=$count seek=$((count * 97)) oflag=direct status=none
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs="$bs" count=$count seek=$((count * 101)) oflag=direct,dsync status=none
done
blkdiscard -o $((bs * 5000)) -l $((bs * 7)) /dev/mapper/lw
sync /dev/mapper/lw
dmsetup remove lw
unload_target rust

step "every padding byte in the log is zero"
lwlog verify $log || fail "the log has non-zero padding (or is invalid)"
marks=$(lwlog list --flag mark $log | wc -l)
expected=$(($(echo $lengths | wc -w) + 2))
[ "$marks" = "$expected" ] || fail "expected $expected marks (incl. by-root and the end mark), found $marks"
lwlog list --flag mark $log | grep -q '"evil"' && fail "the user's mark is in the log"
# The check has teeth: one poison byte in a header's padding is caught.
used=$(lwlog info $log | awk '/log bytes used/ {print $4}')
head -c "$used" $log >/tmp/log.img
off=$(lwlog list --json --from-entry 5 --to-entry 5 /tmp/log.img | sed 's/.*"log_offset":\([0-9]*\).*/\1/')
printf '\245' | /usr/sbin/dd of=/tmp/log.img bs=1 seek=$((off + bs - 1)) conv=notrunc status=none
lwlog verify /tmp/log.img 2>/dev/null && fail "verify missed a poison byte at the end of entry 5's sector"
echo PASS
