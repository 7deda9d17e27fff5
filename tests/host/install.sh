#!/usr/bin/env bash
# Installing the module as an out-of-tree module, on the host, against the
# project's built LTS kernel tree (no VM):
# - DKMS: `make dkms-source`, then `dkms add` and `dkms build` for that
#   kernel (DKMS's trees kept in a temporary directory), must give a module
#   for its release that carries the dm-log-writes alias;
# - DKMS must refuse, with check-kdir's reason in its build log, a kernel
#   tree without Rust metadata (a headers-only tree) and one built without
#   CONFIG_RUST;
# - `make install` with INSTALL_MOD_PATH and DESTDIR must put the module
#   under lib/modules/<release>/updates with a module index in which
#   `dm-log-writes` (what dm asks modprobe for) names it, and lwlog and its
#   replay-log link under bin;
# - modprobe (dry run on that root) must load it for `dm-log-writes` when it
#   is the only log-writes module, load C's when C's is installed too, and
#   load it again when a modprobe.d alias says so (README's advice).
. "$(dirname "$0")/../../scripts/common.sh"
cd "$REPO"
command -v dkms >/dev/null || die "dkms missing: run scripts/setup"
dir=$(mktemp -d "${TMPDIR:-/tmp}/install.XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
kdir=$(scripts/build-kernel debug)
rel=$(cat "$kdir/include/config/kernel.release")
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
mkdir -p "$dir/dkms" "$dir/installed"
trees=(--sourcetree "$dir/root/usr/src" --dkmstree "$dir/dkms" --installtree "$dir/installed")

say "DKMS: build for $rel from $kdir"
make -s dkms-source DESTDIR="$dir/root" KDIR="$kdir"
dkms add "rust-dm-logwrites/$ver" "${trees[@]}"
dkms build "rust-dm-logwrites/$ver" -k "$rel" --kernelsourcedir "$kdir" "${trees[@]}" ||
	fail "dkms build failed: $(cat "$dir/dkms/rust-dm-logwrites/$ver/build/make.log" 2>/dev/null | tail -n 20)"
ko=$(find "$dir/dkms/rust-dm-logwrites/$ver/$rel" -name rust_dm_logwrites.ko | head -n1)
[ -n "$ko" ] || fail "dkms build left no rust_dm_logwrites.ko"
/usr/sbin/modinfo -F alias "$ko" | grep -qx dm-log-writes || fail "the DKMS module lacks the dm-log-writes alias"
/usr/sbin/modinfo -F vermagic "$ko" | grep -q "^$rel " || fail "the DKMS module is not for $rel: $(/usr/sbin/modinfo -F vermagic "$ko")"
echo "dkms build: $ko ($(/usr/sbin/modinfo -F vermagic "$ko"))"

# refused KDIR WHY: DKMS fails to build for KDIR, saying WHY.
refused() {
	local tree=$1 why=$2 log
	rm -rf "$dir/dkms/rust-dm-logwrites/$ver/$rel-refused"
	if dkms build "rust-dm-logwrites/$ver" -k "$rel-refused" --kernelsourcedir "$tree" "${trees[@]}" \
		>"$dir/refused.out" 2>&1; then
		fail "dkms built for a tree with $why"
	fi
	log=$dir/dkms/rust-dm-logwrites/$ver/build/make.log
	grep -q "cannot build rust_dm_logwrites" "$log" ||
		fail "no reason given for a tree with $why: $(tail -n 5 "$log")"
	echo "refused ($why): $(grep -A1 'cannot build' "$log" | tail -n1 | sed 's/^ *//')"
}
say "DKMS: kernels it cannot build for"
# A headers-only tree: the configuration and Makefile, no Rust metadata.
mkdir -p "$dir/headers/include/config"
cp "$kdir/Makefile" "$dir/headers/"
cp "$kdir/include/config/auto.conf" "$dir/headers/include/config/"
refused "$dir/headers" "no Rust metadata"
# A kernel configured without Rust.
sed -i '/^CONFIG_RUST=/d' "$dir/headers/include/config/auto.conf"
refused "$dir/headers" "CONFIG_RUST unset"

say "make install into a staging root"
make -s install KDIR="$kdir" INSTALL_MOD_PATH="$dir/stage" DESTDIR="$dir/stage" PREFIX=/usr >/dev/null
[ -f "$dir/stage/lib/modules/$rel/updates/rust_dm_logwrites.ko" ] ||
	fail "make install put no module under lib/modules/$rel/updates"
grep -qx "alias dm-log-writes rust_dm_logwrites" "$dir/stage/lib/modules/$rel/modules.alias" ||
	fail "modules.alias does not map dm-log-writes to rust_dm_logwrites"
[ -x "$dir/stage/usr/bin/lwlog" ] && [ "$(readlink "$dir/stage/usr/bin/replay-log")" = lwlog ] ||
	fail "make install did not install lwlog and its replay-log link"
echo "make install: module, modules.alias entry, lwlog and replay-log in place"

# loads [MODPROBE ARGS...]: the module `modprobe dm-log-writes` would load
# from the staging root.
loads() {
	/usr/sbin/modprobe -n -v -d "$dir/stage" -S "$rel" "$@" dm-log-writes | sed -n 's|^insmod .*/\([^ ]*\).*|\1|p'
}
say "modprobe dm-log-writes: which module"
[ "$(loads)" = rust_dm_logwrites.ko ] || fail "alone, dm-log-writes loads '$(loads)'"
install -D -m 0644 "$kdir/drivers/md/dm-log-writes.ko" "$dir/stage/lib/modules/$rel/kernel/drivers/md/dm-log-writes.ko"
/usr/sbin/depmod -b "$dir/stage" "$rel" 2>/dev/null
[ "$(loads)" = dm-log-writes.ko ] || fail "beside C's, dm-log-writes loads '$(loads)'"
mkdir -p "$dir/modprobe.d"
echo "alias dm-log-writes rust_dm_logwrites" >"$dir/modprobe.d/log-writes.conf"
[ "$(loads -C "$dir/modprobe.d")" = rust_dm_logwrites.ko ] ||
	fail "with the modprobe.d alias, dm-log-writes loads '$(loads -C "$dir/modprobe.d")'"
echo "modprobe dm-log-writes: ours alone, C's beside it, ours again with the alias"
echo PASS
