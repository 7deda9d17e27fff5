# vm-run: --cpus 1 --memory 384M --disk-size 768M --timeout 900
# Liveness on one CPU with little memory: writers at the memory bound over a
# data device whose flushes take half a second, then three seconds, must
# neither hang nor make the logging thread spin (the hung-task detector runs
# at 10 s, the soft-lockup and RCU-stall detectors at their defaults; any
# report fails the run). Then a 512 MiB burst with no flush at all in a
# 384 MiB guest, bounded by max_held_mb:32. Every log is checked by the
# durability oracle. Last, a mark sent to a suspended device that is
# resumed meanwhile must not keep its message waiting for the writers.
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

# A mark sent to a suspended device drains it (a table resumed on the log
# device next must find the mark). When the device itself is resumed
# meanwhile, that drain must end there: the writers resume too, and a
# drain that went on making their writes durable would keep the message
# waiting for as long as they write. The log device's writes take 1 s,
# so the mark's entry is still being written when the resume comes.
mark_while_resuming() {
	step "a mark on a suspended device that is resumed meanwhile"
	blkdiscard /dev/vdb
	slow_flush_dev slow /dev/vda 500
	slow_data_dev slowlog /dev/vdb 1000 0
	dmsetup create lw --table "0 $(sectors /dev/vda) log-writes /dev/mapper/slow /dev/mapper/slowlog"
	dmsetup mknodes lw
	lw-workload block /dev/mapper/lw --threads 2 --seconds 12 --max-io 65536 \
		--max-bytes $((256 << 20)) --seed 5 >/tmp/out 2>&1 &
	writers=$!
	sleep 2
	dmsetup suspend lw
	dmsetup message lw 0 mark during-resume &
	marker=$!
	sleep 0.3
	dmsetup resume lw
	wait $marker || fail "the mark failed"
	kill -0 $writers 2>/dev/null ||
		fail "the mark's message returned only after the writers had stopped"
	echo "the mark's message returned while the writers ran"
	wait $writers || { cat /tmp/out; fail "writers failed"; }
	cat /tmp/out
	dmsetup remove lw slowlog slow
	lwlog verify /dev/vdb >/dev/null || fail "the log does not verify"
	lwlog list --flag mark /dev/vdb | grep -q '"during-resume"' || fail "the mark is not in the log"
}

bounded_run 500 8 96 4
bounded_run 3000 8 48 2
bounded_run 0 32 512 2
mark_while_resuming
unload_target rust
echo PASS
