/*
 * fs_namespace.c - changing and listing the namespace: unlink and rmdir
 * into the trash, link, rename, readdir, fsyncdir, statfs and path
 * resolution (fs.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/audit.h"
#include "rfs/retention.h"
#include "fs_impl.h"

/* ---- removing -------------------------------------------------------- */

/*
 * A hidden (expired) file may still hold NAME in DIR until the sweeper
 * shreds it: detach it so the name can be reused.  Caller holds meta and a
 * transaction.  Returns 0 if NAME is free now, -EEXIST if a visible entry
 * holds it (its inode in *out when OUT is not NULL).
 */
int
fs_clear_hidden(struct rfs_fs *fs, uint64_t dir,
    const unsigned char *h, int64_t now, struct inode **out)
{
	struct inode *old;
	uint64_t ino;
	int rc;

	rc = rfs_cat_dirent_lookup(fs->st->cat, dir, h, &ino);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	if ((rc = fs_iget(fs, ino, &old)) != 0)
		return rc;
	if (fs_visible(fs, &old->a, now)) {
		if (out != NULL)
			*out = old;
		else
			fs_iput_maybe(fs, old);
		return -EEXIST;
	}
	rc = rfs_cat_dirent_delete(fs->st->cat, dir, h);
	if (rc == 0) {
		fs_tx_touch(fs, old->ino);
		if (old->a.nlink > 0 && --old->a.nlink == 0 &&
		    old->a.state == RFS_LIVE)
			old->a.state = RFS_SHRED;
		rc = rfs_cat_inode_put(fs->st->cat, &old->a);
	}
	fs_iput_maybe(fs, old);
	return rc;
}

struct trash_in {
	uint64_t *ino;
	size_t n;
};

static int
trash_in_one(void *ctx, uint64_t ino)
{
	struct trash_in *t = ctx;
	uint64_t *v = realloc(t->ino, (t->n + 1) * sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	t->ino = v;
	t->ino[t->n++] = ino;
	return 0;
}

/*
 * Directory GONE (in PARENT) is removed.  The trashed files deleted from it
 * keep it as their place in the tree (del_parent), which is what their
 * event deadline follows (fs_event_of): they move up to PARENT, and an
 * event GONE itself carries, earlier than PARENT's path has, goes with
 * each of them as an event of its own, so no deadline moves later.
 * Caller holds meta and a transaction.
 */
static int
reparent_trash(struct rfs_fs *fs, uint64_t gone, uint64_t parent,
    int64_t now)
{
	struct trash_in t = { NULL, 0 };
	int64_t own = fs_event_own(fs, gone), up = fs_event_for(fs, parent);
	int copy = own != RFS_NO_EVENT && (up == RFS_NO_EVENT || own < up);
	struct inode *in;
	int rc;

	rc = rfs_cat_trash_in_each(fs->st->cat, gone, trash_in_one, &t);
	for (size_t i = 0; rc == 0 && i < t.n; i++) {
		if ((rc = fs_iget(fs, t.ino[i], &in)) != 0)
			break;
		fs_tx_touch(fs, in->ino);
		in->a.del_parent = parent;
		rc = rfs_cat_inode_put(fs->st->cat, &in->a);
		fs_iput_maybe(fs, in);
		if (rc == 0 && copy) {
			struct rfs_event e = { .ino = t.ino[i], .at = own,
			    .set_time = now };

			rc = rfs_cat_event_insert(fs->st->cat, &e);
			fs->events_touched = 1;
		}
	}
	free(t.ino);
	return rc;
}

/*
 * Drops one link of IN (named in DIR).  The last link of a regular file
 * sends it to the trash; other kinds simply go.  Caller holds meta and a
 * transaction; the dirent itself is removed by the caller.
 */
int
fs_drop_link(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct inode *dir, struct inode *in, const char *name, int64_t now)
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
		rc = reparent_trash(fs, in->ino, dir->ino, now);
		if (rc == 0)
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
void
fs_reload(struct rfs_fs *fs, struct inode *in)
{
	if (in != NULL && rfs_cat_inode_get(fs->st->cat, in->ino, &in->a) == 0)
		fs_reconcile_size(fs, &in->a);
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

	if (fs_iget(e->fs, d->ino, &in) != 0)
		return 0;
	if (fs_visible(e->fs, &in->a, e->now)) {
		e->visible = 1;
		fs_iput_maybe(e->fs, in);
		return 1;
	}
	fs_iput_maybe(e->fs, in);
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

	if ((rc = fs_iget(fs, ino, &in)) != 0)
		return rc;
	fs_tx_touch(fs, ino);
	while (rfs_cat_dirent_of(fs->st->cat, ino, &parent, &blob, &len) == 0) {
		unsigned char h[RFS_HASH_BYTES];
		char *name;

		rc = fs_name_open(fs, parent, blob, len, &name);
		free(blob);
		if (rc != 0)
			break;
		fs_name_hash(fs, parent, name, h);
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
	fs_iput_maybe(fs, in);
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
	if ((rc = fs_dir_get(fs, parent, &dir)) != 0)
		goto out;
	if ((rc = fs_find(fs, parent, name, now, &in)) != 0) {
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
	fs_name_hash(fs, parent, name, h);
	if (rc == 0)
		rc = rfs_cat_dirent_delete(fs->st->cat, parent, h);
	if (rc == 0)
		rc = fs_drop_link(fs, ctx, dir, in, name, now);
	if (rc == 0) {
		dir->a.mtime = dir->a.ctime = now;
		rc = rfs_cat_inode_put(fs->st->cat, &dir->a);
	}
	if ((rc = fs_finish_tx(fs, rc)) != 0) {
		fs_reload(fs, in);
		fs_reload(fs, dir);
	}
out:
	if (in != NULL)
		fs_iput_maybe(fs, in);
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

int
fs_add_entry(struct rfs_fs *fs, uint64_t dir, const char *name,
    uint64_t ino)
{
	unsigned char h[RFS_HASH_BYTES], *sealed;
	size_t len;
	int rc;

	fs_name_hash(fs, dir, name, h);
	if ((rc = fs_name_seal(fs, dir, name, &sealed, &len)) != 0)
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
	if ((rc = fs_check_name(name)) != 0 || (rc = fs_dir_get(fs, parent, &dir))
	    != 0)
		goto out;
	if ((rc = fs_iget(fs, ino, &in)) != 0) {
		in = NULL;
		goto out;
	}
	if (!fs_visible(fs, &in->a, now)) {
		rc = -ESTALE;
		goto out;
	}
	if (S_ISDIR(in->a.mode)) {
		rc = -EPERM;
		goto out;
	}
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	fs_name_hash(fs, parent, name, h);
	rc = fs_clear_hidden(fs, parent, h, now, NULL);
	if (rc == 0)
		rc = fs_add_entry(fs, parent, name, ino);
	if (rc == 0) {
		in->a.nlink++;
		in->a.ctime = now;
		dir->a.mtime = dir->a.ctime = now;
		rc = rfs_cat_inode_put(fs->st->cat, &in->a);
	}
	if (rc == 0)
		rc = rfs_cat_inode_put(fs->st->cat, &dir->a);
	if ((rc = fs_finish_tx(fs, rc)) != 0) {
		fs_reload(fs, in);
		fs_reload(fs, dir);
		goto out;
	}
	in->nlookup++;
	fs_fill_entry(fs, in, now, e);
out:
	if (in != NULL)
		fs_iput_maybe(fs, in);
	meta_unlock(fs);
	if (rc == 0)
		fs_blocks_of(fs, &e->st);
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
	if ((rc = fs_check_name(newname)) != 0 ||
	    (rc = fs_dir_get(fs, parent, &sdir)) != 0 ||
	    (rc = fs_dir_get(fs, newparent, &ddir)) != 0)
		goto out;
	if ((rc = fs_find(fs, parent, name, now, &src)) != 0) {
		src = NULL;
		goto out;
	}
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	fs_name_hash(fs, parent, name, hs);
	fs_name_hash(fs, newparent, newname, hd);
	rc = fs_clear_hidden(fs, newparent, hd, now, &dst);
	if (rc == -EEXIST) {
		rc = 0;
	} else {
		dst = NULL;
		if (rc != 0)
			goto tx;
	}
	if (dst == src) {
		/* Both names are links to one inode: POSIX says do nothing. */
		fs_iput_maybe(fs, dst);
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
			rc = fs_add_entry(fs, parent, name, dst->ino);
		if (rc == 0)
			rc = fs_add_entry(fs, newparent, newname, src->ino);
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
				rc = fs_drop_link(fs, ctx, ddir, dst, newname,
				    now);
			if (rc != 0)
				goto tx;
		}
		rc = rfs_cat_dirent_delete(fs->st->cat, parent, hs);
		if (rc == 0)
			rc = fs_add_entry(fs, newparent, newname, src->ino);
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
	if ((rc = fs_finish_tx(fs, rc)) != 0) {
		fs_reload(fs, src);
		fs_reload(fs, dst);
		fs_reload(fs, sdir);
		fs_reload(fs, ddir);
	}
out:
	if (src != NULL)
		fs_iput_maybe(fs, src);
	if (dst != NULL)
		fs_iput_maybe(fs, dst);
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

	if (fs_iget(r->fs, d->ino, &in) != 0)
		return 0;
	if (!fs_visible(r->fs, &in->a, r->now) ||
	    fs_name_open(r->fs, r->dir, d->name, d->namelen, &name) != 0) {
		fs_iput_maybe(r->fs, in);
		return 0;
	}
	fs_fill_entry(r->fs, in, r->now, &e);
	if (fs_blocks_needed(&e.st))
		e.attr_timeout = 0;      /* see BLOCKS_MIN */
	if (r->fill(r->ctx, name, &e, d->id + 2) != 0) {
		r->full = 1;
		fs_iput_maybe(r->fs, in);
	} else if (r->plus) {
		in->nlookup++;
	} else {
		fs_iput_maybe(r->fs, in);
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

	meta_lock(fs);
	r.now = now_of(fs);           /* once the lock is held: see lookup */
	if ((rc = fs_dir_get(fs, ino, &dir)) != 0)
		goto out;
	if (off == 0 && fs_atime_due(fs, dir, r.now)) {
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
		if ((rc = fs_find(fs, ino, part, now, &in)) != 0)
			break;
		ino = in->ino;
		fs_iput_maybe(fs, in);
	}
	meta_unlock(fs);
	free(copy);
	if (rc == 0)
		*out = ino;
	return rc;
}

