# SPDX-License-Identifier: GPL-2.0
#
# virtio-suspend: build the module, the guest kernel it needs, and run the
# tests.  See README.md.  Every target installs or builds what it depends
# on; cached artefacts live under $(VS_CACHE) (default ~/.cache/virtio-suspend).

SHELL := /bin/bash
TOP := $(CURDIR)
ENV := . $(TOP)/tools/env.sh

# Resolved lazily: the kernel directory depends on the installed toolchain.
KDIR ?= $(shell bash $(TOP)/tools/kernel/build.sh --kdir)
KMAKE_RUST = $(shell $(ENV); vs_kmake_rust_args)
KMAKE = $(MAKE) -C $(KDIR) M=$(TOP) $(KMAKE_RUST)
# A job per CPU for the builds below, unless make was given -j (then
# they share its jobs).
JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))

RUST_SOURCES = $(shell find $(TOP)/drivers $(TOP)/samples $(TOP)/tools/host-tests $(TOP)/tools/kernel/misuse $(TOP)/tools/testing \
		 -name '*.rs' -not -path '*/target/*' 2>/dev/null)

.PHONY: all modules deps kernel qemu fio vhost-user check demo bench shell host-test selftests kernel-series \
	fmt fmt-check clippy rust-analyzer clean help

all: modules

help:
	@echo "make demo         build everything, run one suspend/resume cycle, print a report"
	@echo "make check        host unit tests and every guest scenario"
	@echo "make check SCENARIO=name   one guest scenario (tools/scenarios/name.toml)"
	@echo "make check-kcsan [SCENARIO=name]  the race scenarios on a KCSAN guest kernel (not in check)"
	@echo "make shell SCENARIO=name   that scenario's guest with a shell on the console"
	@echo "make mutants [MUTANTS=id,...]  apply the curated mutations, run the checks that must fail"
	@echo "make bench        SUSPEND vs reset latency, Rust vs C throughput: table, CSV, plot"
	@echo "make kernel-series [BISECT=1]  the kernel patches as a series to post, checkpatch'ed (built one by one)"
	@echo "make modules      build virtio_suspend.ko against the guest kernel"
	@echo "make deps|kernel|qemu|fio|vhost-user  install the toolchain / build the guest kernel / our QEMU / fio / the vhost-user backends"
	@echo "make fmt-check clippy rust-analyzer host-test clean"

# The build scripts below run make with a job per CPU of their own: the
# jobserver of a make -j above them would only make each of those makes
# warn that it resets it.
BUILD_SCRIPT := env -u MAKEFLAGS -u MFLAGS bash

deps:
	@bash tools/deps.sh

kernel: deps
	@$(BUILD_SCRIPT) tools/kernel/build.sh >/dev/null

qemu: deps
	@$(BUILD_SCRIPT) tools/qemu/build.sh >/dev/null

# QEMU's own virtio qtests against our QEMU, TAP (tools/qemu/qtest.sh).
.PHONY: check-qemu
check-qemu: qemu
	@bash tools/qemu/qtest.sh

# fio for the guests' initramfs (tools/fio/build.sh).
fio: deps
	@$(BUILD_SCRIPT) tools/fio/build.sh >/dev/null

# The vhost-user backends from crates.io: virtiofsd (virtio-fs) and
# vhost-device-vsock (tools/vhost-user/build.sh).
vhost-user: deps
	@$(BUILD_SCRIPT) tools/vhost-user/build.sh virtiofsd >/dev/null
	@$(BUILD_SCRIPT) tools/vhost-user/build.sh vhost-device-vsock >/dev/null

# Kbuild's dependency files name the kernel crate's metadata relative to
# the kernel tree, so a Rust object built against one guest kernel looks
# up to date against another (new patches or config: another KDIR), and
# the module would run with the old kernel's struct layouts.  The kernel
# tree the objects were built against is recorded; another one cleans
# them first.
#
# One build at a time in the checkout (make -j2 modules check builds
# them in two makes: check's guest-builds is a make of its own), under a
# lock held from the clean to the end of the build.  The recipe runs
# under make -n too (it is a make's), where the makes in it only print:
# it then records no kernel tree, or the clean it printed would be
# skipped by the next real build.
MODULE_KDIR_STAMP := $(TOP)/.build/module-kdir
DRY_RUN = $(findstring n,$(firstword -$(MAKEFLAGS)))

modules: kernel
	+@mkdir -p $(dir $(MODULE_KDIR_STAMP)); \
	exec 9>$(TOP)/.build/modules.lock; flock 9; \
	if [ "$$(cat $(MODULE_KDIR_STAMP) 2>/dev/null)" != "$(KDIR)" ]; then \
		$(KMAKE) clean >/dev/null; \
		$(if $(DRY_RUN),:,echo "$(KDIR)" > $(MODULE_KDIR_STAMP)); \
	fi; \
	echo "$(KMAKE) $(JOBS) modules"; \
	$(KMAKE) $(JOBS) modules

host-test: deps
	cd tools/host-tests && CARGO_TARGET_DIR=$$(cd ../runner && python3 -c 'from vsrun.suites import host_tests_target; print(host_tests_target())') cargo test

# Static binaries, cached under $(VS_CACHE) by the hash of their sources
# (tools/testing/build-selftests.sh): two checkouts on one kernel cache
# run each their own tests; .build/selftests gets copies.
selftests: kernel
	+@bash tools/testing/build-selftests.sh $(KDIR) $(TOP)/.build/selftests $(JOBS)

# What the guests need, built by a make of its own with a job per CPU
# (unless -j was given): the module's crate compiles on one CPU for
# seconds while the selftests' static binaries take the others.
GUEST_BUILDS := modules selftests qemu fio vhost-user
.PHONY: guest-builds
guest-builds:
	+@$(MAKE) --no-print-directory $(JOBS) $(GUEST_BUILDS)

check: guest-builds
	@python3 tools/runner/run.py check $(if $(SCENARIO),--scenario $(SCENARIO)) \
		--kdir $(KDIR)

# The concurrency scenarios (2 vCPUs, racing paths) on the KCSAN variant
# of the guest kernel (tools/kernel/config/variants/kcsan.config): a
# data race KCSAN sees in the C code ("BUG: KCSAN: data-race in ...")
# fails the scenario like any other "BUG:".  Not part of check: the
# kernel is another build, and its guests run several times slower
# (hence the timeouts stretched by KCSAN_TIMEOUT_SCALE).  The module is
# rebuilt against that kernel, and again against the usual one by the
# next make modules/check.
KCSAN_SCENARIOS := admin-race suspend-stress rng-rust
KCSAN_TIMEOUT_SCALE ?= 4
.PHONY: check-kcsan
check-kcsan:
	+@VS_KERNEL_VARIANT=kcsan $(MAKE) --no-print-directory $(JOBS) $(GUEST_BUILDS)
	@export VS_KERNEL_VARIANT=kcsan; python3 tools/runner/run.py check \
		$(foreach s,$(or $(SCENARIO),$(KCSAN_SCENARIOS)),--scenario $(s)) \
		--timeout-scale $(KCSAN_TIMEOUT_SCALE) --kdir "$$(bash tools/kernel/build.sh --kdir)"

# Sleep at length: the scenarios with check = false that make check runs
# shorter (sleep-real: at least 2 real sleeps of each kind there, 12 here;
# device-types-sleep's vsock: 13 cycles there, 68 in vsock-stress).
SLEEP_SCENARIOS := sleep-real-long sleep-real-devices vsock-stress
.PHONY: check-sleep
check-sleep: guest-builds
	@python3 tools/runner/run.py check \
		$(foreach s,$(or $(SCENARIO),$(SLEEP_SCENARIOS)),--scenario $(s)) --kdir $(KDIR)

demo: guest-builds
	@python3 tools/runner/run.py demo --kdir $(KDIR)

# Mutation testing (tools/mutants/): not part of check.  MUTANTS=id1,id2
# runs a subset.
.PHONY: mutants
mutants: guest-builds
	@python3 tools/mutants/run.py --kdir $(KDIR) $(if $(MUTANTS),--only $(MUTANTS))

# The throughput comparisons run on the production variant of the guest
# kernel too (tools/kernel/config/variants/perf.config): bench.py builds
# the module and the test binaries for it, then back for $(KDIR).
bench: guest-builds
	+@python3 tools/runner/bench.py --kdir $(KDIR)

# Documentation/kernel-patches.rst: the cover letter and what is checked.
kernel-series: kernel
	@bash tools/kernel/series.sh $(if $(BISECT),--bisect)

shell: modules selftests
	@python3 tools/runner/run.py shell --scenario $(or $(SCENARIO),devices-rust) --kdir $(KDIR)

fmt: kernel
	@$(ENV); $$VS_RUSTFMT --edition 2021 --config-path $(KDIR)/.rustfmt.toml $(RUST_SOURCES)

fmt-check: kernel
	@$(ENV); $$VS_RUSTFMT --check --edition 2021 --config-path $(KDIR)/.rustfmt.toml $(RUST_SOURCES) \
		&& echo "fmt-check: clean"

# The kernel's own clippy run (CLIPPY=1) over a forced rebuild of the module.
clippy: kernel
	+$(KMAKE) clean
	+$(KMAKE) CLIPPY=1 KCFLAGS= modules 2>&1 | tee $(KDIR)/../clippy.log
	@! grep -q '^warning\|^error' $(KDIR)/../clippy.log && echo "clippy: clean"

rust-analyzer: kernel
	+$(KMAKE) rust-analyzer

clean:
	-+$(KMAKE) clean
