/*
 * sweeper.h - the background thread that runs rfs_admin_sweep every
 * [shred] interval, on request, and reloads the policy on SIGHUP.
 */
#ifndef RFS_SWEEPER_H
#define RFS_SWEEPER_H

#include "rfs/fs.h"

struct rfs_sweeper;

/* POLICY_PATH (may be NULL: built-in default) is re-read on reload. */
int rfs_sweeper_start(struct rfs_fs *fs, const char *policy_path,
    struct rfs_sweeper **out);
void rfs_sweeper_stop(struct rfs_sweeper *sw);
/* Async-signal-safe: wakes the sweeper to reload the policy. */
void rfs_sweeper_request_reload(void);
/* Wakes the sweeper for an early sweep (a due file was released). */
void rfs_sweeper_poke(void);

#endif
