#!/usr/bin/env bash
# t_stress.sh - a short (5 s) run of the concurrent stress workload: writers,
# readers, rotations, deletes and 1-second *.tmp files expiring and being
# shredded all at once; then daemon exit status, fsck and a remount check.
# `make stress` runs the same for 120 s, `make tsan` under ThreadSanitizer.
# See tests/stress/stress.sh; its checks are counted here ("t_stress: ...").
STRESS_SECONDS=${T_STRESS_SECONDS:-5}
. "$(dirname "$0")/../stress/stress.sh"
