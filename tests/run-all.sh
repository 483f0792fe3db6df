#!/usr/bin/env bash
# run-all.sh - the whole test suite: `make check` runs it.
#
#   BUILD=build tests/run-all.sh           everything
#   BUILD=build tests/run-all.sh t_posix   only the integration scripts whose
#                                          name contains one of the arguments
#
# Runs, in order: every unit test binary $BUILD/tests/test_*, every fuzz
# corpus replay ($BUILD/tests/replay_fuzz_NAME tests/fuzz/corpus/NAME), then
# every tests/integration/t_*.sh.  Each prints its own lines; a closing line
# "N passed, N failed[, N skipped]" (optionally after one "word:") is added to
# the totals, anything without one counts as one check passed or failed by
# its exit status, and exit status 77 counts as one skipped.  The last line
# printed here is "N passed, N failed" (", N skipped" when any were); the
# exit status is non-zero when anything failed.
#
# RFS_TEST_TIMEOUT bounds each program in seconds (default 1800).
set -u

cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
export BUILD
TIMEOUT=${RFS_TEST_TIMEOUT:-1800}

total_pass=0
total_fail=0
total_skip=0
failures=()

LOGDIR=$(mktemp -d /tmp/rfs-run-all.XXXXXX) || exit 2
trap 'rm -rf "$LOGDIR"' EXIT

count_re='^([A-Za-z0-9_./-]+: )?([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?[[:space:]]*$'

# run NAME CMD...: runs one program, shows its output, adds up its counts.
run() {
	local name=$1 log rc last p=0 f=0 s=0 counted=0
	shift
	log=$LOGDIR/log
	echo "== $name"
	timeout -k 10 "$TIMEOUT" "$@" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 77 ]; then
		total_skip=$((total_skip + 1))
		echo "-- $name: skipped"
		return
	fi
	last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
	if [[ $last =~ $count_re ]]; then
		p=${BASH_REMATCH[2]}
		f=${BASH_REMATCH[3]}
		s=${BASH_REMATCH[5]:-0}
		counted=1
	fi
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "-- $name: TIMED OUT after ${TIMEOUT}s"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# Crashed, or failed without saying what: one failure.
		[ "$counted" = 1 ] && echo "-- $name: exit status $rc with no failed check"
		f=$((f + 1))
	elif [ "$counted" = 0 ] && [ "$rc" -eq 0 ]; then
		p=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
	if [ "$f" -gt 0 ]; then
		failures+=("$name ($f failed, exit status $rc)")
	fi
}

filters=("$@")

matches() {
	local f
	[ "${#filters[@]}" -eq 0 ] && return 0
	for f in "${filters[@]}"; do
		case $1 in *"$f"*) return 0 ;; esac
	done
	return 1
}

if [ "${#filters[@]}" -eq 0 ]; then
	for t in "$BUILD"/tests/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		run "${t##*/}" "$t"
	done
	for t in "$BUILD"/tests/replay_fuzz_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		n=${t##*/replay_fuzz_}
		if [ -d "tests/fuzz/corpus/$n" ]; then
			run "replay_fuzz_$n" "$t" "tests/fuzz/corpus/$n"
		else
			echo "== replay_fuzz_$n: no corpus tests/fuzz/corpus/$n, skipped"
			total_skip=$((total_skip + 1))
		fi
	done
fi

for t in tests/integration/t_*.sh; do
	[ -f "$t" ] || continue
	name=${t##*/}
	name=${name%.sh}
	matches "$name" || continue
	run "$name" bash "$t"
done

echo
if [ "${#failures[@]}" -gt 0 ]; then
	echo "FAILED:"
	printf '  %s\n' "${failures[@]}"
fi
line="$total_pass passed, $total_fail failed"
[ "$total_skip" -gt 0 ] && line="$line, $total_skip skipped"
echo "$line"
[ "$total_fail" -eq 0 ]
