# check.mk - reliability targets: stress, tsan, valgrind, crashtest.
# Included at the end of the Makefile (BUILD, CC, CFLAGS, LDFLAGS, UNIT_BIN,
# TEST_TOOLS and the `tests` target come from there).
#
#   make stress      the stress workload (tests/stress) for STRESS_SECONDS
#                    (default 120) against the normal build
#   make tsan        the daemon built with ThreadSanitizer into build-tsan/,
#                    then the stress workload for STRESS_SECONDS (default 20)
#                    with TSAN_OPTIONS=halt_on_error=1; any
#                    "WARNING: ThreadSanitizer" in the daemon's log fails
#   make valgrind    every unit test, then a short mount session, under
#                    valgrind --leak-check=full --errors-for-leak-kinds=definite
#                    --error-exitcode=99; any error or definite leak fails
#   make crashtest   tests/crash/crashtest.py, CRASH_ITERS (default 200)
#
# Each target is bounded in time (the workloads have watchdogs and every
# wait polls with a timeout).  TSan needs the build-tsan/ objects to be
# built with -fsanitize=thread throughout, so it has its own directory and
# clears SAN (a SAN=1 on the command line would otherwise add ASan).

STRESS_SECONDS ?= 120
TSAN_SECONDS   ?= 20
TSAN_BUILD      = build-tsan
TSAN_CFLAGS     = -O1 -g -fsanitize=thread -fno-omit-frame-pointer
STRESS_PROG     = $(BUILD)/tests/stress
VALGRIND_CMD    = valgrind --leak-check=full --errors-for-leak-kinds=definite \
		  --error-exitcode=99 --num-callers=30 -q

# The stress client is an ordinary program (it is not the code under test):
# built like the other test tools of $(BUILD).
$(STRESS_PROG): tests/stress/stress.c | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lpthread

# `make tests` (and so `make check`, check-san, CI) builds it too, for
# tests/integration/t_stress.sh.
tests: $(STRESS_PROG)

stress: all $(STRESS_PROG)
	BUILD=$(BUILD) STRESS_SECONDS=$(STRESS_SECONDS) bash tests/stress/stress.sh

# CFLAGS and LDFLAGS go through the environment, not the command line: a
# command-line CFLAGS would replace the Makefile's `CFLAGS +=` (warnings,
# -std, -Iinclude, pkg-config flags) instead of being extended by it.
tsan-build:
	CFLAGS='$(TSAN_CFLAGS)' LDFLAGS='-fsanitize=thread' \
		$(MAKE) SAN= BUILD=$(TSAN_BUILD) \
		$(TSAN_BUILD)/retentionfs $(TSAN_BUILD)/retentionctl

tsan: tsan-build $(STRESS_PROG)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 $(TSAN_OPTIONS)" \
	STRESS_BIN=$(abspath $(STRESS_PROG)) BUILD=$(TSAN_BUILD) \
	STRESS_SECONDS=$(TSAN_SECONDS) bash tests/stress/stress.sh

valgrind: tests $(STRESS_PROG)
	@command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }
	@mkdir -p $(BUILD)/valgrind; fail=0; for t in $(UNIT_BIN); do \
		log=$(BUILD)/valgrind/$${t##*/}.log; \
		echo "== valgrind $$t"; \
		$(VALGRIND_CMD) $$t >$$log 2>&1; rc=$$?; \
		if [ $$rc -ne 0 ]; then \
			echo "FAIL $$t under valgrind: exit status $$rc ($$log)"; \
			tail -n 60 $$log; fail=1; \
		else \
			tail -n 1 $$log; \
		fi; \
	done; \
	echo "== valgrind: mount session"; \
	BUILD=$(BUILD) STRESS_BIN=$(abspath $(STRESS_PROG)) STRESS_VALGRIND=1 \
		bash tests/stress/stress.sh || fail=1; \
	exit $$fail

crashtest: all
	BUILD=$(BUILD) python3 tests/crash/crashtest.py $${CRASH_ITERS:-200}

clean: clean-tsan
clean-tsan:
	rm -rf $(TSAN_BUILD)

.PHONY: stress tsan tsan-build valgrind crashtest clean-tsan
