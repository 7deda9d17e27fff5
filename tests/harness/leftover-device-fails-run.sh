#!/usr/bin/env bash
# vm-run must fail a guest script that exits 0 but leaves a log-writes
# device behind, because the module cannot be unloaded then.
set -u
cd "$(dirname "$0")/../.."
guest=$(mktemp)
out=$(mktemp)
trap 'rm -f "$guest" "$out"' EXIT
cat >"$guest" <<'G'
insmod "$LOGWRITES_RUST_KO"
dmsetup create left --table "0 8 log-writes /dev/vda /dev/vdb"
echo "guest script finished"
exit 0
G
scripts/vm-run --no-kmemleak "$guest" >"$out" 2>&1
rc=$?
cat "$out"
[ "$rc" -eq 1 ] || { echo "FAIL: expected exit 1 for a device left behind, got $rc"; exit 1; }
grep -q "guest script finished" "$out" || { echo "FAIL: the guest script did not run to its end"; exit 1; }
grep -q "FAIL: module rust_dm_logwrites does not unload" "$out" || { echo "FAIL: no message naming the module"; exit 1; }
echo "PASS: leftover device detected (exit $rc)"
