#!/usr/bin/env bash
# A guest that never finishes makes vm-run stop it and exit 124.
set -u
cd "$(dirname "$0")/../.."
guest=$(mktemp)
trap 'rm -f "$guest"' EXIT
echo 'sleep 100000' >"$guest"
start=$(date +%s)
scripts/vm-run --no-kmemleak --timeout 30 "$guest"
rc=$?
[ "$rc" -eq 124 ] || { echo "FAIL: expected 124 on timeout, got $rc"; exit 1; }
echo "PASS: timeout detected after $(($(date +%s) - start)) s"
