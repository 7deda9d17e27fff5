# Guest side of `make bench` (run by scripts/bench through vm-run on the
# release kernel). In one boot, BENCH_ROUNDS rounds; each round runs every
# workload (BENCH_WORKLOADS, default all) on `linear`, the C log-writes
# target and ours, and another build of ours when vm-run installed one
# (baseline), in an order that rotates from round to round, loading and
# unloading the log-writes modules between them (all register
# "log-writes"). Prints one line per run:
#   RESULT <round> <target> <workload> <seconds> <bytes> <ops>
# and per round and log-writes target the memory held by a burst of writes
# with no flush:
#   MEMORY <round> <target> <bytes written> <kB held>
. /extra/guest.sh
data=/dev/vda log=/dev/vdb
n=$(sectors $data)
rounds=${BENCH_ROUNDS:-5}
mkdir -p /mnt/b

WORKLOADS=${BENCH_WORKLOADS:-rand4k-fdatasync32 seq64k 4k-fdatasync-each 4threads-4k-fsync64 ext4-smallfiles}
TARGETS="linear c rust"
[ -n "${LOGWRITES_BASELINE_KO:-}" ] && TARGETS="$TARGETS baseline"

# run_workload NAME DEV: prints "elapsed=.. bytes=.. ops=..".
run_workload() {
	span="--span $((256 << 20))"
	case $1 in
	rand4k-fdatasync32) lw-workload write "$2" --io-size 4096 --bytes $((16 << 20)) --sync-every 32 $span ;;
	seq64k) lw-workload write "$2" --io-size 65536 --pattern sequential --bytes $((256 << 20)) ;;
	4k-fdatasync-each) lw-workload write "$2" --io-size 4096 --bytes $((4 << 20)) --sync-every 1 $span ;;
	4threads-4k-fsync64) lw-workload write "$2" --io-size 4096 --threads 4 --bytes $((8 << 20)) --sync-every 64 --sync fsync $span ;;
	ext4-smallfiles)
		mount -o noatime "$2" /mnt/b
		lw-workload smallfiles /mnt/b --files 800 --seed "$round"
		umount /mnt/b
		;;
	esac
}

# table TARGET: the device-mapper table for TARGET over the data device.
table() {
	case $1 in
	linear) echo "0 $n linear $data 0" ;;
	*) echo "0 $n log-writes $data $log" ;;
	esac
}

memfree() { awk '$1 == "MemFree:" {print $2}' /proc/meminfo; }

# memory_burst TARGET: 64 MiB of O_DIRECT writes with no flush; the drop in
# free memory is what the target holds for them.
memory_burst() {
	dmsetup create b --table "$(table "$1")"
	dmsetup mknodes b
	sync
	echo 3 >/proc/sys/vm/drop_caches
	before=$(memfree)
	/usr/sbin/dd if=/dev/zero of=/dev/mapper/b bs=64K count=1024 oflag=direct status=none
	after=$(memfree)
	echo "MEMORY $round $1 $((64 << 20)) $((before - after))"
	sync /dev/mapper/b
	dmsetup remove b
}

for round in $(seq "$rounds"); do
	set -- $TARGETS
	shift $(((round - 1) % $#))
	order="$* $TARGETS"
	order=$(echo "$order" | cut -d' ' -f1-"$(echo $TARGETS | wc -w)")
	echo "--- round $round: $order"
	for target in $order; do
		[ "$target" = linear ] || load_target "$target"
		for w in $WORKLOADS; do
			[ "$w" = ext4-smallfiles ] && mkfs.ext4 -q -E nodiscard $data
			dmsetup create b --table "$(table "$target")"
			dmsetup mknodes b
			out=$(run_workload "$w" /dev/mapper/b) || fail "$w on $target failed: $out"
			dmsetup remove b
			set -- $(echo "$out" | tr '=' ' ')
			echo "RESULT $round $target $w $2 $4 $6"
		done
		[ "$target" = linear ] || memory_burst "$target"
		[ "$target" = linear ] || unload_target "$target"
	done
done
echo PASS
