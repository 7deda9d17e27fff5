# A group's order under hostile timing: two members of one group, each on
# its own data device, written at once (lw-workload block on each, plus
# dependent writes alternating between them, plus marks dropped on either
# member from another process), while one member's data device has flushes
# that take 150 ms, completes out of order (scsi_debug, random delays, four
# queues), fails writes and flushes for seconds at a time, or has its write
# cache switched off and on; while one member is suspended and resumed,
# reloaded with `append`, or removed and created again with `append`; and
# while one member's log device fills. After each run both logs must be
# true durability records and the group's order must agree with the block
# trace (lwlog group oracle: an entry durable for certain before another
# member's entry could be durable has the smaller number); the logs must
# verify as one group, and a member whose logging was not disabled must
# pass the full (not partial) oracle on its own.
#
# GROUP_FAULT_SEEDS (default "1") and GROUP_FAULT_SECONDS (default 5) size
# the runs; GROUP_FAULT_ONLY picks cases (see want below).
# vm-run: --disks 3 --disk-size 512M --memory 2G --timeout 1500
. /extra/guest.sh
seeds=${GROUP_FAULT_SEEDS:-1}
secs=${GROUP_FAULT_SECONDS:-5}
want() {
	case " ${GROUP_FAULT_ONLY:-slow reorder flaky cache suspend reload readd tiny-log} " in
	*" $1 "*) ;;
	*) return 1 ;;
	esac
}
load_target rust
insmod "$MODDIR/dm-flakey.ko"
MiB=2048
runs=0

# slice NAME DEV START SIZE: dm-linear over SIZE MiB of DEV from START MiB.
slice() {
	dmsetup create "$1" --table "0 $(($4 * MiB)) linear $2 $(($3 * MiB))"
	dmsetup mknodes "$1"
}
slice la /dev/vdb 0 200
slice lb /dev/vdb 200 200
# A log device that fills within a run: 24 MiB.
slice tiny /dev/vdb 400 24

# table NAME [OPTS...]: the table of member NAME (A over the probe pa and
# the log LOG_A, B over pb and LOG_B) in group g, with OPTS.
table() {
	_n=$1
	shift
	eval "_log=\$LOG_$_n"
	_p=/dev/mapper/p$(echo "$_n" | tr AB ab)
	echo "0 $(sectors $_p) log-writes $_p $_log $(($# + 1)) $* group:g"
}

# pingpong_start: a durable 4 KiB write to A, then one to B, then to A...:
# each is sent after the one before it became durable on the other member.
# Each holds its member's lock (dev_lock), which readd takes to remove B.
pingpong_start() {
	rm -f /tmp/stop-pingpong
	(
		i=0
		while [ ! -e /tmp/stop-pingpong ]; do
			for d in A B; do
				dev_lock $d || exit 1
				if [ -b /dev/mapper/$d ]; then
					head -c 4096 /dev/urandom |
						/usr/sbin/dd of=/dev/mapper/$d bs=4096 seek=$((i % 16)) oflag=direct,dsync status=none 2>/dev/null ||
						true # a failing device fails some on purpose
				fi
				dev_unlock $d
			done
			i=$((i + 1))
		done
		echo "$i rounds of dependent writes"
	) &
	pingpong_pid=$!
}
pingpong_stop() {
	touch /tmp/stop-pingpong
	wait "$pingpong_pid" || fail "the dependent writes stopped"
}

# churn_start KIND: meanwhile, every 0.7 s, suspend and resume A (suspend),
# reload A with append (reload), or remove B when its writer is done and
# create it again with append (readd, one cycle).
churn_start() {
	rm -f /tmp/stop-churn
	(
		n=0
		while [ ! -e /tmp/stop-churn ]; do
			sleep 0.7
			case $1 in
			suspend)
				dmsetup suspend A || exit 1
				dmsetup resume A || exit 1
				;;
			reload)
				dmsetup load A --table "$(table A append)" || exit 1
				dmsetup resume A || exit 1
				;;
			readd)
				[ -e /tmp/b-done ] || continue
				[ $n -ge 1 ] && continue
				# B gone while A goes on; then B back, in the
				# same group, at the same device number. Neither
				# marks nor dependent writes reach B meanwhile:
				# they hold its lock, and one open would make the
				# remove fail (EBUSY).
				dev_lock B || exit 1
				dmsetup remove B || exit 1
				sleep 0.5
				dmsetup create B -j "${b_devno%:*}" -m "${b_devno#*:}" \
					--table "$(table B append)" || exit 1
				dmsetup mknodes B
				[ "$(devno B)" = "$b_devno" ] || { echo "B came back as $(devno B)"; exit 1; }
				dev_unlock B
				head -c 65536 /dev/urandom |
					/usr/sbin/dd of=/dev/mapper/B bs=4096 seek=64 oflag=direct,dsync status=none || exit 1
				;;
			esac
			n=$((n + 1))
		done
		echo "$1: $n times"
	) &
	churn_pid=$!
}
churn_stop() {
	touch /tmp/stop-churn
	wait "$churn_pid" || fail "$1 failed"
}

# group_run LABEL DATA_A LOG_A DATA_B LOG_B SEED: the run; TOGGLE_CACHE=1
# switches A's probe's write cache meanwhile, CHURN=KIND churns a member
# (churn_start), FILL_A=1 writes to A until its log is full.
group_run() {
	label=$1 LOG_A=$3 LOG_B=$5 seed=$6
	step "$label, seed $seed"
	blkdiscard "$LOG_A"
	blkdiscard "$LOG_B"
	probe_dev pa "$2"
	probe_dev pb "$4"
	for d in A B; do
		dmsetup create $d --table "$(table $d)"
		dmsetup mknodes $d
	done
	oracle_start A pa B pb
	tops="$(devno A) $(devno pa) $(devno B) $(devno pb)"
	b_devno=$(devno B)
	rm -rf /tmp/b-done /tmp/lock-*
	marks_start A B
	pingpong_start
	[ "${TOGGLE_CACHE:-0}" = 1 ] && cache_toggle_start pa
	[ -n "${CHURN:-}" ] && churn_start "$CHURN"
	lw-workload block /dev/mapper/A --threads 2 --seconds "$secs" --max-io 131072 \
		--max-bytes $((100 << 20)) --seed "$seed" --keep-going --fua-over-unflushed >/tmp/wa.out 2>&1 &
	wa=$!
	# B's writer stops earlier when B is to be removed meanwhile.
	b_secs=$secs
	[ "${CHURN:-}" = readd ] && b_secs=$((secs / 2))
	lw-workload block /dev/mapper/B --threads 2 --seconds "$b_secs" --max-io 131072 \
		--max-bytes $((100 << 20)) --seed $((seed + 100)) --keep-going --fua-over-unflushed >/tmp/wb.out 2>&1 ||
		{ cat /tmp/wb.out; fail "the workload on B failed"; }
	touch /tmp/b-done
	wait $wa || { cat /tmp/wa.out; fail "the workload on A failed"; }
	# A log meant to fill that has not yet (a slow machine): fill it.
	if [ "${FILL_A:-0}" = 1 ] && ! dmsetup status A | grep -q logging_disabled; then
		/usr/sbin/dd if=/dev/urandom of=/dev/mapper/A bs=1M count=32 oflag=direct conv=fsync status=none ||
			fail "filling A's log failed"
	fi
	[ -n "${CHURN:-}" ] && churn_stop "$CHURN"
	[ "${TOGGLE_CACHE:-0}" = 1 ] && cache_toggle_stop
	pingpong_stop
	marks_stop
	# Whether a member's logging was disabled, once suspended: its drain
	# logs the writes still waiting for a flush, which may fill the log.
	full=
	for d in A B; do
		dmsetup suspend $d
		case $(dmsetup status $d) in
		*logging_disabled*) ;;
		*) full="$full $d" ;;
		esac
	done
	dmsetup remove A B
	oracle_stop
	set -- $tops
	if [ "$full" = " A B" ]; then
		oracle_check_group "$LOG_A" "$1" "$2" "$LOG_B" "$3" "$4"
	else
		echo "logging disabled on a member: the group oracle on what was logged"
		oracle_check_group --partial "$LOG_A" "$1" "$2" "$LOG_B" "$3" "$4"
		for d in $full; do
			eval "_log=\$LOG_$d"
			if [ $d = A ]; then ORACLE_TOP=$1 ORACLE_PROBE=$2; else ORACLE_TOP=$3 ORACLE_PROBE=$4; fi
			oracle_check "$_log"
		done
		[ -n "$full" ] || fail "logging was disabled on both members"
	fi
	lwlog group verify "$LOG_A" "$LOG_B" >/dev/null || fail "the members' logs are not one group's"
	dmsetup remove pa pb
	runs=$((runs + 1))
}

dmesg -c >/dev/null
if want slow; then
	slow_flush_dev slow /dev/vda 150
	for s in $seeds; do group_run "A's flushes slowed by 150 ms" /dev/mapper/slow /dev/mapper/la /dev/vdc /dev/mapper/lb "$s"; done
	dmsetup remove slow
fi
if want reorder; then
	sd=$(reorder_disk 256 3000000)
	slow_flush_dev slow /dev/vda 40
	for s in $seeds; do
		group_run "A reordered (scsi_debug), B's flushes slowed by 40 ms" "$sd" /dev/mapper/la /dev/mapper/slow /dev/mapper/lb "$s"
	done
	dmsetup remove slow
	rmmod scsi_debug
fi
if want flaky; then
	flaky_dev flaky /dev/vda 2 1
	for s in $seeds; do group_run "A's writes and flushes failing 1 s in 3" /dev/mapper/flaky /dev/mapper/la /dev/vdc /dev/mapper/lb "$s"; done
	dmsetup remove flaky
fi
if want cache; then
	for s in $seeds; do TOGGLE_CACHE=1 group_run "A's write cache switched off and on" /dev/vda /dev/mapper/la /dev/vdc /dev/mapper/lb "$s"; done
fi
if want suspend; then
	slow_flush_dev slow /dev/vda 40
	for s in $seeds; do CHURN=suspend group_run "A suspended and resumed, flushes slowed by 40 ms" /dev/mapper/slow /dev/mapper/la /dev/vdc /dev/mapper/lb "$s"; done
	dmsetup remove slow
fi
if want reload; then
	slow_flush_dev slow /dev/vda 40
	for s in $seeds; do CHURN=reload group_run "A reloaded with append, flushes slowed by 40 ms" /dev/mapper/slow /dev/mapper/la /dev/vdc /dev/mapper/lb "$s"; done
	dmsetup remove slow
fi
if want readd; then
	slow_flush_dev slow /dev/vda 40
	for s in $seeds; do CHURN=readd group_run "B removed and created again with append" /dev/mapper/slow /dev/mapper/la /dev/vdc /dev/mapper/lb "$s"; done
	dmsetup remove slow
fi
if want tiny-log; then
	for s in $seeds; do FILL_A=1 group_run "A's log device fills (24 MiB)" /dev/vda /dev/mapper/tiny /dev/vdc /dev/mapper/lb "$s"; done
	dmesg | grep -q "Ran out of space on the logdev" || fail "no kernel message about the full log"
fi
dmsetup remove la lb tiny
unload_target rust
echo "$runs runs checked by the group oracle"
echo PASS
