/*
 * fuse_ops.h - the low-level FUSE callbacks: thin translations into fs.h.
 * Nothing outside fuse_ops.c and main.c knows about FUSE.
 */
#ifndef RFS_FUSE_OPS_H
#define RFS_FUSE_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "rfs/fs.h"

struct rfs_fuse {
	struct rfs_fs *fs;
	struct fuse_session *se;
	int writeback;           /* kernel writeback cache negotiated */
	int readonly;
};

const struct fuse_lowlevel_ops *rfs_fuse_ops(void);
/* Installs the session's custom I/O that negotiates HANDLE_KILLPRIV_V2. */
int rfs_fuse_custom_io(struct rfs_fuse *rf);

#endif
