# shellcheck shell=sh
# Helpers for guest test scripts (sourced inside the VM from /extra/guest.sh).

set -eu

fail() {
	echo "FAIL: $*"
	exit 1
}
step() { echo "--- $*"; }

# load_target c|rust: insmod one log-writes implementation (both register the
# target name "log-writes", so only one may be loaded at a time).
load_target() {
	case $1 in
	c) insmod "$LOGWRITES_C_KO" ;;
	rust) insmod "$LOGWRITES_RUST_KO" ;;
	*) fail "load_target: unknown implementation '$1'" ;;
	esac
}

unload_target() {
	case $1 in
	c) rmmod dm_log_writes ;;
	rust) rmmod rust_dm_logwrites ;;
	esac
}

# sectors DEV: size in 512-byte sectors.
sectors() { blockdev --getsz "$1"; }

# create_lw NAME DATADEV LOGDEV: a log-writes device over the whole DATADEV;
# makes /dev/mapper/NAME (there is no udev in the guest).
create_lw() {
	dmsetup create "$1" --table "0 $(sectors "$2") log-writes $2 $3"
	dmsetup mknodes "$1"
	[ -b "/dev/mapper/$1" ] || fail "/dev/mapper/$1 is not a block device"
}

# sum DEV [BYTES]: sha256 of the first BYTES (default all) of DEV. Block
# devices are read with O_DIRECT: a device written through a dm device on
# top of it keeps stale pages in its own page cache.
sum() {
	if [ -b "$1" ]; then
		/usr/sbin/dd if="$1" bs=1M iflag=direct${2:+,count_bytes} ${2:+count=$2} status=none
	elif [ $# -gt 1 ]; then
		head -c "$2" "$1"
	else
		cat "$1"
	fi | sha256sum | cut -d' ' -f1
}
