# SPDX-License-Identifier: GPL-2.0
#
# make            build shstk.ko for the running kernel (KDIR= to override)
# make check      static checks, then every test in both guests
# make demo       boot the CET guest and show what shstk does
# make help       all targets

KDIR ?= /lib/modules/$(shell uname -r)/build

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || \
		rm -rf module/*.o module/.*.cmd *.o .*.cmd *.ko *.mod *.mod.c Module.symvers modules.order
	$(MAKE) -C tests clean

check:
	tests/check

demo:
	tests/demo

help:
	@echo 'Targets:'
	@echo '  module (default)  build shstk.ko against KDIR (default: the running kernel)'
	@echo '  check             install test deps, run static checks and all tests in the'
	@echo '                    QEMU (plain) and Bochs (CET) guests; prints N passed, N failed'
	@echo '  demo              boot the CET guest, load the module, show shstk at work'
	@echo '  clean             remove build products'
	@echo 'Variables: KDIR=<kernel build dir>, W=1 and C=2 pass through to Kbuild.'

.PHONY: all module clean check demo help
