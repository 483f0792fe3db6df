/*
 * test_clock.c - the trusted clock (high-water mark), deadline arithmetic,
 * RFC 3339 formatting and parsing, and the retention rules built on them
 * (deadlines from class, event and trash; holds; visibility; shredding;
 * min_retention; key windows).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rfs/catalog.h"
#include "rfs/clock.h"
#include "rfs/policy.h"
#include "rfs/retention.h"

#include "harness.h"

#define NS	RFS_NSEC
#define DAY	INT64_C(86400)
#define T0	(INT64_C(1795525790) * NS)     /* 2026-11-24T13:09:50Z */

/* ---- clock ---- */

static int64_t
realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/*
 * Bracketed by CLOCK_REALTIME itself, not time(2), which reads the
 * kernel's coarse copy: once in a suite run on a VM, time() came out more
 * than a second behind the clock read just before it (the coarse copy
 * lagging, or the clock stepped back).  A bracket the clock stepped back
 * across is taken again.
 */
TEST(wall_clock)
{
	int64_t before, w, after;
	int tries = 0;

	do {
		before = realtime_ns();
		w = rfs_clock_wall();
		after = realtime_ns();
	} while (after < before && ++tries < 5);
	CHECK(after >= before);
	CHECK(w >= before);
	CHECK(w <= after);
}

TEST(hwm_never_goes_backwards)
{
	struct rfs_clock c = { 0, 0 };
	int64_t wall = rfs_clock_wall(), prev, t;

	/* Behind the wall clock: now follows the wall and raises the mark. */
	t = rfs_clock_now(&c);
	CHECK(t >= wall);
	CHECK_EQ(c.hwm, t);
	prev = t;
	for (int i = 0; i < 1000; i++) {
		t = rfs_clock_now(&c);
		CHECK(t >= prev);
		CHECK(c.hwm >= t);
		prev = t;
	}
	/* The wall clock "turned back" by an hour: the mark wins. */
	c.hwm = rfs_clock_wall() + 3600 * NS;
	prev = c.hwm;
	CHECK_EQ(rfs_clock_now(&c), prev);
	CHECK_EQ(rfs_clock_now(&c), prev);
	CHECK_EQ(c.hwm, prev);
	/* Far in the future too. */
	c.hwm = INT64_MAX - 1;
	CHECK_EQ(rfs_clock_now(&c), INT64_MAX - 1);
	/* persisted is the caller's business. */
	CHECK_EQ(c.persisted, 0);
}

TEST(time_add_saturates)
{
	CHECK_EQ(rfs_time_add(0, 0), 0);
	CHECK_EQ(rfs_time_add(0, 5), 5 * NS);
	CHECK_EQ(rfs_time_add(T0, DAY), T0 + DAY * NS);
	CHECK_EQ(rfs_time_add(T0, 0), T0);
	CHECK(rfs_time_add(T0, RFS_FOREVER) == INT64_MAX);
	CHECK(rfs_time_add(0, RFS_FOREVER) == INT64_MAX);
	/* The largest representable sums, and one past. */
	CHECK_EQ(rfs_time_add(0, INT64_C(9223372036)),
	    INT64_C(9223372036) * NS);
	CHECK(rfs_time_add(0, INT64_C(9223372037)) == INT64_MAX);
	CHECK(rfs_time_add(INT64_MAX - NS, 1) == INT64_MAX);
	CHECK(rfs_time_add(INT64_MAX - NS + 1, 1) == INT64_MAX);
	CHECK(rfs_time_add(INT64_MAX, 1) == INT64_MAX);
	CHECK(rfs_time_add(INT64_MAX, 0) == INT64_MAX);
	CHECK(rfs_time_add(T0, INT64_MAX / NS) == INT64_MAX);
	CHECK(rfs_time_add(T0, 300 * 365 * DAY) == INT64_MAX);
	/* Monotonic in both arguments. */
	for (int64_t s = 0; s < 400 * 365 * DAY; s += 7 * 365 * DAY + 13)
		CHECK(rfs_time_add(T0, s + 1) >= rfs_time_add(T0, s));
}

TEST(time_format)
{
	char b[64];

	rfs_time_format(0, b, sizeof(b));
	CHECK_STR(b, "1970-01-01T00:00:00Z");
	rfs_time_format(T0, b, sizeof(b));
	CHECK_STR(b, "2026-11-24T13:09:50Z");
	rfs_time_format(T0 + NS - 1, b, sizeof(b));    /* sub-seconds cut */
	CHECK_STR(b, "2026-11-24T13:09:50Z");
	rfs_time_format(INT64_C(951868799) * NS, b, sizeof(b));
	CHECK_STR(b, "2000-02-29T23:59:59Z");
	rfs_time_format(INT64_C(9223372036) * NS, b, sizeof(b));
	CHECK_STR(b, "2262-04-11T23:47:16Z");
	rfs_time_format(INT64_MAX, b, sizeof(b));
	CHECK_STR(b, "never");
	rfs_time_format(-NS, b, sizeof(b));
	CHECK_STR(b, "1969-12-31T23:59:59Z");
}

TEST(time_parse)
{
	int64_t t = 0, w;

	CHECK_EQ(rfs_time_parse("2026-11-24T13:09:50Z", &t), 0);
	CHECK_EQ(t, T0);
	CHECK_EQ(rfs_time_parse("2026-11-24T13:09:50+00:00", &t), 0);
	CHECK_EQ(t, T0);
	CHECK_EQ(rfs_time_parse("2026-11-24T13:09:50", &t), 0);
	CHECK_EQ(t, T0);
	CHECK_EQ(rfs_time_parse("1970-01-01T00:00:00Z", &t), 0);
	CHECK_EQ(t, 0);
	CHECK_EQ(rfs_time_parse("2000-02-29T23:59:59Z", &t), 0);
	CHECK_EQ(t, INT64_C(951868799) * NS);
	CHECK_EQ(rfs_time_parse("@0", &t), 0);
	CHECK_EQ(t, 0);
	CHECK_EQ(rfs_time_parse("@1795525790", &t), 0);
	CHECK_EQ(t, T0);
	w = rfs_clock_wall();
	CHECK_EQ(rfs_time_parse("now", &t), 0);
	CHECK(t >= w && t < w + 10 * NS);
}

TEST(time_parse_rejects)
{
	static const char *const bad[] = {
		"", "garbage", "never", "Now", "now ", "@", "@-1", "@1x",
		"@1.5", "2026-11-24", "2026-11-24T13:09",
		"2026-11-24 13:09:50Z", "2026-11-24T13:09:50+01:00",
		"2026-11-24T13:09:50z", "2026-11-24T13:09:50ZZ",
		"2026-11-24T13:09:50Z ", "2026-13-01T00:00:00Z",
		"2026-11-24T25:00:00Z", "2026-11-24T13:09:50.5Z",
	};
	int fails = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 12345;

		if (rfs_time_parse(bad[i], &t) != -EINVAL || t != 12345) {
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
			fails++;
		}
	}
	CHECK_EQ(fails, 0);
}

TEST(time_round_trip)
{
	char b[64];
	int64_t t, back, s;
	uint64_t x = 0x2545f4914f6cdd1dULL;
	int fails = 0;

	/* Whole seconds from 1970 to 2262 survive format then parse. */
	for (int i = 0; i < 2000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		s = (int64_t)(x % UINT64_C(9223372036));
		t = s * NS;
		rfs_time_format(t, b, sizeof(b));
		if (rfs_time_parse(b, &back) != 0 || back != t) {
			if (fails++ < 5)
				fprintf(stderr, "%lld -> %s -> %lld\n",
				    (long long)t, b, (long long)back);
		}
	}
	CHECK_EQ(fails, 0);
	/* And "@N" of the same. */
	CHECK_EQ(rfs_time_parse("@9223372036", &t), 0);
	CHECK_EQ(t, INT64_C(9223372036) * NS);
}

/* ---- retention ---- */

static const char policy_text[] =
    "[trash]\n"
    "retention = 7d\n"
    "[keys]\n"
    "period = 1w\n"
    "[class short]\n"
    "retention = 10d\n"
    "min_retention = 1d\n"
    "after_event = 2d\n"
    "[class keep]\n"
    "retention = forever\n"
    "after_event = 30d\n"
    "[class default]\n"
    "retention = 90d\n";

static struct rfs_policy *
policy(void)
{
	return rfs_policy_parse("t.ini", policy_text, sizeof(policy_text) - 1,
	    NULL, NULL);
}

static void
file(struct rfs_attr *a, const char *cls, int64_t created)
{
	memset(a, 0, sizeof(*a));
	a->ino = 42;
	a->mode = 0100644;
	a->nlink = 1;
	a->created = created;
	snprintf(a->class, sizeof(a->class), "%s", cls);
}

TEST(retention_class_fallback)
{
	struct rfs_policy *p = policy();

	CHECK(p != NULL);
	CHECK_STR(rfs_retention_class(p, "short")->name, "short");
	CHECK_STR(rfs_retention_class(p, "gone")->name, "default");
	CHECK_STR(rfs_retention_class(p, "")->name, "default");
	rfs_policy_unref(p);
}

TEST(retention_deadline)
{
	struct rfs_policy *p = policy();
	struct rfs_attr a;

	CHECK(p != NULL);
	/* Class alone. */
	file(&a, "default", T0);
	CHECK_EQ(rfs_retention_deadline(p, &a, RFS_NO_EVENT), T0 + 90 * DAY *
	    NS);
	file(&a, "short", T0);
	CHECK_EQ(rfs_retention_deadline(p, &a, RFS_NO_EVENT), T0 + 10 * DAY *
	    NS);
	file(&a, "keep", T0);
	CHECK(rfs_retention_deadline(p, &a, RFS_NO_EVENT) == INT64_MAX);
	/* A class the policy lost: the default class. */
	file(&a, "removed-class", T0);
	CHECK_EQ(rfs_retention_deadline(p, &a, RFS_NO_EVENT), T0 + 90 * DAY *
	    NS);
	/* Events: min(class, event + after_event). */
	file(&a, "short", T0);
	CHECK_EQ(rfs_retention_deadline(p, &a, T0 + DAY * NS), T0 + 3 * DAY *
	    NS);
	CHECK_EQ(rfs_retention_deadline(p, &a, T0 + 20 * DAY * NS), T0 + 10 *
	    DAY * NS);
	CHECK_EQ(rfs_retention_deadline(p, &a, T0 - 5 * DAY * NS), T0 - 3 *
	    DAY * NS);
	file(&a, "keep", T0);
	CHECK_EQ(rfs_retention_deadline(p, &a, T0), T0 + 30 * DAY * NS);
	/* A class without after_event ignores events. */
	file(&a, "default", T0);
	CHECK_EQ(rfs_retention_deadline(p, &a, T0), T0 + 90 * DAY * NS);
	/* Trash: min(class, deleted + trash retention). */
	file(&a, "default", T0);
	a.state = RFS_TRASH;
	a.del_time = T0 + DAY * NS;
	CHECK_EQ(rfs_retention_deadline(p, &a, RFS_NO_EVENT), T0 + 8 * DAY *
	    NS);
	a.del_time = T0 + 89 * DAY * NS;
	CHECK_EQ(rfs_retention_deadline(p, &a, RFS_NO_EVENT), T0 + 90 * DAY *
	    NS);
	file(&a, "keep", T0);
	a.state = RFS_TRASH;
	a.del_time = T0;
	CHECK_EQ(rfs_retention_deadline(p, &a, RFS_NO_EVENT), T0 + 7 * DAY *
	    NS);
	/* All three: the earliest wins. */
	file(&a, "short", T0);
	a.state = RFS_TRASH;
	a.del_time = T0 - 6 * DAY * NS;
	CHECK_EQ(rfs_retention_deadline(p, &a, T0), T0 + DAY * NS);
	CHECK_EQ(rfs_retention_deadline(p, &a, T0 - 2 * DAY * NS), T0);
	/* Holds do not change the deadline itself. */
	a.hold = 1;
	CHECK_EQ(rfs_retention_deadline(p, &a, T0 - 2 * DAY * NS), T0);
	/* Saturation near the end of time. */
	file(&a, "default", INT64_MAX - DAY * NS);
	CHECK(rfs_retention_deadline(p, &a, RFS_NO_EVENT) == INT64_MAX);
	rfs_policy_unref(p);
}

TEST(retention_visible_and_due)
{
	struct rfs_policy *p = policy();
	struct rfs_attr a;
	int64_t d;

	CHECK(p != NULL);
	file(&a, "short", T0);
	d = T0 + 10 * DAY * NS;
	CHECK(rfs_retention_visible(p, &a, RFS_NO_EVENT, T0));
	CHECK(rfs_retention_visible(p, &a, RFS_NO_EVENT, d - 1));
	CHECK(!rfs_retention_visible(p, &a, RFS_NO_EVENT, d));
	CHECK(!rfs_retention_due(p, &a, RFS_NO_EVENT, d - 1));
	CHECK(rfs_retention_due(p, &a, RFS_NO_EVENT, d));
	CHECK(rfs_retention_due(p, &a, RFS_NO_EVENT, d + 1));
	/* An event brings it forward. */
	CHECK(!rfs_retention_visible(p, &a, T0 - 2 * DAY * NS, T0));
	CHECK(rfs_retention_due(p, &a, T0 - 2 * DAY * NS, T0));
	/* A hold keeps it visible and never due. */
	a.hold = 1;
	CHECK(rfs_retention_visible(p, &a, RFS_NO_EVENT, d + 1000 * DAY * NS));
	CHECK(!rfs_retention_due(p, &a, RFS_NO_EVENT, INT64_MAX));
	a.state = RFS_SHRED;
	CHECK(!rfs_retention_due(p, &a, RFS_NO_EVENT, T0));
	CHECK(!rfs_retention_visible(p, &a, RFS_NO_EVENT, T0));
	/* Trash is never visible; due when its trash time is up. */
	file(&a, "default", T0);
	a.state = RFS_TRASH;
	a.del_time = T0;
	CHECK(!rfs_retention_visible(p, &a, RFS_NO_EVENT, T0));
	CHECK(!rfs_retention_due(p, &a, RFS_NO_EVENT, T0 + 7 * DAY * NS - 1));
	CHECK(rfs_retention_due(p, &a, RFS_NO_EVENT, T0 + 7 * DAY * NS));
	a.hold = 1;
	CHECK(!rfs_retention_due(p, &a, RFS_NO_EVENT, T0 + 7 * DAY * NS));
	/* Marked for shredding: due at once, never visible. */
	file(&a, "keep", T0);
	a.state = RFS_SHRED;
	CHECK(rfs_retention_due(p, &a, RFS_NO_EVENT, T0));
	CHECK(!rfs_retention_visible(p, &a, RFS_NO_EVENT, T0));
	/* Forever: visible and not due at the end of time. */
	file(&a, "keep", T0);
	CHECK(rfs_retention_visible(p, &a, RFS_NO_EVENT, INT64_MAX - 1));
	CHECK(!rfs_retention_due(p, &a, RFS_NO_EVENT, INT64_MAX - 1));
	rfs_policy_unref(p);
}

TEST(retention_min_retention)
{
	struct rfs_policy *p = policy();
	struct rfs_attr a;

	CHECK(p != NULL);
	file(&a, "short", T0);
	CHECK_EQ(rfs_retention_may_destroy(p, &a, T0), -EPERM);
	CHECK_EQ(rfs_retention_may_destroy(p, &a, T0 + DAY * NS - 1), -EPERM);
	CHECK_EQ(rfs_retention_may_destroy(p, &a, T0 + DAY * NS), 0);
	file(&a, "default", T0);
	CHECK_EQ(rfs_retention_may_destroy(p, &a, T0), 0);
	file(&a, "unknown", T0);
	CHECK_EQ(rfs_retention_may_destroy(p, &a, T0), 0);
	rfs_policy_unref(p);
}

TEST(retention_period)
{
	struct rfs_policy *p = policy(), *d = rfs_policy_default();
	int64_t w = 7 * DAY;

	CHECK(p != NULL && d != NULL);
	CHECK_EQ(p->key_period, w);
	CHECK_EQ(rfs_retention_period(p, 0), 0);
	CHECK_EQ(rfs_retention_period(p, T0), 1795525790 - 1795525790 % w);
	CHECK_EQ(rfs_retention_period(p, T0) % w, 0);
	CHECK(rfs_retention_period(p, T0) <= T0 / NS);
	CHECK(rfs_retention_period(p, T0) > T0 / NS - w);
	/* Window boundaries. */
	CHECK_EQ(rfs_retention_period(p, w * NS - 1), 0);
	CHECK_EQ(rfs_retention_period(p, w * NS), w);
	/* The default policy: one day. */
	CHECK_EQ(rfs_retention_period(d, T0), 1795525790 - 1795525790 % DAY);
	CHECK_EQ(rfs_retention_period(d, DAY * NS + 5), DAY);
	rfs_policy_unref(p);
	rfs_policy_unref(d);
}

int
main(void)
{
	RUN_TESTS("clock",
	    CASE(wall_clock),
	    CASE(hwm_never_goes_backwards),
	    CASE(time_add_saturates),
	    CASE(time_format),
	    CASE(time_parse),
	    CASE(time_parse_rejects),
	    CASE(time_round_trip),
	    CASE(retention_class_fallback),
	    CASE(retention_deadline),
	    CASE(retention_visible_and_due),
	    CASE(retention_min_retention),
	    CASE(retention_period));
}
