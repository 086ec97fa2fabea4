# cowroot: `make` builds, `make test` runs every test, `make bench` measures,
# `make install PREFIX=DIR` installs a relocatable tree.
PREFIX ?= /usr/local
BUILD  ?= build
CXX    ?= g++

WARN      := -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
CXXFLAGS  ?= -O2 -g
BASEFLAGS := -std=c++20 $(WARN) -MMD -MP
# The core and the wrappers go into every program of a session: no
# guarded statics (their guards pull in libstdc++'s exception runtime, which
# allocates at load time; ours only cache dlsym results, a benign race),
# exceptions, no RTTI, nothing exported but the wrappers.
PICFLAGS  := $(BASEFLAGS) -fPIC -fvisibility=hidden -fno-exceptions -fno-rtti -fno-asynchronous-unwind-tables \
             -fno-threadsafe-statics \
             -fno-stack-protector -D_GNU_SOURCE

# preload/ops.tbl, the table of every front door, generates the exported
# wrappers that are one call into the core (doors.cc) and the table as the
# core's data (optable.cc).
GEN      := $(BUILD)/gen
CORE_SRC := preload/core/state.cc preload/core/proclock.cc preload/core/state_io.cc preload/core/perm.cc preload/core/procfs.cc preload/core/ops_files.cc preload/core/ops_xattr.cc preload/core/ops_ids.cc preload/core/ops_names.cc preload/core/session.cc \
            preload/core/resolve.cc preload/core/resolve_perm.cc preload/core/ldconf.cc preload/core/loader.cc preload/core/exec.cc preload/core/cow.cc \
            preload/core/session_end.cc preload/core/confine.cc
CORE_OBJ := $(CORE_SRC:%.cc=$(BUILD)/%.o) $(GEN)/optable.o
WRAP_SRC := $(wildcard preload/wrap/*.cc)
WRAP_OBJ := $(WRAP_SRC:%.cc=$(BUILD)/%.o) $(GEN)/doors.o
CORE_LIB := $(BUILD)/libcowroot-core.a
# The command line's side of copy-on-write (making, resetting, pooling and
# sealing clones): for cowroot and the fixture, never in the preload.
CLONE_SRC := cli/clone/clone.cc cli/clone/reset.cc cli/clone/seal.cc cli/clone/pool.cc cli/clone/sidecar.cc \
             cli/clone/tree.cc
CLONE_LIB := $(BUILD)/libcowroot-clone.a
PRELOAD  := $(BUILD)/libcowroot.so
FAKED    := $(BUILD)/cowroot-faked
CLI      := $(BUILD)/cowroot
TRACE    := $(BUILD)/cowroot-trace
# Programs that bypass libc are confined on x86_64 (preload/core/confine.h).
ARCH     := $(shell uname -m)
ifeq ($(ARCH),x86_64)
STUB     := $(BUILD)/cowroot-stub
AUDIT    := $(BUILD)/cowroot-audit.so
LIBENTRY := -Wl,-e,cr_static_entry
RAWPROGS := $(BUILD)/tests/rawprog $(BUILD)/tests/rawprog-static
endif
FIXTURE  := $(BUILD)/libcowroot-fixture.a
FIXTURE_SO := $(BUILD)/libcowroot-fixture.so
TESTS    := $(BUILD)/tests/unit_tests $(BUILD)/tests/resolve_tests $(BUILD)/tests/fakeroot_tests \
            $(BUILD)/tests/chroot_tests $(BUILD)/tests/cow_tests $(BUILD)/tests/fixture_tests \
            $(BUILD)/tests/fixture_root_tests $(BUILD)/tests/fixture_api_tests $(BUILD)/tests/fixture_parallel_tests \
            $(BUILD)/tests/fixture_layer_tests $(BUILD)/tests/fixture_archive_tests $(BUILD)/tests/fixture_gtest \
            $(BUILD)/tests/optable_tests $(BUILD)/tests/confine_tests $(BUILD)/tests/users_tests \
            $(BUILD)/tests/daemon_tests $(BUILD)/tests/hostile_tests $(BUILD)/tests/fuzz_replay $(BUILD)/tests/tsan_tests \
            $(BUILD)/tests/load_tests $(BUILD)/tests/debootstrap_tests $(BUILD)/tests/releases_tests
HELPER   := $(BUILD)/tests/helper $(RAWPROGS)
BENCH    := $(BUILD)/bench/callpath $(BUILD)/bench/timeit $(BUILD)/bench/fixture_cases $(BUILD)/bench/relcall $(BUILD)/bench/rawstat $(BUILD)/bench/rawstat-static $(BUILD)/bench/pagecost

all: $(BUILD)/.deps-build $(PRELOAD) $(AUDIT) $(FAKED) $(CLI) $(TRACE) $(STUB) $(CLONE_LIB) $(FIXTURE) $(FIXTURE_SO)

$(BUILD)/.deps-%: mk/deps.sh
	@mkdir -p $(BUILD)
	@sh mk/deps.sh $*
	@touch $@

$(BUILD)/preload/%.o: preload/%.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(PICFLAGS) -c $< -o $@

$(GEN)/doors.cc $(GEN)/optable.cc: preload/ops.tbl mk/gen-ops.py
	@mkdir -p $(GEN)
	python3 mk/gen-ops.py preload/ops.tbl $(GEN)/doors.cc $(GEN)/optable.cc

$(GEN)/doors.o: $(GEN)/doors.cc | $(BUILD)/.deps-build
	$(CXX) $(CXXFLAGS) $(PICFLAGS) -Ipreload/wrap -c $< -o $@

$(GEN)/optable.o: $(GEN)/optable.cc | $(BUILD)/.deps-build
	$(CXX) $(CXXFLAGS) $(PICFLAGS) -Ipreload/core -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

# The export list is whatever the wrapper object defines: adding a wrapper
# exports it, and nothing of the core, libstdc++ or libgcc leaks out.
$(BUILD)/exports.map: $(WRAP_OBJ)
	{ echo '{ global:'; nm -g --defined-only $^ | awk '$$2 == "T" { print "  " $$3 ";" }' | sort -u; echo 'local: *; };'; } > $@

ifdef PRELOAD_FROM
# A sanitizer build (make test-asan) takes the library from the regular
# build: it goes into every program of a session, few of which could load
# a sanitizer's runtime first.
$(PRELOAD): $(PRELOAD_FROM)
	cp $< $@
else
$(PRELOAD): $(WRAP_OBJ) $(CORE_LIB) $(BUILD)/exports.map
	$(CXX) -shared $(WRAP_OBJ) $(CORE_LIB) -Wl,--version-script=$(BUILD)/exports.map $(LIBENTRY) \
	  -static-libstdc++ -static-libgcc -Wl,--as-needed -Wl,-z,defs -Wl,-z,now -Wl,-z,noseparate-code -Wl,-z,initfirst -o $@.tmp
	python3 mk/gen-ops.py --check-exports preload/ops.tbl $@.tmp
	sh mk/check-glibc.sh $@.tmp 2.28
	mv $@.tmp $@
endif

$(BUILD)/%.o: %.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) -D_GNU_SOURCE -Ifixture/include -c $< -o $@

$(CLONE_LIB): $(CLONE_SRC:%.cc=$(BUILD)/%.o)
	rm -f $@
	ar rcs $@ $^

# The test fixture: a static library over the clone library and the core
# (fixture/include/cowroot), with the command's code for sessions and pool
# slots it shares.
FIXTURE_SRC := fixture/fixture.cc fixture/spawn.cc fixture/helpers.cc fixture/users.cc fixture/keep.cc \
               fixture/capi.cc fixture/prefix.cc cli/procs.cc cli/slots.cc cli/session.cc cli/roots.cc faked/daemon.cc
FIXTURE_OBJ := $(FIXTURE_SRC:%.cc=$(BUILD)/%.o)
$(FIXTURE): $(FIXTURE_OBJ)
	rm -f $@
	ar rcs $@ $^

# The same as a shared library, with the core inside (its symbols hidden):
# what other languages load (ctypes), found by its own location.
$(BUILD)/pic/%.o: %.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) -fPIC -D_GNU_SOURCE -Ifixture/include -c $< -o $@

$(FIXTURE_SO): $(FIXTURE_SRC:%.cc=$(BUILD)/pic/%.o) $(CLONE_SRC:%.cc=$(BUILD)/pic/%.o) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -shared -o $@ -Wl,-soname,libcowroot-fixture.so $^ -lpthread -Wl,-z,defs -Wl,--as-needed

# Programs run once per session or reset: without libstdc++'s shared
# object to load and relocate they start ~1 ms sooner.
$(FAKED): $(BUILD)/faked/faked.o $(BUILD)/faked/daemon.o $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -static-libstdc++ -static-libgcc

CLI_OBJ := $(BUILD)/cli/cowroot.o $(BUILD)/cli/session.o $(BUILD)/faked/daemon.o $(BUILD)/cli/base_cmds.o $(BUILD)/cli/images.o $(BUILD)/cli/image_cmd.o $(BUILD)/cli/build.o \
           $(BUILD)/cli/layers.o $(BUILD)/cli/archive.o $(BUILD)/cli/sha256.o $(BUILD)/cli/procs.o $(BUILD)/cli/slots.o $(BUILD)/cli/roots.o
$(CLI): $(CLI_OBJ) $(CLONE_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -static-libstdc++ -static-libgcc

$(TRACE): $(BUILD)/cli/trace.o $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -static-libstdc++ -static-libgcc

ifneq ($(STUB),)
# cowroot-stub: the first code of every program a confined process starts
# (preload/core/confine.h). No libc, linked at the filter's fixed window:
# its first page is the gate, its code follows.
STUBFLAGS := -std=c++20 $(WARN) -MMD -MP -D_GNU_SOURCE -ffreestanding -fno-exceptions -fno-rtti \
             -fno-asynchronous-unwind-tables -fno-stack-protector -fno-tree-loop-distribute-patterns -fPIE \
             -fvisibility=hidden
# Never instrumented (a sanitizer build's flags are left out): it has no
# runtime to call, and runs before any program's own.
$(BUILD)/stub/stub.o: preload/stub/stub.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(filter-out -fsanitize=%,$(CXXFLAGS)) $(STUBFLAGS) -c $< -o $@

$(STUB): $(BUILD)/stub/stub.o
	$(CXX) -static -nostdlib -no-pie -Wl,-Ttext-segment=0x7e903ff10000 -Wl,--section-start=.crgate=0x7e903ff00000 \
	  -Wl,--section-start=.crinfo=0x7e903ff01000 -Wl,-z,noexecstack -Wl,-z,norelro -Wl,-z,noseparate-code -Wl,--build-id=none -o $@ $^
	@test "$$(nm $@ | awk '$$3 == "cr_gate" || $$3 == "cr_stub_page" { print $$1 }' | sort | tr '\n' ' ')" = \
	  "00007e903ff00000 00007e903ff01000 " || { echo "cowroot-stub: the gate is not at its fixed address" >&2; rm -f $@; exit 1; }

# cowroot-audit.so: the root's loader's audit module (preload/audit/audit.cc),
# beside the daemon. No libc (x86_64 system calls, as the stub's) and no
# instrumentation: it runs in the audit namespace, before any program's code.
$(BUILD)/audit/audit.o: preload/audit/audit.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(filter-out -fsanitize=% -O%,$(CXXFLAGS)) -Os -std=c++20 $(WARN) -MMD -MP -ffreestanding -fno-exceptions -fno-rtti \
	  -fno-asynchronous-unwind-tables -fno-stack-protector -fno-tree-loop-distribute-patterns -fPIC -fvisibility=hidden \
	  -c $< -o $@

$(AUDIT): $(BUILD)/audit/audit.o
	$(CXX) -shared -nostdlib -Wl,-z,noexecstack -Wl,-z,noseparate-code -Wl,-z,norelro -Wl,--hash-style=gnu \
	  -Wl,--build-id=none -Wl,-s -o $@ $^
	@# Two mappings, nothing to relocate: the loader writes no page of it but .dynamic.
	@test -z "$$(readelf -d $@ | grep -E 'NEEDED|RELA?SZ|TEXTREL')" || \
	  { echo "cowroot-audit.so: must need no library and have no relocation" >&2; rm -f $@; exit 1; }
endif

$(BUILD)/tests/helper: $(BUILD)/tests/helper.o
	$(CXX) $(LDFLAGS) -o $@ $^

# A program that bypasses libc (inline system calls), for confine_tests.
$(BUILD)/tests/rawprog: $(BUILD)/tests/rawprog.o
	$(CXX) -o $@ $^ -lpthread

# The same, static (glibc's static libc: no library can be preloaded into it).
$(BUILD)/tests/rawprog-static: $(BUILD)/tests/rawprog.o
	$(CXX) -static -o $@ $^ -lpthread

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/main.o $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lpthread

$(BUILD)/tests/fixture_%: $(BUILD)/tests/fixture_%.o $(BUILD)/tests/main.o $(FIXTURE) $(CLONE_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lpthread

# Two users at once: its own main (it starts as root and acts as two uids).
$(BUILD)/tests/hostile_tests: $(BUILD)/tests/hostile_tests.o $(CLONE_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lpthread

# The fuzz targets (tests/fuzz/): in the regular build, all in one program
# that runs every input of their corpora once (`make fuzz` fuzzes them).
FUZZ_TARGETS := state_load proto journal shared elf ldconf resolve
$(BUILD)/tests/fuzz/replay/%.o: tests/fuzz/%.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) -D_GNU_SOURCE -DCOWROOT_FUZZ_REPLAY -Ifixture/include -c $< -o $@

$(BUILD)/tests/fuzz_replay: $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/replay/%.o) $(BUILD)/tests/fuzz/replay/replay.o \
                            $(BUILD)/tests/main.o $(CLONE_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lpthread

$(BUILD)/tests/tsan_tests: $(BUILD)/tests/tsan_tests.o $(BUILD)/tests/main.o $(CLONE_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lpthread

# Load and faults: its own main (it is also its own helper program).
$(BUILD)/tests/load_tests: $(BUILD)/tests/load_tests.o $(CLONE_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lpthread

$(BUILD)/tests/releases_tests: $(BUILD)/tests/releases_tests.o $(BUILD)/tests/main.o $(FIXTURE) $(CLONE_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lpthread

# The GoogleTest adapter, with GoogleTest's own runner (and its own main).
# C++17, strictly: the adapter's header and its example must not need C++20.
$(BUILD)/tests/fixture_gtest.o: tests/fixture_gtest.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) -std=c++17 -pedantic-errors -D_GNU_SOURCE -Ifixture/include -c $< -o $@

$(BUILD)/tests/fixture_gtest: $(BUILD)/tests/fixture_gtest.o $(FIXTURE) $(CLONE_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lgtest -lpthread

# libelf is the reference the exec path's own ELF reader is checked against.
$(BUILD)/tests/unit_tests: $(BUILD)/tests/unit_tests.o $(BUILD)/tests/main.o $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lpthread -lelf

$(BUILD)/bench/callpath: $(BUILD)/bench/callpath.o
	$(CXX) $(LDFLAGS) -o $@ $^

$(BUILD)/bench/timeit: $(BUILD)/bench/timeit.o
	$(CXX) $(LDFLAGS) -o $@ $^

$(BUILD)/bench/pagecost: $(BUILD)/bench/pagecost.o
	$(CXX) $(LDFLAGS) -o $@ $^

# ---- fuzzing: libFuzzer through Debian's clang, with ASan and UBSan --------
# Each target runs FUZZ_SECONDS (default 10) from tests/fuzz/corpus/TARGET/;
# the whole build (core included) is instrumented, in its own directory.
FUZZ_BUILD   ?= build-fuzz
FUZZ_CXX     ?= clang++-14
FUZZ_SECONDS ?= 10
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

fuzz: $(BUILD)/.deps-fuzz
	$(MAKE) BUILD=$(FUZZ_BUILD) CXX=$(FUZZ_CXX) CXXFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" fuzz-targets
	sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-targets: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(CLONE_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -fsanitize=fuzzer -o $@ $^ -lpthread

# ---- sanitizers --------------------------------------------------------------
# make test-asan: the core, the command, the daemon, the fixture and every
# test program built with AddressSanitizer and
# UndefinedBehaviorSanitizer in $(ASAN_BUILD), then the suites run as by
# make test-quick (the preload library itself is the regular build's, see
# PRELOAD_FROM). Any report fails the run: a test program's fails its
# suite; cowroot's and cowroot-faked's go to
# $(SAN_LOGS).PID (cli/sanitizer_log.h), which fails the run at its end
# (mk/san-logs.sh).
ASAN_BUILD := build-asan
TSAN_BUILD := build-tsan
SAN_LOGS   := /tmp/cowroot-sanitizer-log
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
              -DCOWROOT_SANITIZER_LOG=$(SAN_LOGS)
# Not the suites that need the Debian archive (test-asan runs without it).
ASAN_TESTS := $(filter-out %/debootstrap_tests %/releases_tests,$(TESTS:$(BUILD)/%=$(ASAN_BUILD)/%))
test-asan: all
	rm -f $(SAN_LOGS).*
	$(MAKE) BUILD=$(ASAN_BUILD) CXXFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" PRELOAD_FROM=$(PRELOAD) \
	  all $(ASAN_TESTS)
	@# The helper, the raw programs and cowroot-trace run inside roots, through the root's loader
	@# run as a program, where ASan's runtime cannot come first ("ld.so PROG"
	@# by name) and its recvmmsg check takes a truncated name's full length
	@# for a write: the regular build's (newer than their objects, so the
	@# install keeps them).
	$(MAKE) $(HELPER) $(TRACE)
	mkdir -p $(ASAN_BUILD)/tests && cp $(HELPER) $(ASAN_BUILD)/tests/ && cp $(TRACE) $(ASAN_BUILD)/cowroot-trace
	@# Test programs built against the (instrumented) install link the runtimes too.
	CXXFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" PRELOAD_FROM=$(PRELOAD) COWROOT_TEST_DEBOOTSTRAP=0 \
	  COWROOT_TEST_PYTHON=0 COWROOT_TEST_LINK_FLAGS="-fsanitize=address,undefined" sh tests/run.sh $(ASAN_BUILD) $(ASAN_TESTS)
	@sh mk/san-logs.sh $(SAN_LOGS)

# make test-tsan: ThreadSanitizer over what is concurrent inside one
# process: threads sharing a state table (and processes, each with threads,
# sharing its file), growing it, saving it; the clone pool taken and given
# back by several threads (tests/tsan_tests.cc).
test-tsan: $(BUILD)/.deps-test
	$(MAKE) BUILD=$(TSAN_BUILD) CXXFLAGS="-O1 -g -fsanitize=thread" LDFLAGS=-fsanitize=thread $(TSAN_BUILD)/tests/tsan_tests
	@# It needs no install: a private TMPDIR the uid it drops to can use.
	t=$$(mktemp -d /tmp/cowroot-tsan.XXXXXX) && chmod 1777 $$t && \
	  TMPDIR=$$t TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(TSAN_BUILD)/tests/tsan_tests; \
	  rc=$$?; rm -rf $$t; exit $$rc

$(BUILD)/bench/fixture_cases: $(BUILD)/bench/fixture_cases.o $(FIXTURE) $(CLONE_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lpthread

# Runs in a root of any release: no start files, symbols pinned to the
# oldest glibc's (checked as the library is).
$(BUILD)/bench/relcall: bench/relcall.c mk/check-glibc.sh
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -nostartfiles -fno-stack-protector -U_FORTIFY_SOURCE -o $@.tmp bench/relcall.c
	sh mk/check-glibc.sh $@.tmp 2.17
	mv $@.tmp $@

$(BUILD)/bench/rawstat: $(BUILD)/bench/rawstat.o
	$(CXX) -o $@ $^

$(BUILD)/bench/rawstat-static: $(BUILD)/bench/rawstat.o
	$(CXX) -static -o $@ $^

# ---- install -------------------------------------------------------------
HEADERS := preload/core/state.h preload/core/session.h preload/core/ops.h preload/core/proto.h preload/core/sys.h \
           preload/core/resolve.h preload/core/exec.h preload/core/cow.h preload/core/cow_format.h cli/clone/clone.h preload/core/perm.h \
           fixture/include/cowroot/fixture.h fixture/include/cowroot/doctest.h fixture/include/cowroot/gtest.h \
           fixture/include/cowroot/fixture_c.h

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/libexec/cowroot \
	  $(DESTDIR)$(PREFIX)/include/cowroot
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/cowroot
	install -m 755 $(FAKED) $(DESTDIR)$(PREFIX)/libexec/cowroot/cowroot-faked
	install -m 755 $(TRACE) $(DESTDIR)$(PREFIX)/libexec/cowroot/cowroot-trace
	$(if $(STUB),install -m 755 $(STUB) $(DESTDIR)$(PREFIX)/libexec/cowroot/cowroot-stub)
	install -m 755 $(PRELOAD) $(DESTDIR)$(PREFIX)/lib/libcowroot.so
	$(if $(AUDIT),install -m 644 $(AUDIT) $(DESTDIR)$(PREFIX)/libexec/cowroot/cowroot-audit.so)
	install -m 644 $(CORE_LIB) $(DESTDIR)$(PREFIX)/lib/libcowroot-core.a
	install -m 644 $(CLONE_LIB) $(DESTDIR)$(PREFIX)/lib/libcowroot-clone.a
	install -m 755 $(FIXTURE_SO) $(DESTDIR)$(PREFIX)/lib/libcowroot-fixture.so
	@# The static fixture with the prefix it is installed under baked in
	@# (fixture/prefix.cc): a test linked with it finds bin/cowroot there.
	@mkdir -p $(BUILD)/install
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) -DCOWROOT_INSTALL_PREFIX='"$(abspath $(PREFIX))"' -c fixture/prefix.cc \
	  -o $(BUILD)/install/prefix.o
	cp $(FIXTURE) $(BUILD)/install/libcowroot-fixture.a && ar rs $(BUILD)/install/libcowroot-fixture.a $(BUILD)/install/prefix.o
	install -m 644 $(BUILD)/install/libcowroot-fixture.a $(DESTDIR)$(PREFIX)/lib/libcowroot-fixture.a
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/cowroot/
	sed 's/@VERSION@/0.1/' mk/cowroot.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cowroot.pc
	sed 's/@VERSION@/0.1/' mk/cowroot-fixture.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cowroot-fixture.pc
	$(MAKE) -s install-python
	@# find_package(cowroot): relative to its own place, like the .pc files.
	install -d $(DESTDIR)$(PREFIX)/lib/cmake/cowroot
	sed 's/@VERSION@/0.1/' mk/cowrootConfig.cmake.in > $(DESTDIR)$(PREFIX)/lib/cmake/cowroot/cowrootConfig.cmake
	sed 's/@VERSION@/0.1/' mk/cowrootConfigVersion.cmake.in > $(DESTDIR)$(PREFIX)/lib/cmake/cowroot/cowrootConfigVersion.cmake

# The Python package where the host's python3 looks for PREFIX's packages
# (Debian's has /usr/local/lib/python3.X/dist-packages on sys.path), with
# its metadata: the entry point that has pytest load the plugin. It loads
# PREFIX/lib/libcowroot-fixture.so, found relative to itself (_install.py).
PYTHON3 ?= $(firstword $(wildcard /usr/bin/python3) python3)
PYVER    = $(shell $(PYTHON3) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PYDIR   ?= $(PREFIX)/lib/python$(PYVER)/dist-packages
PY_SRC  := $(wildcard python/cowroot/*.py)
PY_INFO := python/cowroot-dist-info

install-python:
	@test -n "$(PYVER)" || { echo "cowroot: $(PYTHON3) does not run: cannot install the Python package" >&2; exit 1; }
	install -d $(DESTDIR)$(PYDIR)/cowroot $(DESTDIR)$(PYDIR)/cowroot-0.1.dist-info
	install -m 644 $(PY_SRC) $(DESTDIR)$(PYDIR)/cowroot/
	echo "LIBDIR = '$$($(PYTHON3) -c 'import os, sys; print(os.path.relpath(sys.argv[2], sys.argv[1]))' \
	  $(abspath $(PYDIR))/cowroot $(abspath $(PREFIX))/lib)'" > $(DESTDIR)$(PYDIR)/cowroot/_install.py
	$(PYTHON3) -m compileall -q -d $(abspath $(PYDIR))/cowroot $(DESTDIR)$(PYDIR)/cowroot >/dev/null
	install -m 644 $(PY_INFO)/METADATA $(PY_INFO)/entry_points.txt $(PY_INFO)/top_level.txt \
	  $(DESTDIR)$(PYDIR)/cowroot-0.1.dist-info/
	echo make > $(DESTDIR)$(PYDIR)/cowroot-0.1.dist-info/INSTALLER
	cd $(DESTDIR)$(PYDIR) && find cowroot cowroot-0.1.dist-info -type f | sort | sed 's/$$/,,/' \
	  > cowroot-0.1.dist-info/RECORD && echo 'cowroot-0.1.dist-info/RECORD,,' >> cowroot-0.1.dist-info/RECORD

# ---- tests and benchmarks --------------------------------------------------
# Then the same suites under ASan and UBSan (make test-asan: about 10
# minutes on 2 cores from a clean tree; TEST_ASAN=0 leaves it out).
test: all $(BUILD)/.deps-test $(TESTS) $(HELPER)
	sh tests/run.sh $(BUILD) $(TESTS)
	@if [ "$${TEST_ASAN:-1}" = 0 ]; then echo "test: the ASan/UBSan run skipped (TEST_ASAN=0)"; else $(MAKE) test-asan; fi

# Everything but the two debootstraps (which need the Debian archive and minutes).
test-quick: all $(BUILD)/.deps-test $(TESTS) $(HELPER)
	COWROOT_TEST_DEBOOTSTRAP=0 sh tests/run.sh $(BUILD) $(TESTS)

# The peers' own test suites with cowroot in their place:
#   make peer-tests FAKEROOT_SRC=/path/to/fakeroot-1.31 FAKECHROOT_SRC=/path/to/fakechroot-2.20.1 \
#                   COWDANCER_SRC=/path/to/cowdancer
peer-tests: all $(BUILD)/.deps-peer
	@test -n "$(FAKEROOT_SRC)$(FAKECHROOT_SRC)$(COWDANCER_SRC)" || { echo "usage: make peer-tests FAKEROOT_SRC=DIR FAKECHROOT_SRC=DIR COWDANCER_SRC=DIR (any of them)" >&2; exit 2; }
	rm -rf $(BUILD)/peer-stage && $(MAKE) -s install PREFIX=$(abspath $(BUILD))/peer-stage >/dev/null
	chmod -R a+rX $(BUILD)/peer-stage
	if [ -n "$(FAKEROOT_SRC)" ]; then sh tests/peer/fakeroot.sh $(abspath $(BUILD))/peer-stage $(FAKEROOT_SRC); fi
	if [ -n "$(FAKECHROOT_SRC)" ]; then sh tests/peer/fakechroot.sh $(abspath $(BUILD))/peer-stage $(FAKECHROOT_SRC); fi
	if [ -n "$(COWDANCER_SRC)" ]; then sh tests/peer/cowdancer.sh $(abspath $(BUILD))/peer-stage $(COWDANCER_SRC); fi

bench: all $(BUILD)/.deps-bench $(BENCH)
	sh bench/run.sh $(BUILD)
	sh bench/roots.sh $(BUILD)
	sh bench/python.sh $(BUILD)
	sh bench/fixture.sh $(BUILD)
	@if [ "$${BENCH_DEBOOTSTRAP:-1}" = 0 ]; then echo "bench: debootstrap comparison skipped (BENCH_DEBOOTSTRAP=0)"; \
	 else sh bench/debootstrap.sh $(BUILD); fi
	@if [ "$${BENCH_RELEASES:-1}" = 0 ]; then echo "bench: other releases skipped (BENCH_RELEASES=0)"; \
	 else sh bench/releases.sh $(BUILD); fi
	@if [ "$${BENCH_EXEC:-1}" = 0 ]; then echo "bench: exec workloads against real root's chroot skipped (BENCH_EXEC=0)"; \
	 else sh bench/exec.sh $(BUILD); fi

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) $(ASAN_BUILD) $(TSAN_BUILD)

.PHONY: all install install-python test test-quick peer-tests bench clean fuzz fuzz-targets test-asan test-tsan
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
