# The whole loop on real filesystems: a seeded parallel file workload
# (lw-workload files: create, write, fsync, fdatasync, rename, unlink,
# truncate, hard links, directories) on ext4 over our target, with a mark and
# a manifest (names and checksums) after each phase. Then the log is replayed
# to every FUA and FLUSH point and every mark: each state must mount
# (journal recovery), unmount and pass e2fsck -fn, and at each mark the tree
# must equal its manifest. The same run on the C target is the control.
# The durability oracle checks every log against the block trace of the
# log-writes device and of fsdata, the device below it.
# ext2 (no journal) is the negative control: between sync points its states
# must fail e2fsck (so the check can find damage), while at the marks, after
# sync, they pass.
# FS_OPS (per thread and phase), FS_PHASES, FS_SEED and FS_MAX_CHECKS
# (0 = every point) change the run.
# vm-run: --disks 2 --disk-size 512M --timeout 3000
. /extra/guest.sh
# Small data, replay and scratch devices (64 MiB slices of vda) keep each
# check short: lwlog copies the replayed state to scratch and e2fsck reads
# the whole filesystem. The log gets all of vdb.
for s in 0:data 1:replay 2:scratch; do
	dmsetup create "fs${s#*:}" --table "0 131072 linear /dev/vda $((${s%%:*} * 131072))"
	dmsetup mknodes "fs${s#*:}"
done
data=/dev/mapper/fsdata replay=/dev/mapper/fsreplay scratch=/dev/mapper/fsscratch log=/dev/vdb
ops=${FS_OPS:-30} phases=${FS_PHASES:-3} seed=${FS_SEED:-1} max_checks=${FS_MAX_CHECKS:-0}
mkdir -p /mnt/fs /mnt/chk /tmp/manifests

# The check lwlog runs at each point, with LWLOG_DEV, LWLOG_FLAGS and
# LWLOG_MARK set: "point ext4|ext2", or "manifest DIR" to print a tree's
# names and contents.
cat >/tmp/fscheck.sh <<'EOF'
. /extra/guest.sh
set +e
if [ "$1" = manifest ]; then
	tree_manifest "$2"
	exit
fi
fstype=$2
m=/tmp/manifests/$LWLOG_MARK
case $LWLOG_FLAGS in
*MARK*)
	[ -f "$m" ] || exit 0 # a mark without a manifest (mkfs, the end mark)
	mount -t "$fstype" -o noatime "$LWLOG_DEV" /mnt/chk || exit 1
	tree_manifest /mnt/chk >/tmp/manifest.now
	umount /mnt/chk || exit 1
	cmp -s /tmp/manifest.now "$m" || {
		echo "the tree at mark $LWLOG_MARK differs from its manifest"
		diff "$m" /tmp/manifest.now | head -20
		exit 1
	}
	touch "$m.checked"
	;;
*)
	if [ "$fstype" = ext4 ]; then
		mount -t ext4 "$LWLOG_DEV" /mnt/chk && umount /mnt/chk || exit 1
	fi
	;;
esac
e2fsck -fn "$LWLOG_DEV" >/tmp/fsck.out 2>&1 || {
	head -20 /tmp/fsck.out
	exit 1
}
EOF

# run_workload IMPL FSTYPE: log mkfs and the phases of the workload.
run_workload() {
	impl=$1 fstype=$2
	step "$fstype on the $impl target: $phases phases of 4 threads x $ops operations"
	blkdiscard $data
	blkdiscard $log
	rm -f /tmp/manifests/*
	load_target "$impl"
	create_lw lw $data $log
	oracle_start lw fsdata
	mkfs."$fstype" -q -E nodiscard /dev/mapper/lw
	oracle_mark lw mkfs
	mount -t "$fstype" -o noatime /dev/mapper/lw /mnt/fs
	for p in $(seq "$phases"); do
		lw-workload files /mnt/fs --threads 4 --ops "$ops" --max-file 131072 --seed $((seed * 1000 + p))
		sync
		# sync writes ext2's metadata buffers after its last flush, so they
		# are not durable yet (and not logged); fsync of the device flushes.
		# ext4's journal commit makes sync alone durable.
		[ "$fstype" = ext2 ] && sync /dev/mapper/lw
		sh /tmp/fscheck.sh manifest /mnt/fs >/tmp/manifests/phase$p
		oracle_mark lw phase$p
	done
	umount /mnt/fs
	dmsetup status lw
	dmsetup remove lw
	unload_target "$impl"
	oracle_stop
	[ "$impl" = rust ] && oracle_check $log
	lwlog verify $log || fail "the $impl log does not verify"
	lwlog info $log | grep -E 'entries|bytes used'
	echo "FUA or FLUSH entries after mkfs: $(lwlog list --from-mark mkfs --flag fua --flag flush $log | wc -l)"
}

# check_log_at FSTYPE AT [LIMIT]: replay to mark mkfs, then check at AT
# points (at most LIMIT of them).
check_log_at() {
	blkdiscard $replay
	lwlog replay --end-mark mkfs $log $replay 2>/dev/null
	# shellcheck disable=SC2086
	lwlog check --start-mark mkfs --at "$2" ${3:+--max-checks $3} --scratch $scratch \
		--fsck "sh /tmp/fscheck.sh point $1" $log $replay
}

# check_log FSTYPE AT: check_log_at, with FS_MAX_CHECKS if set; the marks,
# where trees are compared with their manifests, are all checked even then
# (a sample could miss them).
check_log() {
	if [ "$max_checks" -gt 0 ] && [ "$2" != mark ]; then
		case $2 in
		*mark*) check_log_at "$1" mark || return 1 ;;
		esac
		check_log_at "$1" "$(echo "$2" | sed 's/,mark//; s/mark,//')" "$max_checks"
	else
		check_log_at "$1" "$2"
	fi
}

# every_mark_checked: each phase's manifest was compared.
every_mark_checked() {
	for p in $(seq "$phases"); do
		[ -f /tmp/manifests/phase$p.checked ] || fail "mark phase$p was not checked"
	done
}

for impl in rust c; do
	run_workload $impl ext4
	start=$(date +%s)
	check_log ext4 fua,flush,mark ||
		fail "a replayed ext4 state from the $impl target is damaged"
	echo "checked in $(($(date +%s) - start)) s"
	every_mark_checked
done

run_workload rust ext2
step "negative control: ext2 states between sync points must fail e2fsck"
set +e
check_log ext2 fua,flush >/tmp/check.out 2>&1
rc=$?
set -e
cat /tmp/check.out
[ $rc = 5 ] || fail "no ext2 state failed e2fsck (exit $rc): the check cannot find damage"
grep -q 'check failed after entry' /tmp/check.out || fail "lwlog did not say which state failed"
step "ext2 at the marks (after sync and a device flush) is clean"
check_log ext2 mark || fail "ext2 is damaged at a mark"
every_mark_checked
dmsetup remove fsdata fsreplay fsscratch
echo PASS
