#!/usr/bin/env bash
# vm-run exits with the guest script's status, sees FILE arguments under
# /extra, exports the documented variables, attaches the disks zeroed and
# honours --block-size and --env.
set -u
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "payload-42" >"$tmp/data.txt"
cat >"$tmp/guest.sh" <<'G'
set -e
[ "$(cat /extra/data.txt)" = payload-42 ]
[ -f "$LOGWRITES_RUST_KO" ] && [ -f "$LOGWRITES_C_KO" ]
[ "$VM_DISKS" = "/dev/vda /dev/vdb /dev/vdc /dev/vdd" ]
for d in $VM_DISKS; do
	[ "$(blockdev --getss $d)" = 4096 ]
	[ "$(blockdev --getsize64 $d)" = "$VM_DISK_SIZE_BYTES" ]
	[ "$(cmp -n 1048576 $d /dev/zero 2>&1 | grep -c differ)" = 0 ]
done
[ "$(id -u)" = 0 ]
[ "$MY_SETTING" = "a b" ]
exit 7
G
scripts/vm-run --no-kmemleak --block-size 4096 --disk-size 64M --env "MY_SETTING=a b" \
	"$tmp/guest.sh" "$tmp/data.txt"
rc=$?
[ "$rc" -eq 7 ] || { echo "FAIL: expected the script's status 7, got $rc"; exit 1; }
echo "PASS: status 7 propagated"
