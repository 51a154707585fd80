# homeostat: the two commands (make demo, make test) and the longer campaigns.
# The build itself is CMake; this file only wraps it.

BUILD_DIR ?= build
ASAN_BUILD_DIR ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Warnings are errors in CI (CI=true) and when asked: make WERROR=ON
WERROR ?= $(if $(CI),ON,OFF)
LISTEN ?= 127.0.0.1:19110

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

# The exporter in the foreground on loopback; Ctrl-C stops it.
demo: build
	@echo "homeostat-exporter: http://$(LISTEN)/metrics  (Ctrl-C stops it)"
	$(BUILD_DIR)/exporter/homeostat-exporter --web.listen-address=$(LISTEN)

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
