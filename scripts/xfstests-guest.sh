# Inside the VM (scripts/xfstests): loads one log-writes target, runs
# xfstests' ./check in a chroot of the root filesystem image on
# XFSTESTS_TESTS, and prints a line per test and a summary.
# TEST_DEV=/dev/vda, SCRATCH_DEV=/dev/vdb, LOGWRITES_DEV=/dev/vdc; tests
# that need DAX (generic/470) get /dev/pmem0 as SCRATCH_DEV.
set -u
R=/xroot
say() { echo "xfstests: $*"; }

mkdir -p $R
mount -t ext4 "$VM_ROOTFS" $R || {
	echo "FAIL: cannot mount the root filesystem $VM_ROOTFS"
	exit 1
}
# What udev or systemd would have made: bash's <(...) needs /dev/fd.
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
for d in proc sys dev; do mount -o rbind /$d $R/$d; done
mount -t tmpfs tmpfs $R/tmp
mount -t tmpfs tmpfs $R/run
# udev makes the /dev/mapper names that dmsetup and the tests use.
chroot $R /lib/systemd/systemd-udevd --daemon || {
	echo "FAIL: systemd-udevd did not start"
	exit 1
}
chroot $R udevadm trigger --action=add >/dev/null 2>&1
chroot $R udevadm settle -t 30 || echo "udevadm settle timed out (going on)"

case $XFSTESTS_TARGET in
rust) insmod "$LOGWRITES_RUST_KO" ;;
c) insmod "$LOGWRITES_C_KO" ;;
esac || {
	echo "FAIL: cannot load the $XFSTESTS_TARGET target"
	exit 1
}

X=$R/xfstests
# REPLAY_LOG=lwlog: lwlog takes replay-log's place (the image's changes are
# discarded when the VM ends).
if [ "${XFSTESTS_REPLAY_LOG:-xfstests}" = lwlog ]; then
	cp /usr/local/bin/lwlog $X/src/log-writes/replay-log || {
		echo "FAIL: cannot put lwlog in replay-log's place"
		exit 1
	}
	say "replay-log is lwlog: $(chroot $R /xfstests/src/log-writes/replay-log 2>&1 | head -n1)"
fi
fstyp=$XFSTESTS_FSTYP
mkfs_test() {
	case $fstyp in
	ext4) chroot $R mkfs.ext4 -F -q /dev/vda ;;
	xfs) chroot $R mkfs.xfs -f -q /dev/vda ;;
	btrfs) chroot $R mkfs.btrfs -f -q /dev/vda >/dev/null ;;
	esac
}

# run_check SCRATCH TESTS...: ./check with SCRATCH as SCRATCH_DEV.
run_check() {
	scratch=$1
	shift
	cat >$X/local.config <<EOF
export FSTYP=$fstyp
export TEST_DEV=/dev/vda
export TEST_DIR=/mnt/test
export SCRATCH_DEV=$scratch
export SCRATCH_MNT=/mnt/scratch
export LOGWRITES_DEV=/dev/vdc
EOF
	for v in LOAD_FACTOR TIME_FACTOR SOAK_DURATION; do
		eval "val=\${$v:-}"
		[ -n "$val" ] && echo "export $v=$val" >>$X/local.config
	done
	chroot $R /bin/bash -c "cd /xfstests && ./check $*"
}

mkfs_test || {
	echo "FAIL: mkfs.$fstyp on TEST_DEV failed"
	exit 1
}
dax=
plain=
for t in $XFSTESTS_TESTS; do
	case $t in generic/470) dax="$dax $t" ;; *) plain="$plain $t" ;; esac
done
[ -n "$plain" ] && run_check /dev/vdb $plain
if [ -n "$dax" ]; then
	if [ -b /dev/pmem0 ]; then
		run_check /dev/pmem0 $dax
	else
		run_check /dev/vdb $dax
	fi
fi

pass=0 failed=0 notrun=0
for t in $XFSTESTS_TESTS; do
	r=$X/results/$t
	if [ -f "$r.notrun" ]; then
		say "$t $fstyp $XFSTESTS_TARGET notrun: $(cat "$r.notrun")"
		notrun=$((notrun + 1))
	elif [ -f "$r.out.bad" ] || ! grep -q "^$t " $X/results/check.time 2>/dev/null; then
		say "$t $fstyp $XFSTESTS_TARGET fail"
		if [ -f "$r.out.bad" ]; then
			diff -u "$X/tests/$t.out" "$r.out.bad" | head -n 40
		fi
		[ -f "$r.full" ] && { echo "--- tail of $t.full"; tail -n 25 "$r.full"; }
		[ -f "$r.dmesg" ] && { echo "--- $t.dmesg"; tail -n 25 "$r.dmesg"; }
		failed=$((failed + 1))
	else
		say "$t $fstyp $XFSTESTS_TARGET pass $(awk -v t="$t" '$1 == t {print $2}' $X/results/check.time)s"
		pass=$((pass + 1))
	fi
done
say "summary: $pass passed, $failed failed, $notrun not run ($fstyp, target $XFSTESTS_TARGET, replay-log from ${XFSTESTS_REPLAY_LOG:-xfstests})"
chroot $R udevadm control --exit 2>/dev/null
umount $R/tmp $R/run 2>/dev/null
[ "$failed" = 0 ]
