/*
 * fsck.c - store check and repair (fsck.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rfs/audit.h"
#include "rfs/catalog.h"
#include "rfs/fsck.h"
#include "rfs/ulog.h"
#include "rfs/keystore.h"
#include "rfs/object.h"
#include "rfs/retention.h"

struct files {
	struct rfs_attr *a;
	size_t n;
};

static int
collect(void *ctx, const struct rfs_attr *a)
{
	struct files *f = ctx;
	struct rfs_attr *n;

	if (!S_ISREG(a->mode))
		return 0;
	if ((n = realloc(f->a, (f->n + 1) * sizeof(*n))) == NULL)
		return -ENOMEM;
	f->a = n;
	f->a[f->n++] = *a;
	return 0;
}

static int
known(const struct files *f, uint64_t ino)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {        /* f->a is sorted by ino per state scan */
		size_t mid = (lo + hi) / 2;

		if (f->a[mid].ino == ino)
			return 1;
		if (f->a[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int
by_ino(const void *x, const void *y)
{
	const struct rfs_attr *a = x, *b = y;

	return a->ino < b->ino ? -1 : a->ino > b->ino;
}

static void finding(struct rfs_fsck_report *r, FILE *out, const char *kind,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
finding(struct rfs_fsck_report *r, FILE *out, const char *kind,
    const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "fsck: %s: ", kind);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	r->findings++;
}

/* Orphan objects: files in objects/ that no catalog row owns. */
static void
check_orphans(struct rfs_fs *fs, const struct files *f, int repair,
    FILE *out, struct rfs_fsck_report *r)
{
	struct rfs_store *s = rfs_fs_store(fs);
	int passes = 1;

	for (unsigned b = 0; b < RFS_OBJ_SHARDS; b++) {
		char sub[8];
		struct dirent *de;
		DIR *d;
		int fd;

		rfs_obj_shard(b, sub, sizeof(sub));
		fd = openat(s->objfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || (d = fdopendir(fd)) == NULL) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			char *end;
			uint64_t ino = strtoull(de->d_name, &end, 16);

			if (de->d_name[0] == '.' || *end != '\0')
				continue;
			if (known(f, ino))
				continue;
			finding(r, out, "orphan", "object %016" PRIx64
			    " has no catalog row (unreadable)", ino);
			if (repair && rfs_obj_shred(s->objfd, ino, passes) == 0)
				r->repaired++;
		}
		closedir(d);
	}
}

/*
 * Moves A to the trash (repairs that must not lose data), out of every
 * directory: a trashed file has no names.  A file already in the trash
 * keeps when, by whom and where from it was deleted.
 */
static int
to_trash(struct rfs_fs *fs, struct rfs_attr *a, const char *why)
{
	struct rfs_store *s = rfs_fs_store(fs);
	int rc;

	if ((rc = rfs_cat_begin(s->cat)) != 0)
		return rc;
	if (a->state != RFS_TRASH) {
		a->state = RFS_TRASH;
		a->del_time = rfs_fs_now(fs);
		a->del_uid = 0;
		a->del_parent = RFS_ROOT_INO;
	}
	a->nlink = 0;
	rc = rfs_cat_dirent_delete_ino(s->cat, a->ino);
	if (rc == 0)
		rc = rfs_cat_inode_put(s->cat, a);
	if (rc == 0)
		rc = rfs_audit(s, a->del_time, "fsck-trash", a->ino, a->class,
		    0, why);
	if (rc == 0)
		return rfs_cat_commit(s->cat);
	rfs_cat_rollback(s->cat);
	return rc;
}

static int
has_dirent(struct rfs_store *s, uint64_t ino)
{
	unsigned char *name;
	size_t len;
	uint64_t parent;

	if (rfs_cat_dirent_of(s->cat, ino, &parent, &name, &len) != 0)
		return 0;
	free(name);
	return 1;
}

/* Reads every block of A; reports torn tails and bad blocks. */
static void
check_file(struct rfs_fs *fs, struct rfs_attr *a, int repair, FILE *out,
    struct rfs_fsck_report *r)
{
	struct rfs_store *s = rfs_fs_store(fs);
	unsigned char *buf;
	struct rfs_obj *o;
	struct stat sb;
	char path[32];
	uint64_t len;
	int fd, rc;

	/* A read-only check of a store a kill left behind: the object is
	 * put back as it was before the write by the next read-write open
	 * (a mount, or this with --repair, which then finds it whole). */
	if (rfs_ulog_pending(s->ulog, a->ino, &len)) {
		finding(r, out, "undo", "file %" PRIu64 ": a write cut short by"
		    " a crash is undone at the next read-write mount (back to"
		    " %" PRIu64 " bytes of object)", a->ino, len);
		return;
	}
	rfs_obj_path(a->ino, path, sizeof(path));
	if (fstatat(s->objfd, path, &sb, 0) != 0) {
		/* A fresh, empty file gets its object at its first open. */
		if (a->size == 0 && rfs_attr_fresh(a))
			return;
		finding(r, out, "missing", "file %" PRIu64 " has no object",
		    a->ino);
		if (repair && rfs_obj_create(s->objfd, a->ino) == 0) {
			/* An empty object: the catalog must commit it as such,
			 * or every open would find it "truncated". */
			a->size = 0;
			a->objlen = 0;
			a->has_tail = 0;
			memset(a->tail, 0, sizeof(a->tail));
			a->writing = 0;
			if (to_trash(fs, a, "object missing") == 0)
				r->repaired++;
		}
		return;
	}
	if (sb.st_size % RFS_RECORD != 0 &&
	    sb.st_size % RFS_RECORD <= RFS_BLOCK_OVERHEAD) {
		finding(r, out, "torn", "file %" PRIu64 ": object ends inside"
		    " a record header (%" PRIu64 " bytes)", a->ino,
		    (uint64_t)sb.st_size);
		if (repair && (fd = openat(s->objfd, path, O_WRONLY |
		    O_CLOEXEC)) >= 0) {
			if (ftruncate(fd, sb.st_size - sb.st_size % RFS_RECORD)
			    == 0)
				r->repaired++;
			close(fd);
		}
	}
	/* objlen 0 without a tail: the object never held committed data. */
	if (a->state != RFS_SHRED && !a->writing && (uint64_t)sb.st_size !=
	    a->objlen && !rfs_attr_fresh(a))
		finding(r, out, "tamper", "file %" PRIu64 ": object is %" PRIu64
		    " bytes, the catalog committed %" PRIu64, a->ino,
		    (uint64_t)sb.st_size, a->objlen);
	if (!a->has_key)
		return;
	{
		struct rfs_key *win = rfs_key_new(), *fk = rfs_key_new();

		rc = win && fk ? rfs_keystore_get(s, a->class, a->period, 0,
		    win) : -ENOMEM;
		if (rc == 0)
			rc = rfs_key_unwrap(win, a->wkey, RFS_WRAPPED_BYTES,
			    &a->ino, sizeof(a->ino), fk);
		rfs_key_free(win);
		if (rc != 0) {
			rfs_key_free(fk);
			finding(r, out, "keys", "file %" PRIu64 ": its key cannot"
			    " be opened (%s)", a->ino, rc == -ENOKEY ?
			    "window key destroyed" : "authentication failed");
			return;
		}
		if (rfs_obj_open(s->objfd, a->ino, 0, fk, a->size, &o) != 0) {
			finding(r, out, "object", "file %" PRIu64 ": its object"
			    " cannot be opened", a->ino);
			return;
		}
	}
	/* Same length, other last record: an older copy put back. */
	if (a->state != RFS_SHRED && !a->writing && !rfs_attr_fresh(a) &&
	    (uint64_t)sb.st_size == a->objlen &&
	    rfs_obj_is_committed(o, a->objlen, a->tail, &len) == 1)
		finding(r, out, "tamper", "file %" PRIu64 ": the object's last"
		    " record is not the one the catalog committed (rolled back)",
		    a->ino);
	buf = malloc(RFS_BLOCK);
	/*
	 * Holes are skipped: a 4 TiB sparse file took hours, a block at a
	 * time.  A hole reads as zeros and has nothing to authenticate.
	 * Pages still dirty are written first, so that SEEK_DATA answers
	 * from allocated extents (a tampered record at the end of a sparse
	 * object, dirty in the cache, went unreported once).
	 */
	(void)sync_file_range(o->fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
	    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
	for (uint64_t off = rfs_obj_next_data(o, 0); buf != NULL &&
	    off < o->size; off = rfs_obj_next_data(o, off + RFS_BLOCK)) {
		r->blocks++;
		if (rfs_obj_read(o, buf, RFS_BLOCK, off) < 0)
			finding(r, out, "block", "file %" PRIu64 " block %"
			    PRIu64 " fails authentication", a->ino,
			    off / RFS_BLOCK);
	}
	free(buf);
	rfs_obj_close(o);
}

struct keyscan {
	struct rfs_fs *fs;
	int repair;
	struct rfs_key *k;
	FILE *out;
	struct rfs_fsck_report *r;
};

static int
key_seen(void *ctx, const char *cls, int64_t start)
{
	struct keyscan *ks = ctx;
	struct rfs_store *s = rfs_fs_store(ks->fs);

	if (rfs_cat_keywin_known(s->cat, cls, start) != 0)
		return 0;
	/*
	 * No catalog window: the sweeper would never destroy this key.  A
	 * key that authenticates is what a crash leaves between making a
	 * key and recording it (the daemon records these when it mounts).
	 */
	if (rfs_keystore_get(s, cls, start, 0, ks->k) != 0) {
		finding(ks->r, ks->out, "keys", "window key %s@%" PRId64
		    " has no catalog record and does not authenticate", cls,
		    start);
		return 0;
	}
	finding(ks->r, ks->out, "orphan", "window key %s@%" PRId64 " has no"
	    " catalog record (a crash while it was made)", cls, start);
	if (ks->repair && rfs_fs_adopt_key(ks->fs, cls, start) == 0)
		ks->r->repaired++;
	return 0;
}

/* Window keys in the key store that the catalog does not know. */
static void
check_keys(struct rfs_fs *fs, int repair, FILE *out,
    struct rfs_fsck_report *r)
{
	struct keyscan ks = { .fs = fs, .repair = repair, .out = out, .r = r };

	if ((ks.k = rfs_key_new()) == NULL)
		return;
	(void)rfs_keystore_each(rfs_fs_store(fs), key_seen, &ks);
	rfs_key_free(ks.k);
}

int
rfs_fsck(struct rfs_fs *fs, int repair, FILE *out, rfs_progress_fn progress,
    void *pctx, struct rfs_fsck_report *r)
{
	struct rfs_store *s = rfs_fs_store(fs);
	struct files f = { 0 };
	char err[512];
	int rc;

	memset(r, 0, sizeof(*r));
	if (rfs_cat_check(s->cat, err, sizeof(err)) != 0) {
		fprintf(out, "fsck: catalog: %s\n", err);
		r->findings++;
	}
	for (int state = RFS_LIVE; state <= RFS_SHRED; state++)
		if ((rc = rfs_cat_inode_each(s->cat, state, 0, 0, collect, &f))
		    != 0)
			goto out;
	qsort(f.a, f.n, sizeof(*f.a), by_ino);
	check_orphans(fs, &f, repair, out, r);
	check_keys(fs, repair, out, r);
	for (size_t i = 0; i < f.n; i++) {
		struct rfs_attr *a = &f.a[i];

		r->files++;
		if (a->state == RFS_LIVE && !has_dirent(s, a->ino)) {
			finding(r, out, "unreachable", "live file %" PRIu64
			    " has no directory entry", a->ino);
			if (repair && to_trash(fs, a, "unreachable") == 0)
				r->repaired++;
		}
		if (a->state != RFS_SHRED)
			check_file(fs, a, repair, out, r);
		if (progress != NULL)
			progress(pctx, i + 1, f.n);
	}
	rc = 0;
out:
	free(f.a);
	return rc;
}
