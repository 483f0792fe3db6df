/*
 * clock.h - the trusted clock.
 *
 * now = max(wall clock, highest wall clock ever seen).  The high-water mark
 * is kept in the catalog (meta "clock_hwm"), so turning the system clock
 * back - even across restarts - never makes an expired file visible again.
 * A forward jump larger than the policy's max_clock_jump between two sweeps
 * (of this process or of an earlier one in the same boot: the wall and boot
 * clocks of the last sweep are in the catalog) makes the sweeper hide but
 * not shred until an admin confirms the clock.  Across a reboot the time
 * the machine was off is unknown, so no jump is judged there.
 *
 * Builds with -DRFS_TEST_CLOCK (tests only; never a release build) add the
 * offset in seconds read from the file named by $RFS_TEST_CLOCK_FILE, so
 * tests can move the clock without root or a fake clock.
 */
#ifndef RFS_CLOCK_H
#define RFS_CLOCK_H

#include <stdint.h>

#define RFS_NSEC INT64_C(1000000000)

struct rfs_clock {
	int64_t hwm;            /* ns; only grows */
	int64_t persisted;      /* last value written to the catalog */
};

/* Raw wall clock in ns (with the test offset in test builds). */
int64_t rfs_clock_wall(void);
/* The monotonic clock in ns: for durations and timeouts only. */
int64_t rfs_clock_mono(void);
/* Time since boot in ns, suspend included (CLOCK_BOOTTIME), and a number
 * naming this boot (0 if unknown): with the wall clock at the last sweep,
 * saved in the catalog, they show a jump across restarts of the daemon. */
int64_t rfs_clock_boot(void);
int64_t rfs_clock_boot_id(void);
/* The trusted now in ns; raises the high-water mark. */
int64_t rfs_clock_now(struct rfs_clock *c);

/* Saturating ns arithmetic for deadlines. */
int64_t rfs_time_add(int64_t t, int64_t secs);
/* SECS in ns, saturating at INT64_MAX (forever). */
int64_t rfs_secs_to_ns(int64_t secs);
/* RFC 3339 UTC ("2026-11-24T13:09:50Z") of a ns time into BUF. */
void rfs_time_format(int64_t ns, char *buf, size_t len);
/* Parses RFC 3339 UTC, "now", or "@EPOCHSECONDS"; 0 or -EINVAL. */
int rfs_time_parse(const char *s, int64_t *ns);

#endif
