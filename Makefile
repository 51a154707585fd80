# homeostat: the two commands (make demo, make test) and the longer campaigns.
# The build itself is CMake; this file only wraps it.

BUILD_DIR ?= build
ASAN_BUILD_DIR ?= build-asan
VG_BUILD_DIR ?= build-vg
# The sanitizer build's compiler: clang's UBSan shares ASan's runtime, so both write their
# reports where log_path says (tests/integration/lib.sh relies on it); GCC's libubsan
# ignores log_path beside libasan and prints to stderr only.
SAN_CC ?= clang
# For every test of that build (tests/CMakeLists.txt gives the unit and integration tests the
# same): leaks are errors, UBSan stops at the first error and prints its stack.
SAN_ASAN_OPTIONS = detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
SAN_UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Tests run one more at a time than there are cores: most of them wait on timers and real
# servers (about half of two cores is used at -j 2), and make test stays within 15 minutes.
TEST_JOBS ?= $(shell echo $$(( $(JOBS) + 1 )))
# Warnings are errors in CI (CI=true) and when asked: make WERROR=ON
WERROR ?= $(if $(CI),ON,OFF)

.PHONY: all deps build test demo asan-test valgrind-test bench package format format-check clean

all: build

deps:
	@scripts/install-deps.sh test

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DHOMEOSTAT_WERROR=$(WERROR)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(TEST_JOBS)
	$(MAKE) fuzz-smoke

# The whole loop on loopback: Prometheus, Alertmanager, the exporter, two demo services
# (checkout gets the load phases: calm, spike, overload, backend slowdown, recovery; search
# calm load), one controller with a state machine and a concurrency regulator per service,
# with a live timeline; Ctrl-C stops everything. DEMO_SECONDS=N (120 at least) runs N
# seconds of load and exits 0 only if the loop closed for checkout (its p95 back under
# 250 ms within 20 s of every phase change) and search was left alone.
demo: build
	BUILD_DIR=$(BUILD_DIR) demo/run-demo.sh

# The whole suite built with AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer;
# a report from any test, or from a daemon an integration test started, fails that test.
asan-test: deps
	cmake -S . -B $(ASAN_BUILD_DIR) -DCMAKE_C_COMPILER=$(SAN_CC) -DHOMEOSTAT_ASAN=ON \
	      -DHOMEOSTAT_UBSAN=ON -DHOMEOSTAT_WERROR=$(WERROR)
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)
	cd $(ASAN_BUILD_DIR) && ASAN_OPTIONS=$(SAN_ASAN_OPTIONS) UBSAN_OPTIONS=$(SAN_UBSAN_OPTIONS) \
	    ctest --output-on-failure -j $(TEST_JOBS)

# Every unit test (tests/unit/*/test-*.c) under valgrind memcheck in a plain -O1 -g build: any
# memory error or leak fails it (suppressions, each explained: tests/valgrind.supp).
valgrind-test: deps
	cmake -S . -B $(VG_BUILD_DIR) -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS_DEBUG=-O1 -g" \
	      -DHOMEOSTAT_VALGRIND=ON -DHOMEOSTAT_WERROR=$(WERROR)
	cmake --build $(VG_BUILD_DIR) -j $(JOBS)
	cd $(VG_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L valgrind

# The Debian package (CPack): $(BUILD_DIR)/homeostat_VERSION_ARCH.deb
package: build
	cd $(BUILD_DIR) && cpack -G DEB

bench: build
	@scripts/install-deps.sh bench
	bench/run.sh

# Scrape latency p50/p99/max with and without 1,000 slow connections held, beside
# node_exporter (bench/slowconn.sh; figures in docs/BENCHMARKS.md).
.PHONY: bench-slowconn
bench-slowconn: build
	@scripts/install-deps.sh bench
	HOMEOSTAT_EXPORTER=$(abspath $(BUILD_DIR))/exporter/homeostat-exporter bench/slowconn.sh

# The demo application under the load phases of make demo, side by side: no control, the step
# rules shipped before the regulator, the regulator, and the best fixed limit per phase from a
# sweep (bench/regulation.sh; figures in docs/BENCHMARKS.md). Not a test. The default is a
# quick run (20 s phases, 1 minute of steady load); REGULATION_ARGS="120 10" for the published
# figures (about 2 hours).
REGULATION_ARGS ?=
.PHONY: bench-regulation
bench-regulation: build
	@scripts/install-deps.sh bench
	HOMEOSTAT_BUILD_DIR=$(abspath $(BUILD_DIR)) bench/regulation.sh $(REGULATION_ARGS)

# The exporter under a 5-minute UDP StatsD flood of random names: RSS bounded by its
# series limit, scrapes answered (tests/integration/exporter/exporter_flood.sh; figures in
# docs/RELIABILITY.md). FLOOD_SECONDS=N for another length.
FLOOD_SECONDS ?= 300
.PHONY: soak
soak: build
	FLOOD_SECONDS=$(FLOOD_SECONDS) HOMEOSTAT_BUILD_DIR=$(abspath $(BUILD_DIR)) \
	    bash tests/integration/exporter/exporter_flood.sh

# Replicated controllers on a three-member etcd under random leader kills and pauses for
# HA_SOAK_SECONDS (tests/integration/controller/ha_soak.sh; make test runs it for 40 s): never
# two acting at once, no action twice (docs/ARCHITECTURE.md, "High availability").
HA_SOAK_SECONDS ?= 600
.PHONY: ha-soak
ha-soak: build
	HA_SOAK_SECONDS=$(HA_SOAK_SECONDS) HOMEOSTAT_BUILD_DIR=$(abspath $(BUILD_DIR)) \
	    bash tests/integration/controller/ha_soak.sh

# Fuzzing (tests/fuzz, docs/RELIABILITY.md): the libFuzzer harnesses built with clang, ASan
# and UBSan in $(FUZZ_BUILD_DIR); each runs FUZZ_SECONDS (make fuzz, one after the other, or
# FUZZ_JOBS at once) or FUZZ_SMOKE_SECONDS (make fuzz-smoke, $(JOBS) at once) on
# $(FUZZ_BUILD_DIR)/corpus/NAME, seeded from tests/fuzz/corpus/NAME. Findings land in
# $(FUZZ_BUILD_DIR)/crashes/NAME/ and fail the target. FUZZERS="statsd push" picks harnesses.
# make fuzz-merge adds the new inputs that bring coverage to tests/fuzz/corpus/.
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_JOBS ?= 1
FUZZERS ?=
.PHONY: fuzz-build fuzz fuzz-smoke fuzz-merge
fuzz-build: deps
	cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_C_COMPILER=clang -DHOMEOSTAT_FUZZ=ON \
	      -DBUILD_TESTING=OFF -DHOMEOSTAT_WERROR=$(WERROR) >/dev/null
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target homeostat-fuzzers
fuzz: fuzz-build
	nice -n 10 tests/fuzz/run.sh -j $(FUZZ_JOBS) $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS) $(FUZZERS)
fuzz-smoke: fuzz-build
	tests/fuzz/run.sh -j $(JOBS) $(FUZZ_BUILD_DIR) $(FUZZ_SMOKE_SECONDS) $(FUZZERS)
fuzz-merge: fuzz-build
	tests/fuzz/run.sh -m $(FUZZ_BUILD_DIR) $(FUZZERS)

format:
	clang-format -i $$(git ls-files "*.c" "*.h")

format-check:
	clang-format --dry-run --Werror $$(git ls-files "*.c" "*.h")

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR) $(VG_BUILD_DIR) $(FUZZ_BUILD_DIR)
