# Our module loads, registers "log-writes" v1.1.0 like the C target, and
# unloads cleanly, leaving the target unregistered.
. /extra/guest.sh
for round in 1 2 3; do
	load_target rust
	lsmod | grep -q '^rust_dm_logwrites' || fail "module not listed after insmod (round $round)"
	dmsetup targets | grep -Eq '^log-writes +v1\.1\.0$' || fail "dmsetup targets lacks log-writes v1.1.0: $(dmsetup targets)"
	unload_target rust
	lsmod | grep -q '^rust_dm_logwrites' && fail "module still listed after rmmod (round $round)"
	dmsetup targets | grep -q '^log-writes' && fail "log-writes still registered after rmmod"
done
echo "PASS"
