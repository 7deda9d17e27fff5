#!/usr/bin/env bash
# vm-run must fail with 125 and print the report when a CPU spins in the
# kernel, even though the guest script itself exits 0: the soft-lockup
# detector, kept off while the guest boots, is armed before the script runs.
# The spin is a real one, provoked through LKDTM on one of the two CPUs.
set -u
cd "$(dirname "$0")/../.."
guest=$(mktemp)
out=$(mktemp)
trap 'rm -f "$guest" "$out"' EXIT
cat >"$guest" <<'G'
insmod $MODDIR/lkdtm.ko
echo SOFTLOCKUP >/sys/kernel/debug/provoke-crash/DIRECT &
sleep 45
echo "guest script finished"
exit 0
G
scripts/vm-run --no-kmemleak --timeout 240 "$guest" >"$out" 2>&1
rc=$?
cat "$out"
[ "$rc" -eq 125 ] || { echo "FAIL: expected exit 125 for a soft lockup, got $rc"; exit 1; }
grep -q "guest script finished" "$out" || { echo "FAIL: the guest script did not run to its end"; exit 1; }
grep -q "soft lockup" "$out" || { echo "FAIL: the soft lockup was not reported"; exit 1; }
echo "PASS: soft lockup detected (exit $rc)"
