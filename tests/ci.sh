#!/bin/bash
# The whole test suite as CI runs it: the normal build, then the same suite
# built with ASan and UBSan.  This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

make -j"$jobs" tests
BUILD=build tests/run-all.sh
status=$?

echo "== sanitizer build (ASan + UBSan)"
make -j"$jobs" SAN=1 tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	BUILD=build-san tests/run-all.sh
