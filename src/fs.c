/*
 * fs.c - the file-system module's core (fs.h): the inode table, attributes,
 * names, lookup, and the committer that groups catalog changes.  The
 * operations are in fs_create.c, fs_file.c, fs_namespace.c, fs_xattr.c and
 * fs_admin.c; what they share is in fs_impl.h.
 *
 * The in-memory inode table holds every inode the kernel knows (lookup
 * count > 0) or that is open.  While an inode is in the table its
 * attributes here are authoritative; each change is written through to the
 * catalog in the same call, except size and mtime from write(), which are
 * marked dirty and persisted at flush, fsync and release.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/retention.h"
#include "fs_impl.h"

/* Longest entry/attr validity: changes made behind the kernel's back (by
 * the admin tool) show within this time; expiry is exact (see
 * fs_timeout_of()). */
#define MAX_TIMEOUT 1.0
/* Seconds: more than a kernel tick (1-10 ms) and a reply's latency. */
#define EXPIRY_MARGIN 0.02
/* Inodes kept in memory: trimmed back to LOW once past HIGH (itab_trim). */
#define ITAB_HIGH 16384
#define ITAB_LOW 8192
#define ITAB_TRIM_STEP 256        /* inodes freed per hold of the locks */

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
int
fs_events_reload(struct rfs_fs *fs)
{
	free(fs->events);
	fs->events = NULL;
	fs->nevents = 0;
	return rfs_cat_event_each(fs->st->cat, event_load_one, fs);
}

int64_t
fs_event_own(struct rfs_fs *fs, uint64_t ino)
{
	int64_t at = RFS_NO_EVENT;

	for (size_t i = 0; i < fs->nevents; i++)
		if (fs->events[i].ino == ino &&
		    (at == RFS_NO_EVENT || fs->events[i].at < at))
			at = fs->events[i].at;
	return at;
}

/* Earliest event on directory DIR or any ancestor (one parent each). */
static int64_t
dir_event(struct rfs_fs *fs, uint64_t ino)
{
	int64_t best = RFS_NO_EVENT, at;
	unsigned char *name;
	size_t namelen;
	uint64_t parent;
	int depth = 0;

	while (depth++ < 4096) {
		at = fs_event_own(fs, ino);
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

struct link_events {
	struct rfs_fs *fs;
	int64_t best;
};

static int
link_event(void *ctx, uint64_t parent)
{
	struct link_events *l = ctx;
	int64_t at = dir_event(l->fs, parent);

	if (at != RFS_NO_EVENT && (l->best == RFS_NO_EVENT || at < l->best))
		l->best = at;
	return 0;
}

/*
 * Earliest event on INO or any ancestor (the event follows the path: a
 * file renamed out of an evented directory leaves the event behind).  A
 * file linked in several directories has several paths, and the earliest
 * event on any of them counts: a second link must not keep a file past an
 * event deadline.  Caller holds meta.
 */
int64_t
fs_event_for(struct rfs_fs *fs, uint64_t ino)
{
	struct link_events l = { fs, RFS_NO_EVENT };

	if (fs->nevents == 0)
		return RFS_NO_EVENT;
	l.best = fs_event_own(fs, ino);
	if (ino == RFS_ROOT_INO)
		return l.best;
	(void)rfs_cat_parents_each(fs->st->cat, ino, link_event, &l);
	return l.best;
}

/*
 * The event deadline of A: a trashed file has no directory entry, so the
 * directory it was deleted from stands in for its path (deleting a file
 * must not let it outlive its event deadline in the trash).
 */
int64_t
fs_event_of(struct rfs_fs *fs, const struct rfs_attr *a)
{
	int64_t own, dir;

	if (fs->nevents == 0)
		return RFS_NO_EVENT;
	if (a->state != RFS_TRASH || a->del_parent == 0)
		return fs_event_for(fs, a->ino);
	own = fs_event_own(fs, a->ino);
	dir = fs_event_for(fs, a->del_parent);
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

void
fs_itab_remove(struct rfs_fs *fs, struct inode *in)
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
void
fs_reconcile_size(struct rfs_fs *fs, struct rfs_attr *a)
{
	uint64_t stored;

	if (S_ISREG(a->mode) && a->has_key &&
	    (a->writing || rfs_attr_fresh(a)) &&
	    rfs_obj_stored_size(fs->st->objfd, a->ino, &stored) == 0 &&
	    stored > a->size)
		a->size = stored;
}

/* The inode lock: see fs_impl.h. */
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

/* Adds an entry for the inode with attributes A.  Caller holds meta. */
static int
itab_add(struct rfs_fs *fs, const struct rfs_attr *a, int sync_catalog,
    struct inode **out)
{
	struct inode *in = calloc(1, sizeof(*in));

	if (in == NULL)
		return -ENOMEM;
	in->a = *a;
	in->ino = a->ino;
	in->sync_catalog = sync_catalog;
	in_lock_init(in);
	if (fs->count >= fs->nbuckets)
		itab_grow(fs);
	in->next = fs->tab[bucket(fs, in->ino)];
	fs->tab[bucket(fs, in->ino)] = in;
	fs->count++;
	if (fs->count > ITAB_HIGH && fs->commit_ns != 0)
		pthread_cond_signal(&fs->commit_cv);
	*out = in;
	return 0;
}

/*
 * The inode INO, loaded into the table if needed.  Caller holds meta.
 * A new entry starts with nlookup 0; callers count their own reference.
 */
int
fs_iget(struct rfs_fs *fs, uint64_t ino, struct inode **out)
{
	struct inode *in = itab_find(fs, ino);
	struct rfs_attr a;
	int rc;

	if (in != NULL) {
		*out = in;
		return 0;
	}
	if ((rc = rfs_cat_inode_get(fs->st->cat, ino, &a)) != 0)
		return rc;
	fs_reconcile_size(fs, &a);
	/* What this inode owed the catalog may have left with an earlier
	 * copy (trimmed, forgotten): if the catalog has unsynced writes,
	 * assume some are this file's. */
	return itab_add(fs, &a, rfs_cat_unsynced(fs->st->cat) ? CAT_SYNC :
	    CAT_NONE, out);
}

/*
 * The inode just made with attributes A, whose row this transaction
 * wrote: the table takes A as it is, without reading the row back or
 * looking for an object that cannot exist yet.  Its first fsync makes
 * the row durable (CAT_SYNC).  Caller holds meta.
 */
int
fs_iget_new(struct rfs_fs *fs, const struct rfs_attr *a, struct inode **out)
{
	struct inode *in = itab_find(fs, a->ino);

	if (in != NULL) {
		in->sync_catalog = CAT_SYNC;
		*out = in;
		return 0;
	}
	return itab_add(fs, a, CAT_SYNC, out);
}

void
fs_ifree(struct inode *in)
{
	rfs_obj_close(in->obj);
	pthread_rwlock_destroy(&in->lock);
	free(in);
}

/* Drops IN from the table when nothing refers to it.  Caller holds meta. */
void
fs_iput_maybe(struct rfs_fs *fs, struct inode *in)
{
	if (in->nlookup > 0 || in->nopen > 0)
		return;
	if (in->dirty)
		(void)rfs_cat_inode_put(fs->st->cat, &in->a);
	fs_itab_remove(fs, in);
	fs_ifree(in);
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
				fs_ifree(in);
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
int64_t
fs_ns_of(const struct timespec *ts)
{
	if (ts->tv_sec >= INT64_MAX / RFS_NSEC)
		return INT64_MAX - RFS_NSEC;
	if (ts->tv_sec <= INT64_MIN / RFS_NSEC)
		return INT64_MIN + RFS_NSEC;
	return (int64_t)ts->tv_sec * RFS_NSEC + ts->tv_nsec;
}

void
fs_stat_of(const struct rfs_attr *a, struct stat *st)
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

int
fs_blocks_needed(const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_size >= BLOCKS_MIN;
}

void
fs_blocks_of(struct rfs_fs *fs, struct stat *st)
{
	uint64_t blocks;

	if (fs_blocks_needed(st) &&
	    rfs_obj_stored_blocks(fs->st->objfd, st->st_ino, &blocks) == 0)
		st->st_blocks = (blkcnt_t)blocks;
}

/* Validity for the kernel's caches: never past the file's deadline. */
double
fs_timeout_of(struct rfs_fs *fs, const struct rfs_attr *a,
    int64_t now)
{
	int64_t d;
	double t;

	if (a->hold || !S_ISREG(a->mode))
		return MAX_TIMEOUT;
	d = rfs_retention_deadline(fs->pol, a, fs_event_of(fs, a));
	if (d == INT64_MAX)
		return MAX_TIMEOUT;
	/* The kernel counts the validity from when it reads the reply, and
	 * rounds it up to its next tick: ask for EXPIRY_MARGIN less, so that
	 * a cached name or attribute never outlives the deadline. */
	t = (double)(d - now) / 1e9 - EXPIRY_MARGIN;
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
int
fs_visible(struct rfs_fs *fs, const struct rfs_attr *a, int64_t now)
{
	if (a->state != RFS_LIVE)
		return 0;
	if (fs->recover)
		return !S_ISREG(a->mode) || a->has_key;
	if (!S_ISREG(a->mode))
		return 1;
	return rfs_retention_visible(fs->pol, a, fs_event_of(fs, a), now);
}

void
fs_fill_entry(struct rfs_fs *fs, const struct inode *in, int64_t now,
    struct rfs_entry *e)
{
	e->ino = in->ino;
	fs_stat_of(&in->a, &e->st);
	e->timeout = e->attr_timeout = fs_timeout_of(fs, &in->a, now);
}

/* ---- names ----------------------------------------------------------- */

int
fs_check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return -ENOENT;
	if (n > NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

void
fs_name_hash(struct rfs_fs *fs, uint64_t parent, const char *name,
    unsigned char h[RFS_HASH_BYTES])
{
	rfs_name_hash(fs->st->k_hash, parent, name, strlen(name), h);
}

int
fs_name_seal(struct rfs_fs *fs, uint64_t parent, const char *name,
    unsigned char **out, size_t *outlen)
{
	return rfs_seal(fs->st->k_name, &parent, sizeof(parent), name,
	    strlen(name), out, outlen);
}

int
fs_name_open(struct rfs_fs *fs, uint64_t parent,
    const unsigned char *blob, size_t len, char **out)
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
		rc = fs_name_open(fs, parent, blob, bloblen, &parts[n]);
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
	/*
	 * The mark as saved, or the time of the newest audit record if that
	 * is later: every change is audited with the trusted time and
	 * committed within a batch, while the mark itself is saved by the
	 * committer and the sweeper only.  A crash and a clock set back must
	 * not let the next mount start from an older mark (files hidden
	 * before the crash would show again).
	 */
	{
		struct rfs_audit_row last;

		(void)rfs_cat_meta_get(st->cat, "clock_hwm", &hwm);
		fs->clock.persisted = hwm;
		if (rfs_cat_audit_last(st->cat, &last) == 0 && last.time > hwm)
			hwm = last.time;
		fs->clock.hwm = hwm;
	}
	(void)fs_events_reload(fs);
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

/*
 * The clock's high-water mark goes to the catalog with every batch that
 * commits while it has moved on by a second, and, with nothing to commit,
 * once a minute (HWM_IDLE_S) while it moves: after a crash the next mount
 * starts at most that far behind (see rfs_fs_new for the audit trail's
 * part).  With OPEN_TX the write opens a batch of its own.  Returns
 * whether it wrote.  Caller holds meta (the committer's db lock).
 */
#define HWM_IDLE_S 60

static int
hwm_note(struct rfs_fs *fs, int open_tx)
{
	int64_t h = open_tx ? now_of(fs) :
	    __atomic_load_n(&fs->clock.hwm, __ATOMIC_RELAXED);

	if (h < fs->clock.persisted + RFS_NSEC)
		return 0;
	if (open_tx && rfs_cat_begin(fs->st->cat) != 0)
		return 0;
	if (rfs_cat_meta_set(fs->st->cat, "clock_hwm", h) != 0) {
		if (open_tx)
			rfs_cat_rollback(fs->st->cat);
		return 0;
	}
	if (open_tx && rfs_cat_commit(fs->st->cat) != 0)
		return 0;
	fs->clock.persisted = h;
	return 1;
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
			/* Idle: wake once a minute to save the clock's mark. */
			clock_gettime(CLOCK_MONOTONIC, &at);
			at.tv_sec += HWM_IDLE_S;
			if (pthread_cond_timedwait(&fs->commit_cv, &fs->meta,
			    &at) == ETIMEDOUT && hwm_note(fs, 1))
				(void)rfs_cat_flush(fs->st->cat);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_nsec += fs->commit_ns;
		at.tv_sec += at.tv_nsec / RFS_NSEC;
		at.tv_nsec %= RFS_NSEC;
		while (!fs->commit_stop && pthread_cond_timedwait(
		    &fs->commit_cv, &fs->meta, &at) != ETIMEDOUT)
			;
		(void)hwm_note(fs, 0);
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
			fs_ifree(in);
		}
	}
	free(fs->tab);
	free(fs->events);
	free(fs->touched);
	rfs_policy_unref(fs->pol);
	pthread_rwlock_destroy(&fs->attrs);
	pthread_mutex_destroy(&fs->meta);
	free(fs);
}

/* ---- lookup ---------------------------------------------------------- */

/* Finds NAME in PARENT and returns its visible inode.  Caller holds meta. */
int
fs_find(struct rfs_fs *fs, uint64_t parent, const char *name,
    int64_t now, struct inode **out)
{
	unsigned char h[RFS_HASH_BYTES];
	uint64_t ino;
	int rc;

	if ((rc = fs_check_name(name)) != 0)
		return rc;
	fs_name_hash(fs, parent, name, h);
	if ((rc = rfs_cat_dirent_lookup(fs->st->cat, parent, h, &ino)) != 0)
		return rc;
	if ((rc = fs_iget(fs, ino, out)) != 0)
		return rc;
	if (!fs_visible(fs, &(*out)->a, now)) {
		fs_iput_maybe(fs, *out);
		return -ENOENT;
	}
	return 0;
}

/* The directory PARENT, which must exist and be a directory. */
int
fs_dir_get(struct rfs_fs *fs, uint64_t parent, struct inode **out)
{
	int rc = fs_iget(fs, parent, out);

	if (rc == 0 && !S_ISDIR((*out)->a.mode))
		rc = -ENOTDIR;
	return rc;
}

int
rfs_fs_lookup(struct rfs_fs *fs, uint64_t parent, const char *name,
    struct rfs_entry *e)
{
	struct inode *in;
	int64_t now;
	int rc;

	/* The time is taken once the lock is held: a request that waited
	 * for it past a deadline must not answer as of before. */
	meta_lock(fs);
	now = now_of(fs);
	rc = fs_find(fs, parent, name, now, &in);
	if (rc == 0) {
		in->nlookup++;
		fs_fill_entry(fs, in, now, e);
	}
	meta_unlock(fs);
	if (rc == 0)
		fs_blocks_of(fs, &e->st);
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
		fs_iput_maybe(fs, in);
	}
	meta_unlock(fs);
}

int
rfs_fs_getattr(struct rfs_fs *fs, uint64_t ino, struct stat *st,
    double *timeout)
{
	struct inode *in = NULL;
	int64_t now;
	int rc = 0;

	/*
	 * An inode in the table needs the attributes only (see meta_lock),
	 * unless event deadlines are set: finding the one that applies walks
	 * the directory tree in the catalog.  The time is taken once the lock
	 * is held (see rfs_fs_lookup).
	 */
	pthread_rwlock_rdlock(&fs->attrs);
	now = now_of(fs);
	if (fs->nevents == 0 && (in = itab_find(fs, ino)) != NULL) {
		if (in->nopen == 0 && S_ISREG(in->a.mode) &&
		    !fs_visible(fs, &in->a, now))
			rc = -ESTALE;
		else {
			fs_stat_of(&in->a, st);
			*timeout = fs_timeout_of(fs, &in->a, now);
		}
	}
	pthread_rwlock_unlock(&fs->attrs);
	if (in != NULL) {
		if (rc == 0)
			fs_blocks_of(fs, st);
		return rc;
	}
	meta_lock(fs);
	now = now_of(fs);
	rc = fs_iget(fs, ino, &in);
	if (rc == -ENOENT)
		rc = -ESTALE;
	if (rc == 0) {
		/* An open file stays usable after expiry or unlink. */
		if (in->nopen == 0 && S_ISREG(in->a.mode) &&
		    !fs_visible(fs, &in->a, now))
			rc = -ESTALE;
		else {
			fs_stat_of(&in->a, st);
			*timeout = fs_timeout_of(fs, &in->a, now);
		}
		fs_iput_maybe(fs, in);
	}
	meta_unlock(fs);
	if (rc == 0)
		fs_blocks_of(fs, st);
	return rc;
}

