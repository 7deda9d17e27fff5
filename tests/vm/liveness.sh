# vm-run: --cpus 1 --memory 384M --disk-size 768M --timeout 900
# Liveness on one CPU with little memory: writers at the memory bound over a
# data device whose flushes take half a second, then three seconds, must
# neither hang nor make the logging thread spin (the hung-task detector runs
# at 10 s, the soft-lockup and RCU-stall detectors at their defaults; any
# report fails the run). Then a 512 MiB burst with no flush at all in a
# 384 MiB guest, bounded by max_held_mb:32. Every log is checked by the
# durability oracle.
. /extra/guest.sh
echo 10 >/proc/sys/kernel/hung_task_timeout_secs
load_target rust

# bounded_run FLUSH_MS MAX_HELD_MB MIB THREADS
bounded_run() {
	step "$3 MiB from $4 writers, max_held_mb:$2, flushes +$1 ms"
	blkdiscard /dev/vdb
	slow_flush_dev slow /dev/vda "$1"
	probe_dev probe /dev/mapper/slow
	dmsetup create lw --table "0 $(sectors /dev/vda) log-writes /dev/mapper/probe /dev/vdb 1 max_held_mb:$2"
	dmsetup mknodes lw
	oracle_start lw probe
	start=$(date +%s)
	lw-workload write /dev/mapper/lw --io-size 65536 --bytes $(($3 / $4 << 20)) --threads "$4" \
		--sync-every 0 >/tmp/out || fail "writers failed"
	echo "$(cat /tmp/out), $(($(date +%s) - start)) s"
	dmsetup status lw
	dmsetup remove lw
	oracle_stop
	oracle_check /dev/vdb
	flushes=$(lwlog list --flag flush /dev/vdb | grep -c TARGET || true)
	echo "target flushes logged: $flushes"
	[ "$flushes" -gt 0 ] || fail "the bound sent no flush of its own"
	dmsetup remove probe
	dmsetup remove slow
}

bounded_run 500 8 96 4
bounded_run 3000 8 48 2
bounded_run 0 32 512 2
unload_target rust
echo PASS
