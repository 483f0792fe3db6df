/*
 * objpool.h - spare object files, made ahead of the creates that need them.
 *
 * Making a file on the backing is the costliest step of a create.  Worse,
 * ext4 without a journal skips, in every inode allocation, each inode of
 * the group freed within the last minute (its recently_deleted()), so after
 * a mass delete -- the sweep, rm -r, a log rotation's cleanup -- one create
 * on the backing took 250 us (measured: 10,000 files into 256 directories
 * right after deleting as many; a plain link of an existing file: 3 us).
 *
 * The pool keeps up to RFS_OBJPOOL_HIGH unnamed empty files (O_TMPFILE in
 * the objects directory) open, made by a background thread whenever fewer
 * than RFS_OBJPOOL_LOW are left.  A create gives one of them the object's
 * name (linkat) instead of making the file.  When the pool is empty, or the
 * backing cannot make or name unnamed files (no pool is started), the
 * caller makes the file as before: the pool only moves work off the
 * request path, never changes what a create does.
 *
 * A spare holds no data and has no name.  When the daemon ends, however it
 * ends, the kernel frees the spares with their descriptors; only a crash of
 * the whole machine can leave them behind, as unattached empty inodes that
 * the backing's own fsck frees.  Nothing of a spare appears in the backing
 * directory, so the store's format does not change.
 *
 * Locking: one mutex per pool, held only to pop or push a descriptor; the
 * thread drops it while it makes a file.
 */
#ifndef RFS_OBJPOOL_H
#define RFS_OBJPOOL_H

#define RFS_OBJPOOL_HIGH 64     /* the thread fills the pool up to this */
#define RFS_OBJPOOL_LOW  32     /* ... whenever it falls below this */

struct rfs_objpool;

/*
 * Starts a pool of spares in the directory DIRFD (borrowed: it must stay
 * open until rfs_objpool_stop).  The first spare is made here, so a backing
 * without O_TMPFILE is refused at once: -EOPNOTSUPP (or the error that
 * making it gave).
 */
int rfs_objpool_start(int dirfd, struct rfs_objpool **out);

/*
 * Gives a spare the name PATH (relative to the pool's directory) and
 * returns its descriptor, open read-write, which the caller then owns.
 * -EAGAIN when no spare is ready; any other -errno is linkat's (EEXIST:
 * PATH exists), and the spare goes back to the pool.  On any error the
 * caller makes the file itself.
 */
int rfs_objpool_place(struct rfs_objpool *p, const char *path);

/* How many spares are ready now (for tests and diagnostics). */
unsigned rfs_objpool_ready(struct rfs_objpool *p);

/* Stops the thread and closes every spare.  NULL is fine. */
void rfs_objpool_stop(struct rfs_objpool *p);

#endif
