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
CORE_SRC := preload/core/state.cc preload/core/proclock.cc preload/core/state_io.cc preload/core/ops_files.cc preload/core/ops_xattr.cc preload/core/ops_ids.cc preload/core/ops_names.cc preload/core/session.cc \
            preload/core/resolve.cc preload/core/ldconf.cc preload/core/loader.cc preload/core/exec.cc preload/core/cow.cc
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
FIXTURE  := $(BUILD)/libcowroot-fixture.a
FIXTURE_SO := $(BUILD)/libcowroot-fixture.so
TESTS    := $(BUILD)/tests/unit_tests $(BUILD)/tests/resolve_tests $(BUILD)/tests/fakeroot_tests \
            $(BUILD)/tests/chroot_tests $(BUILD)/tests/cow_tests $(BUILD)/tests/fixture_tests \
            $(BUILD)/tests/fixture_root_tests $(BUILD)/tests/fixture_api_tests $(BUILD)/tests/fixture_gtest \
            $(BUILD)/tests/optable_tests $(BUILD)/tests/debootstrap_tests $(BUILD)/tests/releases_tests
HELPER   := $(BUILD)/tests/helper
BENCH    := $(BUILD)/bench/callpath $(BUILD)/bench/timeit $(BUILD)/bench/relcall

all: $(BUILD)/.deps-build $(PRELOAD) $(FAKED) $(CLI) $(TRACE) $(CLONE_LIB) $(FIXTURE) $(FIXTURE_SO)

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
	$(CXX) -shared $(WRAP_OBJ) $(CORE_LIB) -Wl,--version-script=$(BUILD)/exports.map \
	  -static-libstdc++ -static-libgcc -Wl,--as-needed -Wl,-z,defs -Wl,-z,now -o $@.tmp
	python3 mk/gen-ops.py --check-exports preload/ops.tbl $@.tmp
	sh mk/check-glibc.sh $@.tmp 2.28
	mv $@.tmp $@

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
               fixture/capi.cc fixture/prefix.cc cli/procs.cc cli/slots.cc
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
	$(CXX) -shared -o $@ -Wl,-soname,libcowroot-fixture.so $^ -lpthread -Wl,-z,defs -Wl,--as-needed

# Programs run once per session or reset: without libstdc++'s shared
# object to load and relocate they start ~1 ms sooner.
$(FAKED): $(BUILD)/faked/faked.o $(CORE_LIB)
	$(CXX) -o $@ $^ -static-libstdc++ -static-libgcc

$(CLI): $(BUILD)/cli/cowroot.o $(BUILD)/cli/images.o $(BUILD)/cli/procs.o $(BUILD)/cli/slots.o $(BUILD)/cli/roots.o $(CLONE_LIB) $(CORE_LIB)
	$(CXX) -o $@ $^ -static-libstdc++ -static-libgcc

$(TRACE): $(BUILD)/cli/trace.o $(CORE_LIB)
	$(CXX) -o $@ $^ -static-libstdc++ -static-libgcc

$(HELPER): $(BUILD)/tests/helper.o
	$(CXX) -o $@ $^

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/main.o $(CORE_LIB)
	$(CXX) -o $@ $^ -lpthread

$(BUILD)/tests/fixture_%: $(BUILD)/tests/fixture_%.o $(BUILD)/tests/main.o $(FIXTURE) $(CLONE_LIB) $(CORE_LIB)
	$(CXX) -o $@ $^ -lpthread

$(BUILD)/tests/releases_tests: $(BUILD)/tests/releases_tests.o $(BUILD)/tests/main.o $(FIXTURE) $(CLONE_LIB) $(CORE_LIB)
	$(CXX) -o $@ $^ -lpthread

# The GoogleTest adapter, with GoogleTest's own runner (and its own main).
# C++17, strictly: the adapter's header and its example must not need C++20.
$(BUILD)/tests/fixture_gtest.o: tests/fixture_gtest.cc | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(BASEFLAGS) -std=c++17 -pedantic-errors -D_GNU_SOURCE -Ifixture/include -c $< -o $@

$(BUILD)/tests/fixture_gtest: $(BUILD)/tests/fixture_gtest.o $(FIXTURE) $(CLONE_LIB) $(CORE_LIB)
	$(CXX) -o $@ $^ -lgtest -lpthread

# libelf is the reference the exec path's own ELF reader is checked against.
$(BUILD)/tests/unit_tests: $(BUILD)/tests/unit_tests.o $(BUILD)/tests/main.o $(CORE_LIB)
	$(CXX) -o $@ $^ -lpthread -lelf

$(BUILD)/bench/callpath: $(BUILD)/bench/callpath.o
	$(CXX) -o $@ $^

$(BUILD)/bench/timeit: $(BUILD)/bench/timeit.o
	$(CXX) -o $@ $^

# Runs in a root of any release: no start files, symbols pinned to the
# oldest glibc's (checked as the library is).
$(BUILD)/bench/relcall: bench/relcall.c mk/check-glibc.sh
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -nostartfiles -fno-stack-protector -U_FORTIFY_SOURCE -o $@.tmp bench/relcall.c
	sh mk/check-glibc.sh $@.tmp 2.17
	mv $@.tmp $@

# ---- install -------------------------------------------------------------
HEADERS := preload/core/state.h preload/core/session.h preload/core/ops.h preload/core/proto.h preload/core/sys.h \
           preload/core/resolve.h preload/core/exec.h preload/core/cow.h preload/core/cow_format.h cli/clone/clone.h \
           fixture/include/cowroot/fixture.h fixture/include/cowroot/doctest.h fixture/include/cowroot/gtest.h \
           fixture/include/cowroot/fixture_c.h

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/libexec/cowroot \
	  $(DESTDIR)$(PREFIX)/include/cowroot
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/cowroot
	install -m 755 $(FAKED) $(DESTDIR)$(PREFIX)/libexec/cowroot/cowroot-faked
	install -m 755 $(TRACE) $(DESTDIR)$(PREFIX)/libexec/cowroot/cowroot-trace
	install -m 755 $(PRELOAD) $(DESTDIR)$(PREFIX)/lib/libcowroot.so
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

# ---- tests and benchmarks --------------------------------------------------
test: all $(BUILD)/.deps-test $(TESTS) $(HELPER)
	sh tests/run.sh $(BUILD) $(TESTS)

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
	@if [ "$${BENCH_DEBOOTSTRAP:-1}" = 0 ]; then echo "bench: debootstrap comparison skipped (BENCH_DEBOOTSTRAP=0)"; \
	 else sh bench/debootstrap.sh $(BUILD); fi
	@if [ "$${BENCH_RELEASES:-1}" = 0 ]; then echo "bench: other releases skipped (BENCH_RELEASES=0)"; \
	 else sh bench/releases.sh $(BUILD); fi

clean:
	rm -rf $(BUILD)

.PHONY: all install test test-quick peer-tests bench clean
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
