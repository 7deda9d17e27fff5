# shellcheck shell=bash
# Shared settings for the project's scripts. Sourced, never run.
#
# Everything heavy (apt-private state, rust-src, kernel builds) lives in
# $LOGWRITES_CACHE, outside the checkout, so a fresh clone reuses it.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOGWRITES_CACHE=${LOGWRITES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust-dm-logwrites}
export LOGWRITES_CACHE

export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# The kernel to build against and boot (KERNEL=<name>):
#   6.12  the LTS, linux-source-6.12 from bookworm-security (the default);
#   7.3   the current stable, linux-source-7.3 from trixie-backports, which
#         scripts/setup downloads through its private apt state.
# Each has the libclang its bindgen needs (7.x wants at least 17).
KERNELS="6.12 7.3"
KERNEL=${KERNEL:-6.12}
kernel_package() { echo "linux-source-$1"; }
case $KERNEL in
6.12) LIBCLANG_PATH=/usr/lib/llvm-14/lib ;;
7.3) LIBCLANG_PATH=/usr/lib/llvm-19/lib ;;
*) die "KERNEL=$KERNEL: no such kernel (one of: $KERNELS)" ;;
esac
KERNEL_PKG=$(kernel_package "$KERNEL")
export KERNEL LIBCLANG_PATH

# The private apt state (Debian suites the system's sources do not list,
# only ever downloaded from): apt_private COMMAND ARGS... runs apt-get or
# apt-cache against it.
APT_PRIVATE=$LOGWRITES_CACHE/apt-private
apt_private() {
	local cmd=$1
	shift
	"$cmd" -o "Dir::Etc::SourceList=$APT_PRIVATE/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o "Dir::State::Lists=$APT_PRIVATE/lists" -o "Dir::Cache=$APT_PRIVATE/cache" \
		-o "Dir::Cache::Archives=$APT_PRIVATE/archives" -o Dir::Etc::Preferences=/dev/null \
		-o Dir::Etc::PreferencesParts=/dev/null -o APT::Sandbox::User=root "$@"
}

# kernel_source [PACKAGE]: "VERSION FILE" for a kernel source package
# ($KERNEL_PKG by default), FILE being the source tarball (installed by
# apt) or the .deb holding it (downloaded into the private apt state);
# nothing when it is missing.
kernel_source() {
	local pkg=${1:-$KERNEL_PKG} deb
	local tarball=/usr/src/$pkg.tar.xz
	if [ -f "$tarball" ] && dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
		echo "$(dpkg-query -W -f='${Version}' "$pkg") $tarball"
		return
	fi
	deb=$(ls "$APT_PRIVATE/$pkg"_*_all.deb 2>/dev/null | sort -V | tail -n1) || true
	[ -n "$deb" ] && echo "$(dpkg-deb -f "$deb" Version) $deb"
	return 0
}

# Version string of the rustc the kernel is built with, e.g. "1.95.0".
rustc_version() { rustc --version | awk '{print $2}'; }

# Where the matching Rust standard library sources are extracted.
rust_lib_src() { echo "$LOGWRITES_CACHE/rust-src/usr/src/rustc-$(rustc_version)/library"; }

# Sudo only when needed (CI and these machines run as root).
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Builds lwlog and lw-workload (release) and the `replay-log` link to lwlog
# (lwlog behaves as xfstests' replay-log when called by that name).
build_tools() {
	(cd "$REPO" && cargo build --release --quiet) || die "cargo build failed"
	ln -sfn lwlog "$REPO/target/release/replay-log"
}

# The xfstests source: $XFSTESTS_SRC, or the tarball in ../shared/xfstests/
# beside this checkout; prints nothing when there is neither.
xfstests_src() {
	if [ -n "${XFSTESTS_SRC:-}" ]; then
		echo "$XFSTESTS_SRC"
	else
		ls "$REPO"/../shared/xfstests/xfstests-*.tar* 2>/dev/null | head -n1 || true
	fi
}
