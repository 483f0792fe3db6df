/*
 * fs.c - namespace, attributes and data of retentionfs (fs.h).
 *
 * The in-memory inode table holds every inode the kernel knows (lookup
 * count > 0) or that is open.  While an inode is in the table its
 * attributes here are authoritative; each change is written through to the
 * catalog in the same call, except size and mtime from write(), which are
 * marked dirty and persisted at flush, fsync and release.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/xattr.h>
#include <linux/fs.h>
#include <linux/falloc.h>

#include "rfs/audit.h"
#include "rfs/catalog.h"
#include "rfs/fs.h"
#include "rfs/keystore.h"
#include "rfs/log.h"
#include "rfs/object.h"
#include "rfs/retention.h"

/* Longest entry/attr validity: changes made behind the kernel's back (by
 * the admin tool) show within this time; expiry is exact (see timeout()). */
#define MAX_TIMEOUT 1.0
/* Inodes kept in memory: trimmed back to LOW once past HIGH (itab_trim). */
#define ITAB_HIGH 16384
#define ITAB_LOW 8192
#define ITAB_TRIM_STEP 256        /* inodes freed per hold of the locks */
#define XATTR_MAX 65536
#define SET_TIMES (RFS_SET_ATIME | RFS_SET_MTIME | RFS_SET_ATIME_NOW | \
	RFS_SET_MTIME_NOW | RFS_SET_CTIME)

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
	/* Key windows already recorded in the catalog by this process. */
	struct { char cls[RFS_CLASS_MAX + 1]; int64_t start; } kwcache[16];
	unsigned kwnext;
	int kw_new;                   /* a window was recorded: flush at commit */
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
static void
meta_lock(struct rfs_fs *fs)
{
	atomic_fetch_add(&fs->meta_waiting, 1);
	pthread_mutex_lock(&fs->meta);
	atomic_fetch_sub(&fs->meta_waiting, 1);
	pthread_rwlock_wrlock(&fs->attrs);
}

static void
db_lock_bg(struct rfs_fs *fs)
{
	for (int i = 0; i < 1000 && atomic_load(&fs->meta_waiting) > 0; i++)
		sched_yield();
	pthread_mutex_lock(&fs->meta);
}

static void
meta_lock_bg(struct rfs_fs *fs)
{
	db_lock_bg(fs);
	pthread_rwlock_wrlock(&fs->attrs);
}

static void
meta_unlock(struct rfs_fs *fs)
{
	pthread_rwlock_unlock(&fs->attrs);
	pthread_mutex_unlock(&fs->meta);
}

static int64_t
now_of(struct rfs_fs *fs)
{
	return rfs_clock_now(&fs->clock);
}

int64_t
rfs_fs_now(struct rfs_fs *fs)
{
	return now_of(fs);
}


struct rfs_store *
rfs_fs_store(struct rfs_fs *fs)
{
	return fs->st;
}

/* ---- policy ---------------------------------------------------------- */

struct rfs_policy *
rfs_fs_policy(struct rfs_fs *fs)
{
	struct rfs_policy *p;

	meta_lock(fs);
	p = rfs_policy_ref(fs->pol);
	meta_unlock(fs);
	return p;
}

void
rfs_fs_set_policy(struct rfs_fs *fs, struct rfs_policy *pol)
{
	struct rfs_policy *old;

	meta_lock(fs);
	old = fs->pol;
	fs->pol = pol;
	meta_unlock(fs);
	rfs_policy_unref(old);
}

/* ---- events ---------------------------------------------------------- */

static int
event_load_one(void *ctx, const struct rfs_event *e)
{
	struct rfs_fs *fs = ctx;
	struct event_cache *n;

	n = realloc(fs->events, (fs->nevents + 1) * sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	fs->events = n;
	n[fs->nevents].ino = e->ino;
	n[fs->nevents].at = e->at;
	fs->nevents++;
	return 0;
}

/* Reloads the event cache from the catalog.  Caller holds meta. */
static int
events_reload(struct rfs_fs *fs)
{
	free(fs->events);
	fs->events = NULL;
	fs->nevents = 0;
	return rfs_cat_event_each(fs->st->cat, event_load_one, fs);
}

static int64_t
event_on(struct rfs_fs *fs, uint64_t ino)
{
	int64_t at = RFS_NO_EVENT;

	for (size_t i = 0; i < fs->nevents; i++)
		if (fs->events[i].ino == ino &&
		    (at == RFS_NO_EVENT || fs->events[i].at < at))
			at = fs->events[i].at;
	return at;
}

/*
 * Earliest event on INO or any ancestor (the event follows the path: a
 * file renamed out of an evented directory leaves the event behind).
 * Caller holds meta.
 */
static int64_t
event_for(struct rfs_fs *fs, uint64_t ino)
{
	int64_t best = RFS_NO_EVENT, at;
	unsigned char *name;
	size_t namelen;
	uint64_t parent;
	int depth = 0;

	if (fs->nevents == 0)
		return RFS_NO_EVENT;
	while (depth++ < 4096) {
		at = event_on(fs, ino);
		if (at != RFS_NO_EVENT && (best == RFS_NO_EVENT || at < best))
			best = at;
		if (ino == RFS_ROOT_INO ||
		    rfs_cat_dirent_of(fs->st->cat, ino, &parent, &name,
		    &namelen) != 0)
			break;
		free(name);
		ino = parent;
	}
	return best;
}

/*
 * The event deadline of A: a trashed file has no directory entry, so the
 * directory it was deleted from stands in for its path (deleting a file
 * must not let it outlive its event deadline in the trash).
 */
static int64_t
event_of(struct rfs_fs *fs, const struct rfs_attr *a)
{
	int64_t own, dir;

	if (fs->nevents == 0)
		return RFS_NO_EVENT;
	if (a->state != RFS_TRASH || a->del_parent == 0)
		return event_for(fs, a->ino);
	own = event_on(fs, a->ino);
	dir = event_for(fs, a->del_parent);
	if (own == RFS_NO_EVENT)
		return dir;
	return dir == RFS_NO_EVENT || own < dir ? own : dir;
}

/* ---- inode table ----------------------------------------------------- */

static size_t
bucket(struct rfs_fs *fs, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 20) & (fs->nbuckets - 1);
}

static struct inode *
itab_find(struct rfs_fs *fs, uint64_t ino)
{
	struct inode *in;

	for (in = fs->tab[bucket(fs, ino)]; in != NULL; in = in->next)
		if (in->ino == ino)
			return in;
	return NULL;
}

static void
itab_grow(struct rfs_fs *fs)
{
	size_t nb = fs->nbuckets * 2, oldnb = fs->nbuckets;
	struct inode **old = fs->tab, **tab = calloc(nb, sizeof(*tab));

	if (tab == NULL)
		return;
	fs->tab = tab;
	fs->nbuckets = nb;
	for (size_t i = 0; i < oldnb; i++) {
		struct inode *in = old[i], *next;

		for (; in != NULL; in = next) {
			size_t b = bucket(fs, in->ino);

			next = in->next;
			in->next = tab[b];
			tab[b] = in;
		}
	}
	free(old);
}

static void
itab_remove(struct rfs_fs *fs, struct inode *in)
{
	struct inode **pp = &fs->tab[bucket(fs, in->ino)];

	while (*pp != NULL && *pp != in)
		pp = &(*pp)->next;
	if (*pp == in)
		*pp = in->next;
	fs->count--;
}

/*
 * Size of a regular file: the catalog's, or more if the object has more.
 * Only a file whose object may have changed since the catalog last
 * committed it (a write session, or a fresh file) needs the object looked
 * at; for the others the catalog is exact, and lookups stay off the disk.
 */
static void
reconcile_size(struct rfs_fs *fs, struct rfs_attr *a)
{
	uint64_t stored;

	if (S_ISREG(a->mode) && a->has_key &&
	    (a->writing || rfs_attr_fresh(a)) &&
	    rfs_obj_stored_size(fs->st->objfd, a->ino, &stored) == 0 &&
	    stored > a->size)
		a->size = stored;
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
static void
in_lock_init(struct inode *in)
{
	pthread_rwlockattr_t ra;

	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&in->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
}

static void
in_lock(struct inode *in)
{
	pthread_rwlock_wrlock(&in->lock);
}

static void
in_lock_read(struct inode *in)
{
	pthread_rwlock_rdlock(&in->lock);
}

static void
in_unlock(struct inode *in)
{
	pthread_rwlock_unlock(&in->lock);
}

/*
 * The inode INO, loaded into the table if needed.  Caller holds meta.
 * A new entry starts with nlookup 0; callers count their own reference.
 */
static int
iget(struct rfs_fs *fs, uint64_t ino, struct inode **out)
{
	struct inode *in = itab_find(fs, ino);
	int rc;

	if (in != NULL) {
		*out = in;
		return 0;
	}
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return -ENOMEM;
	rc = rfs_cat_inode_get(fs->st->cat, ino, &in->a);
	if (rc != 0) {
		free(in);
		return rc;
	}
	reconcile_size(fs, &in->a);
	in->ino = ino;
	/* What this inode owed the catalog may have left with an earlier
	 * copy (trimmed, forgotten): if the catalog has unsynced writes,
	 * assume some are this file's. */
	in->sync_catalog = rfs_cat_unsynced(fs->st->cat) ? CAT_SYNC : CAT_NONE;
	in_lock_init(in);
	if (fs->count >= fs->nbuckets)
		itab_grow(fs);
	in->next = fs->tab[bucket(fs, ino)];
	fs->tab[bucket(fs, ino)] = in;
	fs->count++;
	if (fs->count > ITAB_HIGH && fs->commit_ns != 0)
		pthread_cond_signal(&fs->commit_cv);
	*out = in;
	return 0;
}


static void
ifree(struct inode *in)
{
	rfs_obj_close(in->obj);
	pthread_rwlock_destroy(&in->lock);
	free(in);
}

/* Drops IN from the table when nothing refers to it.  Caller holds meta. */
static void
iput_maybe(struct rfs_fs *fs, struct inode *in)
{
	if (in->nlookup > 0 || in->nopen > 0)
		return;
	if (in->dirty)
		(void)rfs_cat_inode_put(fs->st->cat, &in->a);
	itab_remove(fs, in);
	ifree(in);
}

/*
 * Trims the table towards ITAB_LOW inodes, freeing at most BUDGET of them
 * (each free is ~130 ns: the whole 8,000 at once held the locks for 1.1
 * ms, a stall for every getattr and catalog user); returns 1 when it
 * stopped for the budget with the table still above ITAB_LOW.
 *
 * The kernel keeps every inode it has looked up until memory pressure
 * makes it forget them, and a copy here for each cost ~450 bytes: 100 MiB
 * for 200,000 files.  A live, clean, unopened inode holds nothing the
 * catalog does not (its lookup count only says when the kernel is done
 * with it, and a FORGET for an inode not in the table is ignored), so it
 * is freed and reloaded on demand.  Safe only where no thread can hold an
 * unpinned pointer: the invariant is that a pointer to an inode outlives
 * a release of meta only while its holder has it open (nopen), and the
 * committer, which calls this under meta, holds none.  Caller holds meta.
 */
static int
itab_trim(struct rfs_fs *fs, size_t budget)
{
	for (size_t n = 0; n < fs->nbuckets && fs->count > ITAB_LOW &&
	    budget > 0; n++) {
		struct inode **pp, *in;

		fs->trim_next = (fs->trim_next + 1) & (fs->nbuckets - 1);
		pp = &fs->tab[fs->trim_next];
		while ((in = *pp) != NULL) {
			if (in->nopen == 0 && !in->dirty &&
			    in->a.state == RFS_LIVE && in->ino != RFS_ROOT_INO) {
				*pp = in->next;
				fs->count--;
				ifree(in);
				budget -= budget > 0;
			} else {
				pp = &in->next;
			}
		}
	}
	/* A pass that ended within budget found nothing more it may free. */
	return budget == 0 && fs->count > ITAB_LOW;
}

/* ---- attributes ------------------------------------------------------ */

/* NS as a timespec; tv_nsec is never negative, also before 1970 (C's
 * division truncates toward zero, so -0.5 s must become -1 s + 0.5e9). */
static void
ts_of(int64_t ns, struct timespec *ts)
{
	int64_t sec = ns / RFS_NSEC, rem = ns % RFS_NSEC;

	if (rem < 0) {
		sec--;
		rem += RFS_NSEC;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)rem;
}

/* A timespec in ns, clamped to what 64-bit ns can hold (1677..2262). */
static int64_t
ns_of(const struct timespec *ts)
{
	if (ts->tv_sec >= INT64_MAX / RFS_NSEC)
		return INT64_MAX - RFS_NSEC;
	if (ts->tv_sec <= INT64_MIN / RFS_NSEC)
		return INT64_MIN + RFS_NSEC;
	return (int64_t)ts->tv_sec * RFS_NSEC + ts->tv_nsec;
}

static void
stat_of(const struct rfs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = RFS_BLOCK;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	ts_of(a->atime, &st->st_atim);
	ts_of(a->mtime, &st->st_mtim);
	ts_of(a->ctime, &st->st_ctim);
}

/*
 * st_blocks of a regular file of at least BLOCKS_MIN bytes is what its
 * object takes on the backing, so du(1) counts what is stored and cp, tar
 * and rsync, which compare st_blocks with st_size, keep a sparse file
 * sparse (a 1 GiB file of one byte was 2 million blocks).  It costs a
 * look at the object's inode, done with no lock held (on a cold cache it
 * is a disk read); a listing's entries (readdirplus, under the lock) carry
 * no attribute validity for such files instead, so the kernel asks for
 * them.  A smaller file keeps the count its size implies, and lookups of
 * small files in a large store stay off the backing's inodes.
 */
#define BLOCKS_MIN (1 << 20)

static int
blocks_needed(const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_size >= BLOCKS_MIN;
}

static void
blocks_of(struct rfs_fs *fs, struct stat *st)
{
	uint64_t blocks;

	if (blocks_needed(st) &&
	    rfs_obj_stored_blocks(fs->st->objfd, st->st_ino, &blocks) == 0)
		st->st_blocks = (blkcnt_t)blocks;
}

/* Validity for the kernel's caches: never past the file's deadline. */
static double
timeout_of(struct rfs_fs *fs, const struct rfs_attr *a, int64_t now)
{
	int64_t d;
	double t;

	if (a->hold || !S_ISREG(a->mode))
		return MAX_TIMEOUT;
	d = rfs_retention_deadline(fs->pol, a, event_of(fs, a));
	if (d == INT64_MAX)
		return MAX_TIMEOUT;
	t = (double)(d - now) / 1e9;
	return t < 0 ? 0 : t > MAX_TIMEOUT ? MAX_TIMEOUT : t;
}

/*
 * Operations by inode number on a file that is no longer visible (expired,
 * trashed, shredded) fail with ESTALE, not ENOENT: the kernel then walks
 * the path again with a fresh lookup, so a name it still caches for an
 * old inode (a replaced or restored file) resolves to what is there now.
 * This is why the daemon never has to call back into the kernel to drop
 * names, which could deadlock against a request holding the directory.
 */

/* Directories, symlinks and special files do not expire; files do. */
static int
visible(struct rfs_fs *fs, const struct rfs_attr *a, int64_t now)
{
	if (a->state != RFS_LIVE)
		return 0;
	if (fs->recover)
		return !S_ISREG(a->mode) || a->has_key;
	if (!S_ISREG(a->mode))
		return 1;
	return rfs_retention_visible(fs->pol, a, event_of(fs, a), now);
}

static void
fill_entry(struct rfs_fs *fs, const struct inode *in, int64_t now,
    struct rfs_entry *e)
{
	e->ino = in->ino;
	stat_of(&in->a, &e->st);
	e->timeout = e->attr_timeout = timeout_of(fs, &in->a, now);
}

/* ---- names ----------------------------------------------------------- */

static int
check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return -ENOENT;
	if (n > NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static void
name_hash(struct rfs_fs *fs, uint64_t parent, const char *name,
    unsigned char h[RFS_HASH_BYTES])
{
	rfs_name_hash(fs->st->k_hash, parent, name, strlen(name), h);
}

static int
name_seal(struct rfs_fs *fs, uint64_t parent, const char *name,
    unsigned char **out, size_t *outlen)
{
	return rfs_seal(fs->st->k_name, &parent, sizeof(parent), name,
	    strlen(name), out, outlen);
}

static int
name_open(struct rfs_fs *fs, uint64_t parent, const unsigned char *blob,
    size_t len, char **out)
{
	unsigned char *p;
	size_t n;
	int rc = rfs_open(fs->st->k_name, &parent, sizeof(parent), blob, len,
	    &p, &n);

	if (rc == 0)
		*out = (char *)p;
	return rc;
}

int
rfs_fs_path_of(struct rfs_fs *fs, uint64_t ino, char *buf, size_t len)
{
	char *parts[512];
	int n = 0, rc = 0;
	size_t pos = 0;

	while (ino != RFS_ROOT_INO) {
		unsigned char *blob;
		size_t bloblen;
		uint64_t parent;

		if (n == 512) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		rc = rfs_cat_dirent_of(fs->st->cat, ino, &parent, &blob,
		    &bloblen);
		if (rc != 0)
			goto out;
		rc = name_open(fs, parent, blob, bloblen, &parts[n]);
		free(blob);
		if (rc != 0)
			goto out;
		n++;
		ino = parent;
	}
	buf[0] = '\0';
	for (int i = n - 1; i >= 0; i--) {
		int w = snprintf(buf + pos, len - pos, "%s%s", parts[i],
		    i > 0 ? "/" : "");

		if (w < 0 || (size_t)w >= len - pos) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		pos += (size_t)w;
	}
out:
	for (int i = 0; i < n; i++)
		free(parts[i]);
	return rc;
}

/* ---- life cycle ------------------------------------------------------ */

int
rfs_fs_new(struct rfs_store *st, struct rfs_policy *pol, struct rfs_fs **out)
{
	struct rfs_fs *fs = calloc(1, sizeof(*fs));
	int64_t hwm = 0;

	if (fs == NULL)
		return -ENOMEM;
	fs->st = st;
	fs->pol = pol;
	fs->nbuckets = 1024;
	fs->tab = calloc(fs->nbuckets, sizeof(*fs->tab));
	if (fs->tab == NULL) {
		free(fs);
		return -ENOMEM;
	}
	pthread_mutex_init(&fs->meta, NULL);
	pthread_rwlock_init(&fs->attrs, NULL);
	(void)rfs_cat_meta_get(st->cat, "clock_hwm", &hwm);
	fs->clock.hwm = fs->clock.persisted = hwm;
	(void)events_reload(fs);
	*out = fs;
	return 0;
}

int
rfs_fs_sync_all(struct rfs_fs *fs)
{
	int rc = 0;

	meta_lock(fs);
	for (size_t b = 0; b < fs->nbuckets; b++)
		for (struct inode *in = fs->tab[b]; in != NULL; in = in->next)
			if (in->dirty && rfs_cat_inode_put(fs->st->cat,
			    &in->a) == 0)
				in->dirty = 0;
	if (!fs->st->readonly) {
		int64_t now = now_of(fs);

		if (rfs_cat_meta_set(fs->st->cat, "clock_hwm", now) == 0)
			fs->clock.persisted = now;
		rc = rfs_cat_sync(fs->st->cat);
	}
	meta_unlock(fs);
	return rc;
}

/*
 * Group commit.  Catalog writes collect in one transaction that the
 * committer flushes INTERVAL after the batch began; a create costs a few
 * B-tree updates in memory instead of a commit of its own (~30 WAL page
 * writes and a dozen lock calls for each file made, before).  fsync and
 * fsyncdir flush at once (rfs_cat_sync), and so does every step whose
 * outside effect must not get ahead of the catalog: the start of a write
 * session on a committed object (begin_write) and the destruction of an
 * object (destroy_once).  A crash can lose at most INTERVAL of changes
 * that nobody fsynced, never order them wrongly.
 */
/* Batches only with room to commit them: see rfs_cat_set_batch. */
#define BATCH_MIN_FREE (256ULL << 20)

static int
batch_may_open(void *ctx)
{
	struct rfs_fs *fs = ctx;
	struct statvfs sv;

	return fstatvfs(fs->st->dirfd, &sv) == 0 &&
	    (unsigned long long)sv.f_bavail * sv.f_frsize >= BATCH_MIN_FREE;
}

static void
batch_opened(void *ctx)
{
	struct rfs_fs *fs = ctx;

	pthread_cond_signal(&fs->commit_cv);
}

static void *
committer(void *arg)
{
	struct rfs_fs *fs = arg;
	struct timespec at;
	int trimming = 0;

	/* The connection only: getattr goes on while a batch commits. */
	db_lock_bg(fs);
	while (!fs->commit_stop) {
		/* Trimming, once begun, goes on in steps down to ITAB_LOW,
		 * letting waiting requests in between. */
		if (trimming || fs->count > ITAB_HIGH) {
			pthread_rwlock_wrlock(&fs->attrs);
			trimming = itab_trim(fs, ITAB_TRIM_STEP);
			pthread_rwlock_unlock(&fs->attrs);
			if (trimming) {
				pthread_mutex_unlock(&fs->meta);
				db_lock_bg(fs);
				continue;
			}
		}
		if (!rfs_cat_pending(fs->st->cat)) {
			pthread_cond_wait(&fs->commit_cv, &fs->meta);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_nsec += fs->commit_ns;
		at.tv_sec += at.tv_nsec / RFS_NSEC;
		at.tv_nsec %= RFS_NSEC;
		while (!fs->commit_stop && pthread_cond_timedwait(
		    &fs->commit_cv, &fs->meta, &at) != ETIMEDOUT)
			;
		(void)rfs_cat_flush(fs->st->cat);
	}
	pthread_mutex_unlock(&fs->meta);
	return NULL;
}

int
rfs_fs_group_commit(struct rfs_fs *fs, int64_t interval_ns)
{
	pthread_condattr_t ca;
	int rc;

	if (fs->st->readonly || interval_ns <= 0 || fs->commit_ns != 0)
		return 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->commit_cv, &ca);
	pthread_condattr_destroy(&ca);
	fs->commit_ns = interval_ns;
	meta_lock(fs);
	rfs_cat_set_batch(fs->st->cat, batch_may_open, batch_opened, fs);
	meta_unlock(fs);
	if ((rc = pthread_create(&fs->committer, NULL, committer, fs)) != 0) {
		meta_lock(fs);
		rfs_cat_set_batch(fs->st->cat, NULL, NULL, NULL);
		meta_unlock(fs);
		pthread_cond_destroy(&fs->commit_cv);
		fs->commit_ns = 0;
		return -rc;
	}
	return 0;
}

void
rfs_fs_free(struct rfs_fs *fs)
{
	if (fs == NULL)
		return;
	if (fs->commit_ns != 0) {
		meta_lock(fs);
		fs->commit_stop = 1;
		pthread_cond_signal(&fs->commit_cv);
		meta_unlock(fs);
		pthread_join(fs->committer, NULL);
		pthread_cond_destroy(&fs->commit_cv);
		(void)rfs_cat_flush(fs->st->cat);
	}
	for (size_t b = 0; b < fs->nbuckets; b++) {
		struct inode *in = fs->tab[b], *next;

		for (; in != NULL; in = next) {
			next = in->next;
			ifree(in);
		}
	}
	free(fs->tab);
	free(fs->events);
	rfs_policy_unref(fs->pol);
	pthread_rwlock_destroy(&fs->attrs);
	pthread_mutex_destroy(&fs->meta);
	free(fs);
}

/* ---- lookup ---------------------------------------------------------- */

/* Finds NAME in PARENT and returns its visible inode.  Caller holds meta. */
static int
find(struct rfs_fs *fs, uint64_t parent, const char *name, int64_t now,
    struct inode **out)
{
	unsigned char h[RFS_HASH_BYTES];
	uint64_t ino;
	int rc;

	if ((rc = check_name(name)) != 0)
		return rc;
	name_hash(fs, parent, name, h);
	if ((rc = rfs_cat_dirent_lookup(fs->st->cat, parent, h, &ino)) != 0)
		return rc;
	if ((rc = iget(fs, ino, out)) != 0)
		return rc;
	if (!visible(fs, &(*out)->a, now)) {
		iput_maybe(fs, *out);
		return -ENOENT;
	}
	return 0;
}

/* The directory PARENT, which must exist and be a directory. */
static int
dir_get(struct rfs_fs *fs, uint64_t parent, struct inode **out)
{
	int rc = iget(fs, parent, out);

	if (rc == 0 && !S_ISDIR((*out)->a.mode))
		rc = -ENOTDIR;
	return rc;
}

int
rfs_fs_lookup(struct rfs_fs *fs, uint64_t parent, const char *name,
    struct rfs_entry *e)
{
	struct inode *in;
	int64_t now = now_of(fs);
	int rc;

	meta_lock(fs);
	rc = find(fs, parent, name, now, &in);
	if (rc == 0) {
		in->nlookup++;
		fill_entry(fs, in, now, e);
	}
	meta_unlock(fs);
	if (rc == 0)
		blocks_of(fs, &e->st);
	return rc;
}

void
rfs_fs_forget(struct rfs_fs *fs, uint64_t ino, uint64_t n)
{
	struct inode *in;

	meta_lock(fs);
	in = itab_find(fs, ino);
	if (in != NULL) {
		in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
		iput_maybe(fs, in);
	}
	meta_unlock(fs);
}

int
rfs_fs_getattr(struct rfs_fs *fs, uint64_t ino, struct stat *st,
    double *timeout)
{
	struct inode *in = NULL;
	int64_t now = now_of(fs);
	int rc = 0;

	/*
	 * An inode in the table needs the attributes only (see meta_lock),
	 * unless event deadlines are set: finding the one that applies walks
	 * the directory tree in the catalog.
	 */
	pthread_rwlock_rdlock(&fs->attrs);
	if (fs->nevents == 0 && (in = itab_find(fs, ino)) != NULL) {
		if (in->nopen == 0 && S_ISREG(in->a.mode) &&
		    !visible(fs, &in->a, now))
			rc = -ESTALE;
		else {
			stat_of(&in->a, st);
			*timeout = timeout_of(fs, &in->a, now);
		}
	}
	pthread_rwlock_unlock(&fs->attrs);
	if (in != NULL) {
		if (rc == 0)
			blocks_of(fs, st);
		return rc;
	}
	meta_lock(fs);
	rc = iget(fs, ino, &in);
	if (rc == -ENOENT)
		rc = -ESTALE;
	if (rc == 0) {
		/* An open file stays usable after expiry or unlink. */
		if (in->nopen == 0 && S_ISREG(in->a.mode) &&
		    !visible(fs, &in->a, now))
			rc = -ESTALE;
		else {
			stat_of(&in->a, st);
			*timeout = timeout_of(fs, &in->a, now);
		}
		iput_maybe(fs, in);
	}
	meta_unlock(fs);
	if (rc == 0)
		blocks_of(fs, st);
	return rc;
}

/* ---- creating -------------------------------------------------------- */

/*
 * Classification needs the new file's path relative to the root, however
 * deep.  A directory path longer than PATH_MAX is read again into a buffer
 * for the deepest path rfs_fs_path_of builds (512 names): it used to be
 * classed "default", so a deep match of a rule (a *.log kept 7 days) kept
 * its data for the default class's time instead.  A path that cannot be
 * read fails the create rather than guess.  Caller holds meta.
 */
#define DEEP_PATH_MAX (512 * (NAME_MAX + 1))

static int
classify(struct rfs_fs *fs, uint64_t parent, const char *name,
    const struct rfs_class **out)
{
	char buf[PATH_MAX + NAME_MAX + 2], *path = buf;
	size_t len = sizeof(buf), n;
	int rc;

	rc = rfs_fs_path_of(fs, parent, path, len - NAME_MAX - 2);
	if (rc == -ENAMETOOLONG) {
		len = DEEP_PATH_MAX + NAME_MAX + 2;
		if ((path = malloc(len)) == NULL)
			return -ENOMEM;
		rc = rfs_fs_path_of(fs, parent, path, len - NAME_MAX - 2);
	}
	if (rc == 0) {
		n = strlen(path);
		snprintf(path + n, len - n, "%s%s", n ? "/" : "", name);
		*out = rfs_policy_classify(fs->pol, path);
	}
	if (path != buf)
		free(path);
	return rc;
}

/* The latest creation time window START (s) can hold, in ns. */
static int64_t
keywin_end(struct rfs_fs *fs, int64_t start)
{
	int64_t len = fs->pol->key_period > 0 ? fs->pol->key_period : 86400;

	return rfs_time_add(start * RFS_NSEC, len) - 1;
}

/*
 * Records that window (A's class, A's period) wraps file keys.  The window
 * key may go once every file it could wrap is past its backup deadline, so
 * the catalog keeps the window's end - the latest creation time it can
 * hold - and needs one write per window, not per file.  Caller holds meta.
 */
static int
keywin_note(struct rfs_fs *fs, const struct rfs_attr *a)
{
	int64_t end = keywin_end(fs, a->period);
	int rc;

	if (end < a->created)          /* import into an older, longer window */
		end = a->created;
	for (unsigned i = 0; i < 16; i++)
		if (fs->kwcache[i].start == a->period &&
		    strcmp(fs->kwcache[i].cls, a->class) == 0)
			return 0;
	rc = rfs_cat_keywin_touch(fs->st->cat, a->class, a->period, end);
	if (rc == 0) {
		unsigned i = fs->kwnext++ % 16;

		fs->kw_new = 1;

		snprintf(fs->kwcache[i].cls, sizeof(fs->kwcache[i].cls), "%s",
		    a->class);
		fs->kwcache[i].start = a->period;
	}
	return rc;
}

/* Wraps a fresh file key for A (class and period set).  Caller holds meta. */
/*
 * A window key is made in the key store before the catalog records its
 * window (a recorded window whose key is missing refuses new files, see
 * keystore.c).  The record must then not wait in a batch: a crash would
 * leave a key no record points to, which nothing would ever destroy.  So
 * the operation that recorded a new window flushes when it commits.
 * Caller holds meta, outside any savepoint.
 */
static int
kw_flush(struct rfs_fs *fs)
{
	fs->kw_new = 0;
	return rfs_cat_flush(fs->st->cat);
}

/* Ends an operation's transaction (savepoint): commit if RC is 0. */
static int
finish_tx(struct rfs_fs *fs, int rc)
{
	if (rc != 0) {
		fs->kw_new = 0;
		rfs_cat_rollback(fs->st->cat);
		return rc;
	}
	if ((rc = rfs_cat_commit(fs->st->cat)) != 0)
		fs->kw_new = 0;
	else if (fs->kw_new)
		(void)kw_flush(fs);   /* a failed flush is retried by the committer */
	return rc;
}

/*
 * A crash between making a window key and committing its record (above)
 * leaves a key no record points to.  No committed file uses it (its record
 * commits with the first file it wraps), but the sweeper destroys only
 * recorded windows, so it is recorded now, to go when its window would.
 * A key that does not authenticate for its name is not ours to record:
 * -EBADMSG, for fsck to report.  Caller holds no lock.
 */
int
rfs_fs_adopt_key(struct rfs_fs *fs, const char *cls, int64_t start)
{
	struct rfs_key *k = rfs_key_new();
	int rc;

	if (k == NULL)
		return -ENOMEM;
	meta_lock(fs);
	if ((rc = rfs_cat_keywin_known(fs->st->cat, cls, start)) == 1)
		rc = 0;                          /* recorded meanwhile */
	else if (rc == 0 && (rc = rfs_keystore_get(fs->st, cls, start, 0,
	    k)) == 0 && (rc = rfs_cat_begin(fs->st->cat)) == 0) {
		rc = rfs_cat_keywin_touch(fs->st->cat, cls, start,
		    keywin_end(fs, start));
		if ((rc = finish_tx(fs, rc)) == 0)
			rc = rfs_cat_flush(fs->st->cat);
	}
	meta_unlock(fs);
	rfs_key_free(k);
	return rc;
}

struct unrecorded {
	struct rfs_fs *fs;
	struct { char cls[RFS_CLASS_MAX + 1]; int64_t start; } *w;
	size_t n;
};

static int
note_unrecorded(void *ctx, const char *cls, int64_t start)
{
	struct unrecorded *u = ctx;
	void *n;

	if (rfs_cat_keywin_known(u->fs->st->cat, cls, start) != 0)
		return 0;
	if ((n = realloc(u->w, (u->n + 1) * sizeof(*u->w))) == NULL)
		return -ENOMEM;
	u->w = n;
	snprintf(u->w[u->n].cls, sizeof(u->w[u->n].cls), "%s", cls);
	u->w[u->n++].start = start;
	return 0;
}

int
rfs_fs_recover_keys(struct rfs_fs *fs)
{
	struct unrecorded u = { .fs = fs };
	int rc, adopted = 0;

	if ((rc = rfs_keystore_tidy(fs->st)) > 0)
		rfs_warn("destroyed %d half-made window key file(s) left by a"
		    " crash", rc);
	else if (rc < 0)
		return rc;
	meta_lock(fs);
	rc = rfs_keystore_each(fs->st, note_unrecorded, &u);
	meta_unlock(fs);
	for (size_t i = 0; rc == 0 && i < u.n; i++) {
		int r = rfs_fs_adopt_key(fs, u.w[i].cls, u.w[i].start);

		if (r == 0) {
			rfs_warn("window key %s@%" PRId64 " had no catalog"
			    " record (a crash while it was made): recorded",
			    u.w[i].cls, u.w[i].start);
			adopted++;
		} else if (r != -EBADMSG) {
			rc = r;
		}
	}
	free(u.w);
	return rc < 0 ? rc : adopted;
}

static int
new_file_key(struct rfs_fs *fs, struct rfs_attr *a, struct rfs_key **keyout)
{
	struct rfs_key *win = rfs_key_new(), *fk = rfs_key_random();
	int rc;

	if (win == NULL || fk == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = rfs_keystore_get(fs->st, a->class, a->period, 1, win);
	if (rc != 0) {
		rfs_err("key store: cannot get window key for class %s: %s",
		    a->class, strerror(-rc));
		rc = -EIO;
		goto out;
	}
	/* The file key is bound to its inode: a wrapped key copied to
	 * another row does not open. */
	rfs_key_wrap(win, fk, &a->ino, sizeof(a->ino), a->wkey);
	a->has_key = 1;
	rc = keywin_note(fs, a);
	if (rc == 0 && keyout != NULL) {
		*keyout = fk;
		fk = NULL;
	}
out:
	rfs_key_free(win);
	rfs_key_free(fk);
	return rc;
}

static int
file_key(struct rfs_fs *fs, const struct rfs_attr *a, struct rfs_key **out)
{
	struct rfs_key *win = rfs_key_new(), *fk = rfs_key_new();
	int rc;

	if (win == NULL || fk == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (!a->has_key) {
		rc = -EIO;
		goto out;
	}
	rc = rfs_keystore_get(fs->st, a->class, a->period, 0, win);
	if (rc == 0)
		rc = rfs_key_unwrap(win, a->wkey, RFS_WRAPPED_BYTES, &a->ino,
		    sizeof(a->ino), fk);
	if (rc != 0) {
		rfs_err("inode %" PRIu64 ": file key unavailable (%s)",
		    a->ino, rc == -ENOKEY ? "window key destroyed" :
		    "authentication failed");
		rc = -EIO;
		goto out;
	}
	*out = fk;
	fk = NULL;
out:
	rfs_key_free(win);
	rfs_key_free(fk);
	return rc;
}

/*
 * Makes a new inode named NAME in PARENT.  Caller holds meta and has
 * started a transaction.  For regular files a key is made and wrapped.
 */
static int
make_node(struct rfs_fs *fs, const struct rfs_ctx *ctx, struct inode *dir,
    const char *name, mode_t mode, dev_t rdev, int64_t now,
    struct inode **out, struct rfs_key **keyout)
{
	unsigned char h[RFS_HASH_BYTES], *sealed = NULL;
	const struct rfs_class *cls;
	struct rfs_attr a;
	struct inode *in;
	uint64_t existing;
	size_t sealedlen;
	int rc;

	if ((rc = check_name(name)) != 0)
		return rc;
	/* Before anything changes: a failure here needs no undoing. */
	cls = rfs_retention_class(fs->pol, "default");
	if (S_ISREG(mode) && (rc = classify(fs, dir->ino, name, &cls)) != 0)
		return rc;
	name_hash(fs, dir->ino, name, h);
	rc = rfs_cat_dirent_lookup(fs->st->cat, dir->ino, h, &existing);
	if (rc == 0) {
		/* An expired or hidden file still holds the name until it is
		 * shredded: the new file replaces it, the old one stays due. */
		struct inode *old;

		if (iget(fs, existing, &old) == 0) {
			int vis = visible(fs, &old->a, now);

			if (vis) {
				iput_maybe(fs, old);
				return -EEXIST;
			}
			rc = rfs_cat_dirent_delete(fs->st->cat, dir->ino, h);
			if (rc == 0 && old->a.nlink > 0)
				old->a.nlink--;
			if (rc == 0)
				rc = rfs_cat_inode_put(fs->st->cat, &old->a);
			iput_maybe(fs, old);
			if (rc != 0)
				return rc;
		} else {
			return -EEXIST;
		}
	} else if (rc != -ENOENT) {
		return rc;
	}
	memset(&a, 0, sizeof(a));
	a.mode = mode;
	a.uid = ctx->uid;
	a.gid = ctx->gid;
	if (dir->a.mode & S_ISGID) {
		/* BSD group semantics on setgid directories, as on ext4. */
		a.gid = dir->a.gid;
		if (S_ISDIR(mode))
			a.mode |= S_ISGID;
	}
	a.nlink = S_ISDIR(mode) ? 2 : 1;
	a.rdev = (uint64_t)rdev;
	a.atime = a.mtime = a.ctime = a.created = now;
	snprintf(a.class, sizeof(a.class), "%s", cls ? cls->name : "default");
	a.period = rfs_retention_period(fs->pol, now);
	if ((rc = rfs_cat_inode_insert(fs->st->cat, &a)) != 0)
		return rc;
	/*
	 * A crash that lost a batch (see rfs_fs_group_commit) rolls the inode
	 * numbers back with it, and the lost files' objects stay behind: an
	 * object already under a new number is such an orphan (ciphertext
	 * under a key nobody has), never this file's.  Missing is the rule.
	 */
	if (S_ISREG(mode) &&
	    (rc = rfs_obj_shred(fs->st->objfd, a.ino, 1)) != 0)
		return rc;
	if (S_ISREG(mode)) {
		if ((rc = new_file_key(fs, &a, keyout)) != 0)
			return rc;
		/* The object is made by the first open (create opens at
		 * once); until then a fresh file reads as empty. */
		if ((rc = rfs_cat_inode_put(fs->st->cat, &a)) != 0)
			return rc;
	}
	if ((rc = name_seal(fs, dir->ino, name, &sealed, &sealedlen)) != 0)
		return rc;
	rc = rfs_cat_dirent_insert(fs->st->cat, dir->ino, h, sealed, sealedlen,
	    a.ino);
	free(sealed);
	if (rc != 0)
		return rc;
	if (S_ISDIR(mode))
		dir->a.nlink++;
	dir->a.mtime = dir->a.ctime = now;
	if ((rc = rfs_cat_inode_put(fs->st->cat, &dir->a)) != 0)
		return rc;
	if (S_ISREG(mode) && (rc = rfs_audit(fs->st, now, "create", a.ino,
	    a.class, ctx->uid, NULL)) != 0)
		return rc;
	if ((rc = iget(fs, a.ino, &in)) != 0)
		return rc;
	/* The file's first fsync makes its catalog row durable too. */
	in->sync_catalog = CAT_SYNC;
	*out = in;
	return 0;
}

static int
create_common(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, mode_t mode, dev_t rdev, const char *target,
    struct rfs_entry *e, struct inode **inout, struct rfs_key **keyout)
{
	struct inode *dir, *in = NULL;
	int64_t now = now_of(fs);
	int rc;

	meta_lock(fs);
	if ((rc = dir_get(fs, parent, &dir)) != 0)
		goto out;
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	rc = make_node(fs, ctx, dir, name, mode, rdev, now, &in, keyout);
	if (rc == 0 && target != NULL) {
		unsigned char *blob;
		size_t len;

		rc = rfs_seal(fs->st->k_name, &in->ino, sizeof(in->ino),
		    target, strlen(target), &blob, &len);
		if (rc == 0) {
			rc = rfs_cat_inode_set_link(fs->st->cat, in->ino, blob,
			    len);
			free(blob);
		}
		in->a.size = strlen(target);
		if (rc == 0)
			rc = rfs_cat_inode_put(fs->st->cat, &in->a);
	}
	rc = finish_tx(fs, rc);
	if (rc != 0) {
		/* Roll the in-memory state back with the catalog. */
		memset(fs->kwcache, 0, sizeof(fs->kwcache));
		if (in != NULL) {
			itab_remove(fs, in);
			ifree(in);
		}
		if (rfs_cat_inode_get(fs->st->cat, dir->ino, &dir->a) != 0)
			rfs_err("cannot reload directory %" PRIu64, dir->ino);
		goto out;
	}
	in->nlookup++;
	fill_entry(fs, in, now, e);
	if (inout != NULL) {
		in->nopen++;      /* the caller opens it: pinned from here */
		*inout = in;
	}
out:
	meta_unlock(fs);
	return rc;
}

int
rfs_fs_mknod(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, mode_t mode, dev_t rdev, struct rfs_entry *e)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) &&
	    !S_ISCHR(mode) && !S_ISBLK(mode))
		return -EINVAL;
	return create_common(fs, ctx, parent, name, mode, rdev, NULL, e, NULL,
	    NULL);
}

int
rfs_fs_mkdir(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, mode_t mode, struct rfs_entry *e)
{
	return create_common(fs, ctx, parent, name, S_IFDIR | (mode & 07777),
	    0, NULL, e, NULL, NULL);
}

int
rfs_fs_symlink(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, const char *target, struct rfs_entry *e)
{
	if (strlen(target) >= PATH_MAX)
		return -ENAMETOOLONG;
	return create_common(fs, ctx, parent, name, S_IFLNK | 0777, 0, target,
	    e, NULL, NULL);
}

int
rfs_fs_readlink(struct rfs_fs *fs, uint64_t ino, char *buf, size_t len)
{
	unsigned char *blob = NULL, *plain = NULL;
	size_t bloblen, n;
	int rc;

	meta_lock(fs);
	rc = rfs_cat_inode_get_link(fs->st->cat, ino, &blob, &bloblen);
	meta_unlock(fs);
	if (rc != 0)
		return rc == -ENODATA ? -EINVAL : rc;
	rc = rfs_open(fs->st->k_name, &ino, sizeof(ino), blob, bloblen, &plain,
	    &n);
	free(blob);
	if (rc != 0)
		return -EIO;
	if (n >= len)
		n = len - 1;
	memcpy(buf, plain, n);
	buf[n] = '\0';
	free(plain);
	return 0;
}

/* ---- open files ------------------------------------------------------ */

/*
 * Audits tampering found in IN (once per inode while it is in memory) and
 * counts it for the metrics.  Caller holds IN->lock, not meta.
 */
static void
note_tamper(struct rfs_fs *fs, struct inode *in, const char *what)
{
	int64_t v = 0;

	meta_lock(fs);
	if (!in->tamper_seen && !fs->st->readonly) {
		in->tamper_seen = 1;
		(void)rfs_cat_meta_get(fs->st->cat, "tamper_total", &v);
		(void)rfs_cat_meta_set(fs->st->cat, "tamper_total", v + 1);
		(void)rfs_audit(fs->st, now_of(fs), "tamper", in->ino,
		    in->a.class, 0, what);
	}
	meta_unlock(fs);
}

/*
 * Compares a freshly opened object with what the catalog committed (see
 * struct rfs_attr): outside a write session, a different length or last
 * nonce means the object was truncated, extended or rolled back behind our
 * back.  The file then reads as EIO, and the event is audited.
 */
static int
obj_verify(struct rfs_fs *fs, struct inode *in, const struct rfs_attr *a)
{
	unsigned char tail[RFS_NONCE_BYTES];
	uint64_t len;
	int has, rc;

	if (a->writing || rfs_attr_fresh(a))
		return 0;
	if ((rc = rfs_obj_state(in->obj, &len, tail, &has)) != 0)
		return rc;
	if (!has)
		memset(tail, 0, RFS_NONCE_BYTES);   /* the emptied-file tail */
	if (len == a->objlen && memcmp(tail, a->tail, RFS_NONCE_BYTES) == 0)
		return 0;
	rfs_err("object %" PRIu64 ": %s (%" PRIu64 " bytes, catalog says %"
	    PRIu64 "): refusing to read it", in->ino, len < a->objlen ?
	    "truncated" : len > a->objlen ? "extended" :
	    "replaced by another version", len, a->objlen);
	note_tamper(fs, in, len < a->objlen ? "object truncated" :
	    len > a->objlen ? "object extended" : "object rolled back");
	return -EIO;
}

/*
 * Before the first change to IN's object in a write session, the catalog
 * learns that the object is about to differ from what it committed.
 * Caller holds IN->lock.
 */
static int
begin_write(struct rfs_fs *fs, struct inode *in)
{
	int rc = 0;

	meta_lock(fs);
	if (!in->a.writing && !rfs_attr_fresh(&in->a)) {
		in->writing_durable = 0;
		in->a.writing = 1;
		if ((rc = rfs_cat_inode_put(fs->st->cat, &in->a)) == 0)
			rc = rfs_cat_flush(fs->st->cat);
		if (rc != 0)
			in->a.writing = 0;
	}
	meta_unlock(fs);
	return rc;
}

/*
 * Whether cutting IN to SIZE gives back at least CUT_FREES_MIN bytes of
 * backing: only such a cut may use the reserve (below), since its commit
 * takes some of it and one that frees nothing would only shrink it.
 */
#define CUT_FREES_MIN (64 << 10)

static int
cut_frees_space(struct rfs_fs *fs, struct inode *in, uint64_t size)
{
	uint64_t blocks, keep = (size + RFS_BLOCK - 1) / RFS_BLOCK * RFS_RECORD;

	return size < in->obj->size &&
	    rfs_obj_stored_blocks(fs->st->objfd, in->ino, &blocks) == 0 &&
	    blocks * 512 >= keep + CUT_FREES_MIN;
}

/*
 * Cuts IN's object to SIZE in a write session.  Cutting a file short is
 * how space comes back on a full backing (`: > app.log`), but the session
 * must be recorded in the catalog first, and that commit needs space: a
 * shrink that finds the disk full may use the whole reserve (see
 * rfs_store_release_reserve) if the cut frees enough, and *RELEASED then
 * asks the caller to refill it once the cut is recorded.  Caller holds
 * IN->lock.
 */
static int
cut_object(struct rfs_fs *fs, struct inode *in, uint64_t size, int *released)
{
	int rc = begin_write(fs, in);

	*released = 0;
	if (rc == -ENOSPC && cut_frees_space(fs, in, size) &&
	    rfs_store_release_reserve(fs->st, RFS_RESERVE_FREEING) == 0) {
		*released = 1;
		rc = begin_write(fs, in);
	}
	if (rc == 0)
		rc = rfs_obj_truncate(in->obj, size);
	return rc;
}

/*
 * Commits IN's size and mtime.  With END (release, truncate) the write
 * session ends: the object's new length and last nonce are recorded and
 * writing drops to 0.  A fresh file's first data is recorded at once, and
 * at its end a fresh file is recorded even when empty: a fresh file's
 * size must be read from its object at every lookup (reconcile_size), an
 * fstatat that made lookups of many empty files 5x slower.
 * Caller holds IN->lock but not meta.
 */
static int
persist(struct rfs_fs *fs, struct inode *in, int end)
{
	unsigned char tail[RFS_NONCE_BYTES];
	uint64_t len = 0;
	int has = 0, rc = 0, state = 0;

	if (in->obj != NULL && ((end && in->a.writing) ||
	    rfs_attr_fresh(&in->a)))
		state = rfs_obj_state(in->obj, &len, tail, &has) == 0;
	meta_lock(fs);
	if (state && (has || end || !rfs_attr_fresh(&in->a))) {
		in->a.objlen = len;
		in->a.has_tail = 1;
		/* An emptied file keeps an all-zero tail: not fresh again. */
		memset(in->a.tail, 0, RFS_NONCE_BYTES);
		if (has)
			memcpy(in->a.tail, tail, RFS_NONCE_BYTES);
		in->a.writing = 0;
		in->writing_durable = 0;
		in->dirty = 1;
	}
	if (in->dirty && (rc = rfs_cat_inode_put(fs->st->cat, &in->a)) == 0)
		in->dirty = 0;
	meta_unlock(fs);
	return rc;
}

/* Opens IN's object if it is not open yet.  Caller holds IN->lock. */
static int
obj_get(struct rfs_fs *fs, struct inode *in, struct rfs_key *key)
{
	struct rfs_attr a;
	int rc;

	if (in->obj != NULL) {
		rfs_key_free(key);
		return 0;
	}
	meta_lock(fs);
	a = in->a;
	meta_unlock(fs);
	if (key == NULL && (rc = file_key(fs, &a, &key)) != 0)
		return rc;
	rc = rfs_obj_open(fs->st->objfd, in->ino, 1, key, a.size, &in->obj);
	if (rc == 0 && (rc = obj_verify(fs, in, &a)) != 0) {
		rfs_obj_close(in->obj);
		in->obj = NULL;
	}
	return rc;
}

static struct rfs_handle *
handle_new(struct inode *in, int flags)
{
	struct rfs_handle *h = calloc(1, sizeof(*h));

	if (h != NULL) {
		h->in = in;
		h->flags = flags;
	}
	return h;
}

/*
 * relatime (see rfs_fs_set_noatime): whether reading IN now sets its
 * atime.  Caller holds meta.  The new atime reaches the catalog with the
 * inode's next write (a file's at its flush, a directory's at once).
 */
static int
atime_due(struct rfs_fs *fs, const struct inode *in, int64_t now)
{
	const struct rfs_attr *a = &in->a;

	return !fs->noatime && !fs->st->readonly && now > a->atime &&
	    (a->atime <= a->mtime || a->atime <= a->ctime ||
	    now - a->atime >= 24 * 3600 * RFS_NSEC);
}

int
rfs_fs_open(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    int flags, struct rfs_handle **hp)
{
	struct inode *in = NULL;
	int64_t now = now_of(fs);
	int rc, released = 0;

	meta_lock(fs);
	rc = iget(fs, ino, &in);
	if (rc != 0)
		in = NULL;
	if (rc == 0 && !visible(fs, &in->a, now) && in->nopen == 0)
		rc = -ESTALE;
	if (rc == 0 && !S_ISREG(in->a.mode))
		rc = -EINVAL;
	if (rc == 0 && (flags & O_TRUNC) && in->a.size > 0)
		rc = rfs_retention_may_destroy(fs->pol, &in->a, now);
	if (rc == 0) {
		in->nopen++;
		if ((flags & O_ACCMODE) != O_WRONLY && !(flags & O_NOATIME) &&
		    atime_due(fs, in, now)) {
			in->a.atime = now;
			in->dirty = 1;
		}
	} else if (in != NULL) {
		iput_maybe(fs, in);
	}
	meta_unlock(fs);
	if (rc != 0)
		return rc;
	in_lock(in);
	rc = obj_get(fs, in, NULL);
	if (rc == 0 && (flags & O_TRUNC) && in->obj->size > 0)
		rc = cut_object(fs, in, 0, &released);
	if (rc == 0 && (flags & O_TRUNC)) {
		meta_lock(fs);
		in->a.size = 0;
		in->a.mtime = in->a.ctime = now;
		in->dirty = 1;
		meta_unlock(fs);
		rc = persist(fs, in, 1);
	}
	in_unlock(in);
	if (released)
		rfs_store_refill_reserve(fs->st);
	if (rc == 0 && (*hp = handle_new(in, flags)) == NULL)
		rc = -ENOMEM;
	if (rc != 0) {
		meta_lock(fs);
		in->nopen--;
		iput_maybe(fs, in);
		meta_unlock(fs);
	}
	return rc;
}

int
rfs_fs_create(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, mode_t mode, int flags, struct rfs_entry *e,
    struct rfs_handle **hp)
{
	struct rfs_key *key = NULL;
	struct inode *in;
	int rc;

	rc = create_common(fs, ctx, parent, name, S_IFREG | (mode & 07777), 0,
	    NULL, e, &in, &key);
	if (rc != 0)
		return rc;
	in_lock(in);
	rc = obj_get(fs, in, key);
	in_unlock(in);
	if (rc == 0 && (*hp = handle_new(in, flags)) == NULL)
		rc = -ENOMEM;
	if (rc != 0) {
		meta_lock(fs);
		in->nopen--;
		meta_unlock(fs);
	}
	return rc;
}

ssize_t
rfs_fs_read(struct rfs_fs *fs, struct rfs_handle *h, void *buf, size_t len,
    uint64_t off)
{
	struct inode *in = h->in;
	ssize_t n;

	in_lock_read(in);
	n = in->obj != NULL ? rfs_obj_read(in->obj, buf, len, off) : -EBADF;
	if (n == -EIO)
		note_tamper(fs, in, "block fails authentication");
	in_unlock(in);
	return n;
}

ssize_t
rfs_fs_write(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct rfs_handle *h, const void *buf, size_t len, uint64_t off,
    int *killed)
{
	struct inode *in = h->in;
	int64_t now;
	ssize_t n;

	in_lock(in);
	if (in->obj == NULL) {
		in_unlock(in);
		return -EBADF;
	}
	if (!in->a.writing && (n = begin_write(fs, in)) != 0) {
		in_unlock(in);
		return n;
	}
	/* Without the kernel's writeback cache, O_APPEND is ours to do. */
	if (h->flags & O_APPEND)
		off = in->obj->size;
	n = rfs_obj_write(in->obj, buf, len, off);
	if (n > 0) {
		now = now_of(fs);
		meta_lock(fs);
		in->a.size = in->obj->size;
		in->a.mtime = in->a.ctime = now;
		/* We negotiated HANDLE_KILLPRIV_V2: a write by anyone but
		 * root clears setuid, and setgid if group-executable, as
		 * file_remove_privs does on ext4.  (With the writeback cache
		 * the kernel writes such files through, so CTX is the
		 * writer's.) */
		if (ctx != NULL && ctx->uid != 0 &&
		    (in->a.mode & (S_ISUID | S_ISGID))) {
			mode_t old = in->a.mode;

			in->a.mode &= ~(mode_t)S_ISUID;
			if (in->a.mode & S_IXGRP)
				in->a.mode &= ~(mode_t)S_ISGID;
			if (killed != NULL && old != in->a.mode)
				*killed = 1;
		}
		in->dirty = 1;
		meta_unlock(fs);
	}
	in_unlock(in);
	return n;
}

int
rfs_fs_flush(struct rfs_fs *fs, struct rfs_handle *h)
{
	int rc;

	in_lock(h->in);
	rc = persist(fs, h->in, 0);
	in_unlock(h->in);
	/*
	 * A reader's close reports nothing of the catalog: all it may have
	 * changed is the atime (relatime), and on a full backing that commit
	 * fails (`cat` of a file failed with ENOSPC).  The change stays
	 * pending (dirty) for the inode's next commit.
	 */
	if ((h->flags & O_ACCMODE) == O_RDONLY)
		rc = 0;
	return rc;
}

/*
 * Syncs IN's object without holding IN->lock, so reads and the writes of
 * other handles go on during the flush.  The flush touches only the
 * object's descriptor, which stays open while a handle is.  (Concurrent
 * fsyncs of one file need no sharing here: the kernel serialises them.)
 * Caller holds IN->lock and has the object open.
 */
static int
obj_sync_unlocked(struct inode *in, int datasync)
{
	struct rfs_obj *obj = in->obj;
	int rc;

	in_unlock(in);
	rc = rfs_obj_sync(obj, datasync);
	in_lock(in);
	return rc;
}

int
rfs_fs_fsync(struct rfs_fs *fs, struct rfs_handle *h, int datasync)
{
	struct inode *in = h->in;
	int rc = 0;

	/*
	 * The object holds the data and, by the max rule, the size: syncing
	 * it is what makes an fsync durable.  The catalog is synced only when
	 * it must be: once per write session, before the object's data, so
	 * that "writing = 1" is on disk before any byte that differs from the
	 * committed state (else a power loss would look like tampering); and
	 * for a new file or after a setattr (truncate, chmod) of this file.
	 * mtime and ctime of appends reach the disk with the next catalog
	 * sync, and so do times set alone: the kernel's writeback cache sends
	 * its mtime as a SETATTR before every FSYNC, which would otherwise
	 * cost every fsync a second disk flush.  Those are still committed
	 * (safe from a daemon crash), just not synced.
	 */
	in_lock(in);
	meta_lock(fs);
	if (in->a.writing && !in->writing_durable) {
		rc = rfs_cat_sync(fs->st->cat);
		in->writing_durable = rc == 0;
	}
	meta_unlock(fs);
	if (rc == 0 && in->obj != NULL)
		rc = obj_sync_unlocked(in, datasync);
	if (rc == 0)
		rc = persist(fs, in, 0);
	if (rc == 0 && in->sync_catalog != CAT_NONE) {
		meta_lock(fs);
		rc = in->sync_catalog == CAT_SYNC ? rfs_cat_sync(fs->st->cat) :
		    rfs_cat_flush(fs->st->cat);
		if (rc == 0)
			in->sync_catalog = CAT_NONE;
		meta_unlock(fs);
	}
	in_unlock(in);
	return rc;
}

int
rfs_fs_release(struct rfs_fs *fs, struct rfs_handle *h)
{
	struct inode *in = h->in;
	struct rfs_obj *obj = NULL;
	int rc, due = 0;

	in_lock(in);
	rc = persist(fs, in, 1);
	in_unlock(in);
	/* The open count drops in the same hold that may free IN: until
	 * then this handle pins it (see itab_trim).  With no handle left
	 * nothing else uses the object, so it is taken here. */
	meta_lock(fs);
	if (--in->nopen == 0) {
		obj = in->obj;
		in->obj = NULL;
		/* An open file outlives its deadline only until it is closed. */
		if (fs->due_hook != NULL && !in->a.hold &&
		    rfs_retention_due(fs->pol, &in->a, event_of(fs, &in->a),
		    now_of(fs)))
			due = 1;
	}
	iput_maybe(fs, in);
	meta_unlock(fs);
	rfs_obj_close(obj);
	free(h);
	if (due)
		fs->due_hook();
	return rc;
}

/*
 * fallocate(2): mode 0 and KEEP_SIZE allocate the object space of the range
 * (a later write there cannot fail for space, which is what posix_fallocate
 * promises); PUNCH_HOLE (with KEEP_SIZE, as the kernel requires) and
 * ZERO_RANGE zero it, whole blocks as holes.  Each runs in a write
 * session (begin_write), as a write does.
 */
int
rfs_fs_fallocate(struct rfs_fs *fs, struct rfs_handle *h, int mode,
    uint64_t off, uint64_t len)
{
	const int zero = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
	struct inode *in = h->in;
	int64_t now;
	int rc;

	if (mode & ~(FALLOC_FL_KEEP_SIZE | zero))
		return -EOPNOTSUPP;
	if (len == 0 || off + len < off)
		return -EINVAL;
	in_lock(in);
	if (in->obj == NULL) {
		rc = -EBADF;
		goto out;
	}
	if ((rc = begin_write(fs, in)) != 0)
		goto out;
	if (mode & zero)
		rc = rfs_obj_zero(in->obj, off, len);
	/*
	 * An allocation may take all the space left, and a batch that can
	 * no longer be committed is lost whole (SQLite rolls back a COMMIT
	 * that fails for space): commit what is pending first.  Later
	 * batches open only with room for them (BATCH_MIN_FREE).  Where the
	 * backing cannot allocate, an allocation answers EOPNOTSUPP having
	 * changed nothing (glibc's posix_fallocate then writes the range); a
	 * zeroed range needs no allocation to read as zeros.
	 */
	if (rc == 0 && !(mode & FALLOC_FL_PUNCH_HOLE)) {
		meta_lock(fs);
		rc = rfs_cat_flush(fs->st->cat);
		meta_unlock(fs);
		if (rc == 0 && (rc = rfs_obj_reserve(in->obj, off, len)) ==
		    -EOPNOTSUPP && (mode & FALLOC_FL_ZERO_RANGE))
			rc = 0;
	}
	if (rc == 0 && !(mode & FALLOC_FL_KEEP_SIZE) &&
	    off + len > in->obj->size)
		rc = rfs_obj_truncate(in->obj, off + len);
	if (rc == 0) {
		now = now_of(fs);
		meta_lock(fs);
		in->a.size = in->obj->size;
		in->a.ctime = now;
		if (mode & zero)
			in->a.mtime = now;
		in->dirty = 1;
		meta_unlock(fs);
		rc = persist(fs, in, 1);
	}
out:
	in_unlock(in);
	return rc;
}

ssize_t
rfs_fs_copy_range(struct rfs_fs *fs, struct rfs_handle *hin, uint64_t off_in,
    struct rfs_handle *hout, uint64_t off_out, size_t len)
{
	char *buf;
	size_t done = 0, chunk = 1 << 20;
	ssize_t n, w;

	buf = malloc(chunk);
	if (buf == NULL)
		return -ENOMEM;
	while (done < len) {
		n = rfs_fs_read(fs, hin, buf, len - done < chunk ?
		    len - done : chunk, off_in + done);
		if (n <= 0) {
			if (n < 0 && done == 0)
				done = (size_t)n;
			break;
		}
		w = rfs_fs_write(fs, NULL, hout, buf, (size_t)n,
		    off_out + done, NULL);
		if (w < 0) {
			if (done == 0)
				done = (size_t)w;
			break;
		}
		done += (size_t)w;
	}
	free(buf);
	return (ssize_t)done;
}

/* ---- setattr --------------------------------------------------------- */

int
rfs_fs_setattr(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    struct rfs_handle *h, const struct stat *s, int mask, struct stat *out,
    double *timeout)
{
	struct rfs_key *key = NULL;
	struct inode *in = NULL;
	int64_t now = now_of(fs);
	int rc, opened = 0, released = 0;

	meta_lock(fs);
	rc = iget(fs, ino, &in);
	if (rc != 0)
		in = NULL;
	if (rc == 0 && in->nopen == 0 && !visible(fs, &in->a, now)) {
		/*
		 * With the writeback cache the kernel keeps c/mtime itself,
		 * and right after an unlink or a rename over a file it writes
		 * the file's new ctime back (SETATTR of mtime and ctime, and
		 * nothing else).  The file is out of the namespace by then
		 * (trash, or shredded).  Failing that write-back with ESTALE
		 * made the kernel record a write-back error on the whole
		 * mount, and the next syncfs(2) by anyone failed: it is
		 * acknowledged, without effect on the removed file.  (A file
		 * that merely expired is still RFS_LIVE and keeps ESTALE, so
		 * a path the kernel caches for it is looked up again.)
		 */
		if (in->a.state != RFS_LIVE && (mask & RFS_SET_CTIME) &&
		    (mask & ~(RFS_SET_MTIME | RFS_SET_CTIME)) == 0) {
			stat_of(&in->a, out);
			*timeout = 0;
			iput_maybe(fs, in);
			meta_unlock(fs);
			return 0;
		}
		rc = -ESTALE;
	}
	if (rc == 0 && (mask & RFS_SET_SIZE) && !S_ISREG(in->a.mode))
		rc = S_ISDIR(in->a.mode) ? -EISDIR : -EINVAL;
	if (rc == 0 && (mask & RFS_SET_SIZE) &&
	    (uint64_t)s->st_size < in->a.size)
		rc = rfs_retention_may_destroy(fs->pol, &in->a, now);
	if (rc == 0) {
		in->nopen++;      /* pin across the unlocked window */
		opened = 1;
	}
	meta_unlock(fs);
	if (rc != 0)
		goto out;
	if (mask & RFS_SET_SIZE) {
		in_lock(in);
		rc = obj_get(fs, in, key);
		if (rc == 0)
			rc = cut_object(fs, in, (uint64_t)s->st_size,
			    &released);
		if (rc == 0) {
			meta_lock(fs);
			in->a.size = in->obj->size;
			in->a.mtime = in->a.ctime = now;
			in->dirty = 1;
			meta_unlock(fs);
			rc = persist(fs, in, 1);
		}
		meta_lock(fs);
		if (in->nopen == 1) {
			rfs_obj_close(in->obj);
			in->obj = NULL;
		}
		meta_unlock(fs);
		in_unlock(in);
		if (rc != 0)
			goto out;
	}
	meta_lock(fs);
	if (mask & RFS_SET_MODE)
		in->a.mode = (in->a.mode & S_IFMT) | (s->st_mode & 07777);
	if (mask & RFS_SET_UID)
		in->a.uid = s->st_uid;
	if (mask & RFS_SET_GID)
		in->a.gid = s->st_gid;
	if ((mask & (RFS_SET_UID | RFS_SET_GID)) && !(mask & RFS_SET_MODE) &&
	    !S_ISDIR(in->a.mode)) {
		/* chown clears setuid, and setgid when group-executable. */
		in->a.mode &= ~(mode_t)S_ISUID;
		if (in->a.mode & S_IXGRP)
			in->a.mode &= ~(mode_t)S_ISGID;
	}
	if ((mask & RFS_SET_KILLPRIV) && !(mask & RFS_SET_MODE))
		in->a.mode &= ~(mode_t)(S_ISUID | S_ISGID);
	if (mask & RFS_SET_ATIME_NOW)
		in->a.atime = now;
	else if (mask & RFS_SET_ATIME)
		in->a.atime = ns_of(&s->st_atim);
	if (mask & RFS_SET_MTIME_NOW)
		in->a.mtime = now;
	else if (mask & RFS_SET_MTIME)
		in->a.mtime = ns_of(&s->st_mtim);
	if (mask & RFS_SET_CTIME)
		in->a.ctime = ns_of(&s->st_ctim);
	else
		in->a.ctime = now;
	rc = rfs_cat_inode_put(fs->st->cat, &in->a);
	if (rc == 0) {
		in->dirty = 0;
		if (mask & ~SET_TIMES)
			in->sync_catalog = CAT_SYNC;
		else if (in->sync_catalog == CAT_NONE)
			in->sync_catalog = CAT_COMMIT;
		stat_of(&in->a, out);
		*timeout = timeout_of(fs, &in->a, now);
	}
	meta_unlock(fs);
out:
	meta_lock(fs);
	if (opened)
		in->nopen--;
	if (in != NULL)
		iput_maybe(fs, in);
	meta_unlock(fs);
	if (released)
		rfs_store_refill_reserve(fs->st);
	if (rc == 0)
		blocks_of(fs, out);
	return rc;
}

/* ---- removing -------------------------------------------------------- */

/*
 * A hidden (expired) file may still hold NAME in DIR until the sweeper
 * shreds it: detach it so the name can be reused.  Caller holds meta and a
 * transaction.  Returns 0 if NAME is free now, -EEXIST if a visible entry
 * holds it (its inode in *out when OUT is not NULL).
 */
static int
clear_hidden(struct rfs_fs *fs, uint64_t dir, const unsigned char *h,
    int64_t now, struct inode **out)
{
	struct inode *old;
	uint64_t ino;
	int rc;

	rc = rfs_cat_dirent_lookup(fs->st->cat, dir, h, &ino);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	if ((rc = iget(fs, ino, &old)) != 0)
		return rc;
	if (visible(fs, &old->a, now)) {
		if (out != NULL)
			*out = old;
		else
			iput_maybe(fs, old);
		return -EEXIST;
	}
	rc = rfs_cat_dirent_delete(fs->st->cat, dir, h);
	if (rc == 0 && old->a.nlink > 0 && --old->a.nlink == 0 &&
	    old->a.state == RFS_LIVE)
		old->a.state = RFS_SHRED;
	if (rc == 0)
		rc = rfs_cat_inode_put(fs->st->cat, &old->a);
	iput_maybe(fs, old);
	return rc;
}

/*
 * Drops one link of IN (named in DIR).  The last link of a regular file
 * sends it to the trash; other kinds simply go.  Caller holds meta and a
 * transaction; the dirent itself is removed by the caller.
 */
static int
drop_link(struct rfs_fs *fs, const struct rfs_ctx *ctx, struct inode *dir,
    struct inode *in, const char *name, int64_t now)
{
	char path[PATH_MAX];
	unsigned char *blob;
	size_t bloblen, n;
	int rc;

	in->a.ctime = now;
	if (S_ISDIR(in->a.mode)) {
		in->a.nlink = 0;
		dir->a.nlink--;
		in->a.state = RFS_SHRED;   /* an empty directory: just a row */
		rc = rfs_cat_inode_delete(fs->st->cat, in->ino);
		if (rc == 0)
			rc = rfs_cat_xattr_delete_all(fs->st->cat, in->ino);
		return rc;
	}
	if (in->a.nlink > 0)
		in->a.nlink--;
	if (in->a.nlink > 0)
		return rfs_cat_inode_put(fs->st->cat, &in->a);
	if (!S_ISREG(in->a.mode)) {
		in->a.state = RFS_SHRED;
		rc = rfs_cat_inode_delete(fs->st->cat, in->ino);
		if (rc == 0)
			rc = rfs_cat_xattr_delete_all(fs->st->cat, in->ino);
		return rc;
	}
	in->a.state = RFS_TRASH;
	in->a.del_time = now;
	in->a.del_uid = ctx->uid;
	in->a.del_parent = dir->ino;
	if ((rc = rfs_cat_inode_put(fs->st->cat, &in->a)) != 0)
		return rc;
	if (rfs_fs_path_of(fs, dir->ino, path, sizeof(path) - NAME_MAX - 2)
	    != 0)
		path[0] = '\0';
	n = strlen(path);
	snprintf(path + n, sizeof(path) - n, "%s%s", n ? "/" : "", name);
	rc = rfs_seal(fs->st->k_name, "trash", 5, path, strlen(path), &blob,
	    &bloblen);
	if (rc == 0) {
		rc = rfs_cat_inode_set_delpath(fs->st->cat, in->ino, blob,
		    bloblen);
		free(blob);
	}
	if (rc == 0)
		rc = rfs_audit(fs->st, now, "trash", in->ino, in->a.class,
		    ctx->uid, NULL);
	return rc;
}

/* After a failed transaction, reload the attributes it may have changed. */
static void
reload(struct rfs_fs *fs, struct inode *in)
{
	if (in != NULL && rfs_cat_inode_get(fs->st->cat, in->ino, &in->a) == 0)
		reconcile_size(fs, &in->a);
}

struct empty_scan {
	struct rfs_fs *fs;
	int64_t now;
	int visible;
	uint64_t *hidden;
	size_t nhidden;
};

static int
empty_scan_one(void *ctx, const struct rfs_dirent *d)
{
	struct empty_scan *e = ctx;
	struct inode *in;
	uint64_t *n;

	if (iget(e->fs, d->ino, &in) != 0)
		return 0;
	if (visible(e->fs, &in->a, e->now)) {
		e->visible = 1;
		iput_maybe(e->fs, in);
		return 1;
	}
	iput_maybe(e->fs, in);
	n = realloc(e->hidden, (e->nhidden + 1) * sizeof(*n));
	if (n == NULL) {
		e->visible = 1;    /* be conservative */
		return 1;
	}
	e->hidden = n;
	e->hidden[e->nhidden++] = d->ino;
	return 0;
}

/* Removes every entry of DIR naming INO (hidden files on rmdir). */
static int
detach_all(struct rfs_fs *fs, uint64_t dir, uint64_t ino)
{
	struct inode *in;
	unsigned char *blob;
	size_t len;
	uint64_t parent;
	int rc;

	if ((rc = iget(fs, ino, &in)) != 0)
		return rc;
	while (rfs_cat_dirent_of(fs->st->cat, ino, &parent, &blob, &len) == 0) {
		unsigned char h[RFS_HASH_BYTES];
		char *name;

		rc = name_open(fs, parent, blob, len, &name);
		free(blob);
		if (rc != 0)
			break;
		name_hash(fs, parent, name, h);
		free(name);
		if ((rc = rfs_cat_dirent_delete(fs->st->cat, parent, h)) != 0)
			break;
		if (in->a.nlink > 0)
			in->a.nlink--;
	}
	if (rc == 0 && in->a.nlink == 0 && in->a.state == RFS_LIVE)
		in->a.state = RFS_SHRED;
	if (rc == 0)
		rc = rfs_cat_inode_put(fs->st->cat, &in->a);
	iput_maybe(fs, in);
	return rc;
}

/* Fails with -ENOTEMPTY if DIR shows any entry; detaches hidden ones. */
static int
empty_dir(struct rfs_fs *fs, uint64_t dir, int64_t now)
{
	struct empty_scan e = { .fs = fs, .now = now };
	int rc;

	rc = rfs_cat_dirent_each(fs->st->cat, dir, 0, empty_scan_one, &e);
	if (rc == 0 && e.visible)
		rc = -ENOTEMPTY;
	for (size_t i = 0; rc == 0 && i < e.nhidden; i++)
		rc = detach_all(fs, dir, e.hidden[i]);
	free(e.hidden);
	return rc;
}

/*
 * unlink and rmdir: removes NAME from PARENT, which must name a directory
 * (ISDIR) or anything else.  Caller holds nothing.
 */
static int
remove_name(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, int isdir)
{
	unsigned char h[RFS_HASH_BYTES];
	struct inode *dir = NULL, *in = NULL;
	int64_t now = now_of(fs);
	int rc;

	meta_lock(fs);
	if ((rc = dir_get(fs, parent, &dir)) != 0)
		goto out;
	if ((rc = find(fs, parent, name, now, &in)) != 0) {
		in = NULL;
		goto out;
	}
	if (isdir && !S_ISDIR(in->a.mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!isdir && S_ISDIR(in->a.mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (S_ISREG(in->a.mode) && in->a.nlink <= 1 &&
	    (rc = rfs_retention_may_destroy(fs->pol, &in->a, now)) != 0)
		goto out;
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	if (isdir)
		rc = empty_dir(fs, in->ino, now);
	name_hash(fs, parent, name, h);
	if (rc == 0)
		rc = rfs_cat_dirent_delete(fs->st->cat, parent, h);
	if (rc == 0)
		rc = drop_link(fs, ctx, dir, in, name, now);
	if (rc == 0) {
		dir->a.mtime = dir->a.ctime = now;
		rc = rfs_cat_inode_put(fs->st->cat, &dir->a);
	}
	if ((rc = finish_tx(fs, rc)) != 0) {
		reload(fs, in);
		reload(fs, dir);
	}
out:
	if (in != NULL)
		iput_maybe(fs, in);
	meta_unlock(fs);
	return rc;
}

/* A delete that found the disk full gets one more try on the first half
 * of the reserve (it only moves the file to the trash: nothing is freed). */
static int
remove_retry(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, int isdir)
{
	int rc = remove_name(fs, ctx, parent, name, isdir);

	if (rc == -ENOSPC &&
	    rfs_store_release_reserve(fs->st, RFS_RESERVE_DELETE) == 0)
		rc = remove_name(fs, ctx, parent, name, isdir);
	return rc;
}

int
rfs_fs_unlink(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name)
{
	return remove_retry(fs, ctx, parent, name, 0);
}

int
rfs_fs_rmdir(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name)
{
	return remove_retry(fs, ctx, parent, name, 1);
}

/* ---- link and rename ------------------------------------------------- */

static int
add_entry(struct rfs_fs *fs, uint64_t dir, const char *name, uint64_t ino)
{
	unsigned char h[RFS_HASH_BYTES], *sealed;
	size_t len;
	int rc;

	name_hash(fs, dir, name, h);
	if ((rc = name_seal(fs, dir, name, &sealed, &len)) != 0)
		return rc;
	rc = rfs_cat_dirent_insert(fs->st->cat, dir, h, sealed, len, ino);
	free(sealed);
	return rc;
}

int
rfs_fs_link(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    uint64_t parent, const char *name, struct rfs_entry *e)
{
	unsigned char h[RFS_HASH_BYTES];
	struct inode *dir = NULL, *in = NULL;
	int64_t now = now_of(fs);
	int rc;

	meta_lock(fs);
	if ((rc = check_name(name)) != 0 || (rc = dir_get(fs, parent, &dir))
	    != 0)
		goto out;
	if ((rc = iget(fs, ino, &in)) != 0) {
		in = NULL;
		goto out;
	}
	if (!visible(fs, &in->a, now)) {
		rc = -ESTALE;
		goto out;
	}
	if (S_ISDIR(in->a.mode)) {
		rc = -EPERM;
		goto out;
	}
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	name_hash(fs, parent, name, h);
	rc = clear_hidden(fs, parent, h, now, NULL);
	if (rc == 0)
		rc = add_entry(fs, parent, name, ino);
	if (rc == 0) {
		in->a.nlink++;
		in->a.ctime = now;
		dir->a.mtime = dir->a.ctime = now;
		rc = rfs_cat_inode_put(fs->st->cat, &in->a);
	}
	if (rc == 0)
		rc = rfs_cat_inode_put(fs->st->cat, &dir->a);
	if ((rc = finish_tx(fs, rc)) != 0) {
		reload(fs, in);
		reload(fs, dir);
		goto out;
	}
	in->nlookup++;
	fill_entry(fs, in, now, e);
out:
	if (in != NULL)
		iput_maybe(fs, in);
	meta_unlock(fs);
	if (rc == 0)
		blocks_of(fs, &e->st);
	return rc;
}

int
rfs_fs_rename(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, uint64_t newparent, const char *newname,
    unsigned int flags)
{
	unsigned char hs[RFS_HASH_BYTES], hd[RFS_HASH_BYTES];
	struct inode *sdir = NULL, *ddir = NULL, *src = NULL, *dst = NULL;
	int64_t now = now_of(fs);
	int rc;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	meta_lock(fs);
	if ((rc = check_name(newname)) != 0 ||
	    (rc = dir_get(fs, parent, &sdir)) != 0 ||
	    (rc = dir_get(fs, newparent, &ddir)) != 0)
		goto out;
	if ((rc = find(fs, parent, name, now, &src)) != 0) {
		src = NULL;
		goto out;
	}
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	name_hash(fs, parent, name, hs);
	name_hash(fs, newparent, newname, hd);
	rc = clear_hidden(fs, newparent, hd, now, &dst);
	if (rc == -EEXIST) {
		rc = 0;
	} else {
		dst = NULL;
		if (rc != 0)
			goto tx;
	}
	if (dst == src) {
		/* Both names are links to one inode: POSIX says do nothing. */
		iput_maybe(fs, dst);
		dst = NULL;
		goto tx;
	}
	if (flags & RENAME_EXCHANGE) {
		if (dst == NULL) {
			rc = -ENOENT;
			goto tx;
		}
		rc = rfs_cat_dirent_delete(fs->st->cat, parent, hs);
		if (rc == 0)
			rc = rfs_cat_dirent_delete(fs->st->cat, newparent, hd);
		if (rc == 0)
			rc = add_entry(fs, parent, name, dst->ino);
		if (rc == 0)
			rc = add_entry(fs, newparent, newname, src->ino);
		if (rc == 0 && parent != newparent) {
			if (S_ISDIR(src->a.mode)) {
				sdir->a.nlink--;
				ddir->a.nlink++;
			}
			if (S_ISDIR(dst->a.mode)) {
				ddir->a.nlink--;
				sdir->a.nlink++;
			}
		}
		src->a.ctime = dst->a.ctime = now;
		if (rc == 0)
			rc = rfs_cat_inode_put(fs->st->cat, &dst->a);
	} else {
		if (dst != NULL && (flags & RENAME_NOREPLACE)) {
			rc = -EEXIST;
			goto tx;
		}
		if (dst != NULL) {
			if (S_ISDIR(dst->a.mode) && !S_ISDIR(src->a.mode))
				rc = -EISDIR;
			else if (!S_ISDIR(dst->a.mode) && S_ISDIR(src->a.mode))
				rc = -ENOTDIR;
			else if (S_ISDIR(dst->a.mode))
				rc = empty_dir(fs, dst->ino, now);
			else if (S_ISREG(dst->a.mode) && dst->a.nlink <= 1)
				rc = rfs_retention_may_destroy(fs->pol,
				    &dst->a, now);
			if (rc == 0)
				rc = rfs_cat_dirent_delete(fs->st->cat,
				    newparent, hd);
			if (rc == 0)
				rc = drop_link(fs, ctx, ddir, dst, newname,
				    now);
			if (rc != 0)
				goto tx;
		}
		rc = rfs_cat_dirent_delete(fs->st->cat, parent, hs);
		if (rc == 0)
			rc = add_entry(fs, newparent, newname, src->ino);
		if (rc == 0 && parent != newparent && S_ISDIR(src->a.mode)) {
			sdir->a.nlink--;
			ddir->a.nlink++;
		}
		src->a.ctime = now;
	}
	sdir->a.mtime = sdir->a.ctime = now;
	ddir->a.mtime = ddir->a.ctime = now;
	if (rc == 0)
		rc = rfs_cat_inode_put(fs->st->cat, &src->a);
	if (rc == 0)
		rc = rfs_cat_inode_put(fs->st->cat, &sdir->a);
	if (rc == 0 && ddir != sdir)
		rc = rfs_cat_inode_put(fs->st->cat, &ddir->a);
tx:
	if ((rc = finish_tx(fs, rc)) != 0) {
		reload(fs, src);
		reload(fs, dst);
		reload(fs, sdir);
		reload(fs, ddir);
	}
out:
	if (src != NULL)
		iput_maybe(fs, src);
	if (dst != NULL)
		iput_maybe(fs, dst);
	meta_unlock(fs);
	return rc;
}

/* ---- directories ----------------------------------------------------- */

struct rd {
	struct rfs_fs *fs;
	uint64_t dir;
	int plus, full;
	int64_t now;
	rfs_fill_fn fill;
	void *ctx;
	int rc;
};

static int
rd_one(void *ctx, const struct rfs_dirent *d)
{
	struct rd *r = ctx;
	struct rfs_entry e;
	struct inode *in;
	char *name;

	if (iget(r->fs, d->ino, &in) != 0)
		return 0;
	if (!visible(r->fs, &in->a, r->now) ||
	    name_open(r->fs, r->dir, d->name, d->namelen, &name) != 0) {
		iput_maybe(r->fs, in);
		return 0;
	}
	fill_entry(r->fs, in, r->now, &e);
	if (blocks_needed(&e.st))
		e.attr_timeout = 0;      /* see BLOCKS_MIN */
	if (r->fill(r->ctx, name, &e, d->id + 2) != 0) {
		r->full = 1;
		iput_maybe(r->fs, in);
	} else if (r->plus) {
		in->nlookup++;
	} else {
		iput_maybe(r->fs, in);
	}
	free(name);
	return r->full;
}

int
rfs_fs_readdir(struct rfs_fs *fs, uint64_t ino, int64_t off, int plus,
    rfs_fill_fn fill, void *ctx)
{
	struct rd r = { .fs = fs, .dir = ino, .plus = plus, .fill = fill,
	    .ctx = ctx };
	struct rfs_entry e;
	struct inode *dir;
	int rc;

	r.now = now_of(fs);
	meta_lock(fs);
	if ((rc = dir_get(fs, ino, &dir)) != 0)
		goto out;
	if (off == 0 && atime_due(fs, dir, r.now)) {
		dir->a.atime = r.now;
		(void)rfs_cat_inode_put(fs->st->cat, &dir->a);
	}
	/* "." and ".." carry no attributes (ino 0): no lookup is counted. */
	memset(&e, 0, sizeof(e));
	e.st.st_mode = S_IFDIR;
	if (off < 1) {
		e.st.st_ino = ino;
		if (fill(ctx, ".", &e, 1) != 0)
			goto out;
	}
	if (off < 2) {
		e.st.st_ino = RFS_ROOT_INO;   /* unknown parent: any nonzero */
		if (fill(ctx, "..", &e, 2) != 0)
			goto out;
	}
	rc = rfs_cat_dirent_each(fs->st->cat, ino, off < 2 ? 0 : off - 2,
	    rd_one, &r);
out:
	meta_unlock(fs);
	return rc;
}

int
rfs_fs_fsyncdir(struct rfs_fs *fs)
{
	int rc;

	meta_lock(fs);
	rc = rfs_cat_sync(fs->st->cat);
	meta_unlock(fs);
	return rc;
}

int
rfs_fs_statfs(struct rfs_fs *fs, struct statvfs *sv)
{
	if (fstatvfs(fs->st->dirfd, sv) != 0)
		return -errno;
	sv->f_namemax = NAME_MAX;
	return 0;
}

int
rfs_fs_resolve(struct rfs_fs *fs, const char *path, uint64_t *out)
{
	char *copy = strdup(path), *save = NULL, *part;
	uint64_t ino = RFS_ROOT_INO;
	int64_t now = now_of(fs);
	struct inode *in;
	int rc = 0;

	if (copy == NULL)
		return -ENOMEM;
	meta_lock(fs);
	for (part = strtok_r(copy, "/", &save); part != NULL;
	    part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			rc = -EINVAL;
			break;
		}
		if ((rc = find(fs, ino, part, now, &in)) != 0)
			break;
		ino = in->ino;
		iput_maybe(fs, in);
	}
	meta_unlock(fs);
	free(copy);
	if (rc == 0)
		*out = ino;
	return rc;
}

/* ---- extended attributes --------------------------------------------- */

#define RETENTION_PREFIX "user.retention."

static void
xattr_ad(uint64_t ino, const unsigned char *h, unsigned char ad[8 + RFS_HASH_BYTES])
{
	memcpy(ad, &ino, 8);
	memcpy(ad + 8, h, RFS_HASH_BYTES);
}

/* The virtual user.retention.* attributes.  Caller holds meta. */
static ssize_t
retention_get(struct rfs_fs *fs, struct inode *in, const char *attr,
    char *out, size_t len)
{
	char buf[96];
	int64_t d;

	if (strcmp(attr, "class") == 0)
		snprintf(buf, sizeof(buf), "%s", in->a.class);
	else if (strcmp(attr, "created") == 0)
		rfs_time_format(in->a.created, buf, sizeof(buf));
	else if (strcmp(attr, "expires") == 0) {
		d = rfs_retention_deadline(fs->pol, &in->a,
		    event_of(fs, &in->a));
		rfs_time_format(in->a.hold ? INT64_MAX : d, buf, sizeof(buf));
	} else if (strcmp(attr, "hold") == 0)
		snprintf(buf, sizeof(buf), "%d", in->a.hold ? 1 : 0);
	else if (strcmp(attr, "expired") == 0 && fs->recover)
		snprintf(buf, sizeof(buf), "%d", rfs_retention_visible(fs->pol,
		    &in->a, event_of(fs, &in->a), now_of(fs)) ? 0 : 1);
	else
		return -ENODATA;
	if (!S_ISREG(in->a.mode))
		return -ENODATA;
	if (len == 0)
		return (ssize_t)strlen(buf);
	if (len < strlen(buf))
		return -ERANGE;
	memcpy(out, buf, strlen(buf));
	return (ssize_t)strlen(buf);
}

/*
 * Re-wraps IN's file key under the window key of (CLS, window of CREATED)
 * and records both in the catalog, with audit record OP.  Used when a
 * writer picks a class (CLS changes) and by import (CREATED changes).
 * Caller holds meta.
 */
static int
retag(struct rfs_fs *fs, struct inode *in, const char *cls, int64_t created,
    const char *op, uint32_t uid, int64_t now)
{
	struct rfs_attr a = in->a;
	struct rfs_key *fk = NULL, *win = NULL;
	int rc;

	if ((rc = file_key(fs, &in->a, &fk)) != 0)
		return rc;
	snprintf(a.class, sizeof(a.class), "%s", cls);
	a.created = created;
	a.period = rfs_retention_period(fs->pol, created);
	if ((win = rfs_key_new()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = rfs_keystore_get(fs->st, a.class, a.period, 1, win)) != 0) {
		rc = -EIO;
		goto out;
	}
	rfs_key_wrap(win, fk, &a.ino, sizeof(a.ino), a.wkey);
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	rc = keywin_note(fs, &a);
	a.ctime = now;
	if (rc == 0)
		rc = rfs_cat_inode_put(fs->st->cat, &a);
	if (rc == 0)
		rc = rfs_audit(fs->st, now, op, a.ino, a.class, uid,
		    strcmp(in->a.class, a.class) ? in->a.class : NULL);
	if ((rc = finish_tx(fs, rc)) == 0)
		in->a = a;
	else
		memset(fs->kwcache, 0, sizeof(fs->kwcache));
out:
	rfs_key_free(fk);
	rfs_key_free(win);
	return rc;
}

static int
retention_set(struct rfs_fs *fs, const struct rfs_ctx *ctx, struct inode *in,
    const char *attr, const char *val, size_t len, int64_t now)
{
	char v[RFS_CLASS_MAX + 1];

	if (!S_ISREG(in->a.mode))
		return -EPERM;
	if (len > RFS_CLASS_MAX)
		return -EINVAL;
	memcpy(v, val, len);
	v[len] = '\0';
	if (strcmp(attr, "class") == 0) {
		if (rfs_policy_class(fs->pol, v) == NULL)
			return -EINVAL;
		if (in->a.size > 0)
			return -EPERM;
		if (strcmp(v, in->a.class) == 0)
			return 0;
		return retag(fs, in, v, in->a.created, "class", ctx->uid, now);
	}
	if (strcmp(attr, "hold") == 0) {
		int hold;

		if (ctx->uid != 0)
			return -EPERM;
		if (strcmp(v, "1") == 0)
			hold = 1;
		else if (strcmp(v, "0") == 0)
			hold = 0;
		else
			return -EINVAL;
		return rfs_fs_hold_locked(fs, in->ino, hold, ctx->uid, now);
	}
	return -EPERM;
}

/*
 * Attributes this filesystem does not keep, refused with EOPNOTSUPP as a
 * filesystem without them does (ext4 mounted noacl, most FUSE
 * filesystems): system.* (POSIX ACLs, which the kernel would not enforce
 * here: default_permissions checks the mode bits only) and SELinux
 * labels, which a FUSE mount gets from its context= option.  The answer matters
 * beyond honesty: `ls -l` asks for both on every file until a device
 * answers "not supported", and two round trips per file were most of
 * what `ls -lR` cost.  A name in no namespace Linux knows ("foo.bar")
 * gets EOPNOTSUPP too, as the VFS gives it on ext4 (FUSE passes any name
 * through, and such an attribute could be copied nowhere else).
 */
static int
xattr_unsupported(const char *name)
{
	if (strncmp(name, "user.", 5) != 0 &&
	    strncmp(name, "trusted.", 8) != 0 &&
	    strncmp(name, "security.", 9) != 0)
		return 1;              /* system.*, and no namespace at all */
	return strcmp(name, "security.selinux") == 0;
}

int
rfs_fs_setxattr(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    const char *name, const void *val, size_t len, int flags)
{
	unsigned char h[RFS_HASH_BYTES], ad[8 + RFS_HASH_BYTES];
	unsigned char *sname = NULL, *sval = NULL, *old = NULL;
	size_t snamelen, svallen, oldlen;
	struct inode *in = NULL;
	int64_t now = now_of(fs);
	int rc;

	if (strlen(name) > 255)
		return -ERANGE;
	if (len > XATTR_MAX)
		return -E2BIG;
	if (xattr_unsupported(name))
		return -EOPNOTSUPP;
	meta_lock(fs);
	if ((rc = iget(fs, ino, &in)) != 0) {
		in = NULL;
		goto out;
	}
	if (!visible(fs, &in->a, now) && in->nopen == 0) {
		rc = -ESTALE;
		goto out;
	}
	if (strncmp(name, RETENTION_PREFIX, strlen(RETENTION_PREFIX)) == 0) {
		rc = retention_set(fs, ctx, in, name + strlen(RETENTION_PREFIX),
		    val, len, now);
		goto out;
	}
	rfs_name_hash(fs->st->k_hash, ino, name, strlen(name), h);
	rc = rfs_cat_xattr_get(fs->st->cat, ino, h, &old, &oldlen);
	free(old);
	if (rc == 0 && (flags & XATTR_CREATE)) {
		rc = -EEXIST;
		goto out;
	}
	if (rc == -ENODATA && (flags & XATTR_REPLACE))
		goto out;
	if (rc != 0 && rc != -ENODATA)
		goto out;
	xattr_ad(ino, h, ad);
	if ((rc = rfs_seal(fs->st->k_name, &ino, sizeof(ino), name,
	    strlen(name), &sname, &snamelen)) != 0 ||
	    (rc = rfs_seal(fs->st->k_name, ad, sizeof(ad), val, len, &sval,
	    &svallen)) != 0)
		goto out;
	rc = rfs_cat_xattr_set(fs->st->cat, ino, h, sname, snamelen, sval,
	    svallen);
	if (rc == 0) {
		in->a.ctime = now;
		rc = rfs_cat_inode_put(fs->st->cat, &in->a);
	}
out:
	free(sname);
	free(sval);
	if (in != NULL)
		iput_maybe(fs, in);
	meta_unlock(fs);
	return rc;
}

ssize_t
rfs_fs_getxattr(struct rfs_fs *fs, uint64_t ino, const char *name, void *buf,
    size_t len)
{
	unsigned char h[RFS_HASH_BYTES], ad[8 + RFS_HASH_BYTES];
	unsigned char *blob = NULL, *plain = NULL;
	size_t bloblen, n;
	struct inode *in = NULL;
	int64_t now = now_of(fs);
	ssize_t rc;

	if (xattr_unsupported(name))
		return -EOPNOTSUPP;
	meta_lock(fs);
	if ((rc = iget(fs, ino, &in)) != 0) {
		in = NULL;
		goto out;
	}
	if (!visible(fs, &in->a, now) && in->nopen == 0) {
		rc = -ESTALE;
		goto out;
	}
	if (strncmp(name, RETENTION_PREFIX, strlen(RETENTION_PREFIX)) == 0) {
		rc = retention_get(fs, in, name + strlen(RETENTION_PREFIX),
		    buf, len);
		goto out;
	}
	rfs_name_hash(fs->st->k_hash, ino, name, strlen(name), h);
	if ((rc = rfs_cat_xattr_get(fs->st->cat, ino, h, &blob, &bloblen))
	    != 0)
		goto out;
	xattr_ad(ino, h, ad);
	if (rfs_open(fs->st->k_name, ad, sizeof(ad), blob, bloblen, &plain,
	    &n) != 0) {
		rfs_err("inode %" PRIu64 ": xattr fails authentication", ino);
		rc = -EIO;
		goto out;
	}
	if (len == 0)
		rc = (ssize_t)n;
	else if (len < n)
		rc = -ERANGE;
	else {
		memcpy(buf, plain, n);
		rc = (ssize_t)n;
	}
out:
	free(blob);
	free(plain);
	if (in != NULL)
		iput_maybe(fs, in);
	meta_unlock(fs);
	return rc;
}

struct xlist {
	struct rfs_fs *fs;
	uint64_t ino;
	char *buf;
	size_t len, used;
};

static int
xlist_one(void *ctx, const unsigned char *b, size_t n)
{
	struct xlist *x = ctx;
	unsigned char *name;
	size_t nl;

	if (rfs_open(x->fs->st->k_name, &x->ino, sizeof(x->ino), b, n, &name,
	    &nl) != 0)
		return -EIO;
	if (x->len > 0) {
		if (x->used + nl + 1 > x->len) {
			free(name);
			return -ERANGE;
		}
		memcpy(x->buf + x->used, name, nl + 1);
	}
	x->used += nl + 1;
	free(name);
	return 0;
}

ssize_t
rfs_fs_listxattr(struct rfs_fs *fs, uint64_t ino, char *buf, size_t len)
{
	struct xlist x = { .fs = fs, .ino = ino, .buf = buf, .len = len };
	int rc;

	meta_lock(fs);
	rc = rfs_cat_xattr_names(fs->st->cat, ino, xlist_one, &x);
	meta_unlock(fs);
	return rc != 0 ? rc : (ssize_t)x.used;
}

int
rfs_fs_removexattr(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    const char *name)
{
	unsigned char h[RFS_HASH_BYTES];
	int rc;

	if (strncmp(name, RETENTION_PREFIX, strlen(RETENTION_PREFIX)) == 0)
		return -EPERM;
	if (xattr_unsupported(name))
		return -EOPNOTSUPP;
	rfs_name_hash(fs->st->k_hash, ino, name, strlen(name), h);
	meta_lock(fs);
	rc = rfs_cat_xattr_remove(fs->st->cat, ino, h);
	meta_unlock(fs);
	return rc;
}

/* ---- admin operations (control channel and offline tools) ------------- */

int
rfs_fs_hold_locked(struct rfs_fs *fs, uint64_t ino, int hold, uint32_t uid,
    int64_t now)
{
	struct inode *in;
	int rc;

	if ((rc = iget(fs, ino, &in)) != 0)
		return rc;
	if (!S_ISREG(in->a.mode)) {
		iput_maybe(fs, in);
		return -EINVAL;
	}
	if ((rc = rfs_cat_begin(fs->st->cat)) == 0) {
		in->a.hold = hold;
		rc = rfs_cat_inode_put(fs->st->cat, &in->a);
		if (rc == 0)
			rc = rfs_audit(fs->st, now, hold ? "hold-set" :
			    "hold-clear", ino, in->a.class, uid, NULL);
		if ((rc = finish_tx(fs, rc)) != 0)
			reload(fs, in);
	}
	iput_maybe(fs, in);
	return rc;
}

void
rfs_fs_set_due_hook(struct rfs_fs *fs, void (*fn)(void))
{
	fs->due_hook = fn;
}

void
rfs_fs_set_recover(struct rfs_fs *fs, int on)
{
	fs->recover = on;
}

void
rfs_fs_set_noatime(struct rfs_fs *fs, int on)
{
	fs->noatime = on;
}

void
rfs_fs_lock(struct rfs_fs *fs)
{
	meta_lock_bg(fs);
}

void
rfs_fs_lock_catalog(struct rfs_fs *fs)
{
	db_lock_bg(fs);
}

void
rfs_fs_unlock_catalog(struct rfs_fs *fs)
{
	pthread_mutex_unlock(&fs->meta);
}

void
rfs_fs_unlock(struct rfs_fs *fs)
{
	meta_unlock(fs);
}

int64_t
rfs_fs_event_for_locked(struct rfs_fs *fs, uint64_t ino)
{
	return event_for(fs, ino);
}

int64_t
rfs_fs_event_of_locked(struct rfs_fs *fs, const struct rfs_attr *a)
{
	return event_of(fs, a);
}

int
rfs_fs_events_reload_locked(struct rfs_fs *fs)
{
	return events_reload(fs);
}


/*
 * Destroys file INO: the catalog rows go first, in one transaction, so the
 * wrapped key is gone before any byte of the object is touched (a crash in
 * between leaves only ciphertext nobody can open, removed by the next
 * sweep).  Then the object is overwritten and unlinked.  An open file is
 * left alone (-EBUSY): it is destroyed after its last release.
 */
static int destroy_rows(struct rfs_fs *fs, uint64_t ino, const char *op,
    uint32_t uid, int state, int only_due);

int
rfs_fs_destroy(struct rfs_fs *fs, uint64_t ino, const char *op, uint32_t uid,
    int passes, int state, int only_due)
{
	int rc;

	rfs_fs_destroy_many(fs, &ino, 1, op, uid, passes, state, only_due, &rc);
	return rc;
}

/*
 * The catalog rows of all N files go first, in one batch; once it is
 * committed the objects are shredded together (rfs_obj_shred_many): one
 * commit and one device flush for up to 64 files, not one each.  The meta
 * lock is held per file, so foreground requests interleave.
 */
void
rfs_fs_destroy_many(struct rfs_fs *fs, const uint64_t *ino, size_t n,
    const char *op, uint32_t uid, int passes, int state, int only_due,
    int *res)
{
	uint64_t *gone = malloc(n * sizeof(*gone));
	size_t ngone = 0;
	int rc, released = 0;

	for (size_t i = 0; i < n; i++) {
		res[i] = destroy_rows(fs, ino[i], op, uid, state, only_due);
		if (res[i] == -ENOSPC && rfs_store_release_reserve(fs->st,
		    RFS_RESERVE_FREEING) == 0) {
			released = 1;
			res[i] = destroy_rows(fs, ino[i], op, uid, state,
			    only_due);
		}
	}
	/* The rows go before the objects: never a row without its object. */
	db_lock_bg(fs);
	rc = rfs_cat_flush(fs->st->cat);
	pthread_mutex_unlock(&fs->meta);
	for (size_t i = 0; i < n; i++) {
		if (res[i] != 0)
			continue;
		if (rc != 0 || gone == NULL)
			res[i] = rc != 0 ? rc : -ENOMEM;
		else
			gone[ngone++] = ino[i];
	}
	if (ngone > 0 && (rc = rfs_obj_shred_many(fs->st->objfd, gone, ngone,
	    passes)) != 0)
		for (size_t i = 0; i < n; i++)
			if (res[i] == 0)
				res[i] = rc;
	free(gone);
	if (released)
		rfs_store_refill_reserve(fs->st);
}

/* Removes INO's catalog rows (in the batch) and marks it shredded. */
static int
destroy_rows(struct rfs_fs *fs, uint64_t ino, const char *op, uint32_t uid,
    int state, int only_due)
{
	struct inode *in;
	unsigned char *blob;
	size_t len;
	uint64_t parent;
	int64_t now = now_of(fs);
	int rc;

	meta_lock_bg(fs);
	if ((rc = iget(fs, ino, &in)) != 0) {
		meta_unlock(fs);
		return rc;
	}
	if (in->nopen > 0) {
		iput_maybe(fs, in);
		meta_unlock(fs);
		return -EBUSY;
	}
	/* The scan that chose INO ran without the lock: a restore, a hold
	 * or a policy reload may have changed its fate since. */
	if (in->a.state != state || in->a.hold || (only_due &&
	    !rfs_retention_due(fs->pol, &in->a, event_of(fs, &in->a), now))) {
		iput_maybe(fs, in);
		meta_unlock(fs);
		return -EAGAIN;
	}
	/*
	 * The rows' removal needs the connection only: getattr may read the
	 * attributes meanwhile, and nothing else can change them while the
	 * mutex is held (every writer takes it first).
	 */
	pthread_rwlock_unlock(&fs->attrs);
	if ((rc = rfs_cat_begin(fs->st->cat)) == 0) {
		while (rc == 0 && rfs_cat_dirent_of(fs->st->cat, ino, &parent,
		    &blob, &len) == 0) {
			char *name;
			unsigned char h[RFS_HASH_BYTES];

			rc = name_open(fs, parent, blob, len, &name);
			free(blob);
			if (rc != 0)
				break;
			name_hash(fs, parent, name, h);
			rc = rfs_cat_dirent_delete(fs->st->cat, parent, h);
			free(name);
		}
		if (rc == 0)
			rc = rfs_cat_xattr_delete_all(fs->st->cat, ino);
		if (rc == 0)
			rc = rfs_cat_inode_delete(fs->st->cat, ino);
		if (rc == 0)
			rc = rfs_audit(fs->st, now, op, ino, in->a.class, uid,
			    NULL);
		rc = finish_tx(fs, rc);
	}
	pthread_rwlock_wrlock(&fs->attrs);
	if (rc == 0) {
		in->a.state = RFS_SHRED;
		in->a.has_key = 0;
		in->a.nlink = 0;
		in->dirty = 0;
	}
	iput_maybe(fs, in);
	meta_unlock(fs);
	return rc;
}

/* Makes every missing directory of PATH (relative); returns the last. */
static int
mkdirs(struct rfs_fs *fs, char *path, uint64_t *out, int64_t now)
{
	struct rfs_ctx root = { 0, 0, 0 };
	uint64_t ino = RFS_ROOT_INO;
	char *save = NULL, *part;
	struct inode *in, *dir;
	int rc = 0;

	for (part = strtok_r(path, "/", &save); part != NULL;
	    part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0)
			return -EINVAL;       /* no escape from the mount */
		rc = find(fs, ino, part, now, &in);
		if (rc == -ENOENT) {
			if ((rc = dir_get(fs, ino, &dir)) != 0)
				return rc;
			rc = make_node(fs, &root, dir, part, S_IFDIR | 0755, 0,
			    now, &in, NULL);
		}
		if (rc != 0)
			return rc;
		if (!S_ISDIR(in->a.mode)) {
			iput_maybe(fs, in);
			return -ENOTDIR;
		}
		ino = in->ino;
		iput_maybe(fs, in);
	}
	*out = ino;
	return 0;
}

int
rfs_fs_trash_path(struct rfs_fs *fs, uint64_t ino, char *buf, size_t len)
{
	unsigned char *blob, *plain;
	size_t bl, pl;
	int rc;

	if ((rc = rfs_cat_inode_get_delpath(fs->st->cat, ino, &blob, &bl)) != 0)
		return rc;
	rc = rfs_open(fs->st->k_name, "trash", 5, blob, bl, &plain, &pl);
	free(blob);
	if (rc != 0)
		return -EIO;
	snprintf(buf, len, "%s", (char *)plain);
	free(plain);
	return 0;
}

int
rfs_fs_restore(struct rfs_fs *fs, uint64_t ino, const char *to, int force,
    uint32_t uid, char *restored, size_t restoredlen)
{
	char path[PATH_MAX], dirpart[PATH_MAX];
	const char *base;
	unsigned char h[RFS_HASH_BYTES];
	struct rfs_ctx ctx = { uid, 0, 0 };
	struct inode *in = NULL, *dir = NULL, *old = NULL;
	uint64_t dino;
	int64_t now = now_of(fs);
	int rc;

	meta_lock(fs);
	if ((rc = iget(fs, ino, &in)) != 0) {
		in = NULL;
		goto out;
	}
	if (in->a.state != RFS_TRASH) {
		rc = -ENOENT;
		goto out;
	}
	if (to != NULL)
		snprintf(path, sizeof(path), "%s", to);
	else if ((rc = rfs_fs_trash_path(fs, ino, path, sizeof(path))) != 0)
		goto out;
	while (path[0] == '/')
		memmove(path, path + 1, strlen(path));
	base = strrchr(path, '/');
	if (base != NULL) {
		snprintf(dirpart, sizeof(dirpart), "%.*s",
		    (int)(base - path), path);
		base++;
	} else {
		dirpart[0] = '\0';
		base = path;
	}
	if ((rc = check_name(base)) != 0 || strcmp(base, "..") == 0 ||
	    strcmp(base, ".") == 0) {
		rc = rc ? rc : -EINVAL;
		goto out;
	}
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	rc = mkdirs(fs, dirpart, &dino, now);
	if (rc == 0)
		rc = dir_get(fs, dino, &dir);
	if (rc == 0) {
		name_hash(fs, dino, base, h);
		rc = clear_hidden(fs, dino, h, now, &old);
		if (rc == -EEXIST && force) {
			rc = rfs_cat_dirent_delete(fs->st->cat, dino, h);
			if (rc == 0)
				rc = drop_link(fs, &ctx, dir, old, base, now);
		}
		if (old != NULL) {
			iput_maybe(fs, old);
			old = NULL;
		}
	}
	if (rc == 0)
		rc = add_entry(fs, dino, base, ino);
	if (rc == 0) {
		in->a.state = RFS_LIVE;
		in->a.nlink = 1;
		in->a.del_time = 0;
		in->a.del_uid = 0;
		in->a.del_parent = 0;
		in->a.ctime = now;
		rc = rfs_cat_inode_put(fs->st->cat, &in->a);
	}
	if (rc == 0)
		rc = rfs_cat_inode_set_delpath(fs->st->cat, ino, NULL, 0);
	if (rc == 0)
		rc = rfs_audit(fs->st, now, "restore", ino, in->a.class, uid,
		    NULL);
	if ((rc = finish_tx(fs, rc)) != 0) {
		reload(fs, in);
		if (dir != NULL)
			reload(fs, dir);
	} else {
		snprintf(restored, restoredlen, "%s%s%s", dirpart,
		    dirpart[0] ? "/" : "", base);
	}
out:
	if (in != NULL)
		iput_maybe(fs, in);
	meta_unlock(fs);
	return rc;
}


int
rfs_fs_set_created(struct rfs_fs *fs, uint64_t ino, int64_t created,
    uint32_t uid)
{
	struct inode *in = NULL;
	int64_t now = now_of(fs);
	int rc;

	if (created > now || created < 0)
		return -EINVAL;
	meta_lock(fs);
	if ((rc = iget(fs, ino, &in)) != 0) {
		meta_unlock(fs);
		return rc;
	}
	if (!S_ISREG(in->a.mode) || in->a.state != RFS_LIVE)
		rc = -EINVAL;
	else
		rc = retag(fs, in, in->a.class, created, "import", uid, now);
	iput_maybe(fs, in);
	meta_unlock(fs);
	return rc;
}
