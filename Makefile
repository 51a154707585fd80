# homeostat: the two commands (make demo, make test) and the longer campaigns.
# The build itself is CMake; this file only wraps it.

BUILD_DIR ?= build
ASAN_BUILD_DIR ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Warnings are errors in CI (CI=true) and when asked: make WERROR=ON
WERROR ?= $(if $(CI),ON,OFF)

.PHONY: all deps build test demo asan-test bench package format format-check clean

all: build

deps:
	@scripts/install-deps.sh test

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DHOMEOSTAT_WERROR=$(WERROR)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The whole loop on loopback: Prometheus, Alertmanager, the exporter, the demo application,
# the controller and the load phases, with a live timeline; Ctrl-C stops everything.
# DEMO_SECONDS=N runs N seconds of load and exits 0 only if the loop closed.
demo: build
	BUILD_DIR=$(BUILD_DIR) demo/run-demo.sh

# The whole suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan-test: deps
	cmake -S . -B $(ASAN_BUILD_DIR) -DHOMEOSTAT_ASAN=ON -DHOMEOSTAT_UBSAN=ON \
	      -DHOMEOSTAT_WERROR=$(WERROR)
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)
	cd $(ASAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The Debian package (CPack): $(BUILD_DIR)/homeostat_VERSION_ARCH.deb
package: build
	cd $(BUILD_DIR) && cpack -G DEB

bench: build
	@scripts/install-deps.sh bench
	bench/run.sh

format:
	clang-format -i $$(git ls-files "*.c" "*.h")

format-check:
	clang-format --dry-run --Werror $$(git ls-files "*.c" "*.h")

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR)
