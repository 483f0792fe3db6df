/*
 * admin.h - every admin command, in one place for both the live daemon
 * (over the control channel) and offline stores (retentionctl --store).
 *
 * rfs_admin_run takes the command words after the mount point, e.g.
 * {"trash", "list", "--json"}, writes its report to OUT and returns the
 * exit code (0 ok, 1 error, 2 usage).  The caller has already checked that
 * UID is allowed to administer the store.
 */
#ifndef RFS_ADMIN_H
#define RFS_ADMIN_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "rfs/fs.h"

struct rfs_sweep_stats {
	int64_t started, duration;       /* ns */
	uint64_t expired, purged, keys_destroyed, skipped_open, errors;
	int last_error;                  /* -errno of the last file that failed */
	int clock_suspect;
};

/* One sweep: destroys every due file, purges the trash, destroys due
 * window keys, prunes the audit trail.  Serialised internally. */
int rfs_admin_sweep(struct rfs_fs *fs, int confirm_clock,
    struct rfs_sweep_stats *st, rfs_progress_fn progress, void *pctx);
/* PROGRESS (may be NULL) hears about long operations as they go. */
int rfs_admin_run(struct rfs_fs *fs, uid_t uid, int argc, char **argv,
    FILE *out, rfs_progress_fn progress, void *pctx);

#endif
