/*
 * control.h - the local control channel between retentionctl and a
 * running daemon.
 *
 * A Unix stream socket at /run/retentionfs/HASH.sock, HASH being the hex
 * BLAKE2b-128 of the mount point's canonical path, so the tool finds the
 * daemon from the mount point alone.  Peers are authenticated with
 * SO_PEERCRED: root, or members of the admin group named by
 * RFS_ADMIN_GROUP in the daemon's environment; everyone else gets
 * "permission denied".
 *
 * Wire format (both directions are plain bytes, no framing beyond this):
 *   request:  "RFS1" then argc (1 byte, 1..32) then argc NUL-terminated
 *             words, total at most 64 KiB;
 *   reply:    progress lines "\001DONE TOTAL\n" while a long operation
 *             runs, then the command's output text, then a last line
 *             "\nRFS-EXIT N\n" with the exit code.
 */
#ifndef RFS_CONTROL_H
#define RFS_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#include "rfs/fs.h"

#define RFS_CONTROL_DIR "/run/retentionfs"
#define RFS_CONTROL_MAX 65536
#define RFS_CONTROL_ARGS 32

struct rfs_control;

int rfs_control_start(struct rfs_fs *fs, const char *mountpoint,
    struct rfs_control **out);
void rfs_control_stop(struct rfs_control *c);
/* Socket path of MOUNTPOINT into BUF. */
int rfs_control_path(const char *mountpoint, char *buf, size_t len);
/* Parses a request; ARGV points into BUF.  0, or -EINVAL if malformed. */
int rfs_control_parse(char *buf, size_t len, int *argc, char **argv);
/* Builds a request for ARGV into BUF; returns its length or -E2BIG. */
ssize_t rfs_control_build(int argc, char **argv, char *buf, size_t len);

#endif
