/*
 * fs_create.c - creating files, directories, symlinks and nodes: their
 * data class, their key (per-file, or the class key window's) and their
 * first catalog rows (fs.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/audit.h"
#include "rfs/keystore.h"
#include "rfs/log.h"
#include "rfs/retention.h"
#include "fs_impl.h"

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
int
fs_keywin_note(struct rfs_fs *fs, const struct rfs_attr *a)
{
	int64_t end = keywin_end(fs, a->period);
	int rc;

	if (end < a->created)          /* import into an older, longer window */
		end = a->created;
	for (unsigned i = 0; i < 16; i++)
		if (fs->kwcache[i].start == a->period &&
		    fs->kwcache[i].end >= end &&
		    strcmp(fs->kwcache[i].cls, a->class) == 0)
			return 0;
	rc = rfs_cat_keywin_touch(fs->st->cat, a->class, a->period, end);
	if (rc == 0) {
		unsigned i = fs->kwnext++ % 16;

		fs->kw_new = 1;

		snprintf(fs->kwcache[i].cls, sizeof(fs->kwcache[i].cls), "%s",
		    a->class);
		fs->kwcache[i].start = a->period;
		fs->kwcache[i].end = end;
	}
	return rc;
}

void
rfs_fs_keywin_forget_locked(struct rfs_fs *fs)
{
	memset(fs->kwcache, 0, sizeof(fs->kwcache));
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

/*
 * Notes that the current operation changed inode INO in memory (see
 * rfs_fs.touched).  Without memory the note is lost and a rollback leaves
 * that entry as the operation made it: said in the log.  Caller holds
 * meta, inside the operation's transaction.
 */
void
fs_tx_touch(struct rfs_fs *fs, uint64_t ino)
{
	if (fs->ntouched == fs->ctouched) {
		size_t cap = fs->ctouched ? 2 * fs->ctouched : 8;
		uint64_t *t = reallocarray(fs->touched, cap, sizeof(*t));

		if (t == NULL) {
			rfs_err("inode %" PRIu64 ": out of memory noting a change"
			    " to undo", ino);
			return;
		}
		fs->touched = t;
		fs->ctouched = cap;
	}
	fs->touched[fs->ntouched++] = ino;
}

static void
reload_touched(struct rfs_fs *fs)
{
	struct inode *in;

	for (size_t i = 0; i < fs->ntouched; i++)
		if (fs_iget(fs, fs->touched[i], &in) == 0) {
			fs_reload(fs, in);
			fs_iput_maybe(fs, in);
		}
}

/* Ends an operation's transaction (savepoint): commit if RC is 0. */
int
fs_finish_tx(struct rfs_fs *fs, int rc)
{
	if (rc != 0)
		rfs_cat_rollback(fs->st->cat);
	else
		rc = rfs_cat_commit(fs->st->cat);
	if (rc != 0) {
		/* The in-memory state goes back with the catalog. */
		fs->kw_new = 0;
		rfs_fs_keywin_forget_locked(fs);
		reload_touched(fs);
	} else if (fs->kw_new) {
		(void)kw_flush(fs);   /* a failed flush is retried by the committer */
	}
	fs->ntouched = 0;
	if (fs->events_touched) {
		fs->events_touched = 0;
		if (fs_events_reload(fs) != 0)
			rfs_err("cannot reload the events from the catalog");
	}
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
		if ((rc = fs_finish_tx(fs, rc)) == 0)
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
	rc = fs_keywin_note(fs, a);
	if (rc == 0 && keyout != NULL) {
		*keyout = fk;
		fk = NULL;
	}
out:
	rfs_key_free(win);
	rfs_key_free(fk);
	return rc;
}

int
fs_file_key(struct rfs_fs *fs, const struct rfs_attr *a,
    struct rfs_key **out)
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
int
fs_make_node(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct inode *dir, const char *name, mode_t mode, dev_t rdev,
    int64_t now, struct inode **out, struct rfs_key **keyout)
{
	unsigned char h[RFS_HASH_BYTES], *sealed = NULL;
	const struct rfs_class *cls;
	struct rfs_attr a;
	struct inode *in;
	size_t sealedlen;
	int rc;

	if ((rc = fs_check_name(name)) != 0)
		return rc;
	/* Before anything changes: a failure here needs no undoing. */
	cls = rfs_retention_class(fs->pol, "default");
	if (S_ISREG(mode) && (rc = classify(fs, dir->ino, name, &cls)) != 0)
		return rc;
	fs_name_hash(fs, dir->ino, name, h);
	/* An expired or hidden file still holds the name until it is
	 * shredded: the new file takes the name, and the old one, if that
	 * was its last, is marked for shredding whatever later happens to
	 * its deadline (an event cleared, a longer retention). */
	if ((rc = fs_clear_hidden(fs, dir->ino, h, now, NULL)) != 0)
		return rc;
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
	if ((rc = fs_name_seal(fs, dir->ino, name, &sealed, &sealedlen)) != 0)
		return rc;
	fs_tx_touch(fs, dir->ino);    /* its nlink and times change below */
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
	if ((rc = fs_iget_new(fs, &a, &in)) != 0)
		return rc;
	*out = in;
	return 0;
}

int
fs_create_common(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    uint64_t parent, const char *name, mode_t mode, dev_t rdev,
    const char *target, struct rfs_entry *e, struct inode **inout,
    struct rfs_key **keyout)
{
	struct inode *dir, *in = NULL;
	int64_t now = now_of(fs);
	int rc;

	meta_lock(fs);
	if ((rc = fs_dir_get(fs, parent, &dir)) != 0)
		goto out;
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	rc = fs_make_node(fs, ctx, dir, name, mode, rdev, now, &in, keyout);
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
	rc = fs_finish_tx(fs, rc);
	if (rc != 0) {
		/* The new inode goes with the rolled-back rows (the parent was
		 * reloaded by fs_finish_tx: fs_make_node noted it). */
		if (in != NULL) {
			fs_itab_remove(fs, in);
			fs_ifree(in);
		}
		goto out;
	}
	in->nlookup++;
	fs_fill_entry(fs, in, now, e);
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
	return fs_create_common(fs, ctx, parent, name, mode, rdev, NULL, e, NULL,
	    NULL);
}

int
rfs_fs_mkdir(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, mode_t mode, struct rfs_entry *e)
{
	return fs_create_common(fs, ctx, parent, name, S_IFDIR | (mode & 07777),
	    0, NULL, e, NULL, NULL);
}

int
rfs_fs_symlink(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t parent,
    const char *name, const char *target, struct rfs_entry *e)
{
	if (strlen(target) >= PATH_MAX)
		return -ENAMETOOLONG;
	return fs_create_common(fs, ctx, parent, name, S_IFLNK | 0777, 0, target,
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

