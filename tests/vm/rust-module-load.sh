# Our module loads and unloads cleanly, and leaves nothing behind.
. /extra/guest.sh
for round in 1 2 3; do
	load_target rust
	lsmod | grep -q '^rust_dm_logwrites' || fail "module not listed after insmod (round $round)"
	unload_target rust
	lsmod | grep -q '^rust_dm_logwrites' && fail "module still listed after rmmod (round $round)"
done
dmesg | grep -q 'rust_dm_logwrites: loaded' || fail "no load message in the kernel log"
echo "PASS"
