#!/usr/bin/env bash
# vm-run must fail with 125 and print the report when the kernel WARNs, even
# though the guest script itself exits 0. The WARN is a real one, provoked
# through LKDTM.
set -u
cd "$(dirname "$0")/../.."
guest=$(mktemp)
trap 'rm -f "$guest" "$out"' EXIT
cat >"$guest" <<'G'
insmod $MODDIR/lkdtm.ko
echo WARNING >/sys/kernel/debug/provoke-crash/DIRECT
echo "guest script finished"
exit 0
G
out=$(mktemp)
scripts/vm-run --no-kmemleak "$guest" >"$out" 2>&1
rc=$?
cat "$out"
[ "$rc" -eq 125 ] || { echo "FAIL: expected exit 125 for a WARN, got $rc"; exit 1; }
grep -q "guest script finished" "$out" || { echo "FAIL: the guest script did not run to its end"; exit 1; }
grep -q "the kernel reported a problem" "$out" || { echo "FAIL: no report printed"; exit 1; }
grep -q "WARNING:" "$out" || { echo "FAIL: the WARNING line was not printed"; exit 1; }
echo "PASS: WARN detected (exit $rc)"
