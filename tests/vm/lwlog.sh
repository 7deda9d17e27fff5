# lwlog on real logs from both targets: an ext4 workload logged by the C
# target and by ours; verify, info, list (text, JSON, filters), full and
# partial replays, replay-log's selection options, errors for missing marks
# and corrupt logs, `check` with mount + e2fsck -fn at every FUA, and
# `crash-states` checked the same way.
# vm-run: --disks 5 --disk-size 64M --timeout 1500
. /extra/guest.sh
data=/dev/vda log=/dev/vdb replay=/dev/vdc scratch=/dev/vdd c_log=/dev/vde
mkdir -p /mnt/fs

# ext4 workload: mkfs, mark, files with fsync, renames, deletes, marks.
workload() {
	mkfs.ext4 -q -E nodiscard /dev/mapper/lw
	sync /dev/mapper/lw
	dmsetup message lw 0 mark mkfs
	mount /dev/mapper/lw /mnt/fs
	mkdir /mnt/fs/d
	for i in 1 2 3 4 5 6; do
		head -c $((i * 7000)) /tmp/pattern >/mnt/fs/d/f$i
		sync /mnt/fs/d/f$i
	done
	mv /mnt/fs/d/f1 /mnt/fs/moved
	rm /mnt/fs/d/f2
	sync
	(cd /mnt/fs && sha256sum d/* moved) >/tmp/at-files.sums
	dmsetup message lw 0 mark files
	for i in 7 8 9; do head -c 30000 /tmp/pattern >/mnt/fs/d/g$i; done
	sync
	umount /mnt/fs
}

head -c 1048576 /dev/urandom >/tmp/pattern
for impl in c rust; do
	l=$log
	[ $impl = c ] && l=$c_log
	step "ext4 workload on the $impl target, log on $l"
	blkdiscard $data
	blkdiscard $l
	load_target $impl
	create_lw lw $data $l
	workload
	dmsetup remove lw
	unload_target $impl
	sum $data >/tmp/data.$impl

	step "verify, info and list the $impl log"
	lwlog verify $l || fail "verify rejects the $impl log"
	lwlog info $l | tee /tmp/info
	n=$(awk '/super entries/ {print $3}' /tmp/info)
	[ "$(lwlog list $l | wc -l)" = "$n" ] || fail "list does not print one line per entry"
	[ "$(lwlog list --json $l | grep -c '^{"index":')" = "$n" ] || fail "list --json does not print one object per entry"
	lwlog list --flag mark $l | tee /tmp/marks
	[ "$(wc -l </tmp/marks)" = 3 ] || fail "expected marks mkfs, files and the end mark"
	grep -q 'mark "dm-log-writes-end"' /tmp/marks || fail "no end mark"
	lwlog list --json --flag mark $l | grep -q '"flags":\["MARK"\],"mark":"files"' || fail "JSON mark line"
	from=$(lwlog list --flag mark $l | awk -F@ 'NR==1 {print $1}')
	to=$(lwlog list --flag mark $l | awk -F@ 'NR==2 {print $1}')
	[ "$(lwlog list --from-mark mkfs --to-mark files $l | wc -l)" = $((to - from + 1)) ] ||
		fail "mark range filter"
	lwlog list --flag fua $l | grep -v FUA && fail "--flag fua printed a non-FUA entry"

	step "full replay of the $impl log equals the data device"
	blkdiscard $replay
	lwlog replay $l $replay
	[ "$(sum $replay)" = "$(cat /tmp/data.$impl)" ] || fail "full replay differs"

	step "replay to mark 'files' holds the files of that moment"
	blkdiscard $replay
	lwlog replay --end-mark files $l $replay
	mount $replay /mnt/fs
	(cd /mnt/fs && sha256sum -c -s /tmp/at-files.sums) || fail "files differ at mark 'files'"
	umount /mnt/fs
	e2fsck -fn $replay >/dev/null || fail "e2fsck after replay to mark"
done

step "selection options: --limit, --start-entry, --next-fua, sector range"
# Replaying entries [0, k) then [k, n) equals one full replay.
k=$(($(lwlog list $log | wc -l) / 2))
blkdiscard $replay
lwlog replay --limit $k $log $replay
lwlog replay --start-entry $k $log $replay
[ "$(sum $replay)" = "$(cat /tmp/data.rust)" ] || fail "--limit then --start-entry differs from a full replay"
# --start-mark mkfs replays what follows the mark; after a replay to it,
# the result is the full device again.
blkdiscard $replay
lwlog replay --end-mark mkfs $log $replay
lwlog replay --start-mark mkfs $log $replay
[ "$(sum $replay)" = "$(cat /tmp/data.rust)" ] || fail "--end-mark then --start-mark differs"
first_fua=$(lwlog list --flag fua $log | awk -F@ 'NR==1 {print $1}')
lwlog replay --next-fua $log $replay 2>&1 | grep -q "replayed $((first_fua + 1)) entries" ||
	fail "--next-fua did not stop at the first FUA entry ($first_fua)"
# A sector range outside every write changes nothing.
blkdiscard $replay
lwlog replay --start-sector 1000000000 $log $replay
[ "$(sum $replay)" = "$(sum /dev/vdd)" ] || fail "a replay outside the sector range changed the target"

step "errors: missing mark, bad options, corrupt log"
set +e
lwlog replay --end-mark no-such-mark $log $replay
[ $? = 4 ] || fail "a missing end mark must exit 4"
lwlog replay --start-entry 999999 $log $replay
[ $? = 4 ] || fail "a start entry past the end must exit 4"
lwlog replay --limit 0 $log $replay 2>/dev/null
[ $? = 2 ] || fail "--limit 0 must be a usage error"
lwlog verify /dev/null
[ $? = 3 ] || fail "an empty log must exit 3"
set -e
used=$(lwlog info $log | awk '/log bytes used/ {print $4}')
head -c "$used" $log >/tmp/bad.log
# Set a padding byte in the header sector of entry 3.
off=$(lwlog list --json --from-entry 3 --to-entry 3 /tmp/bad.log | sed 's/.*"log_offset":\([0-9]*\).*/\1/')
printf 'x' | /usr/sbin/dd of=/tmp/bad.log bs=1 seek=$((off + 100)) conv=notrunc status=none
set +e
lwlog verify /tmp/bad.log 2>/tmp/err
rc=$?
set -e
cat /tmp/err
[ $rc = 3 ] || fail "verify accepted a corrupt log"
grep -q "entry 3 (byte offset $off)" /tmp/err || fail "verify did not name entry 3 at byte $off"

step "check: mount + e2fsck -fn at every FUA after mkfs, on a scratch copy"
fuas=$(lwlog list --flag fua --from-mark mkfs $log | wc -l)
blkdiscard $replay
lwlog replay --end-mark mkfs $log $replay
lwlog check --start-mark mkfs --at fua --scratch $scratch \
	--fsck 'mount $LWLOG_DEV /mnt/fs && umount /mnt/fs && e2fsck -fn $LWLOG_DEV >/dev/null 2>&1' \
	$log $replay | tee /tmp/check
grep -q "^$fuas checks passed" /tmp/check || fail "expected $fuas checks (one per FUA entry after mkfs)"
[ "$fuas" -gt 3 ] || fail "only $fuas FUA entries: the workload is too small"
[ "$(sum $replay)" = "$(cat /tmp/data.rust)" ] || fail "check's replay differs from the data device"
# A check command that fails stops at the first point and exits 5.
blkdiscard $replay
set +e
lwlog check --at flush --fsck 'test $LWLOG_ENTRY -lt 10' $log $replay 2>/tmp/err
rc=$?
set -e
cat /tmp/err
[ $rc = 5 ] || fail "a failing check must exit 5"
first_flush_after_10=$(lwlog list --flag flush --from-entry 10 $log | awk -F@ 'NR==1 {print $1}')
grep -q "check failed after entry $first_flush_after_10 " /tmp/err || fail "check did not name entry $first_flush_after_10"

step "crash-states on ext4: mount + e2fsck -fn on each"
blkdiscard $replay
lwlog replay --end-mark mkfs $log $replay
lwlog crash-states --start-mark mkfs --per-epoch 2 --max-states 12 --seed 7 --scratch $scratch \
	--fsck 'mount $LWLOG_DEV /mnt/fs && umount /mnt/fs && e2fsck -fn $LWLOG_DEV >/dev/null 2>&1' \
	$log $replay | tee /tmp/states
[ "$(grep -c '^state ' /tmp/states)" -ge 6 ] || fail "too few crash states"
# The same seed gives the same states; --only materialises one of them.
blkdiscard $replay
lwlog replay --end-mark mkfs $log $replay
lwlog crash-states --start-mark mkfs --per-epoch 2 --max-states 12 --seed 7 $log $replay >/tmp/states2
cmp /tmp/states /tmp/states2 || fail "crash states differ for the same seed"
blkdiscard $replay
lwlog replay --end-mark mkfs $log $replay
lwlog crash-states --start-mark mkfs --per-epoch 2 --seed 7 --only 3 $log $replay | grep -q '^state 3:' ||
	fail "--only 3 did not materialise state 3"
mount $replay /mnt/fs && umount /mnt/fs
e2fsck -fn $replay >/dev/null || fail "state 3 does not pass e2fsck"

step "bisect finds the point check finds; diff names what changed up to it"
# Fails from the first point at which /moved is on the device (outside the
# journal): a property that, once true, stays true.
probe='! debugfs -R "stat /moved" $LWLOG_DEV 2>/dev/null | grep -q "Inode:"'
blkdiscard $replay
lwlog replay --end-mark mkfs $log $replay
lwlog check --start-mark mkfs --at fua,flush,mark --fsck "$probe" $log $replay 2>/tmp/check.err &&
	fail "check found no point with /moved"
want=$(sed -n 's/.*check failed after entry \([0-9]*\) .*/\1/p' /tmp/check.err)
blkdiscard $replay
lwlog replay --end-mark mkfs $log $replay
lwlog bisect --start-mark mkfs --at fua,flush,mark --fsck "$probe" $log $replay >/tmp/bisect.out 2>/dev/null &&
	fail "bisect found no failing point"
cat /tmp/bisect.out
got=$(sed -n 's/^first failing point: \([0-9]*\)@.*/\1/p' /tmp/bisect.out)
[ -n "$want" ] && [ "$got" = "$want" ] || fail "bisect says entry '$got', check says '$want'"
debugfs -R "stat /moved" $replay 2>/dev/null | grep -q Inode: || fail "bisect left another state than the failing one"
lwlog diff $log mark:mkfs "$got" >/tmp/diff.out || fail "diff mark:mkfs $got failed"
head -n 5 /tmp/diff.out
[ -s /tmp/diff.out ] || fail "diff lists no change between mkfs and entry $got"

step "never writing onto the log: the device, a dm device on it, a loop device of a log file"
# refused CMD...: exits 2 (1 as replay-log), says why, and the log is intact.
refused() {
	before=$(sha256sum <$log)
	"$@" >/tmp/refused.out 2>&1 && fail "not refused: $*"
	grep -q 'refusing to write anything' /tmp/refused.out || fail "no reason given by: $*"
	[ "$(sha256sum <$log)" = "$before" ] || fail "the log changed: $*"
}
dmsetup create onlog --table "0 $(sectors $log) linear $log 0"
dmsetup mknodes onlog
dmsetup create onlog2 --table "0 $(sectors /dev/mapper/onlog) linear /dev/mapper/onlog 0"
dmsetup mknodes onlog2
ln -s $log /tmp/log-link
refused lwlog replay $log $log
refused lwlog replay $log /tmp/log-link
refused lwlog replay $log /dev/mapper/onlog2
refused lwlog check --fsck true --at fua $log $replay --scratch /dev/mapper/onlog
refused lwlog crash-states --fsck true $log $replay --scratch $replay
ln -sf /usr/local/bin/lwlog /tmp/replay-log
refused /tmp/replay-log --log $log --replay /dev/mapper/onlog2
dmsetup remove onlog2
dmsetup remove onlog
# A log in a file, replayed onto the loop device over that file.
mkfs.ext4 -F -q $scratch && mount $scratch /mnt/fs
dd if=$log of=/mnt/fs/log.img bs=1M count=24 2>/dev/null
loopdev=$(losetup -f)
losetup $loopdev /mnt/fs/log.img
log_file_sum=$(sha256sum </mnt/fs/log.img)
lwlog replay /mnt/fs/log.img $loopdev >/tmp/refused.out 2>&1 && fail "replay onto its own loop device not refused"
grep -q 'refusing to write anything' /tmp/refused.out || fail "no reason given for the loop device"
[ "$(sha256sum </mnt/fs/log.img)" = "$log_file_sum" ] || fail "the log file changed"
# And a file on a filesystem is not the filesystem's device's log...
lwlog replay --end-mark mkfs /mnt/fs/log.img $replay >/dev/null 2>&1 ||
	fail "a replay that overlaps nothing was refused"
# ...but replaying onto the device that holds the log file is refused.
lwlog replay /mnt/fs/log.img $scratch >/tmp/refused.out 2>&1 && fail "replay onto the log file's filesystem device not refused"
grep -q 'refusing to write anything' /tmp/refused.out || fail "no reason given for the filesystem device"
losetup -d $loopdev
umount /mnt/fs
# Two linear volumes on one disk, as LVM makes them, are apart unless
# their sectors meet (xfstests users put LOGWRITES_DEV and SCRATCH_DEV in
# one volume group).
half=$(($(sectors $scratch) / 2))
dmsetup create vol1 --table "0 $half linear $scratch 0"
dmsetup create vol2 --table "0 $half linear $scratch $half"
dmsetup create vol3 --table "0 8 linear $scratch $((half - 8))"
dmsetup mknodes
dd if=$log of=/dev/mapper/vol1 bs=1M count=8 2>/dev/null
lwlog replay --end-sector $((half - 8192)) /dev/mapper/vol1 /dev/mapper/vol2 >/tmp/vol.out 2>&1 ||
	fail "a replay between two volumes apart was refused: $(cat /tmp/vol.out)"
lwlog replay /dev/mapper/vol1 /dev/mapper/vol3 >/tmp/vol.out 2>&1 && fail "replay onto a volume meeting the log's not refused"
grep -q "share sectors $((half - 8))..$half" /tmp/vol.out || fail "no sectors named: $(cat /tmp/vol.out)"
for v in vol3 vol2 vol1; do dmsetup remove $v; done

# Reading a live log: ours rewrites the super block at every mark, and at
# most a second after FUA entries (C after each FUA entry), so that
# lwlog, which drops the log device's stale cache, counts them soon.
step "a live log's super block catches up with FUA writes and marks"
blkdiscard $data
blkdiscard $log
load_target rust
create_lw lw $data $log
for i in 1 2 3 4 5; do
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4k count=1 seek=$i oflag=direct,dsync status=none
done
entries=$(dmsetup status lw | awk '{print $4}')
fua=$(lwlog list --flag fua $log | wc -l)
sleep 3
counted=$(lwlog info $log | awk '/super entries/ {print $3}')
[ "$counted" = "$entries" ] || fail "3 s after the last FUA write the super block counts $counted of $entries entries"
[ "$(lwlog list --flag fua $log | wc -l)" = 5 ] || fail "the writes were not logged as 5 FUA entries (first read: $fua)"
dmsetup message lw 0 mark live
counted=$(lwlog info $log | awk '/super entries/ {print $3}')
[ "$counted" = $((entries + 1)) ] || fail "after a mark the super block counts $counted, not $((entries + 1))"
dmsetup remove lw
unload_target rust
echo PASS
