# SPDX-License-Identifier: GPL-2.0
#
# make            build shstk.ko for the running kernel (KDIR= to override)
# make check      static checks, then every test in both guests
# make demo       boot the CET guest and show what shstk does
# make help       all targets

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build

# module/version.h is the one place for the version; dkms.conf repeats it.
VERSION := $(shell sed -n 's/^\#define SHSTK_VERSION "\(.*\)"$$/\1/p' module/version.h)
DKMS_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' dkms.conf)
DKMS_SRC := /usr/src/shstk-$(VERSION)
DIST := shstk-$(VERSION)

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || \
		rm -rf module/*.o module/.*.cmd *.o .*.cmd *.ko *.mod *.mod.c Module.symvers modules.order
	$(MAKE) -C tests clean
	$(MAKE) -C bench clean
	rm -f shstk-*.tar.gz

check:
	tests/check

demo:
	tests/demo

# The same demo in the arm64 GCS guest (QEMU).
demo-gcs:
	tests/demo --gcs

# The same demo in the RISC-V Zicfiss guest (QEMU).
demo-zicfiss:
	tests/demo --zicfiss

# Not in .ci/run: builds a KASAN/lockdep/kmemleak kernel (~8.5 min cold)
# and runs the whole guest suite on it in Bochs (~9 min). Results:
# tests/debug-kernel-result.md.
check-debug:
	tests/debug-check

check-races:
	tests/debug-races

# Not in .ci/run: the benchmarks in the CET guest (~4 min); writes
# bench/results/ (tables, CSV, SVG plots). bench-quick: a shorter try.
bench:
	bench/run

bench-quick:
	bench/run --quick

# The arm64 figures that do not depend on timing, in the GCS guest (QEMU
# TCG): bench/results-arm64/.
bench-gcs:
	bench/run --gcs

# The same figures in the RISC-V Zicfiss guest (QEMU TCG): bench/results-riscv64/.
bench-zicfiss:
	bench/run --zicfiss

# The DKMS source tree: only what the build needs. $(call copy-src,DIR)
define copy-src
	install -d $(1)/module $(1)/uapi/linux
	install -m 644 Kbuild Makefile dkms.conf $(1)/
	install -m 644 module/*.c module/*.h $(1)/module/
	install -m 644 uapi/linux/*.h $(1)/uapi/linux/
endef

version-check:
	@[ -n "$(VERSION)" ] || { echo 'no SHSTK_VERSION in module/version.h' >&2; exit 1; }
	@[ "$(VERSION)" = "$(DKMS_VERSION)" ] || { echo "dkms.conf PACKAGE_VERSION is" \
		"'$(DKMS_VERSION)', module/version.h says '$(VERSION)': make them equal" >&2; exit 1; }

# DKMS_ARCH: the kernel's architecture as DKMS names it (aarch64, riscv64), for a
# kernel of another architecture than this machine's (a cross build).
DKMS_KARCH := $(if $(DKMS_ARCH),/$(DKMS_ARCH))

# Replaces an earlier install of the same version (on every kernel).
dkms-install: version-check
	@if [ -n "$$(dkms status -m shstk -v $(VERSION) 2>/dev/null)" ]; then \
		echo "dkms remove shstk/$(VERSION) --all  (replacing the installed copy)"; \
		dkms remove shstk/$(VERSION) --all; fi
	rm -rf $(DKMS_SRC)
	$(call copy-src,$(DKMS_SRC))
	dkms add shstk/$(VERSION)
	dkms build shstk/$(VERSION) -k $(KVER)$(DKMS_KARCH)
	dkms install shstk/$(VERSION) -k $(KVER)$(DKMS_KARCH)
	depmod -a $(KVER)

dkms-remove: version-check
	@if [ -n "$$(dkms status -m shstk -v $(VERSION) 2>/dev/null)" ]; then \
		echo "dkms remove shstk/$(VERSION) --all"; dkms remove shstk/$(VERSION) --all; fi
	rm -rf $(DKMS_SRC)

# A plain source tarball with one top directory, shstk-VERSION/: unpack it
# in /usr/src (or anywhere, then `dkms add DIR`). Reproducible bytes.
dist: version-check
	rm -rf $(DIST).tmp $(DIST).tar.gz
	$(call copy-src,$(DIST).tmp/$(DIST))
	install -m 644 README.md $(DIST).tmp/$(DIST)/
	tar -C $(DIST).tmp --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@$${SOURCE_DATE_EPOCH:-0} -cf - $(DIST) | gzip -9n >$(DIST).tar.gz
	rm -rf $(DIST).tmp
	@echo "wrote $(DIST).tar.gz"

help:
	@echo 'Targets:'
	@echo '  module (default)  build shstk.ko against KDIR (default: the running kernel)'
	@echo '  check             install test deps, run static checks and all tests in the'
	@echo '                    QEMU (plain) and Bochs (CET) guests on Linux 6.12, 7.3 and 7.2'
	@echo '                    (SHSTK_KVER=7.3 make check: one kernel); prints N passed, N failed'
	@echo '  demo              boot the CET guest, load the module, show shstk at work'
	@echo '  demo-gcs          the same demo in the arm64 GCS guest (QEMU)'
	@echo '  demo-zicfiss      the same demo in the RISC-V Zicfiss guest (QEMU)'
	@echo '  check-debug       CET tests on a debug kernel (KASAN, lockdep, kmemleak; slow)'
	@echo '  check-races       race tests with pauses in a SHSTK_DEBUG_DELAYS=1 module build'
	@echo '  bench             benchmarks in the CET guest: bench/results/ (table, CSV, SVG; slow)'
	@echo '  bench-quick       a shorter benchmark run into bench/results-quick/'
	@echo '  bench-gcs         arm64 commit, strict-overcommit and USAGE figures: bench/results-arm64/'
	@echo '  bench-zicfiss     the same RISC-V figures: bench/results-riscv64/'
	@echo '  dkms-install      (root) copy the sources to /usr/src/shstk-VERSION, then dkms'
	@echo '                    add, build and install for KVER, and depmod'
	@echo '  dkms-remove       (root) dkms remove shstk/VERSION --all, rm /usr/src/shstk-VERSION'
	@echo '  dist              shstk-VERSION.tar.gz: the DKMS source tree in shstk-VERSION/'
	@echo '  clean             remove build products'
	@echo 'Variables: KVER=<kernel release> (default: the running kernel; DKMS targets),'
	@echo '           KDIR=<kernel build dir> (default: /lib/modules/KVER/build),'
	@echo '           DKMS_ARCH=<arch> (DKMS targets, a kernel of another architecture),'
	@echo '           W=1 and C=2 pass through to Kbuild.'

.PHONY: all module clean check check-debug check-races bench bench-quick bench-gcs bench-zicfiss demo demo-gcs demo-zicfiss help version-check dkms-install dkms-remove dist
