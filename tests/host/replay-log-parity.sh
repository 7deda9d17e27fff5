#!/usr/bin/env bash
# lwlog called as `replay-log` must behave as xfstests' replay-log: the same
# standard output, exit status and replayed image for every option
# combination xfstests uses and more, and the same images and order of
# states at each --check point. xfstests' replay-log is built from its
# source (XFSTESTS_SRC, or the tarball in ../shared/xfstests/; the test is
# skipped, and says so, without one) and both run on synthetic logs with
# every kind of entry (writes, FUA, flushes, discards, marks, metadata, the
# target's own flushes; 512- and 4096-byte sectors) and on the LOGs given
# as arguments. Where this mode deliberately differs (a replay to a missing
# stop point, onto the log itself) it must refuse and write nothing.
. "$(dirname "$0")/../../scripts/common.sh"
cd "$REPO"
build_tools
ours=$REPO/target/release/replay-log

src=$(xfstests_src)
if [ -z "$src" ] || [ ! -e "$src" ]; then
	echo "SKIP: no xfstests source to build the reference replay-log from (set XFSTESTS_SRC)"
	exit 0
fi
src=$(readlink -f "$src")
ref_dir=$LOGWRITES_CACHE/replay-log-ref
mkdir -p "$ref_dir"
if [ -d "$src" ]; then
	key=$(cat "$src"/src/log-writes/*.[ch] | sha256sum | cut -c1-16)
else
	key=$(sha256sum "$src" | cut -c1-16)
fi
ref=$ref_dir/replay-log-$key
if [ ! -x "$ref" ]; then
	say "building xfstests' replay-log from $src"
	tmp=$(mktemp -d)
	if [ -d "$src" ]; then
		cp "$src"/src/log-writes/*.[ch] "$tmp/"
	else
		tar -C "$tmp" -xf "$src" --wildcards --strip-components=3 '*/src/log-writes/*.[ch]'
	fi
	gcc -O2 -o "$ref.tmp" "$tmp/replay-log.c" "$tmp/log-writes.c" || die "building replay-log failed"
	mv "$ref.tmp" "$ref"
	rm -rf "$tmp"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/parity.XXXXXX")
trap 'rm -rf "$work"' EXIT

# gen FILE SEED SECTOR_SIZE ENTRIES [GROUP]: a valid log with every kind of
# entry; with GROUP, the log of a member of group GROUP (each header
# sector ends with the group trailer, the super block with the group name).
gen() {
	python3 - "$@" <<'PY'
import random, struct, sys
path, seed, ss, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
group = sys.argv[5].encode() if len(sys.argv) > 5 else None
rnd = random.Random(seed)
dev_sectors = (8 << 20) // ss
marks = ["mkfs", "m1", "m10", "last", "end", "m1"]  # m1 twice; m1 a prefix of m10
with open(path, "wb") as out:
    out.write(b"\0" * ss)
    for i in range(n):
        kind = rnd.choice(["w", "w", "w", "fua", "flush", "flushfua", "disc", "mark", "meta", "target"])
        if i == 0:
            kind = "mark"
        nr = rnd.choice([1, 2, 8, 16, 64])
        sector = rnd.randrange(0, dev_sectors - nr)
        flags, data, text = 0, b"", b""
        if kind == "w":
            data = rnd.randbytes(nr * ss)
        elif kind == "fua":
            flags, data = 2, rnd.randbytes(nr * ss)
        elif kind == "flush":
            flags, nr, sector = 1, 0, 0
        elif kind == "flushfua":
            flags, data = 3, rnd.randbytes(nr * ss)
        elif kind == "disc":
            flags = 4
        elif kind == "mark":
            flags, nr, sector = 8, 0, 0
            text = (marks[i % len(marks)] if i < 4 * len(marks) else "x%d" % i).encode()
        elif kind == "meta":
            flags, data = 16 | 2, rnd.randbytes(nr * ss)
        elif kind == "target":
            flags, nr, sector = 1 | 32, 0, 0
        header = struct.pack("<QQQQ", sector, nr, flags, len(text)) + text
        if group:
            trailer = b"lw-group" + struct.pack("<QQ", 2 * i + 2, 2 * i + 1)
            header = header.ljust(ss - len(trailer), b"\0") + trailer
        out.write(header.ljust(ss, b"\0"))
        out.write(data)
    out.seek(0)
    sup = struct.pack("<QQQI", 0x006A736677736872, 1, n, ss)
    if group:
        sup = sup.ljust(ss - 72, b"\0") + group.ljust(64, b"\0") + b"lw-grpnm"
    out.write(sup.ljust(ss, b"\0"))
PY
}

logs=()
for spec in "1 512 300" "2 4096 200" "3 512 40" "4 512 200 g1"; do
	read -r seed ss n group <<<"$spec"
	gen "$work/synth-$seed.log" "$seed" "$ss" "$n" $group
	logs+=("$work/synth-$seed.log")
done
python3 -c "
import struct,sys
open('$work/empty.log','wb').write(struct.pack('<QQQI',0x006A736677736872,1,0,512).ljust(512,b'\0'))
open('$work/badmagic.log','wb').write(b'\1'*1024)
# synth-1 cut off inside entry 150's header: every question about the
# entries from there on must meet the error there.
b = bytearray(open('$work/synth-1.log','rb').read())
off, ss = 512, 512
for i in range(150):
    nr, flags = struct.unpack_from('<QQ', b, off + 8)
    off += ss + (0 if flags & (8 | 4) else nr * ss)
open('$work/broken.log','wb').write(b[:off + 100])"
logs+=("$work/empty.log" "$work/badmagic.log" "$work/broken.log" "$@")
# Our index of each log is cached here (see lwlog/src/index.rs): most
# questions below are answered from it, the first of each log by reading.
export LWLOG_INDEX_DIR=$work/index
# What replay-log does with a log that breaks is no contract (it prints
# the fields of a header it could not read whole, and replays up to a stop
# point it never finds): on the broken log, ours with its index is compared
# with ours reading every header, so that the index changes no answer.
printf '#!/bin/sh\nLWLOG_INDEX_DIR= exec %q "$@"\n' "$ours" >"$work/ours-without-index"
chmod +x "$work/ours-without-index"
replay_log=$ref

same=0
differ=0
# run TOOL OUT ARGS...: the tool's stdout, status and image under OUT.*
run() {
	local tool=$1 out=$2
	shift 2
	truncate -s 0 "$out.img" && truncate -s 8M "$out.img"
	: >"$out.checks"
	echo 0 >"$out.count"
	set +e
	IMG=$out.img CHECKS=$out.checks COUNT=$out.count "$tool" "$@" >"$out.stdout" 2>"$out.stderr"
	echo $? >"$out.rc"
	set -e
}

# compare ARGS...: both tools with ARGS ("@IMG" is the image to replay
# onto, each its own); stdout, status, image and check states must match.
compare() {
	local i
	local -a ra rb
	for i in "$@"; do ra+=("${i//@IMG/$work/a.img}"); rb+=("${i//@IMG/$work/b.img}"); done
	run "$ref" "$work/a" "${ra[@]}"
	run "$ours" "$work/b" "${rb[@]}"
	if cmp -s "$work/a.stdout" "$work/b.stdout" && cmp -s "$work/a.rc" "$work/b.rc" &&
		cmp -s "$work/a.img" "$work/b.img" && cmp -s "$work/a.checks" "$work/b.checks"; then
		same=$((same + 1))
	else
		differ=$((differ + 1))
		echo "DIFFER: $*"
		echo "  status: replay-log $(cat "$work/a.rc"), ours $(cat "$work/b.rc")"
		cmp -s "$work/a.img" "$work/b.img" || echo "  images differ"
		cmp -s "$work/a.checks" "$work/b.checks" || echo "  states at the checks differ"
		diff <(head -c 4000 "$work/a.stdout") <(head -c 4000 "$work/b.stdout") | head -n 8 | sed 's/^/  /'
		sed 's/^/  ours stderr: /' "$work/b.stderr" | head -n 3
	fi
}

# refused WHAT ARGS...: ours must exit 1 with a message and write nothing.
refused() { # DESCRIPTION ARGS...
	local what=$1
	shift
	truncate -s 0 "$work/b.img" && truncate -s 8M "$work/b.img"
	set +e
	"$ours" "$@" >"$work/b.stdout" 2>"$work/b.stderr"
	local rc=$?
	set -e
	if [ $rc -eq 1 ] && cmp -s "$work/b.img" <(head -c 8M /dev/zero) && [ -s "$work/b.stderr" ]; then
		same=$((same + 1))
		if [ -n "${VERBOSE:-}" ]; then echo "refused as it should ($what): $(head -n1 "$work/b.stderr")"; fi
	else
		differ=$((differ + 1))
		echo "NOT REFUSED ($what): status $rc: $*"
	fi
}
# replay_to_stop ARGS...: a replay to a stop point (ARGS without --replay):
# the same as replay-log's where it finds the stop point, refused where
# replay-log would replay the whole log instead.
replay_to_stop() {
	if "$ref" --find "$@" >/dev/null 2>&1; then
		compare "$@" --replay @IMG
	else
		refused "no stop point: $*" "$@" --replay "$work/b.img"
	fi
}

# A check command: records the image's state and fails at the Nth call.
state='md5sum <"$IMG" >>"$CHECKS"'
fail_at() { echo "$state; n=\$((\$(cat \"\$COUNT\") + 1)); echo \$n >\"\$COUNT\"; [ \$n -lt $1 ]"; }

# A group member's log (synth-4) is read by replay-log as the same log
# without the group's trailers and tag: same answers, same images.
gen "$work/ungrouped-4.log" 4 512 200
for args in "--num-entries" "-vv --replay @IMG" "--find --end-mark m10" "--find --next-fua --start-entry 50" \
	"--replay @IMG --end-mark last"; do
	# shellcheck disable=SC2086
	{ run "$ref" "$work/g" --log "$work/synth-4.log" ${args//@IMG/$work/g.img} &&
		run "$ref" "$work/u" --log "$work/ungrouped-4.log" ${args//@IMG/$work/u.img}; }
	for f in stdout rc img; do
		cmp -s "$work/g.$f" "$work/u.$f" || die "replay-log reads a group member's log differently ($args: $f)"
	done
done
"$REPO/target/release/lwlog" verify "$work/synth-4.log" >/dev/null ||
	die "lwlog does not verify a group member's log"
"$REPO/target/release/lwlog" group verify "$work/synth-4.log" ||
	die "lwlog group verify refuses a group member's log"

for log in "${logs[@]}"; do
	ref=$replay_log
	[ "$log" = "$work/broken.log" ] && ref=$work/ours-without-index
	n=$("$ref" --log "$log" --num-entries 2>/dev/null || echo 0)
	say "$(basename "$log"): $n entries"
	L=(--log "$log")
	compare "${L[@]}"
	compare "${L[@]}" --num-entries
	compare "${L[@]}" --replay @IMG
	compare "${L[@]}" --replay @IMG --no-discard
	compare "${L[@]}" -v --replay @IMG
	compare "${L[@]}" -vv --replay @IMG
	for k in 0 1 2 $((n / 3)) $((n / 2)) $((n - 1)) "$n" $((n + 1)) 0x10 010; do
		compare "${L[@]}" --find --limit "$k"
		compare "${L[@]}" -vv --replay @IMG --limit "$k"
		compare "${L[@]}" --start-entry "$k" --num-entries
		compare "${L[@]}" --find --next-fua --start-entry "$k"
		compare "${L[@]}" --find --next-flush --start-entry "$k"
		compare "${L[@]}" -vv --find --next-fua --start-entry "$k"
		compare "${L[@]}" --replay @IMG --start-entry "$k" --limit 5
		replay_to_stop "${L[@]}" -v --start-entry "$k" --next-fua
		replay_to_stop "${L[@]}" --start-entry "$k" --next-flush --limit 9
	done
	# The loop generic/482 and btrfs/172 run: next FUA, replay to it.
	cur=$("$ref" --find --log "$log" --next-fua --start-entry 0 2>/dev/null | cut -d@ -f1 || true)
	steps=0
	while [ -n "$cur" ] && [ $steps -lt 20 ]; do
		compare "${L[@]}" -vv --replay @IMG --limit $((cur + 1))
		compare --find --log "$log" --next-fua --start-entry $((cur + 1))
		cur=$("$ref" --find --log "$log" --next-fua --start-entry $((cur + 1)) 2>/dev/null | cut -d@ -f1 || true)
		steps=$((steps + 1))
	done
	for m in mkfs m1 m10 last end x30 nomark m ""; do
		compare "${L[@]}" --find --end-mark "$m"
		compare --find --log "$log" --end-mark "$m"
		compare "${L[@]}" --start-mark "$m" --find --next-fua
		compare "${L[@]}" -vv --start-mark "$m" --find --end-mark x40
		compare "${L[@]}" --replay @IMG --find --end-mark "$m"
		compare "${L[@]}" --replay @IMG --start-mark "$m" --limit 7
	done
	for m in mkfs m1 m10 last end nomark; do
		replay_to_stop "${L[@]}" --end-mark "$m"
		replay_to_stop "${L[@]}" -v --end-mark "$m" --next-fua
		replay_to_stop "${L[@]}" -vv --start-mark m1 --end-mark "$m"
	done
	for range in "0 100" "1000 5000" "2000" "65 65" "0x40 0x4000"; do
		read -r s e <<<"$range"
		compare "${L[@]}" -vv --replay @IMG --start-sector "$s" ${e:+--end-sector "$e"} --no-discard
		compare "${L[@]}" --replay @IMG --start-sector "$s" ${e:+--end-sector "$e"} --no-discard
	done
	for at in 1 7 fua flush discard; do
		compare "${L[@]}" --replay @IMG --check "$at" --fsck "$state"
		compare "${L[@]}" --replay @IMG --check "$at" --fsck "$(fail_at 4)"
		compare "${L[@]}" -v --replay @IMG --limit 30 --fsck "$state" --check "$at"
	done
done

ref=$replay_log

# Usage errors (no log needed to get them right).
log=${logs[0]}
for args in "" "--replay x" "--log" "--bogus" "-x" "--f" "--find=1" "--check 0 --fsck true"
do
	# shellcheck disable=SC2086
	compare --log "$log" $args
done
compare --log "$log" --check fua
compare --log "$log" --fsck true
compare --log "$log" --limit 12x
compare --log "$log" --start-entry " 3"
compare --log "$log" --start-sector -1 --replay @IMG
compare --log "$log" --next --find
compare --log "$log" --li 3 --find
compare --log "$log" --replay "$work/none"
compare --log "$work/none"
compare --log "$log" --find --end-mark m1 operand --replay

# Deliberate differences: ours refuses and writes nothing.
cp "$log" "$work/self.log"
before=$(sha256sum <"$work/self.log")
refused "replay onto the log" --log "$work/self.log" --replay "$work/self.log" --limit 3
ln -f "$work/self.log" "$work/link.log"
refused "replay onto a link to the log" --log "$work/self.log" --replay "$work/link.log"
[ "$(sha256sum <"$work/self.log")" = "$before" ] || {
	echo "the log was changed"
	differ=$((differ + 1))
}

echo "$same identical, $differ different"
[ "$differ" -eq 0 ]
