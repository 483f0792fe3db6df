/*
 * policy.h - data classes and their deadlines, parsed from an INI file.
 *
 * A policy is immutable once loaded: the daemon swaps whole policies on
 * SIGHUP (see rfs_policy_ref/unref), so readers never see a half-applied
 * reload.  All durations are in seconds; RFS_FOREVER means "no deadline".
 */
#ifndef RFS_POLICY_H
#define RFS_POLICY_H

#include <stdint.h>
#include <stdio.h>

#define RFS_FOREVER INT64_MAX

struct rfs_class {
	char *name;              /* [class NAME] */
	int64_t retention;       /* seconds after creation, or RFS_FOREVER */
	int64_t min_retention;   /* 0 = none; delete/truncate refused before */
	int64_t after_event;     /* RFS_FOREVER = not event-driven */
	int64_t backup_retention;/* >= retention; defaults to retention */
	char **match;            /* globs relative to the mount root */
	int nmatch;
};

struct rfs_policy {
	struct rfs_class *classes;   /* file order; "default" always present */
	int nclasses;
	int64_t shred_interval;      /* [shred] interval, default 1h */
	int shred_passes;            /* [shred] passes, default 1 */
	int64_t clock_jump;          /* [shred] max_clock_jump, default 1d */
	int64_t key_period;          /* [keys] period, default 1d */
	int64_t trash_retention;     /* [trash] retention, default 30d */
	int64_t audit_retention;     /* [audit] retention, default 1y */
	int refs;                    /* managed by rfs_policy_ref/unref */
};

/*
 * Diagnostics are delivered one at a time as "FILE:LINE: message"; warn is
 * nonzero for warnings (which do not make a policy invalid).
 */
typedef void (*rfs_policy_diag_fn)(void *ctx, const char *file, int line,
    int warn, const char *msg);

/* The built-in policy: class default 90d, trash 30d, sweep every hour. */
struct rfs_policy *rfs_policy_default(void);

/*
 * Parses PATH.  Returns NULL if it could not be read or has any error;
 * every error and warning is reported through DIAG (may be NULL).
 */
struct rfs_policy *rfs_policy_load(const char *path, rfs_policy_diag_fn diag,
    void *ctx);
/* Same, from a memory buffer; NAME is used in diagnostics (fuzzing, tests). */
struct rfs_policy *rfs_policy_parse(const char *name, const char *buf,
    size_t len, rfs_policy_diag_fn diag, void *ctx);

struct rfs_policy *rfs_policy_ref(struct rfs_policy *p);
void rfs_policy_unref(struct rfs_policy *p);

/* Class by name, or NULL. */
const struct rfs_class *rfs_policy_class(const struct rfs_policy *p,
    const char *name);
/* First class whose glob matches PATH (relative, no leading '/'), else
 * the default class.  Never NULL. */
const struct rfs_class *rfs_policy_classify(const struct rfs_policy *p,
    const char *path);

/* "90d" -> 7776000; "forever" -> RFS_FOREVER.  Returns 0 or -EINVAL. */
int rfs_duration_parse(const char *s, int64_t *out);
/* Formats a duration back ("90d", "1h", "forever") into BUF. */
void rfs_duration_format(int64_t secs, char *buf, size_t len);

#endif
