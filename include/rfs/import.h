/*
 * import.h - moving an existing directory tree into a store.
 *
 * retentionctl import walks SRC (never following symlinks) and recreates
 * its directories, regular files and symlinks in an offline store through
 * the fs.h calls, so every file gets its class from the policy rules
 * exactly as a write through the mount would, its key, its audit
 * records - and, instead of the time of the import, its original mtime as
 * the trusted creation time (rfs_fs_set_created).  A file whose deadline
 * under that creation time has already passed is reported and left where
 * it is.  Modes, owners, groups and timestamps are kept; hard links inside
 * SRC stay hard links.  The store's destination directory (the root, or
 * opts->to) takes SRC's own mode, owner and times, so the store can be
 * mounted where SRC was.
 */
#ifndef RFS_IMPORT_H
#define RFS_IMPORT_H

#include <stdint.h>
#include <stdio.h>

#include "rfs/fs.h"

struct rfs_import_opts {
	const char *src;        /* directory to import */
	const char *to;         /* destination in the store, relative to its
	                           root; NULL or "" = the root.  Made if
	                           missing. */
	int remove_source;      /* unlink each original once it is durable in
	                           the store; rmdir emptied directories (SRC
	                           itself stays) */
	int progress;           /* draw a progress bar on ERR */
	uint32_t uid;           /* who imports (audit records) */
	FILE *out;              /* skipped files and the summary */
	FILE *err;              /* errors and the progress bar */
};

struct rfs_import_stats {
	uint64_t files;         /* regular files imported (hard links once) */
	uint64_t bytes;         /* their bytes */
	uint64_t links;         /* extra names of hard-linked files */
	uint64_t dirs;          /* directories made */
	uint64_t symlinks;
	uint64_t expired;       /* skipped: past their retention already */
	uint64_t special;       /* skipped: FIFOs, sockets, devices */
	uint64_t errors;
};

/*
 * Imports O->src into FS (an offline store, see run_offline in
 * tools/retentionctl.c).  Prints "skipped, already past its retention:
 * PATH" for each expired file and the summary line "imported N files
 * (B bytes), skipped M expired" on O->out, every error on O->err.
 * Returns the exit code: 0 when everything was imported or skipped as
 * expired, 1 on any error (the rest is still imported).
 */
int rfs_import(struct rfs_fs *fs, const struct rfs_import_opts *o,
    struct rfs_import_stats *stats);

#endif
