/*
 * fs_admin.c - what the control channel and the offline tools do to
 * files: holds, destruction (shredding), the trash's restore, and
 * setting a creation time on import (fs.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/audit.h"
#include "rfs/retention.h"
#include "fs_impl.h"

/*
 * Sets or clears IN's hold, on the inode the caller already has (getting
 * it again here and putting it would free it under a caller whose inode
 * nothing else pins).  Caller holds meta.
 */
int
fs_hold_inode(struct rfs_fs *fs, struct inode *in, int hold, uint32_t uid,
    int64_t now)
{
	int rc;

	if (!S_ISREG(in->a.mode))
		return -EINVAL;
	if ((rc = rfs_cat_begin(fs->st->cat)) == 0) {
		in->a.hold = hold;
		rc = rfs_cat_inode_put(fs->st->cat, &in->a);
		if (rc == 0)
			rc = rfs_audit(fs->st, now, hold ? "hold-set" :
			    "hold-clear", in->ino, in->a.class, uid, NULL);
		if ((rc = fs_finish_tx(fs, rc)) != 0)
			fs_reload(fs, in);
	}
	return rc;
}

int
rfs_fs_hold_locked(struct rfs_fs *fs, uint64_t ino, int hold, uint32_t uid,
    int64_t now)
{
	struct inode *in;
	int rc;

	if ((rc = fs_iget(fs, ino, &in)) != 0)
		return rc;
	rc = fs_hold_inode(fs, in, hold, uid, now);
	fs_iput_maybe(fs, in);
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
	return fs_event_for(fs, ino);
}

int64_t
rfs_fs_event_of_locked(struct rfs_fs *fs, const struct rfs_attr *a)
{
	return fs_event_of(fs, a);
}

int
rfs_fs_events_reload_locked(struct rfs_fs *fs)
{
	return fs_events_reload(fs);
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
	if ((rc = fs_iget(fs, ino, &in)) != 0) {
		meta_unlock(fs);
		return rc;
	}
	if (in->nopen > 0) {
		fs_iput_maybe(fs, in);
		meta_unlock(fs);
		return -EBUSY;
	}
	/* The scan that chose INO ran without the lock: a restore, a hold
	 * or a policy reload may have changed its fate since. */
	if (in->a.state != state || in->a.hold || (only_due &&
	    !rfs_retention_due(fs->pol, &in->a, fs_event_of(fs, &in->a), now))) {
		fs_iput_maybe(fs, in);
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

			rc = fs_name_open(fs, parent, blob, len, &name);
			free(blob);
			if (rc != 0)
				break;
			fs_name_hash(fs, parent, name, h);
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
		rc = fs_finish_tx(fs, rc);
	}
	pthread_rwlock_wrlock(&fs->attrs);
	if (rc == 0) {
		in->a.state = RFS_SHRED;
		in->a.has_key = 0;
		in->a.nlink = 0;
		in->dirty = 0;
	}
	fs_iput_maybe(fs, in);
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
		rc = fs_find(fs, ino, part, now, &in);
		if (rc == -ENOENT) {
			if ((rc = fs_dir_get(fs, ino, &dir)) != 0)
				return rc;
			rc = fs_make_node(fs, &root, dir, part, S_IFDIR | 0755, 0,
			    now, &in, NULL);
		}
		if (rc != 0)
			return rc;
		if (!S_ISDIR(in->a.mode)) {
			fs_iput_maybe(fs, in);
			return -ENOTDIR;
		}
		ino = in->ino;
		fs_iput_maybe(fs, in);
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

/*
 * restore --force: the file found at the restore path goes the way an
 * unlink would send it (to the trash, and only if its class allows
 * deleting it yet).  A directory there is refused: replacing it would
 * orphan whatever it holds.  Caller holds meta and a transaction.
 */
static int
replace_existing(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct inode *dir, struct inode *old, const char *name,
    const unsigned char *h, int64_t now)
{
	int rc;

	if (S_ISDIR(old->a.mode))
		return -EISDIR;
	if (S_ISREG(old->a.mode) && old->a.nlink <= 1 &&
	    (rc = rfs_retention_may_destroy(fs->pol, &old->a, now)) != 0)
		return rc;
	if ((rc = rfs_cat_dirent_delete(fs->st->cat, dir->ino, h)) != 0)
		return rc;
	return fs_drop_link(fs, ctx, dir, old, name, now);
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
	if ((rc = fs_iget(fs, ino, &in)) != 0) {
		in = NULL;
		goto out;
	}
	if (in->a.state != RFS_TRASH) {
		rc = -ENOENT;
		goto out;
	}
	/* Past its purge deadline a file is gone, shredded or not yet. */
	if (rfs_retention_due(fs->pol, &in->a, fs_event_of(fs, &in->a), now)) {
		rc = -ETIME;
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
	if ((rc = fs_check_name(base)) != 0 || strcmp(base, "..") == 0 ||
	    strcmp(base, ".") == 0) {
		rc = rc ? rc : -EINVAL;
		goto out;
	}
	if ((rc = rfs_cat_begin(fs->st->cat)) != 0)
		goto out;
	rc = mkdirs(fs, dirpart, &dino, now);
	if (rc == 0)
		rc = fs_dir_get(fs, dino, &dir);
	if (rc == 0) {
		fs_name_hash(fs, dino, base, h);
		rc = fs_clear_hidden(fs, dino, h, now, &old);
		if (rc == -EEXIST && force)
			rc = replace_existing(fs, &ctx, dir, old, base, h, now);
		if (old != NULL) {
			fs_iput_maybe(fs, old);
			old = NULL;
		}
	}
	if (rc == 0)
		rc = fs_add_entry(fs, dino, base, ino);
	if (rc == 0) {
		dir->a.mtime = dir->a.ctime = now;
		rc = rfs_cat_inode_put(fs->st->cat, &dir->a);
	}
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
	if ((rc = fs_finish_tx(fs, rc)) != 0) {
		fs_reload(fs, in);
		if (dir != NULL)
			fs_reload(fs, dir);
	} else {
		snprintf(restored, restoredlen, "%s%s%s", dirpart,
		    dirpart[0] ? "/" : "", base);
	}
out:
	if (in != NULL)
		fs_iput_maybe(fs, in);
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
	if ((rc = fs_iget(fs, ino, &in)) != 0) {
		meta_unlock(fs);
		return rc;
	}
	if (!S_ISREG(in->a.mode) || in->a.state != RFS_LIVE)
		rc = -EINVAL;
	else
		rc = fs_retag(fs, in, in->a.class, created, "import", uid, now);
	fs_iput_maybe(fs, in);
	meta_unlock(fs);
	return rc;
}
