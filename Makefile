# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of rust_dm_logwrites.ko against the project's cached
# kernel (scripts/build-kernel); KDIR=<kernel build dir> overrides it.
#
#   make              build the kernel if needed, then rust_dm_logwrites.ko
#   make kdir         print the kernel build directory
#   make check        rustfmt --check, clippy (warnings are errors) and the
#                     compile-fail cases (scripts/compile-fail)
#   make rust-analyzer  write rust-project.json
#   make test         host unit tests and VM tests (tests/run)
#   make demo         the main job: log an ext4 workload, replay it, fsck
#   make bench        ours against C and linear on the release kernel
#   make xfstests     xfstests' log-writes tests in the VM (scripts/xfstests;
#                     TARGET=rust|c, FSTYP=ext4|xfs|btrfs, TESTS=...: each
#                     defaults to all)
#   make tools        lwlog and lw-workload (release), and the replay-log
#                     link to lwlog
#   make install      lwlog and its replay-log link into $(DESTDIR)$(PREFIX)/bin
#   make clean

VARIANT ?= debug
ifeq ($(origin KDIR),undefined)
KDIR := $(shell scripts/build-kernel $(VARIANT) --print-dir)
KERNEL_DEP := kernel
endif
RUST_LIB_SRC := $(shell bash -c '. scripts/common.sh && rust_lib_src')
export LIBCLANG_PATH ?= /usr/lib/llvm-14/lib
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) RUST_LIB_SRC=$(RUST_LIB_SRC)

# A module built against one kernel must not be reused with another: remember
# which KDIR the objects in the tree belong to and start over when it changes.
define forget_other_kdir
@if [ "$$(cat .kdir 2>/dev/null)" != "$(KDIR)" ]; then \
	$(KMAKE) clean >/dev/null 2>&1; echo "$(KDIR)" > .kdir; fi
endef

.PHONY: all modules kernel kdir check clean rust-analyzer test demo bench xfstests tools install
all: modules

kernel:
	@scripts/build-kernel $(VARIANT) >/dev/null

modules: $(KERNEL_DEP)
	$(forget_other_kdir)
	$(KMAKE) modules

kdir:
	@echo $(KDIR)

check: $(KERNEL_DEP)
	rustfmt --check --edition 2021 --config-path $(KDIR)/source/.rustfmt.toml rust_dm_logwrites.rs
	$(forget_other_kdir)
	$(KMAKE) CLIPPY=1 RUST_WERROR=y modules
	cargo fmt --all --check
	cargo clippy --release --quiet --workspace --all-targets -- -D warnings
	scripts/compile-fail "$(KDIR)" "$(RUST_LIB_SRC)"

# The kernel's own `make M=... rust-analyzer` looks for rust/Makefile in
# the module's directory in 6.12, so run its generator directly, with the
# arguments rust/Makefile passes it (core's cfgs and edition).
rust-analyzer: $(KERNEL_DEP)
	python3 $(KDIR)/source/scripts/generate_rust_analyzer.py \
		--cfgs='core=--cfg no_fp_fmt_parse' \
		$$(rustc --version | awk '{split($$2, v, "."); print (v[1] > 1 || v[2] >= 87) ? 2024 : 2021}') \
		$$(realpath $(KDIR)/source) $$(realpath $(KDIR)) $$(rustc --print sysroot) \
		$(RUST_LIB_SRC) $(CURDIR) > rust-project.json.tmp
	mv rust-project.json.tmp rust-project.json

test:
	tests/run

demo:
	scripts/demo $(DEMO_TARGET)

bench:
	scripts/bench

xfstests:
	@rc=0; for t in $(or $(TARGET),rust c); do for f in $(or $(FSTYP),ext4 xfs btrfs); do \
		TARGET=$$t FSTYP=$$f scripts/xfstests $(TESTS) || rc=1; done; done; exit $$rc

tools:
	@bash -c '. scripts/common.sh && build_tools'

PREFIX ?= /usr/local
install: tools
	install -D -m 0755 target/release/lwlog $(DESTDIR)$(PREFIX)/bin/lwlog
	ln -sfn lwlog $(DESTDIR)$(PREFIX)/bin/replay-log

clean:
	-[ -d "$(KDIR)" ] && $(KMAKE) clean
	rm -f .kdir rust-project.json
