/*
 * fsck.h - consistency check and repair of an unmounted store.
 *
 * Findings, each printed as one line "fsck: KIND: detail":
 *   catalog     PRAGMA integrity_check or a catalog invariant fails
 *   orphan      an object with no catalog row (its key is gone with the
 *               row, so it is unreadable noise): repair shreds it
 *   missing     a file row whose object is gone: repair gives it an empty
 *               object and moves it to the trash (never silently dropped)
 *   torn        an object whose length ends inside a record header (a
 *               crash mid-write): repair cuts it back to whole records
 *   block       a block that fails authentication: reported, not repaired
 *   tamper      an object whose length differs from what the catalog
 *               committed outside a write session: reported
 *   unreachable a live file with no directory entry: repair moves it to
 *               the trash, where an admin can restore it
 *   keys        a window key the catalog has no record of (it would never
 *               be destroyed), or a file whose key cannot be opened
 *               (its window key is gone or fails): reported
 */
#ifndef RFS_FSCK_H
#define RFS_FSCK_H

#include <stdint.h>
#include <stdio.h>

#include "rfs/fs.h"

struct rfs_fsck_report {
	uint64_t files, blocks, findings, repaired;
};


int rfs_fsck(struct rfs_fs *fs, int repair, FILE *out,
    rfs_progress_fn progress, void *pctx, struct rfs_fsck_report *r);

#endif
