/*
 * retention.h - when a file's time is up.
 *
 * A file's deadline is computed, never stored, so a policy reload applies
 * to existing files at once:
 *
 *   deadline = created + retention(class)
 *   with an event on the file or an ancestor directory and a class with
 *   after_event:   min(deadline, event + after_event)
 *   in the trash:  min(deadline, deleted + trash retention)
 *
 * A legal hold suspends all of it.  A file is visible while it is live and
 * now < deadline.  A class the policy no longer defines falls back to the
 * default class.
 */
#ifndef RFS_RETENTION_H
#define RFS_RETENTION_H

#include <stdint.h>

#include "rfs/catalog.h"
#include "rfs/policy.h"

#define RFS_NO_EVENT INT64_MIN

const struct rfs_class *rfs_retention_class(const struct rfs_policy *p,
    const char *name);
/* Deadline in ns (INT64_MAX = never), ignoring holds. */
int64_t rfs_retention_deadline(const struct rfs_policy *p,
    const struct rfs_attr *a, int64_t event_at);
/* Nonzero when A may be shown to applications at NOW. */
int rfs_retention_visible(const struct rfs_policy *p, const struct rfs_attr *a,
    int64_t event_at, int64_t now);
/* Nonzero when A is due for shredding at NOW (never while held). */
int rfs_retention_due(const struct rfs_policy *p, const struct rfs_attr *a,
    int64_t event_at, int64_t now);
/* 0, or -EPERM when min_retention forbids deleting/truncating A at NOW. */
int rfs_retention_may_destroy(const struct rfs_policy *p,
    const struct rfs_attr *a, int64_t now);
/* Key window of a creation time: its start, in seconds since the epoch. */
int64_t rfs_retention_period(const struct rfs_policy *p, int64_t created);

#endif
