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
CORE_SRC := preload/core/state.cc preload/core/state_io.cc preload/core/ops_files.cc preload/core/ops_xattr.cc preload/core/ops_ids.cc preload/core/ops_names.cc preload/core/session.cc \
            preload/core/resolve.cc preload/core/ldconf.cc preload/core/exec.cc preload/core/cow.cc preload/core/cow_build.cc \
            preload/core/confine.cc
CORE_OBJ := $(CORE_SRC:%.cc=$(BUILD)/%.o) $(GEN)/optable.o
WRAP_SRC := $(wildcard preload/wrap/*.cc)
WRAP_OBJ := $(WRAP_SRC:%.cc=$(BUILD)/%.o) $(GEN)/doors.o
CORE_LIB := $(BUILD)/libcowroot-core.a
PRELOAD  := $(BUILD)/libcowroot.so
FAKED    := $(BUILD)/cowroot-faked
CLI      := $(BUILD)/cowroot
TRACE    := $(BUILD)/cowroot-trace
# Programs that bypass libc are confined on x86_64 (preload/core/confine.h).
ARCH     := $(shell uname -m)
ifeq ($(ARCH),x86_64)
STUB     := $(BUILD)/cowroot-stub
LIBENTRY := -Wl,-e,cr_static_entry
RAWPROGS := $(BUILD)/tests/rawprog $(BUILD)/tests/rawprog-static
endif
FIXTURE  := $(BUILD)/libcowroot-fixture.a
TESTS    := $(BUILD)/tests/unit_tests $(BUILD)/tests/fakeroot_tests $(BUILD)/tests/chroot_tests \
            $(BUILD)/tests/cow_tests $(BUILD)/tests/fixture_tests $(BUILD)/tests/fixture_gtest \
            $(BUILD)/tests/optable_tests $(BUILD)/tests/confine_tests $(BUILD)/tests/debootstrap_tests
HELPER   := $(BUILD)/tests/helper $(RAWPROGS)
BENCH    := $(BUILD)/bench/callpath $(BUILD)/bench/timeit $(BUILD)/bench/rawstat $(BUILD)/bench/rawstat-static

all: $(BUILD)/.deps-build $(PRELOAD) $(FAKED) $(CLI) $(TRACE) $(STUB) $(FIXTURE)

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

$(PRELOAD): $(WRAP_OBJ) $(CORE_LIB) $(BUILD)/exports.map
	$(CXX) -shared $(WRAP_OBJ) $(CORE_LIB) -Wl,--version-script=$(BUILD)/exports.map $(LIBENTRY) \
	  -static-libstdc++ -static-libgcc -Wl,--as-needed -Wl,-z,defs -Wl,-z,now -o $@.tmp
	python3 mk/gen-ops.py --check-exports preload/ops.tbl $@.tmp
	mv $@.tmp $@

$(BUILD)/%.o: %.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) -D_GNU_SOURCE -Ifixture/include -c $< -o $@

# The test fixture: a static library over the core (fixture/include/cowroot).
$(FIXTURE): $(BUILD)/fixture/fixture.o
	rm -f $@
	ar rcs $@ $^

# Programs run once per session or reset: without libstdc++'s shared
# object to load and relocate they start ~1 ms sooner.
$(FAKED): $(BUILD)/faked/faked.o $(CORE_LIB)
	$(CXX) -o $@ $^ -static-libstdc++ -static-libgcc

$(CLI): $(BUILD)/cli/cowroot.o $(BUILD)/cli/images.o $(CORE_LIB)
	$(CXX) -o $@ $^ -static-libstdc++ -static-libgcc

$(TRACE): $(BUILD)/cli/trace.o $(CORE_LIB)
	$(CXX) -o $@ $^ -static-libstdc++ -static-libgcc

ifneq ($(STUB),)
# cowroot-stub: the first code of every program a confined process starts
# (preload/core/confine.h). No libc, linked at the filter's fixed window:
# its first page is the gate, its code follows.
STUBFLAGS := -std=c++20 $(WARN) -MMD -MP -D_GNU_SOURCE -ffreestanding -fno-exceptions -fno-rtti \
             -fno-asynchronous-unwind-tables -fno-stack-protector -fno-tree-loop-distribute-patterns -fPIE \
             -fvisibility=hidden
$(BUILD)/stub/stub.o: preload/stub/stub.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(STUBFLAGS) -c $< -o $@

$(STUB): $(BUILD)/stub/stub.o
	$(CXX) -static -nostdlib -no-pie -Wl,-Ttext-segment=0x7e903ff10000 -Wl,--section-start=.crgate=0x7e903ff00000 \
	  -Wl,--section-start=.crinfo=0x7e903ff01000 -Wl,-z,noexecstack -Wl,-z,norelro -Wl,--build-id=none -o $@ $^
	@test "$$(nm $@ | awk '$$3 == "cr_gate" || $$3 == "cr_stub_info" { print $$1 }' | sort | tr '\n' ' ')" = \
	  "00007e903ff00000 00007e903ff01000 " || { echo "cowroot-stub: the gate is not at its fixed address" >&2; rm -f $@; exit 1; }
endif

$(BUILD)/tests/helper: $(BUILD)/tests/helper.o
	$(CXX) -o $@ $^

# A program that bypasses libc (inline system calls), for confine_tests.
$(BUILD)/tests/rawprog: $(BUILD)/tests/rawprog.o
	$(CXX) -o $@ $^ -lpthread

# The same, static (glibc's static libc: no library can be preloaded into it).
$(BUILD)/tests/rawprog-static: $(BUILD)/tests/rawprog.o
	$(CXX) -static -o $@ $^ -lpthread

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/main.o $(CORE_LIB)
	$(CXX) -o $@ $^ -lpthread

$(BUILD)/tests/fixture_tests: $(BUILD)/tests/fixture_tests.o $(BUILD)/tests/main.o $(FIXTURE) $(CORE_LIB)
	$(CXX) -o $@ $^ -lpthread

# The GoogleTest adapter, with GoogleTest's own runner (and its own main).
$(BUILD)/tests/fixture_gtest: $(BUILD)/tests/fixture_gtest.o $(FIXTURE) $(CORE_LIB)
	$(CXX) -o $@ $^ -lgtest -lpthread

# libelf is the reference the exec path's own ELF reader is checked against.
$(BUILD)/tests/unit_tests: $(BUILD)/tests/unit_tests.o $(BUILD)/tests/main.o $(CORE_LIB)
	$(CXX) -o $@ $^ -lpthread -lelf

$(BUILD)/bench/callpath: $(BUILD)/bench/callpath.o
	$(CXX) -o $@ $^

$(BUILD)/bench/timeit: $(BUILD)/bench/timeit.o
	$(CXX) -o $@ $^

$(BUILD)/bench/rawstat: $(BUILD)/bench/rawstat.o
	$(CXX) -o $@ $^

$(BUILD)/bench/rawstat-static: $(BUILD)/bench/rawstat.o
	$(CXX) -static -o $@ $^

# ---- install -------------------------------------------------------------
HEADERS := preload/core/state.h preload/core/session.h preload/core/ops.h preload/core/proto.h preload/core/sys.h \
           preload/core/resolve.h preload/core/exec.h preload/core/cow.h preload/core/cow_format.h \
           fixture/include/cowroot/fixture.h fixture/include/cowroot/doctest.h fixture/include/cowroot/gtest.h

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/libexec/cowroot \
	  $(DESTDIR)$(PREFIX)/include/cowroot
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/cowroot
	install -m 755 $(FAKED) $(DESTDIR)$(PREFIX)/libexec/cowroot/cowroot-faked
	install -m 755 $(TRACE) $(DESTDIR)$(PREFIX)/libexec/cowroot/cowroot-trace
	$(if $(STUB),install -m 755 $(STUB) $(DESTDIR)$(PREFIX)/libexec/cowroot/cowroot-stub)
	install -m 755 $(PRELOAD) $(DESTDIR)$(PREFIX)/lib/libcowroot.so
	install -m 644 $(CORE_LIB) $(DESTDIR)$(PREFIX)/lib/libcowroot-core.a
	install -m 644 $(FIXTURE) $(DESTDIR)$(PREFIX)/lib/libcowroot-fixture.a
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/cowroot/
	sed 's/@VERSION@/0.1/' mk/cowroot.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cowroot.pc
	sed 's/@VERSION@/0.1/' mk/cowroot-fixture.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cowroot-fixture.pc

# ---- tests and benchmarks --------------------------------------------------
test: all $(BUILD)/.deps-test $(TESTS) $(HELPER)
	sh tests/run.sh $(BUILD) $(TESTS)

# Everything but the two debootstraps (which need the Debian archive and minutes).
test-quick: all $(BUILD)/.deps-test $(TESTS) $(HELPER)
	COWROOT_TEST_DEBOOTSTRAP=0 sh tests/run.sh $(BUILD) $(TESTS)

# The peers' own test suites with cowroot in their place:
#   make peer-tests FAKEROOT_SRC=/path/to/fakeroot-1.31 FAKECHROOT_SRC=/path/to/fakechroot-2.20.1 \
#                   COWDANCER_SRC=/path/to/cowdancer
peer-tests: all $(BUILD)/.deps-test
	@test -n "$(FAKEROOT_SRC)$(FAKECHROOT_SRC)$(COWDANCER_SRC)" || { echo "usage: make peer-tests FAKEROOT_SRC=DIR FAKECHROOT_SRC=DIR COWDANCER_SRC=DIR (any of them)" >&2; exit 2; }
	rm -rf $(BUILD)/peer-stage && $(MAKE) -s install PREFIX=$(abspath $(BUILD))/peer-stage >/dev/null
	chmod -R a+rX $(BUILD)/peer-stage
	if [ -n "$(FAKEROOT_SRC)" ]; then sh tests/peer/fakeroot.sh $(abspath $(BUILD))/peer-stage $(FAKEROOT_SRC); fi
	if [ -n "$(FAKECHROOT_SRC)" ]; then sh tests/peer/fakechroot.sh $(abspath $(BUILD))/peer-stage $(FAKECHROOT_SRC); fi
	if [ -n "$(COWDANCER_SRC)" ]; then sh tests/peer/cowdancer.sh $(abspath $(BUILD))/peer-stage $(COWDANCER_SRC); fi

bench: all $(BUILD)/.deps-bench $(BENCH)
	sh bench/run.sh $(BUILD)
	sh bench/roots.sh $(BUILD)
	@if [ "$${BENCH_DEBOOTSTRAP:-1}" = 0 ]; then echo "bench: debootstrap comparison skipped (BENCH_DEBOOTSTRAP=0)"; \
	 else sh bench/debootstrap.sh $(BUILD); fi

clean:
	rm -rf $(BUILD)

.PHONY: all install test test-quick peer-tests bench clean
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
