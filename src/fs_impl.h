/*
 * fs_impl.h - what the parts of the file-system module share: fs.c (the
 * inode table, attributes, names, lookup and the committer), fs_create.c,
 * fs_file.c (open files, setattr), fs_namespace.c (remove, link, rename,
 * directories), fs_xattr.c and fs_admin.c.  Nothing outside them includes
 * it; the module's interface is rfs/fs.h.
 *
 * Functions shared between the parts are prefixed fs_; the lock helpers are
 * inline here.  "Caller holds meta" in a comment means meta_lock (both of
 * its locks, below); an inode's attributes are read and written only under
 * it, its object only under its own lock (in_lock).
 */
#ifndef RFS_FS_IMPL_H
#define RFS_FS_IMPL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "rfs/catalog.h"
#include "rfs/fs.h"
#include "rfs/object.h"

/* What the next fsync of a file must do to the catalog besides its object. */
enum {
	CAT_NONE,
	CAT_COMMIT,    /* commit the batch: times set by setattr (see fsync) */
	CAT_SYNC,      /* commit and sync: a new file, a setattr of more */
};

struct inode {
	uint64_t ino;
	uint64_t nlookup;
	int nopen;
	int dirty;                /* size/mtime newer than the catalog */
	int tamper_seen;          /* an authentication failure was audited */
	int writing_durable;      /* writing = 1 is synced to the catalog */
	int sync_catalog;         /* what fsync owes the catalog: CAT_* */
	struct rfs_attr a;
	pthread_rwlock_t lock;    /* contents: obj (see in_lock) */
	struct rfs_obj *obj;
	struct inode *next;       /* hash chain */
};

struct rfs_handle {
	struct inode *in;
	int flags;
};

struct event_cache {
	uint64_t ino;
	int64_t at;
};

struct rfs_fs {
	struct rfs_store *st;
	struct rfs_policy *pol;       /* swapped under meta */
	struct rfs_clock clock;
	pthread_mutex_t meta;
	struct inode **tab;
	size_t nbuckets, count;
	struct event_cache *events;   /* all events, small */
	size_t nevents;
	int recover;                  /* -o ro,recover: show what keys open */
	int noatime;                  /* -o noatime (rfs_fs_set_noatime) */
	void (*due_hook)(void);       /* a due file was closed for the last time */
	/*
	 * Key windows already recorded in the catalog by this process, with
	 * the end recorded.  A hit needs the same class and start and an end
	 * at least as late: after a longer [keys] period a window's start can
	 * stay while its end moves (a shorter recorded end would let the key
	 * go while newer files need it).  Emptied whenever the catalog may
	 * disagree: a rolled-back operation (fs_finish_tx), a destroyed
	 * window key.
	 */
	struct {
		char cls[RFS_CLASS_MAX + 1];
		int64_t start, end;
	} kwcache[16];
	unsigned kwnext;
	int kw_new;                   /* a window was recorded: flush at commit */
	/*
	 * Inodes the open operation changed in memory besides the ones it
	 * reloads itself on failure (hidden files it detached from a name):
	 * fs_finish_tx reloads them from the catalog if it rolls back, else
	 * a table entry would disagree with its row (see fs_tx_touch).
	 */
	uint64_t *touched;
	size_t ntouched, ctouched;
	int events_touched;           /* event rows changed: reload the cache */
	/* Group commit (rfs_fs_group_commit): the committer thread flushes
	 * the catalog's open batch COMMIT_NS after it began. */
	pthread_t committer;
	pthread_cond_t commit_cv;     /* with meta: a batch began, or stop */
	int64_t commit_ns;            /* 0: no committer */
	int commit_stop;
	atomic_int meta_waiting;      /* foreground threads queued on meta */
	/* Written with meta held; read alone by getattr's fast path.  See
	 * meta_lock. */
	pthread_rwlock_t attrs;
	size_t trim_next;             /* itab_trim's cursor */
};

/*
 * The meta lock.  pthread mutexes are not fair: the sweep, taking and
 * dropping meta once per file, got it back before a woken request worker
 * ran, and a stat waited for the sweep's whole group (p99 of a GETATTR
 * during a sweep: 1.8 ms, 4.8 ms without the overwrite I/O).  Request
 * paths say they are waiting; background work (meta_lock_bg) lets them go
 * first, for a bounded number of yields so it cannot starve either.
 *
 * meta is two locks, always taken in this order: the mutex, which owns the
 * catalog connection, then the attrs rwlock (written), which guards the
 * inode table and every inode's attributes.  Committing a batch needs the
 * connection only (db_lock_bg), so getattr of an inode in the table, which
 * needs the attributes only (read), is not held up by a commit: during a
 * sweep those commits were the slowest holds of meta.
 */
static inline void
meta_lock(struct rfs_fs *fs)
{
	atomic_fetch_add(&fs->meta_waiting, 1);
	pthread_mutex_lock(&fs->meta);
	atomic_fetch_sub(&fs->meta_waiting, 1);
	pthread_rwlock_wrlock(&fs->attrs);
}

static inline void
db_lock_bg(struct rfs_fs *fs)
{
	for (int i = 0; i < 1000 && atomic_load(&fs->meta_waiting) > 0; i++)
		sched_yield();
	pthread_mutex_lock(&fs->meta);
}

static inline void
meta_lock_bg(struct rfs_fs *fs)
{
	db_lock_bg(fs);
	pthread_rwlock_wrlock(&fs->attrs);
}

static inline void
meta_unlock(struct rfs_fs *fs)
{
	pthread_rwlock_unlock(&fs->attrs);
	pthread_mutex_unlock(&fs->meta);
}

static inline int64_t
now_of(struct rfs_fs *fs)
{
	return rfs_clock_now(&fs->clock);
}

/*
 * An inode's lock guards its object.  Reads of the object change nothing
 * in it (rfs_obj_read), so they share the lock and the kernel's concurrent
 * readahead requests are opened on both cores: a cold 512 MiB read went
 * from 470-520 to 790-1,100 MB/s.  Everything else takes it exclusively.
 * Waiting writers go first, so a stream of reads cannot starve an append;
 * no thread takes the read side twice (the writer-preferring kind would
 * then deadlock).
 */
static inline void
in_lock(struct inode *in)
{
	pthread_rwlock_wrlock(&in->lock);
}

static inline void
in_lock_read(struct inode *in)
{
	pthread_rwlock_rdlock(&in->lock);
}

static inline void
in_unlock(struct inode *in)
{
	pthread_rwlock_unlock(&in->lock);
}

/*
 * Shared between the parts.  Unless a comment at the definition says
 * otherwise, the caller holds meta.
 */

/* fs.c: events, the inode table, attributes, names, lookup */
int fs_events_reload(struct rfs_fs *fs);
int64_t fs_event_for(struct rfs_fs *fs, uint64_t ino);
/* The earliest event set on INO itself (not its ancestors). */
int64_t fs_event_own(struct rfs_fs *fs, uint64_t ino);
int64_t fs_event_of(struct rfs_fs *fs, const struct rfs_attr *a);
int fs_hold_inode(struct rfs_fs *fs, struct inode *in, int hold, uint32_t uid,
    int64_t now);
int fs_iget(struct rfs_fs *fs, uint64_t ino, struct inode **out);
int fs_iget_new(struct rfs_fs *fs, const struct rfs_attr *a,
    struct inode **out);
void fs_iput_maybe(struct rfs_fs *fs, struct inode *in);
void fs_itab_remove(struct rfs_fs *fs, struct inode *in);
void fs_ifree(struct inode *in);
void fs_reconcile_size(struct rfs_fs *fs, struct rfs_attr *a);
int64_t fs_ns_of(const struct timespec *ts);
void fs_stat_of(const struct rfs_attr *a, struct stat *st);
int fs_blocks_needed(const struct stat *st);
void fs_blocks_of(struct rfs_fs *fs, struct stat *st);
double fs_timeout_of(struct rfs_fs *fs, const struct rfs_attr *a,
    int64_t now);
int fs_visible(struct rfs_fs *fs, const struct rfs_attr *a, int64_t now);
void fs_fill_entry(struct rfs_fs *fs, const struct inode *in, int64_t now,
    struct rfs_entry *e);
int fs_check_name(const char *name);
void fs_name_hash(struct rfs_fs *fs, uint64_t parent, const char *name,
    unsigned char h[RFS_HASH_BYTES]);
int fs_name_seal(struct rfs_fs *fs, uint64_t parent, const char *name,
    unsigned char **out, size_t *outlen);
int fs_name_open(struct rfs_fs *fs, uint64_t parent,
    const unsigned char *blob, size_t len, char **out);
int fs_find(struct rfs_fs *fs, uint64_t parent, const char *name,
    int64_t now, struct inode **out);
int fs_dir_get(struct rfs_fs *fs, uint64_t parent, struct inode **out);

/* fs_create.c: new nodes, their keys, and closing a transaction */
int fs_make_node(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct inode *dir, const char *name, mode_t mode, dev_t rdev,
    int64_t now, struct inode **out, struct rfs_key **keyout);
int fs_create_common(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t parent, const char *name, mode_t mode, dev_t rdev,
    const char *target, struct rfs_entry *e, struct inode **inout,
    struct rfs_key **keyout);
int fs_file_key(struct rfs_fs *fs, const struct rfs_attr *a,
    struct rfs_key **out);
int fs_keywin_note(struct rfs_fs *fs, const struct rfs_attr *a);
int fs_finish_tx(struct rfs_fs *fs, int rc);
void fs_tx_touch(struct rfs_fs *fs, uint64_t ino);

/* fs_file.c */
int fs_atime_due(struct rfs_fs *fs, const struct inode *in, int64_t now);

/* fs_namespace.c: names in and out of directories */
int fs_add_entry(struct rfs_fs *fs, uint64_t dir, const char *name,
    uint64_t ino);
int fs_drop_link(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct inode *dir, struct inode *in, const char *name, int64_t now);
int fs_clear_hidden(struct rfs_fs *fs, uint64_t dir,
    const unsigned char *h, int64_t now, struct inode **out);
void fs_reload(struct rfs_fs *fs, struct inode *in);

/* fs_xattr.c */
int fs_retag(struct rfs_fs *fs, struct inode *in, const char *cls,
    int64_t created, const char *op, uint32_t uid, int64_t now);

#endif
