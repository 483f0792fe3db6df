#!/bin/bash
# The whole test suite as CI runs it (the README's test command):
#   1. the normal build: unit tests, fuzz corpus replay, integration tests;
#   2. a short stress run against a ThreadSanitizer build of the daemon;
#   3. the same suite as 1, built with ASan and UBSan.
# Run tools/deps.sh once first on a new machine.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== normal build"
make -j"$jobs" tests
BUILD=build tests/run-all.sh

echo "== ThreadSanitizer (short stress run)"
make tsan TSAN_SECONDS=10

echo "== sanitizer build (ASan + UBSan)"
make -j"$jobs" SAN=1 tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	BUILD=build-san tests/run-all.sh
