# evcast front door. `make run` and `make check` do all set-up on a fresh Debian 12
# machine (installing missing packages when run as root), then build and run.
#
#   make run          build, then evcastd in the foreground on etc/evcast.conf.xml (creates etc/v2.keys)
#   make check        every test (unit + integration), normal build then ASan+UBSan build
#   make check-unit   unit tests only (normal build)      make check-integration  integration only
#   make check-asan   every test under ASan+UBSan         make fuzz  every fuzz target, FUZZ_SECONDS each
#   make fuzz-ci      every fuzz target ~30 s on the committed corpus (what .ci/run does)
#   make install      [PREFIX=/usr/local] [DESTDIR=...]   make clean
#   make build-release  build-release/ with -O3 (CMake Release) and -Werror: what CI keeps compiling
#   make bench        build-bench/ with -DEVCAST_BENCH=ON, run scripts/bench.sh, rewrite docs/PERFORMANCE.md
# CMake underneath; build trees: build/ (normal), build-asan/, build-fuzz/ (clang).
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
BUILD_BENCH ?= build-bench
BUILD_RELEASE ?= build-release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG     ?= etc/evcast.conf.xml
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 30
PREFIX     ?=
# npm packages of the integration tests (modesl, nkeys.js), installed by `npm ci` from the committed locks
NPM_DIRS   = tests/integration/esl tests/integration/nats
CTEST      = ctest --output-on-failure -j $(JOBS)
SAN_ENV    = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
             UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all deps test-deps build build-asan build-fuzz run check check-normal check-unit check-integration \
        check-asan fuzz fuzz-ci bench bench-build build-release clean install

all: build

deps:
	@scripts/deps.sh

# Re-run only when a lock changed (npm ci rewrites node_modules/.package-lock.json).
test-deps: deps
	@for d in $(NPM_DIRS); do \
		if ! [ $$d/node_modules/.package-lock.json -nt $$d/package-lock.json ]; then scripts/npm-deps.sh; break; fi; \
	done

# ---- normal build
$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The shipped default seals v2 with the keys of v2-keys-file (etc/v2.keys, next to
# the config): created once here, mode 0600, when the config names it and it is missing.
RUN_KEYS    = $(dir $(CONFIG))v2.keys
run: build
	@if grep -q 'name="v2-keys-file" value="v2.keys"' $(CONFIG) && ! [ -e $(RUN_KEYS) ]; then \
		(umask 077 && $(BUILD)/evcast keygen > $(RUN_KEYS).tmp && mv $(RUN_KEYS).tmp $(RUN_KEYS)) && \
		echo "created $(RUN_KEYS) (mode 0600): the v2 key of this host; copy it to every node of a cluster"; \
	fi
	$(BUILD)/evcastd --config $(CONFIG) --foreground

check-normal: build test-deps
	cd $(BUILD) && $(CTEST)

check-unit: build
	cd $(BUILD) && $(CTEST) -L unit

check-integration: build test-deps
	cd $(BUILD) && $(CTEST) -L integration

# ---- ASan + UBSan build: the same tests, daemons and CLI instrumented too
$(BUILD_ASAN)/CMakeCache.txt:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DEVCAST_SANITIZE=ON

build-asan: deps $(BUILD_ASAN)/CMakeCache.txt
	cmake --build $(BUILD_ASAN) -j $(JOBS)

check-asan: build-asan test-deps
	cd $(BUILD_ASAN) && $(SAN_ENV) $(CTEST)

# Sequential on purpose (even under make -j): one ctest at a time on 2 cores.
# The ASan pass runs even when the normal one failed; either failing fails check.
check:
	@rc=0; $(MAKE) --no-print-directory check-normal || rc=1; \
	$(MAKE) --no-print-directory check-asan || rc=1; exit $$rc

# ---- Release (-O3): gcc's -O3 analyses (format-truncation, array-bounds) see more than -O2; CI keeps it building
$(BUILD_RELEASE)/CMakeCache.txt:
	cmake -S . -B $(BUILD_RELEASE) -DCMAKE_BUILD_TYPE=Release

build-release: deps $(BUILD_RELEASE)/CMakeCache.txt
	cmake --build $(BUILD_RELEASE) -j $(JOBS)

# ---- libFuzzer (clang): -O1 with assertions on, ASan+UBSan
$(BUILD_FUZZ)/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS_DEBUG=-g -O1" \
		-DEVCAST_FUZZ=ON -DEVCAST_TESTS=OFF

build-fuzz: deps $(BUILD_FUZZ)/CMakeCache.txt
	cmake --build $(BUILD_FUZZ) -j $(JOBS)

fuzz: build-fuzz
	scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

fuzz-ci: build-fuzz
	scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_CI_SECONDS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_RELEASE)

# ---- benchmarks (root: private network namespace; never part of make check)
bench-build: deps
	cmake -S . -B $(BUILD_BENCH) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEVCAST_BENCH=ON
	cmake --build $(BUILD_BENCH) -j $(JOBS)

bench: bench-build
	scripts/bench.sh $(BUILD_BENCH)

install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))
