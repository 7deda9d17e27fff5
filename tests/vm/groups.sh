# Groups of log-writes devices (the group:<name> table option): one order
# of durability events across several logs.
# 1. The option (echoed by dmsetup table, bad names refused), the shorter
#    marks of a grouped log, a mark on one member naming one instant of the
#    whole group, append to a group's logs (and refused across groups), and
#    the order: a write submitted after a write to another member became
#    durable comes later in the group's order (dependent writes, alternating
#    between members), members written at once keep a valid group; the
#    logs and the group's order pass the durability oracle (lwlog group
#    oracle: an entry durable for certain before another member's entry
#    could be durable has the smaller number).
# 2. Filesystems on two members of one group: XFS with an external log,
#    ext4 with an external journal and btrfs RAID1 (data and metadata
#    mirrored on both), each running a seeded file workload with group
#    marks and a manifest of the tree at each. Each member's log, and the
#    group's order, pass the durability oracle; lwlog group check replays
#    both logs together, group point by group point, and every state must
#    mount (log recovery across both devices) and pass the filesystem's
#    checker (xfs_repair -n, e2fsck -fn, a read-only scrub of both
#    mirrors), and at each mark the tree must equal its manifest; and
#    crash states across both devices (what was durable at a group point
#    plus some of each device's cached writes) must check clean too.
# 3. Negative control: the same logs replayed to independent points, as one
#    log per device allows, must give a state the checker rejects.
# GROUP_MAX_CHECKS bounds the FUA and flush points checked per filesystem
# (default 25), GROUP_CRASH_STATES the crash states (default 8); GROUP_FS
# picks filesystems (default "xfs ext4 btrfs").
# vm-run: --disks 2 --disk-size 2G --timeout 3000
. /extra/guest.sh

MiB=2048
max_checks=${GROUP_MAX_CHECKS:-25}
crash_states=${GROUP_CRASH_STATES:-8}
# slice NAME DEV START SIZE: dm-linear over SIZE MiB of DEV from START MiB.
slice() {
	dmsetup create "$1" --table "0 $(($4 * MiB)) linear $2 $(($3 * MiB))"
	dmsetup mknodes "$1"
}
# member NAME DATA LOG GROUP [OPTS...]: a log-writes device in GROUP.
member() {
	_n=$1 _d=$2 _l=$3 _g=$4
	shift 4
	dmsetup create "$_n" --table "0 $(sectors "$_d") log-writes $_d $_l $(($# + 1)) $* group:$_g"
	dmsetup mknodes "$_n"
}
# pattern CHAR: 4 KiB of CHAR.
pattern() { head -c 4096 /dev/zero | tr '\0' "$1"; }
# write_durable DEV BLOCK CHAR: 4 KiB of CHAR at 4 KiB block BLOCK of DEV,
# durable when it returns.
write_durable() {
	pattern "$3" | /usr/sbin/dd of="$1" bs=4096 seek="$2" oflag=direct,dsync status=none
}
# block_is DEV BLOCK CHAR: block BLOCK of DEV holds CHAR.
block_is() {
	[ "$(/usr/sbin/dd if="$1" bs=4096 skip="$2" count=1 iflag=direct status=none | sha256sum)" = \
		"$(pattern "$3" | sha256sum)" ]
}

load_target rust
slice da /dev/vda 0 64
slice db /dev/vda 64 64
slice ra /dev/vda 128 64
slice rb /dev/vda 192 64
slice la /dev/vdb 0 256
slice lb /dev/vdb 256 256
la=/dev/mapper/la lb=/dev/mapper/lb

step "the group option: echoed, bad names refused"
for bad in "group:" "group:bad/name" "group:$(printf 'n%.0s' $(seq 65))" "group:a:b"; do
	dmsetup create bad --table "0 $((64 * MiB)) log-writes /dev/mapper/da $la 1 $bad" 2>/dev/null &&
		fail "table option '$bad' accepted"
done
dmsetup create bad --table "0 $((64 * MiB)) log-writes /dev/mapper/da $la 2 group:g group:h" \
	2>/dev/null && fail "two group options accepted"
dmesg | grep -q "Invalid group name 'bad/name'" || fail "the kernel log does not name the bad group name"
member A /dev/mapper/da $la g
member B /dev/mapper/db $lb g
# The block trace of both members and the devices below them: each log,
# and the group's order, against what really happened.
oracle_start A da B db
tops="$(devno A) $(devno da) $(devno B) $(devno db)"
dmsetup table A | grep -q " 1 group:g\$" || fail "dmsetup table does not echo the group: $(dmsetup table A)"

step "marks of a grouped log are 24 bytes shorter"
dmsetup message A 0 mark "$(printf 'm%.0s' $(seq 455))" || fail "a 455-byte mark was refused"
dmsetup message A 0 mark "$(printf 'm%.0s' $(seq 456))" 2>/dev/null && fail "a 456-byte mark was accepted"

step "a mark on one member names one instant of the whole group"
write_durable /dev/mapper/B 100 x
dmsetup message A 0 mark between
write_durable /dev/mapper/B 100 y

step "dependent writes, alternating between members"
rounds=40
for i in $(seq 0 $((rounds - 1))); do
	write_durable /dev/mapper/A "$i" a
	write_durable /dev/mapper/B "$i" b
done

step "both members written at once"
pids=
for d in A B; do
	(
		for i in $(seq 200); do
			if [ $((i % 7)) = 0 ]; then
				# The write, then a flush (fsync of the device).
				pattern c | /usr/sbin/dd of=/dev/mapper/$d bs=4096 seek=$((200 + i % 50)) conv=fsync status=none
			else
				pattern c | /usr/sbin/dd of=/dev/mapper/$d bs=4096 seek=$((200 + i % 50)) oflag=direct status=none
			fi || exit 1
		done
	) &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "writing to both members at once failed"; done
dmsetup remove A B
oracle_stop
set -- $tops
oracle_check_group $la "$1" "$2" $lb "$3" "$4"

lwlog group verify $la $lb || fail "the members' logs are not one group's"
# Each dependent write comes after the one it depended on: A's block i,
# then B's block i, then A's block i + 1.
lwlog group list $la $lb | awk -v rounds=$rounds '
	$2 ~ /:/ && $6 == "4096," {
		split($2, m, ":"); sector = $4 + 0
		if (sector % 8 == 0 && sector / 8 < rounds) seq[m[1], sector / 8] = $1
	}
	END {
		for (i = 0; i < rounds; i++) {
			if (!((0, i) in seq) || !((1, i) in seq)) { print "block " i " missing"; exit 1 }
			if (seq[0, i] >= seq[1, i]) { print "B block " i " before A block " i; exit 1 }
			if (i + 1 < rounds && seq[1, i] >= seq[0, i + 1]) { print "A block " i + 1 " before B block " i; exit 1 }
		}
	}' || fail "the group order does not follow the dependent writes"
echo "group order follows $rounds rounds of dependent writes"

blkdiscard /dev/mapper/ra
blkdiscard /dev/mapper/rb
lwlog group replay --log $la --target /dev/mapper/ra --log $lb --target /dev/mapper/rb \
	--to mark:between || fail "group replay to the mark failed"
block_is /dev/mapper/rb 100 x || fail "at the mark on A, B does not hold what it held then"
lwlog group replay --log $la --target /dev/mapper/ra --log $lb --target /dev/mapper/rb ||
	fail "group replay to the end failed"
block_is /dev/mapper/rb 100 y || fail "at the end, B does not hold its last write"

step "append: a group's logs continue its order"
dmsetup create A --notable
dmsetup create B --notable
# Every member is loaded before any resumes: then the group continues after
# the last number of every log.
dmsetup load A --table "0 $((64 * MiB)) log-writes /dev/mapper/da $la 2 append group:g"
dmsetup load B --table "0 $((64 * MiB)) log-writes /dev/mapper/db $lb 2 append group:g"
dmsetup resume A
dmsetup resume B
dmsetup mknodes A
dmsetup mknodes B
write_durable /dev/mapper/B 300 d
write_durable /dev/mapper/A 300 e
dmsetup remove A B
lwlog group verify $la $lb || fail "appending broke the group's order"
for opts in "1 append" "2 append group:h"; do
	dmsetup create A --table "0 $((64 * MiB)) log-writes /dev/mapper/da $la $opts" 2>/dev/null &&
		fail "append to a log of group g with '$opts' accepted"
done
dmesg | grep -q "append: the log is of group g, the table of group h" ||
	fail "the kernel log does not say why the append was refused"
# Breaking that rule: B resumed alone numbers events below the end of
# A's log, which nothing loaded knew of. A's table, loaded then, is refused
# and says why, and lwlog finds the two logs no longer one order. A's log
# is made to end well after B's (five marks), then B goes on alone.
dmsetup create A --table "0 $((64 * MiB)) log-writes /dev/mapper/da $la 2 append group:g"
for i in 1 2 3 4 5; do dmsetup message A 0 mark "a$i"; done
dmsetup remove A
dmsetup create B --table "0 $((64 * MiB)) log-writes /dev/mapper/db $lb 2 append group:g"
dmsetup mknodes B
write_durable /dev/mapper/B 301 f
dmsetup create A --table "0 $((64 * MiB)) log-writes /dev/mapper/da $la 2 append group:g" 2>/dev/null &&
	fail "append below the group's later events accepted"
dmesg | grep -q "append: group g numbered events up to [0-9]* since its members were loaded, below this log's last number" ||
	fail "the kernel log does not say why the late append was refused"
dmsetup remove B
lwlog group verify $la $lb 2>/tmp/verify.err && fail "lwlog accepts a group whose member went on alone"
grep -q "is taken twice" /tmp/verify.err || fail "lwlog group verify: $(cat /tmp/verify.err)"
dmsetup remove da db ra rb la lb

# ---- filesystems on two members
# The check run at each group point: mount both devices (recovery), compare
# the tree with its manifest at a mark, unmount, run the checker.
cat >/tmp/gcheck.sh <<'EOF'
. /extra/guest.sh
set +e
if [ "$1" = manifest ]; then
	tree_manifest "$2"
	exit
fi
fs=$2 data=${LWLOG_DEV0:-$3} aux=${LWLOG_DEV1:-$4}
case $fs in
xfs) mount -t xfs -o logdev="$aux" "$data" /mnt/chk || exit 1 ;;
ext4) mount -t ext4 -o journal_path="$aux" "$data" /mnt/chk || exit 1 ;;
btrfs)
	# Other copies of these devices (the originals, the replays) carry
	# the same filesystem and device ids: only these two may be known.
	btrfs device scan --forget >/dev/null 2>&1
	mount -t btrfs -o device="$aux" "$data" /mnt/chk || exit 1
	;;
esac
m=/tmp/manifests/${LWLOG_MARK:-}
if [ -n "${LWLOG_MARK:-}" ] && [ -f "$m" ]; then
	tree_manifest /mnt/chk >/tmp/manifest.now
	cmp -s /tmp/manifest.now "$m" || {
		umount /mnt/chk
		echo "the tree at mark $LWLOG_MARK differs from its manifest"
		diff "$m" /tmp/manifest.now | head -5
		exit 1
	}
	touch "$m.checked"
fi
# btrfs is checked mounted: a read-only scrub reads every copy of every
# block on both devices and checks checksums and generations. A backup
# super block older than the primary is what a crash between the two
# writes leaves (only the primary is written with FUA; the next commit
# rewrites the backups): not damage.
if [ "$fs" = btrfs ]; then
	btrfs scrub start -B -r /mnt/chk >/tmp/fsck.out 2>&1
	summary=$(sed -n 's/^Error summary: *//p' /tmp/fsck.out)
	case $summary in
	"no errors found") rc=0 ;;
	super=[0-9]*) grep -q "Uncorrectable: *0\$" /tmp/fsck.out && [ "${summary#super=}" -ge 0 ] 2>/dev/null ;;
	*) false ;;
	esac
	rc=$?
	umount /mnt/chk || exit 1
	[ $rc = 0 ] || {
		head -20 /tmp/fsck.out
		exit 1
	}
	exit 0
fi
umount /mnt/chk || exit 1
case $fs in
xfs) xfs_repair -n -l "$aux" "$data" >/tmp/fsck.out 2>&1 ;;
ext4) e2fsck -fn -j "$aux" "$data" >/tmp/fsck.out 2>&1 ;;
esac || {
	head -20 /tmp/fsck.out
	exit 1
}
EOF
mkdir -p /mnt/fs /mnt/chk /tmp/manifests

# fs_group FS DATA_MIB AUX_MIB: FS on two members of group FS, data and
# its log or journal, with the workload, the oracle, the group check and
# the negative control.
fs_group() {
	fs=$1 at=0
	for n in m r s; do
		slice ${n}0 /dev/vda $at "$2"
		at=$((at + $2))
		slice ${n}1 /dev/vda $at "$3"
		at=$((at + $3))
	done
	slice l0 /dev/vdb 0 1024
	slice l1 /dev/vdb 1024 1024
	for d in m0 m1 r0 r1 l0 l1; do blkdiscard /dev/mapper/$d; done
	rm -f /tmp/manifests/*
	member g0 /dev/mapper/m0 /dev/mapper/l0 "$fs"
	member g1 /dev/mapper/m1 /dev/mapper/l1 "$fs"
	oracle_start g0 m0 g1 m1
	tops="$(devno g0) $(devno m0) $(devno g1) $(devno m1)"
	step "$fs on two members: workload"
	case $fs in
	xfs)
		mkfs.xfs -q -f -K -l logdev=/dev/mapper/g1 /dev/mapper/g0
		mount_opts="-o logdev=/dev/mapper/g1"
		;;
	ext4)
		mkfs.ext4 -q -F -E nodiscard -O journal_dev -b 4096 /dev/mapper/g1
		mkfs.ext4 -q -F -E nodiscard -b 4096 -J device=/dev/mapper/g1 /dev/mapper/g0
		mount_opts="-o journal_path=/dev/mapper/g1"
		;;
	btrfs)
		mkfs.btrfs -q -f -K -d raid1 -m raid1 /dev/mapper/g0 /dev/mapper/g1
		mount_opts="-o device=/dev/mapper/g1"
		;;
	esac
	oracle_mark g0 mkfs
	# shellcheck disable=SC2086
	mount -t "$fs" $mount_opts /dev/mapper/g0 /mnt/fs
	for p in 1 2 3; do
		lw-workload files /mnt/fs --threads 4 --ops 30 --max-file 131072 --seed $((p + 10)) ||
			fail "the workload failed"
		sync
		# ext4 with an external journal: sync commits the journal but
		# flushes the data device only when the transaction holds ordered
		# data (jbd2's t_need_data_flush), so overwritten file data can sit
		# in the data device's cache after sync returns; the log shows it
		# (the group state at the mark lacked it). Flush it here, so that
		# the mark is a point where the tree is durable.
		[ "$fs" = ext4 ] && sync /dev/mapper/g0
		sh /tmp/gcheck.sh manifest /mnt/fs >/tmp/manifests/phase$p
		oracle_mark g0 phase$p
	done
	umount /mnt/fs
	dmsetup remove g0 g1
	oracle_stop
	set -- $tops
	oracle_check_group /dev/mapper/l0 "$1" "$2" /dev/mapper/l1 "$3" "$4"
	lwlog group verify /dev/mapper/l0 /dev/mapper/l1 || fail "the $fs logs are not one group's"
	pairs="--log /dev/mapper/l0 --target /dev/mapper/r0 --log /dev/mapper/l1 --target /dev/mapper/r1"

	step "$fs: group points from mkfs on (FUA and flush: at most $max_checks; every mark) check clean"
	start=$(date +%s)
	for at in "fua,flush --max-checks $max_checks" mark; do
		# Each replay starts from what the devices held before logging.
		for i in 0 1; do blkdiscard /dev/mapper/r$i; done
		# shellcheck disable=SC2086
		lwlog group check $pairs --from mark:mkfs --at $at \
			--scratch /dev/mapper/s0 --scratch /dev/mapper/s1 --fsck "sh /tmp/gcheck.sh point $fs" ||
			fail "a group point of the $fs logs does not check clean"
	done
	echo "checked in $(($(date +%s) - start)) s"
	for p in 1 2 3; do
		[ -f /tmp/manifests/phase$p.checked ] || fail "mark phase$p was not checked"
	done

	step "$fs: crash states across both devices, from mkfs on (at most $crash_states)"
	for i in 0 1; do blkdiscard /dev/mapper/r$i; done
	# shellcheck disable=SC2086
	lwlog group crash-states $pairs --from mark:mkfs --per-point 1 --max-states "$crash_states" \
		--scratch /dev/mapper/s0 --scratch /dev/mapper/s1 --fsck "sh /tmp/gcheck.sh point $fs" \
		>/tmp/states.out || {
		tail -5 /tmp/states.out
		fail "a crash state across the $fs members does not check clean"
	}
	tail -1 /tmp/states.out
	grep -q "^state $((crash_states - 1)) " /tmp/states.out || fail "fewer than $crash_states crash states"

	step "$fs negative control: the members at independent points"
	# What each member holds at each group mark, in entries.
	for mk in mkfs phase1 phase2 phase3; do
		# shellcheck disable=SC2086
		lwlog group replay $pairs --to mark:$mk 2>/tmp/replay.out ||
			fail "group replay to $mk failed: $(cat /tmp/replay.out)"
		n=$(sed -n 's/.*entries per member //p' /tmp/replay.out)
		case $n in [1-9]*", "[1-9]*) ;; *) fail "no entries per member at $mk: '$n'" ;; esac
		eval "at_$mk=\"$n\""
	done
	rejected=
	# Member 0 (the data device, a mirror) at one mark, member 1 (the log,
	# the journal, the other mirror) at another; the
	# tree is compared with the later mark's manifest (both marks follow a
	# sync: a state of the devices at that mark holds that tree).
	for combo in "mkfs phase3 phase3" "phase3 mkfs phase3" "phase1 phase3 phase3" \
		"phase3 phase1 phase3" "mkfs phase1 phase1" "phase1 mkfs phase1"; do
		set -- $combo
		eval "d=\${at_$1%%,*}; a=\${at_$2##*, }"
		for i in 0 1; do blkdiscard /dev/mapper/r$i; done
		lwlog replay --limit "$d" /dev/mapper/l0 /dev/mapper/r0 2>/dev/null || fail "replaying l0 failed"
		lwlog replay --limit "$a" /dev/mapper/l1 /dev/mapper/r1 2>/dev/null || fail "replaying l1 failed"
		if ! LWLOG_DEV0=/dev/mapper/r0 LWLOG_DEV1=/dev/mapper/r1 LWLOG_MARK=$3 \
			sh /tmp/gcheck.sh point "$fs" >/tmp/neg.out 2>&1; then
			echo "member 0 at $1 ($d entries), member 1 at $2 ($a entries): rejected"
			head -3 /tmp/neg.out
			rejected=1
			break
		fi
		echo "member 0 at $1, member 1 at $2: passes"
	done
	[ -n "$rejected" ] || fail "$fs: no state at independent points was rejected"
	dmsetup remove m0 m1 r0 r1 s0 s1 l0 l1
}

for fs in ${GROUP_FS:-xfs ext4 btrfs}; do
	case $fs in
	xfs) fs_group xfs 320 64 ;;
	ext4) fs_group ext4 128 32 ;;
	btrfs) fs_group btrfs 256 256 ;;
	*) fail "GROUP_FS: no filesystem '$fs' (xfs, ext4, btrfs)" ;;
	esac
done
echo PASS
