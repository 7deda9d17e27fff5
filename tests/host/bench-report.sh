#!/usr/bin/env bash
# scripts/bench-report, on raw bench output made up so that every figure is
# known: a ratio is taken within a round and its median over rounds; ours'
# time beyond linear's per operation is split into the second disk's share
# (the bare disk's extra time less the zerolog run's), the copy (the data
# disk's sectors linear wrote, at the guest's copy rate) and the rest; a
# copy rate that cannot be read (a comma for the decimal point) is left out
# rather than ending the report.
. "$(dirname "$0")/../../scripts/common.sh"
cd "$REPO"
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-report.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# 1000 writes of 4 KiB per run, for which the data disk is written twice as
# many sectors (as a file system's journal would). Bare disk: linear 1 s every round; C 2 s,
# 1 s, 2 s; ours 1.25 s, 1 s, 1.25 s: ours/c 1.6, 1.0, 1.6 and ours/linear
# 0.8, 1.0, 0.8. With the log on dm-zero ours takes 1.1 s. The guest copies
# 64 MiB in 1/16 s: 1024 MiB/s.
{
	echo "COPYRATE 67108864 0.0625"
	echo "HOSTCOPYRATE 67108864 0,01"
	for r in 1 2 3; do
		c=2.0 ours=1.25
		[ $r = 2 ] && c=1.0 ours=1.0
		echo "RESULT $r linear w 1.0 4096000 1000"
		echo "RESULT $r c w $c 4096000 1000"
		echo "RESULT $r rust w $ours 4096000 1000"
		for t in linear c rust; do
			# entries busy ctxt pages log-writes log-sectors log-flushes
			# data-writes data-flushes thread-ticks wake-ups data-sectors
			echo "COST $r $t w 0 10 0 0 0 0 0 1000 0 0 0 16000"
		done
		echo "RESULT $r linear w+zerolog 1.0 4096000 1000"
		echo "RESULT $r c w+zerolog 1.2 4096000 1000"
		echo "RESULT $r rust w+zerolog 1.1 4096000 1000"
	done
} >"$dir/raw.txt"

python3 scripts/bench-report "$dir/raw.txt" "$dir" >"$dir/report.txt" 2>&1 ||
	die "bench-report failed: $(cat "$dir/report.txt")"
cat "$dir/report.txt"
expect() {
	grep -qxF -- "$1" "$dir/report.txt" || die "the report lacks the line: $1"
}
expect "RATIO w ours/c=1.600 ours/linear=0.800"
expect "RATIO w+zerolog ours/c=1.091 ours/linear=0.909"
# linear 1000 µs per write; ours 250 µs more (median of 250, 0, 250), of
# which the second disk 150 (ours takes 100 µs more with the log on
# dm-zero), the copy of 8192 bytes at 1024 MiB/s 7.6 µs, the rest 92.4.
expect "| w | 1000.0 | 250.0 | 150.0 | 7.6 | 92.4 |"
expect "copy rate: guest 1024 MiB/s (0.98 ms per MiB)"
python3 - "$dir/results.json" <<'EOF' || die "results.json is not as expected"
import json, sys
r = json.load(open(sys.argv[1]))
w = r["workloads"]["w"]
assert w["ours/c"]["all"] == [1.6, 1.0, 1.6], w["ours/c"]["all"]
assert w["ours/c"]["min"] == 1.0 and w["ours/c"]["max"] == 1.6
assert abs(r["extra_time"]["w"]["copy_us"] - 8192 / 2**30 * 1e6) < 1e-9
assert r["copy_MiB_per_s"] == {"guest": 1024.0}, r["copy_MiB_per_s"]
EOF
echo "PASS: bench-report's ratios and time split"
