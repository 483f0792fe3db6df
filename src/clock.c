/*
 * clock.c - the trusted clock (clock.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rfs/clock.h"
#include "rfs/policy.h"

#ifdef RFS_TEST_CLOCK
static int64_t
test_offset(void)
{
	const char *path = getenv("RFS_TEST_CLOCK_FILE");
	long long off = 0;
	FILE *f;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%lld", &off) != 1)
		off = 0;
	fclose(f);
	return (int64_t)off * RFS_NSEC;
}
#endif

int64_t
rfs_clock_wall(void)
{
	struct timespec ts;
	int64_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = (int64_t)ts.tv_sec * RFS_NSEC + ts.tv_nsec;
#ifdef RFS_TEST_CLOCK
	t += test_offset();
#endif
	return t;
}

int64_t
rfs_clock_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * RFS_NSEC + ts.tv_nsec;
}

int64_t
rfs_clock_boot(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * RFS_NSEC + ts.tv_nsec;
}

int64_t
rfs_clock_boot_id(void)
{
	char buf[64], hex[16];
	size_t n = 0;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	/* 15 hex digits of the UUID: positive in 64 bits, 0 never. */
	for (const char *p = buf; *p != '\0' && n < 15; p++)
		if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
			hex[n++] = *p;
	hex[n] = '\0';
	return n == 15 ? strtoll(hex, NULL, 16) | 1 : 0;
}

int64_t
rfs_clock_now(struct rfs_clock *c)
{
	int64_t t = rfs_clock_wall();
	int64_t h = __atomic_load_n(&c->hwm, __ATOMIC_RELAXED);

	while (t > h) {
		if (__atomic_compare_exchange_n(&c->hwm, &h, t, 0,
		    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return t;
	}
	return h;
}

int64_t
rfs_time_add(int64_t t, int64_t secs)
{
	/* Durations are never negative (the policy parser refuses them). */
	int64_t d;

	if (secs == RFS_FOREVER || secs > INT64_MAX / RFS_NSEC)
		return INT64_MAX;
	d = secs * RFS_NSEC;
	if (t > 0 && d > INT64_MAX - t)
		return INT64_MAX;
	return t + d;
}

void
rfs_time_format(int64_t ns, char *buf, size_t len)
{
	time_t s;
	struct tm tm;

	if (ns == INT64_MAX) {
		snprintf(buf, len, "never");
		return;
	}
	s = (time_t)(ns / RFS_NSEC);
	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
rfs_time_parse(const char *s, int64_t *ns)
{
	struct tm tm;
	const char *end;
	char *e;

	if (strcmp(s, "now") == 0) {
		*ns = rfs_clock_wall();
		return 0;
	}
	if (s[0] == '@') {
		long long v = strtoll(s + 1, &e, 10);

		if (e == s + 1 || *e != '\0' || v < 0 ||
		    v > INT64_MAX / RFS_NSEC)
			return -EINVAL;
		*ns = (int64_t)v * RFS_NSEC;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL || (strcmp(end, "Z") != 0 && strcmp(end, "") != 0 &&
	    strcmp(end, "+00:00") != 0))
		return -EINVAL;
	{
		time_t t = timegm(&tm);

		/* ns since the epoch must fit in 64 bits (until 2262). */
		if (t == (time_t)-1 || t < 0 || t > INT64_MAX / RFS_NSEC)
			return -EINVAL;
		*ns = (int64_t)t * RFS_NSEC;
	}
	return 0;
}

int64_t
rfs_secs_to_ns(int64_t secs)
{
	if (secs == RFS_FOREVER || secs > INT64_MAX / RFS_NSEC)
		return INT64_MAX;
	return secs * RFS_NSEC;
}
