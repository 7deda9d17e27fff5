# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of rust_dm_logwrites.ko against the project's cached
# kernel (scripts/build-kernel): KERNEL=6.12 (the LTS, default) or
# KERNEL=7.3 (the current stable), VARIANT=debug (default) or release;
# KDIR=<kernel build dir> overrides both.
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
#   make install      lwlog and its replay-log link into $(DESTDIR)$(PREFIX)/bin,
#                     and the module into the running kernel's module tree
#                     ($(INSTALL_MOD_PATH)/lib/modules/<release>/updates,
#                     then depmod), built against its build tree
#                     (/lib/modules/$(uname -r)/build unless KDIR is given)
#   make modules_install  the module alone, for KDIR's kernel
#   make dkms-source  the module's sources, for DKMS, into
#                     $(DESTDIR)/usr/src/rust-dm-logwrites-<version>
#   make clean

VARIANT ?= debug
KERNEL ?= 6.12
export KERNEL
ifeq ($(origin KDIR),undefined)
ifneq ($(filter install,$(MAKECMDGOALS)),)
KDIR := /lib/modules/$(shell uname -r)/build
endif
endif
ifeq ($(origin KDIR),undefined)
KDIR := $(shell KERNEL=$(KERNEL) scripts/build-kernel $(VARIANT) --print-dir)
KERNEL_DEP := kernel
$(if $(KDIR),,$(error no kernel for KERNEL=$(KERNEL) VARIANT=$(VARIANT)))
# The libclang the kernel's bindgen was built for.
export LIBCLANG_PATH := $(shell KERNEL=$(KERNEL) bash -c '. scripts/common.sh && echo $$LIBCLANG_PATH')
else
# Any other tree: the newest libclang installed (7.x wants at least 17),
# unless LIBCLANG_PATH says which.
LIBCLANG_PATH ?= $(patsubst %/libclang.so,%,$(shell ls -d /usr/lib/llvm-*/lib/libclang.so 2>/dev/null | sort -V | tail -n1))
export LIBCLANG_PATH
endif
RUST_LIB_SRC := $(shell bash -c '. scripts/common.sh && rust_lib_src')
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) RUST_LIB_SRC=$(RUST_LIB_SRC)

# A module built against one kernel must not be reused with another: remember
# which KDIR the objects in the tree belong to and start over when it changes.
define forget_other_kdir
@if [ "$$(cat .kdir 2>/dev/null)" != "$(KDIR)" ]; then \
	$(KMAKE) clean >/dev/null 2>&1; echo "$(KDIR)" > .kdir; fi
endef

.PHONY: all modules modules_install dkms-source kernel kdir check clean rust-analyzer test demo bench xfstests tools install
all: modules

kernel:
	@scripts/build-kernel $(VARIANT) >/dev/null

modules: $(KERNEL_DEP)
	@scripts/check-kdir "$(KDIR)"
	$(forget_other_kdir)
	$(KMAKE) modules

# Into $(INSTALL_MOD_PATH)/lib/modules/<KDIR's release>/updates; the
# kernel's modules_install then rebuilds the module index there (depmod), so
# that modprobe finds it by name and by its alias dm-log-writes.
modules_install: modules
	$(KMAKE) INSTALL_MOD_DIR=updates modules_install

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
install: tools modules_install
	install -D -m 0755 target/release/lwlog $(DESTDIR)$(PREFIX)/bin/lwlog
	ln -sfn lwlog $(DESTDIR)$(PREFIX)/bin/replay-log

# What DKMS builds the module from (dkms.conf's version): the module's
# sources and the two scripts its Makefile runs, without the rest of the
# workspace.
DKMS_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
DKMS_FILES := dkms.conf Kbuild Makefile LICENSE rust_dm_logwrites.rs logformat/src/lib.rs \
	scripts/common.sh scripts/check-kdir \
	$(shell find src -type f \( -name '*.rs' -o -name '*.h' \) ! -name generated_bindings.rs)
dkms-source:
	@for f in $(DKMS_FILES); do \
		install -D -m 0644 "$$f" "$(DESTDIR)/usr/src/rust-dm-logwrites-$(DKMS_VERSION)/$$f" || exit 1; done
	chmod 0755 "$(DESTDIR)/usr/src/rust-dm-logwrites-$(DKMS_VERSION)/scripts/check-kdir"
	@echo "DKMS sources in $(DESTDIR)/usr/src/rust-dm-logwrites-$(DKMS_VERSION)"

clean:
	-[ -d "$(KDIR)" ] && $(KMAKE) clean
	rm -f .kdir rust-project.json
