/*
 * fuzz_catalog.c - libFuzzer target for opening a hostile catalog.db.
 *
 * The input is written as catalog.db in a temporary directory (any -wal
 * and -shm of the previous input removed first); rfs_cat_open, then
 * rfs_cat_check and a round of the read paths the daemon and the tools
 * use, then rfs_cat_close.  Nothing may crash, leak or trip a sanitizer,
 * and a failed open must explain itself.  Seeds (corpus/catalog) are a
 * real catalog made by rfs_store_create plus damaged copies of it.
 *
 * Not covered, by design: a crafted schema can make SQLite itself loop
 * (e.g. a recursive view named like one of our tables); that is SQLite's
 * query engine, not our code, and would show up as a timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rfs/catalog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char dir[64], db[96], wal[112], shm[112];
static int ready;

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	return remove(path);
}

static void
cleanup(void)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/rfs-fuzz-catalog.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(db, sizeof(db), "%s/catalog.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	snprintf(shm, sizeof(shm), "%s-shm", db);
	ready = 1;
}

struct seen {
	int n;
	uint64_t ino;
};

static int
on_inode(void *ctx, const struct rfs_attr *a)
{
	struct seen *s = ctx;

	if (a->class[RFS_CLASS_MAX] != '\0')
		abort();
	s->ino = a->ino;
	return ++s->n >= 64;
}

static int
on_dirent(void *ctx, const struct rfs_dirent *d)
{
	struct seen *s = ctx;
	volatile unsigned char x = 0;

	/* Touch the whole name: ASan checks the length is real. */
	for (size_t i = 0; i < d->namelen; i++)
		x ^= d->name[i];
	(void)x;
	return ++s->n >= 64;
}

static int
on_blob(void *ctx, const unsigned char *b, size_t len)
{
	volatile unsigned char x = 0;

	for (size_t i = 0; i < len; i++)
		x ^= b[i];
	(void)x;
	return 0;
}

static int
on_event(void *ctx, const struct rfs_event *e)
{
	return on_blob(ctx, e->reason, e->reasonlen) || ++((struct seen *)
	    ctx)->n >= 64;
}

static int
on_audit(void *ctx, const struct rfs_audit_row *r)
{
	if (r->op[sizeof(r->op) - 1] != '\0' ||
	    r->class[RFS_CLASS_MAX] != '\0')
		abort();
	return on_blob(ctx, r->detail, r->detaillen) || ++((struct seen *)
	    ctx)->n >= 64;
}

static int
on_keywin(void *ctx, const char *cls, int64_t start, int64_t last)
{
	struct rfs_catalog *c = ctx;

	(void)rfs_cat_keywin_held(c, cls, start);
	return 0;
}

static void
reads(struct rfs_catalog *c)
{
	unsigned char h[RFS_HASH_BYTES], *b = NULL;
	struct rfs_audit_row row;
	struct rfs_attr a;
	struct seen s;
	uint64_t ino = 0, files, bytes, parent;
	size_t len;
	int64_t v;

	memset(h, 0, sizeof(h));
	(void)rfs_cat_meta_get(c, "clock_hwm", &v);
	(void)rfs_cat_meta_get(c, "audit_head", &v);
	(void)rfs_cat_inode_get(c, RFS_ROOT_INO, &a);
	for (int state = RFS_LIVE; state <= RFS_SHRED; state++) {
		memset(&s, 0, sizeof(s));
		(void)rfs_cat_inode_each(c, state, 0, 100, on_inode, &s);
		if (s.n > 0) {
			ino = s.ino;
			if (rfs_cat_inode_get_link(c, ino, &b, &len) == 0)
				free(b);
			if (rfs_cat_inode_get_delpath(c, ino, &b, &len) == 0)
				free(b);
			if (rfs_cat_dirent_of(c, ino, &parent, &b, &len) == 0)
				free(b);
			(void)rfs_cat_xattr_names(c, ino, on_blob, NULL);
			if (rfs_cat_xattr_get(c, ino, h, &b, &len) == 0)
				free(b);
		}
	}
	memset(&s, 0, sizeof(s));
	(void)rfs_cat_dirent_each(c, RFS_ROOT_INO, 0, on_dirent, &s);
	(void)rfs_cat_dirent_any(c, RFS_ROOT_INO);
	(void)rfs_cat_dirent_lookup(c, RFS_ROOT_INO, h, &ino);
	(void)rfs_cat_counts(c, &files, &bytes);
	memset(&s, 0, sizeof(s));
	(void)rfs_cat_event_each(c, on_event, &s);
	memset(&s, 0, sizeof(s));
	(void)rfs_cat_audit_each(c, INT64_MIN, INT64_MIN, 0, on_audit, &s);
	(void)rfs_cat_audit_last(c, &row);
	(void)rfs_cat_keywin_each(c, on_keywin, c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfs_catalog *c = (struct rfs_catalog *)&ready;  /* reset? */
	char err[512];
	int fd, rc;

	if (!ready)
		setup();
	unlink(wal);
	unlink(shm);
	fd = open(db, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	err[0] = '\0';
	/* Read-write for odd sizes (WAL set-up, journal recovery), else
	 * read-only, as the tools open it. */
	rc = rfs_cat_open(db, 0, !(size & 1), &c, err, sizeof(err));
	if (rc != 0) {
		if (rc > 0 || c != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	if (c == NULL)
		abort();
	err[0] = '\0';
	if (rfs_cat_check(c, err, sizeof(err)) != 0 && err[0] == '\0')
		abort();
	reads(c);
	rfs_cat_close(c);
	return 0;
}
