# shellcheck shell=bash
# Shared settings for the project's scripts. Sourced, never run.
#
# Everything heavy (apt-private state, rust-src, kernel builds) lives in
# $LOGWRITES_CACHE, outside the checkout, so a fresh clone reuses it.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOGWRITES_CACHE=${LOGWRITES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust-dm-logwrites}
export LOGWRITES_CACHE

# The kernel we build against: linux-source-6.12 from bookworm-security.
KERNEL_TARBALL=/usr/src/linux-source-6.12.tar.xz
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-14/lib}
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
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
