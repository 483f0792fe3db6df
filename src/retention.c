/*
 * retention.c - deadlines (retention.h).
 */
#include <errno.h>
#include <string.h>

#include "rfs/clock.h"
#include "rfs/retention.h"

const struct rfs_class *
rfs_retention_class(const struct rfs_policy *p, const char *name)
{
	const struct rfs_class *c = rfs_policy_class(p, name);

	return c != NULL ? c : rfs_policy_class(p, "default");
}

int64_t
rfs_retention_deadline(const struct rfs_policy *p, const struct rfs_attr *a,
    int64_t event_at)
{
	const struct rfs_class *c = rfs_retention_class(p, a->class);
	int64_t d = INT64_MAX, t;

	if (c != NULL)
		d = rfs_time_add(a->created, c->retention);
	if (c != NULL && event_at != RFS_NO_EVENT &&
	    c->after_event != RFS_FOREVER) {
		t = rfs_time_add(event_at, c->after_event);
		if (t < d)
			d = t;
	}
	if (a->state == RFS_TRASH) {
		t = rfs_time_add(a->del_time, p->trash_retention);
		if (t < d)
			d = t;
	}
	return d;
}

int
rfs_retention_visible(const struct rfs_policy *p, const struct rfs_attr *a,
    int64_t event_at, int64_t now)
{
	if (a->state != RFS_LIVE)
		return 0;
	if (a->hold)
		return 1;
	return now < rfs_retention_deadline(p, a, event_at);
}

int
rfs_retention_due(const struct rfs_policy *p, const struct rfs_attr *a,
    int64_t event_at, int64_t now)
{
	if (a->hold)
		return 0;
	return a->state == RFS_SHRED ||
	    now >= rfs_retention_deadline(p, a, event_at);
}

int
rfs_retention_may_destroy(const struct rfs_policy *p, const struct rfs_attr *a,
    int64_t now)
{
	const struct rfs_class *c = rfs_retention_class(p, a->class);

	if (c != NULL && c->min_retention > 0 &&
	    now < rfs_time_add(a->created, c->min_retention))
		return -EPERM;
	return 0;
}

int64_t
rfs_retention_period(const struct rfs_policy *p, int64_t created)
{
	int64_t len = p->key_period > 0 ? p->key_period : 86400;

	int64_t secs = created / RFS_NSEC;

	return secs - secs % len;
}
