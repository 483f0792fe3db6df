/*
 * fs.h - the filesystem proper, free of FUSE types.
 *
 * fuse_ops.c translates FUSE requests into these calls; the tools use the
 * same calls offline.  Every function returns 0 (or a byte count) or a
 * negative errno.
 *
 * Locking (the only order allowed):  inode->lock  before  fs->meta.
 *   fs->meta   guards the catalog, the inode table and every inode's
 *              attributes (struct rfs_attr) and lookup/open counts.  It
 *              is a mutex owning the catalog connection followed by a
 *              read-write lock over the table and attributes, so a
 *              commit does not hold up getattr (src/fs_impl.h, meta_lock);
 *   inode->lock guards the inode's open object (contents I/O).
 * An inode pointer outlives a release of meta only while its holder has
 * the inode open: the table is trimmed behind everyone's back.
 * Data I/O runs under the inode lock only, so reads and writes of
 * different files proceed in parallel and never touch SQLite; the new size
 * and mtime reach the catalog at flush, fsync and release.
 */
#ifndef RFS_FS_H
#define RFS_FS_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "rfs/clock.h"
#include "rfs/policy.h"
#include "rfs/store.h"

struct rfs_fs;
struct rfs_handle;

/* Progress of a long operation: DONE of TOTAL (0 when not known yet). */
typedef void (*rfs_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct rfs_ctx {
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

struct rfs_entry {
	uint64_t ino;
	struct stat st;
	double timeout;      /* entry validity, seconds */
	double attr_timeout; /* attribute validity, seconds */
};

/* setattr mask */
#define RFS_SET_MODE   (1 << 0)
#define RFS_SET_UID    (1 << 1)
#define RFS_SET_GID    (1 << 2)
#define RFS_SET_SIZE   (1 << 3)
#define RFS_SET_ATIME  (1 << 4)
#define RFS_SET_MTIME  (1 << 5)
#define RFS_SET_ATIME_NOW (1 << 6)
#define RFS_SET_MTIME_NOW (1 << 7)
#define RFS_SET_CTIME  (1 << 8)
#define RFS_SET_KILLPRIV (1 << 9)

int rfs_fs_new(struct rfs_store *st, struct rfs_policy *pol,
    struct rfs_fs **out);
void rfs_fs_free(struct rfs_fs *fs);
/* Daemon: catalog writes are committed in groups, at most INTERVAL_NS
 * after the first (the committer, fs.c); fsync and fsyncdir still commit at once. */
int rfs_fs_group_commit(struct rfs_fs *fs, int64_t interval_ns);
struct rfs_store *rfs_fs_store(struct rfs_fs *fs);
/* Takes a reference to the current policy; release with rfs_policy_unref. */
struct rfs_policy *rfs_fs_policy(struct rfs_fs *fs);
/* Installs a new policy (takes ownership of the caller's reference). */
void rfs_fs_set_policy(struct rfs_fs *fs, struct rfs_policy *pol);
int64_t rfs_fs_now(struct rfs_fs *fs);
/* Persists dirty sizes and the clock; called at unmount. */
int rfs_fs_sync_all(struct rfs_fs *fs);

int rfs_fs_lookup(struct rfs_fs *fs, uint64_t parent, const char *name,
    struct rfs_entry *e);
void rfs_fs_forget(struct rfs_fs *fs, uint64_t ino, uint64_t n);
int rfs_fs_getattr(struct rfs_fs *fs, uint64_t ino, struct stat *st,
    double *timeout);
int rfs_fs_setattr(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    struct rfs_handle *h, const struct stat *in, int mask, struct stat *out,
    double *timeout);
int rfs_fs_mknod(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t parent, const char *name, mode_t mode, dev_t rdev,
    struct rfs_entry *e);
int rfs_fs_mkdir(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t parent, const char *name, mode_t mode, struct rfs_entry *e);
int rfs_fs_symlink(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t parent, const char *name, const char *target,
    struct rfs_entry *e);
int rfs_fs_link(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    uint64_t parent, const char *name, struct rfs_entry *e);
int rfs_fs_unlink(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t parent, const char *name);
int rfs_fs_rmdir(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t parent, const char *name);
int rfs_fs_rename(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t parent, const char *name, uint64_t newparent,
    const char *newname, unsigned int flags);
int rfs_fs_readlink(struct rfs_fs *fs, uint64_t ino, char *buf, size_t len);

int rfs_fs_open(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    int flags, struct rfs_handle **h, int *killed);
int rfs_fs_create(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t parent, const char *name, mode_t mode, int flags,
    struct rfs_entry *e, struct rfs_handle **h);
ssize_t rfs_fs_read(struct rfs_fs *fs, struct rfs_handle *h, void *buf,
    size_t len, uint64_t off);
/* *KILLED is set when the write cleared setuid/setgid (the caller tells the
 * kernel to drop its cached mode). */
ssize_t rfs_fs_write(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct rfs_handle *h, const void *buf, size_t len, uint64_t off,
    int *killed);
int rfs_fs_flush(struct rfs_fs *fs, struct rfs_handle *h);
int rfs_fs_fsync(struct rfs_fs *fs, struct rfs_handle *h, int datasync);
int rfs_fs_release(struct rfs_fs *fs, struct rfs_handle *h);
int rfs_fs_fallocate(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct rfs_handle *h, int mode, uint64_t off, uint64_t len, int *killed);
ssize_t rfs_fs_copy_range(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct rfs_handle *in, uint64_t off_in, struct rfs_handle *out,
    uint64_t off_out, size_t len, int *killed);

/* readdir: FILL returns nonzero when the reply buffer is full.  With PLUS
 * each entry filled counts as a lookup (FILL gets the full entry). */
typedef int (*rfs_fill_fn)(void *ctx, const char *name,
    const struct rfs_entry *e, int64_t next);
int rfs_fs_readdir(struct rfs_fs *fs, uint64_t ino, int64_t off, int plus,
    rfs_fill_fn fill, void *ctx);
int rfs_fs_fsyncdir(struct rfs_fs *fs);
int rfs_fs_statfs(struct rfs_fs *fs, struct statvfs *sv);

/* Whether NAME is an attribute the mount stores as given: not one it
 * refuses (system.*, security.selinux) nor its own user.retention.*. */
int rfs_fs_xattr_kept(const char *name);
int rfs_fs_setxattr(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t ino, const char *name, const void *val, size_t len, int flags);
ssize_t rfs_fs_getxattr(struct rfs_fs *fs, uint64_t ino, const char *name,
    void *buf, size_t len);
/* trusted.* names are listed to root only, as the VFS shows them (ext4's
 * list handler checks CAP_SYS_ADMIN; FUSE leaves listing to us). */
ssize_t rfs_fs_listxattr(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t ino, char *buf, size_t len);
int rfs_fs_removexattr(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t ino, const char *name);

/* Path of INO relative to the root (for classification and the trash). */
int rfs_fs_path_of(struct rfs_fs *fs, uint64_t ino, char *buf, size_t len);
/* Resolves a relative path to an inode (admin tools); no lookup counted. */
int rfs_fs_resolve(struct rfs_fs *fs, const char *path, uint64_t *ino);

/* Sets or clears a legal hold.  Caller holds the meta lock (see
 * rfs_fs_lock); used by the admin layer. */
int rfs_fs_hold_locked(struct rfs_fs *fs, uint64_t ino, int hold,
    uint32_t uid, int64_t now);

/*
 * Access times: FUSE marks every inode S_NOATIME, so the kernel leaves
 * atime to the filesystem.  By default it follows relatime, as a disk
 * filesystem mounted by default does: opening a file for reading, or
 * reading a directory from its start, sets atime to now when atime is not
 * after mtime or ctime, or is a day old.  With ON (-o noatime) it is
 * never updated by reading.
 */
void rfs_fs_set_noatime(struct rfs_fs *fs, int on);

/* ---- for the admin layer (admin.c, sweeper.c) ---- */
void rfs_fs_set_recover(struct rfs_fs *fs, int on);
/*
 * What a crash while making a window key leaves: a half-written key file
 * (destroyed) or a key without its catalog record (recorded, so the
 * sweeper destroys it in time).  rfs_fs_adopt_key records one key, or
 * fails -EBADMSG if it does not authenticate for its name.
 * rfs_fs_recover_keys does both for the whole key store (read-write
 * mounts); returns how many keys it recorded.
 */
int rfs_fs_adopt_key(struct rfs_fs *fs, const char *cls, int64_t start);
int rfs_fs_recover_keys(struct rfs_fs *fs);
/* FN runs (outside every lock) when a file past its deadline is closed for
 * the last time: the daemon wakes its sweeper so the file goes at once. */
void rfs_fs_set_due_hook(struct rfs_fs *fs, void (*fn)(void));
/* Forgets which key windows this process recorded: call after destroying
 * a window key (its record went with it).  Caller holds rfs_fs_lock. */
void rfs_fs_keywin_forget_locked(struct rfs_fs *fs);
/* The meta lock, for scans of the catalog that must see a stable state. */
void rfs_fs_lock(struct rfs_fs *fs);
void rfs_fs_unlock(struct rfs_fs *fs);
/* The catalog only, for rows no in-memory inode mirrors (scans, events,
 * meta, audit, checkpoints): getattr goes on meanwhile.  Release with
 * rfs_fs_unlock_catalog. */
void rfs_fs_lock_catalog(struct rfs_fs *fs);
void rfs_fs_unlock_catalog(struct rfs_fs *fs);
int64_t rfs_fs_event_for_locked(struct rfs_fs *fs, uint64_t ino);
/* The event deadline that applies to A (trashed files: where they were). */
int64_t rfs_fs_event_of_locked(struct rfs_fs *fs, const struct rfs_attr *a);
int rfs_fs_events_reload_locked(struct rfs_fs *fs);
/*
 * Crypto-shreds file INO (catalog rows, then the object).  Re-checks under
 * the lock that INO is still in STATE, not held, and (with ONLY_DUE) past
 * its deadline: -EAGAIN if not, -EBUSY if it is open.
 */
int rfs_fs_destroy(struct rfs_fs *fs, uint64_t ino, const char *op,
    uint32_t uid, int passes, int state, int only_due);
/* rfs_fs_destroy of N files at once (the sweep); RES[i] is each result. */
void rfs_fs_destroy_many(struct rfs_fs *fs, const uint64_t *ino, size_t n,
    const char *op, uint32_t uid, int passes, int state, int only_due,
    int *res);
/* Original path of a trashed file (meta held). */
int rfs_fs_trash_path(struct rfs_fs *fs, uint64_t ino, char *buf, size_t len);
/* Puts trashed INO back at TO (or where it was), making parents. */
int rfs_fs_restore(struct rfs_fs *fs, uint64_t ino, const char *to, int force,
    uint32_t uid, char *restored, size_t restoredlen);
/* Import: sets a file's trusted creation time to CREATED (not in the
 * future), re-wrapping its key for that window; audited as "import". */
int rfs_fs_set_created(struct rfs_fs *fs, uint64_t ino, int64_t created,
    uint32_t uid);

#endif
