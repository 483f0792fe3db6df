#!/bin/bash
#
# run.sh - libFuzzer on every tests/fuzz/fuzz_NAME.c, FUZZ_SECONDS each
# (default 60), starting from a copy of tests/fuzz/corpus/NAME so the
# seed corpus in git stays small.  Fails if any target finds a crash, a
# leak, a timeout or undefined behaviour.
#
#	FUZZ_SECONDS=300 tests/fuzz/run.sh
#
# Work files go to $BUILD/fuzz (default build/fuzz).  FUZZ_SRC replaces
# the list of library sources, for when another module does not build.

set -euo pipefail

cd "$(dirname "$0")/../.."

secs=${FUZZ_SECONDS:-60}
out=${BUILD:-build}/fuzz
pkgs=(fuse3 libsodium sqlite3 inih)
cflags=$(pkg-config --cflags "${pkgs[@]}")
libs=$(pkg-config --libs "${pkgs[@]}")

if [ -n "${FUZZ_SRC:-}" ]; then
	read -r -a srcs <<<"$FUZZ_SRC"
else
	srcs=()
	for f in src/*.c; do
		[ "$f" = src/main.c ] || srcs+=("$f")
	done
fi

# UBSan only prints by default; a report must count as a crash.
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

mkdir -p "$out"
status=0
shopt -s nullglob
targets=(tests/fuzz/fuzz_*.c)
if [ ${#targets[@]} -eq 0 ]; then
	echo "run.sh: no fuzz targets" >&2
	exit 1
fi

for t in "${targets[@]}"; do
	name=${t##*/fuzz_}
	name=${name%.c}
	bin=$out/fuzz_$name
	corpus=$out/corpus-$name
	artifacts=$out/artifacts-$name/
	log=$out/fuzz_$name.log

	echo "== fuzz_$name: build"
	# $cflags and $libs are word lists on purpose.
	# shellcheck disable=SC2086
	clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 \
	    -D_GNU_SOURCE -Iinclude $cflags -o "$bin" "$t" "${srcs[@]}" \
	    $libs -lpthread

	rm -rf "$corpus" "$artifacts"
	mkdir -p "$corpus" "$artifacts"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp -R "tests/fuzz/corpus/$name/." "$corpus/"
	else
		echo "fuzz_$name: no seed corpus, starting empty"
	fi

	echo "== fuzz_$name: ${secs}s"
	rc=0
	"$bin" -max_total_time="$secs" -timeout=25 -print_final_stats=1 \
	    -artifact_prefix="$artifacts" "$corpus" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -n 1)
	found=$(find "$artifacts" -type f | head -n 5)
	if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
		tail -n 40 "$log"
		echo "fuzz_$name: FAILED (exit $rc) after ${execs:-?} execs;" \
		    "inputs: ${found:-none saved}; log: $log"
		status=1
	else
		echo "fuzz_$name: ${execs:-?} execs, no crash" \
		    "($(find "$corpus" -type f | wc -l) corpus files)"
	fi
done
exit $status
