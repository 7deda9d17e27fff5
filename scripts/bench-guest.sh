# Guest side of `make bench` (run by scripts/bench through vm-run on the
# release kernel). In one boot, BENCH_ROUNDS rounds; each round runs every
# workload (BENCH_WORKLOADS, default all) on `linear`, the C log-writes
# target and ours, and another build of ours when vm-run installed one
# (baseline), one after the other, in an order that rotates from workload
# to workload and round to round, loading and unloading the log-writes
# modules between them (all register "log-writes"). Prints one line per
# run:
#   RESULT <round> <target> <workload> <seconds> <bytes> <ops>
# what the run cost the machine (deltas over the run; the logging thread's
# only for the log-writes targets, whose threads C and ours both name
# "log-write"):
#   COST <round> <target> <workload> <entries logged> <CPU busy ticks>
#        <context switches> <pages allocated> <log writes> <log sectors
#        written> <log flushes> <data writes> <data flushes> <thread ticks>
#        <thread wake-ups> <data sectors written>
# (ticks are USER_HZ, 1/100 s, summed over all CPUs; writes and flushes
# are requests completed by the virtio disks, after the block layer merged
# bios), and per round and log-writes target the memory held by a burst of
# writes with no flush:
#   MEMORY <round> <target> <bytes written> <kB held>
. /extra/guest.sh
data=/dev/vda log=/dev/vdb
n=$(sectors $data)
rounds=${BENCH_ROUNDS:-5}
mkdir -p /mnt/b

WORKLOADS=${BENCH_WORKLOADS:-rand4k-fdatasync32 seq64k 4k-fdatasync-each 4threads-4k-fsync64 ext4-smallfiles}
# Data devices: "disk", the virtio disk itself; "delay", the same behind
# dm-delay with a device's latency (writes 1 ms, flushes 3 ms; dm-delay
# counts in milliseconds), where the log's work can overlap the device's.
# Workloads on it are named WORKLOAD+delay. "zerolog" is the disk with the
# log on dm-zero instead of the second virtio disk (every log write is
# dropped at once): the targets' own cost without the emulation of a second
# disk; workloads on it are named WORKLOAD+zerolog (linear runs them as on
# "disk", it has no log). "group" is the disk with our target in a group
# (the group:<name> table option; C, which has no groups, and linear run
# as on "disk"): what numbering every entry in the group's order costs;
# workloads on it are named WORKLOAD+group.
DEVICES=${BENCH_DEVICES:-disk delay}
disk=$data vdb=$log
TARGETS="linear c rust"
[ -n "${LOGWRITES_BASELINE_KO:-}" ] && TARGETS="$TARGETS baseline"

# BENCH_SCALE (default 4): on the devices without added latency, the
# workloads but seq64k write this many times the bytes (files) below, so
# that a run lasts seconds and one hiccup of the host does not decide a
# round's ratio; with dm-delay's latency the runs take 8 to 17 s as they
# are. seq64k has a single fdatasync, at its end: both targets hold every
# byte written until then, and 256 MiB is what the guest can spare.
BENCH_SCALE=${BENCH_SCALE:-4}
[ "$BENCH_SCALE" -ge 1 ] 2>/dev/null || fail "BENCH_SCALE must be a positive number, not '$BENCH_SCALE'"

# run_workload NAME DEV SCALE: prints "elapsed=.. bytes=.. ops=..".
run_workload() {
	span="--span $((256 << 20))"
	case $1 in
	rand4k-fdatasync32) lw-workload write "$2" --io-size 4096 --bytes $((16 * $3 << 20)) --sync-every 32 $span ;;
	seq64k) lw-workload write "$2" --io-size 65536 --pattern sequential --bytes $((256 << 20)) ;;
	4k-fdatasync-each) lw-workload write "$2" --io-size 4096 --bytes $((4 * $3 << 20)) --sync-every 1 $span ;;
	4threads-4k-fsync64) lw-workload write "$2" --io-size 4096 --threads 4 --bytes $((8 * $3 << 20)) --sync-every 64 --sync fsync $span ;;
	ext4-smallfiles)
		mount -o noatime "$2" /mnt/b
		lw-workload smallfiles /mnt/b --files $((800 * $3)) --seed "$round"
		umount /mnt/b
		;;
	esac
}

# table TARGET: the device-mapper table for TARGET over the data device.
table() {
	case $1 in
	linear) echo "0 $n linear $data 0" ;;
	*) echo "0 $n log-writes $data $log${group_opt:-}" ;;
	esac
}

# machine_counters: CPU busy ticks, context switches, pages allocated, then
# write requests, sectors written and flushes of the log disk, write and
# flush requests of the data disk (/sys/block/*/stat: field 5 writes, 7 sectors written, 16
# flushes).
machine_counters() {
	awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9} $1 == "ctxt" {print $2}' /proc/stat
	awk '$1 ~ /^pgalloc_/ {s += $2} END {print s + 0}' /proc/vmstat
	awk '{print $5, $7, $16}' /sys/block/vdb/stat
	awk '{print $5, $16}' /sys/block/vda/stat
}

# data_sectors: sectors written to the data disk (what a logging target
# copies, file system metadata and journal included).
data_sectors() {
	awk '{print $7}' /sys/block/vda/stat
}

# thread_counters: the logging thread's CPU ticks and wake-ups (voluntary
# context switches), or "0 0" when there is none (linear).
thread_counters() {
	for d in /proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = log-write ] || continue
		awk '{print $14 + $15}' "$d/stat"
		awk '$1 == "voluntary_ctxt_switches:" {print $2}' "$d/status"
		return
	done
	echo 0 0
}

# entries_logged: the status's entry count of device b (0 for linear).
entries_logged() {
	case $1 in
	linear) echo 0 ;;
	*) dmsetup status b | awk '{print $4}' ;;
	esac
}

# memory_burst TARGET: 64 MiB of O_DIRECT writes with no flush; the drop in
# free memory is what the target holds for them.
memory_burst() {
	dmsetup create b --table "$(table "$1")"
	dmsetup mknodes b
	sync
	echo 3 >/proc/sys/vm/drop_caches
	before=$(free_memory_kb)
	/usr/sbin/dd if=/dev/zero of=/dev/mapper/b bs=64K count=1024 oflag=direct status=none
	after=$(free_memory_kb)
	echo "MEMORY $round $1 $((64 << 20)) $((before - after))"
	sync /dev/mapper/b
	dmsetup remove b
}

# The guest kernel's copy rate: 64 MiB read from tmpfs (page cache) to
# /dev/null, a copy_to_user of every byte, best of three. Every log-writes
# target copies each byte written; under emulation a copy costs far more
# than on the host, and this says how much. Prints
#   COPYRATE <bytes> <seconds>
copy_rate() {
	/usr/sbin/dd if=/dev/zero of=/tmp/copy bs=64K count=1024 status=none
	best=
	for _ in 1 2 3; do
		s=$(LC_ALL=C /usr/sbin/dd if=/tmp/copy of=/dev/null bs=64K 2>&1 | awk '/copied/ {print $(NF - 3)}')
		best=$(echo "$s ${best:-$s}" | awk '{print ($1 < $2) ? $1 : $2}')
	done
	rm -f /tmp/copy
	echo "COPYRATE $((64 << 20)) $best"
}
copy_rate

# profile_mark TARGET WORKLOAD begin|end: with BENCH_PROFILE=1, asks the
# host (scripts/bench) for a dump of the instruction counts of QEMU's
# tcgprof plugin, and waits for it; before a run, also prints the
# modules' functions and their addresses (a module loads anywhere):
#   KSYM <round> <target> <workload> <address> <type> <name> [<module>]
#   PROFILE <round> <target> <workload> begin|end
profile_mark() {
	[ "${BENCH_PROFILE:-0}" = 1 ] || return 0
	[ "$3" = begin ] && awk -v tag="$round $1 $2" '$4 ~ /^\[/ {print "KSYM", tag, $0}' /proc/kallsyms
	echo "PROFILE $round $1 $2 $3"
	# The host polls every 20 ms; an idle guest runs next to nothing.
	sleep 1
}

# use_target TARGET: makes TARGET's module the loaded log-writes one
# (linear needs none, and leaves whichever is loaded alone).
loaded=
use_target() {
	case $1 in linear | "$loaded") return 0 ;; esac
	[ -n "$loaded" ] && unload_target "$loaded"
	load_target "$1"
	loaded=$1
}

# order K ROUND: TARGETS rotated left by K, reversed in even rounds, so
# that over rounds and workloads every target takes every place in the
# order, and follows every other target, as often as the others do:
# whatever one run leaves behind for the next does not always fall on
# the same target.
order() {
	k=$1 r=$2
	set -- $TARGETS
	shift $((k % $#))
	o=$(echo "$* $TARGETS" | cut -d' ' -f1-"$(echo $TARGETS | wc -w)")
	if [ $((r % 2)) -eq 0 ]; then
		echo "$o" | tr ' ' '\n' | tac | tr '\n' ' ' | sed 's/ $//'
		echo
	else
		echo "$o"
	fi
}

# Every workload runs on all targets back to back, seconds apart: a ratio
# compares runs made under the same conditions of the host, whose speed
# drifts over minutes (with the targets' runs minutes apart, one round's
# ratio was as noisy as the host).
for round in $(seq "$rounds"); do
	echo "--- round $round"
	for dev in $DEVICES; do
		data=$disk log=$vdb scale=$BENCH_SCALE
		case $dev in
		disk) suffix= ;;
		group) suffix=+group ;;
		zerolog)
			dm_dev_over zerolog $vdb dm_zero dm-zero zero
			log=/dev/mapper/zerolog suffix=+zerolog
			;;
		delay)
			# Made for these runs only: mkfs refuses a disk in use.
			slow_data_dev slowdata $disk 1 3
			data=/dev/mapper/slowdata suffix=+delay scale=1
			;;
		*) fail "BENCH_DEVICES: no device '$dev' (disk, delay, zerolog, group)" ;;
		esac
		i=0
		for w in $WORKLOADS; do
			targets=$(order $((round - 1 + i)) "$round")
			i=$((i + 1))
			echo "--- $w$suffix: $targets"
			for target in $targets; do
				use_target "$target"
				group_opt=
				case $dev:$target in group:rust | group:baseline) group_opt=" 1 group:bench" ;; esac
				# -F: the previous target's run left a file system there.
				# Inode tables and journal zeroed now, not by ext4's lazy
				# init thread in the background of whichever run follows.
				[ "$w" = ext4-smallfiles ] && mkfs.ext4 -F -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 $data </dev/null
				dmsetup create b --table "$(table "$target")"
				dmsetup mknodes b
				m0=$(machine_counters) t0=$(thread_counters) e0=$(entries_logged "$target")
				s0=$(data_sectors)
				profile_mark "$target" "$w$suffix" begin
				out=$(run_workload "$w" /dev/mapper/b $scale) || fail "$w on $target failed: $out"
				profile_mark "$target" "$w$suffix" end
				t1=$(thread_counters) e1=$(entries_logged "$target")
				# The machine's counters after the remove, which waits
				# for every log write still queued: the log's requests
				# and bytes are all of the run's (the thread is gone by
				# then, so its counters are read before).
				dmsetup remove b
				m1=$(machine_counters) s1=$(data_sectors)
				set -- $(echo "$out" | tr '=' ' ')
				echo "RESULT $round $target $w$suffix $2 $4 $6"
				echo "COST $round $target $w$suffix $((e1 - e0))$(echo $m0 $t0 / $m1 $t1 | awk '{
					n = (NF - 1) / 2
					for (i = 1; i <= n; i++) printf " %d", $(n + 1 + i) - $i
				}') $((s1 - s0))"
			done
		done
		[ "$dev" = delay ] && dmsetup remove slowdata
		[ "$dev" = zerolog ] && dmsetup remove zerolog
	done
	data=$disk log=$vdb group_opt=
	for target in $(order $((round - 1)) "$round"); do
		use_target "$target"
		memory_burst "$target"
	done
done
[ -n "$loaded" ] && unload_target "$loaded"
echo PASS
