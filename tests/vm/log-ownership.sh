# Tables loaded, replaced and removed at the worst moments must never write
# over a log that is not theirs, and nothing a flush made durable may be
# missing from the final log:
# 1. a table loaded next to a live one and then cleared (never resumed)
#    leaves the live log untouched;
# 2. a table replaced by another on the same log device (reload + resume)
#    does not write its end mark into the new table's log;
# 3. the same with the new table continuing the log (`1 append`) while the
#    old one logged more entries after the reload: nothing is overwritten;
# 4. remove while the target's own flush is slow and in flight: every write
#    that flush made durable is in the log (checked by the oracle);
# 5. `append` refuses a log whose super block lags behind valid entries
#    (a crash copy) instead of overwriting them;
# 6. an `append` walk over a hostile log of a million counted entries can be
#    interrupted and is refused;
# 7. marks sent while a reload with `1 append` resumes (the new table is
#    live but has not found the log's end yet: its walk of a long log takes
#    a while) are either refused with EAGAIN or in the log, in order, and
#    nothing the old table logged after the reload is overwritten.
# Each also runs on the C target where it shows a difference (README).
# vm-run: --disks 4 --disk-size 128M --timeout 900
. /extra/guest.sh
data=/dev/vda log=/dev/vdb replay=/dev/vdc spare=/dev/vdd
n=$(sectors $data)
head -c 4194304 /dev/urandom >/tmp/pattern

# write SEEK COUNT [FLAGS]: 4 KiB O_DIRECT writes to lw.
write() {
	/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=4K count="$2" seek="$1" skip="$1" oflag=direct${3:+,$3} status=none
}

load_target rust

step "1. a loaded, never resumed table leaves the live log alone"
blkdiscard $data
blkdiscard $log
create_lw lw $data $log
write 0 16 dsync
dmsetup message lw 0 mark one
settle lw
before=$(sum $log 4194304)
dmsetup reload lw --table "0 $n log-writes $data $log"
dmsetup clear lw
after=$(sum $log 4194304)
[ "$before" = "$after" ] || fail "a cleared, never resumed table wrote to the live log"
# The same reload, never resumed, then the device removed.
dmsetup reload lw --table "0 $n log-writes $data $log"
write 100 8
sync /dev/mapper/lw
dmsetup remove lw
lwlog verify $log || fail "the live log does not verify after remove"
[ "$(lwlog list --flag mark $log | grep -c dm-log-writes-end)" = 1 ] || fail "expected exactly one end mark"

step "2. a replaced table does not write into its successor's log"
blkdiscard $data
blkdiscard $log
create_lw lw $data $log
write 0 64
sync /dev/mapper/lw
dmsetup message lw 0 mark old
dmsetup reload lw --table "0 $n log-writes $data $log"
dmsetup resume lw
write 200 8 dsync
sum /dev/mapper/lw >/tmp/new.sum
dmsetup message lw 0 mark new
dmsetup remove lw
lwlog verify $log || fail "the new table's log does not verify"
lwlog list --flag mark $log
[ "$(lwlog list --flag mark $log | sed 's/.*mark "\([^"]*\)"/\1/' | tr '\n' ' ')" = "new dm-log-writes-end " ] ||
	fail "the new log's marks are not exactly: new, end"
blkdiscard $replay
lwlog replay --end-mark new $log $replay
[ "$(sum $replay 819200)" = "$(head -c 819200 /dev/zero | sha256sum | cut -d' ' -f1)" ] ||
	fail "the new log replays writes it never saw"

step "3. reload with append while the old table keeps logging"
blkdiscard $data
blkdiscard $log
create_lw lw $data $log
write 0 32 dsync
dmsetup message lw 0 mark first
dmsetup reload lw --table "0 $n log-writes $data $log 1 append"
# The old table is still live: these entries land after the walk the new
# table's constructor made.
write 300 32 dsync
dmsetup message lw 0 mark second
dmsetup resume lw
write 600 16 dsync
sync /dev/mapper/lw
sum /dev/mapper/lw >/tmp/third.sum
dmsetup message lw 0 mark third
dmsetup remove lw
lwlog verify $log || fail "the appended log does not verify"
marks=$(lwlog list --flag mark $log | sed 's/.*mark "\([^"]*\)"/\1/' | tr '\n' ' ')
echo "marks: $marks"
[ "$marks" = "first second third dm-log-writes-end " ] || fail "marks are not first second third end: $marks"
replay_matches $log $replay $data "" "the appended log"

step "4. remove while the target's own flush is slow and in flight"
blkdiscard $data
blkdiscard $log
slow_flush_dev slow $data 1500
probe_dev probe /dev/mapper/slow
dmsetup create lw --table "0 $n log-writes /dev/mapper/probe $log 1 max_held_mb:4"
dmsetup mknodes lw
oracle_start lw probe
# 6 MiB of plain writes: past half the bound the target flushes the data
# device itself, and the flush takes 1.5 s; remove at once.
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=64K count=64 oflag=direct status=none
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=64K count=32 seek=64 oflag=direct status=none
dmsetup remove lw
oracle_stop
oracle_check $log
logged=$(lwlog list $log | grep -vc 'FLUSH\|MARK' || true)
echo "data entries logged: $logged"
[ "$logged" = 96 ] || fail "$logged of 96 writes in the log"
dmsetup remove probe
dmsetup remove slow

step "5. append refuses a log whose super block lags behind its entries"
blkdiscard $data
blkdiscard $log
create_lw lw $data $log
write 0 8 dsync
dmsetup message lw 0 mark counted
write 100 8
sync /dev/mapper/lw
settle lw
# What a power cut now would leave: the super block counts up to the mark,
# the flushed entries after it are on the log device.
/usr/sbin/dd if=$log of=$spare bs=1M count=8 iflag=direct oflag=direct status=none
dmsetup remove lw
before=$(sum $spare 8388608)
dmesg -c >/dev/null
dmsetup create lw2 --table "0 $n log-writes $data $spare 1 append" 2>/dev/null &&
	fail "append over a log with entries past its super block count was accepted"
dmesg | grep "log-writes" | tail -n 3
dmesg | grep -q "super block lags" || fail "no kernel message naming the lagging super block"
[ "$(sum $spare 8388608)" = "$before" ] || fail "the refused append changed the log"

step "6. a hostile append walk can be interrupted"
# A super block counting a million entries, each a valid 1-sector header.
blkdiscard $spare
blkdiscard $log
create_lw lw $data $log
dmsetup remove lw
/usr/sbin/dd if=$log of=/tmp/super bs=512 count=1 iflag=direct status=none
# nr_entries (bytes 16..23) = 1000000; then discard headers at every sector.
printf '\100\102\017\000' | /usr/sbin/dd of=/tmp/super bs=1 seek=16 conv=notrunc status=none
/usr/sbin/dd if=/tmp/super of=$spare bs=512 count=1 oflag=direct status=none
printf '\000\000\000\000\000\000\000\000\010\000\000\000\000\000\000\000\004' >/tmp/hdr
head -c 495 /dev/zero >>/tmp/hdr
for _ in $(seq 32); do cat /tmp/hdr; done >/tmp/hdr32
for _ in $(seq 64); do cat /tmp/hdr32; done >/tmp/hdr2k
/usr/sbin/dd if=/tmp/hdr2k of=/tmp/hdr1m bs=1M count=1 status=none
i=0
while [ $i -lt 120 ]; do
	/usr/sbin/dd if=/tmp/hdr1m of=$spare bs=1M seek=$((512 + i * 1048576)) oflag=direct,seek_bytes status=none
	i=$((i + 1))
done
dmsetup create lw3 --notable
start=$(date +%s)
timeout -s INT 2 dmsetup load lw3 --table "0 $n log-writes $data $spare 1 append" 2>/dev/null &&
	fail "append over a hostile log was accepted"
took=$(($(date +%s) - start))
dmsetup remove lw3
echo "refused after ${took}s"
[ $took -le 6 ] || fail "the append walk was not interrupted ($took s)"

step "7. marks while a reload with append resumes"
blkdiscard $data
blkdiscard $log
create_lw lw $data $log
# 8192 entries: the new table's walk reads each header, which takes long
# enough for many marks to arrive meanwhile.
/usr/sbin/dd if=/tmp/pattern of=/dev/mapper/lw bs=512 count=8192 oflag=direct conv=fsync status=none
dmsetup message lw 0 mark filled
dmsetup reload lw --table "0 $n log-writes $data $log 1 append"
# Logged by the old table after the new one's constructor walked the log.
write 300 32 dsync
dmsetup message lw 0 mark before-resume
dmsetup resume lw &
resume_pid=$!
accepted= refused=0 i=0
while kill -0 $resume_pid 2>/dev/null; do
	if dmsetup message lw 0 mark "r$i" 2>/tmp/mark.err; then
		accepted="$accepted r$i"
	elif grep -q "Resource temporarily unavailable" /tmp/mark.err; then
		refused=$((refused + 1))
	else
		fail "mark r$i failed: $(cat /tmp/mark.err)"
	fi
	i=$((i + 1))
done
wait $resume_pid || fail "resume with append failed"
[ $i -gt 0 ] || fail "no mark was sent while the resume ran"
write 600 16 dsync
dmsetup message lw 0 mark last
dmsetup remove lw
echo "marks during the resume: $(echo $accepted | wc -w) accepted, $refused refused"
lwlog verify $log || fail "the log does not verify after marks during the resume"
marks=$(lwlog list --flag mark $log | sed 's/.*mark "\([^"]*\)"/\1/' | tr '\n' ' ')
[ "$marks" = "filled before-resume$accepted last dm-log-writes-end " ] ||
	fail "marks in the log: '$marks'; accepted: 'filled before-resume$accepted last dm-log-writes-end'"
replay_matches $log $replay $data "" "the log with marks during the resume"

unload_target rust
echo PASS
