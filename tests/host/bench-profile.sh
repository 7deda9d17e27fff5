#!/usr/bin/env bash
# scripts/bench-profile, on made-up dumps and symbols where every figure is
# known: a run's instructions are its end dump (the plugin's dumps hold
# what ran since the dump before; the begin dump, what ran between runs,
# counts for nothing but must be there), a block
# counts for the function it starts in (kernel functions from the map,
# module functions from the run's own KSYM lines, so one module loaded at
# two addresses in two runs is found in both), per operation, medians over
# rounds; what a target adds to linear is split into the copy routines, the
# target's module and the rest of the kernel; a run without both dumps is
# left out and said.
. "$(dirname "$0")/../../scripts/common.sh"
cd "$REPO"
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-profile.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/dumps"

cat >"$dir/System.map" <<'EOF'
ffffffff81000000 T _text
ffffffff81001000 T submit_bio
ffffffff81002000 t memcpy_orig
ffffffff81003000 T kmem_cache_alloc
ffffffff81004000 D some_data
EOF
# dump NAME ADDRESS=COUNT...
dump() {
	local f=$dir/dumps/$1
	shift
	for kv in "$@"; do echo "${kv%=*} ${kv#*=}"; done >"$f"
}
{
	for r in 1 2 3; do
		# Ours is loaded at a different address in each round.
		base=$((0xffffffffa0000000 + r * 0x10000))
		printf 'KSYM %s rust w %x t map\t[rust_dm_logwrites]\n' "$r" "$base"
		printf 'KSYM %s rust w %x t end_io\t[rust_dm_logwrites]\n' "$r" $((base + 0x100))
		echo "RESULT $r linear w 1.0 4096000 1000"
		echo "RESULT $r rust w 1.0 4096000 1000"
	done
	echo "RESULT 4 rust w 1.0 4096000 1000"
} >"$dir/raw.txt"
for r in 1 2 3; do
	base=$((0xffffffffa0000000 + r * 0x10000))
	map=$(printf %x "$base") end_io=$(printf %x $((base + 0x120)))
	# linear: 10000 instructions per write in submit_bio (the begin dump's
	# 5000 are before the run), plus 1000 of a user-space block.
	dump "$r-linear-w-begin" ffffffff81001000=5000
	dump "$r-linear-w-end" ffffffff81001000=10000000 400000=1000000
	# ours: the same, plus per write 2000 in memcpy_orig (a block inside
	# it), 300 in map, 100 (200 in round 2) in end_io, 50 in kmem_cache_alloc.
	e=100000
	[ $r = 2 ] && e=200000
	dump "$r-rust-w-begin" ffffffff81001000=7 "$map"=9
	dump "$r-rust-w-end" ffffffff81001000=10000000 400000=1000000 ffffffff81002040=2000000 \
		"$map"=300000 "$end_io"=$e ffffffff81003000=50000
done
# Round 4 of ours has its end dump only: its begin was not taken, so the
# end dump may hold more than the run.
dump "4-rust-w-end" ffffffff81001000=1

python3 scripts/bench-profile "$dir/raw.txt" "$dir/dumps" "$dir/System.map" "$dir" >"$dir/report.txt" 2>&1 ||
	die "bench-profile failed: $(cat "$dir/report.txt")"
cat "$dir/report.txt"
expect() {
	grep -qxF -- "$1" "$dir/report.txt" || die "the report lacks the line: $1"
}
expect "| w | linear | 11000 | | | | |"
# 11000 + 2000 + 300 + 100 + 50 = 13450; 11000 / 13450 = 0.818.
expect "| w | rust | 13450 | 0.818 | 2000 | 400 | 50 |"
expect "profile: 1 runs without both dumps (left out)"
grep -qF '| +2000 | `memcpy_orig` |' "$dir/profile.md" || die "profile.md lacks memcpy_orig's line"
grep -qF '| +100 | `end_io [rust_dm_logwrites]` |' "$dir/profile.md" || die "profile.md lacks end_io's median"
python3 - "$dir/profile.json" <<'EOF' || die "profile.json is not as expected"
import json, sys
r = json.load(open(sys.argv[1]))["w"]
assert r["linear"]["instructions_per_op"] == 11000, r["linear"]
assert r["rust"]["added"] == {"copy": 2000, "module": 400, "kernel": 50}, r["rust"]["added"]
EOF
echo "PASS"
