/*
 * fs_file.c - open files: reading, writing in write sessions, flush,
 * fsync, release, fallocate, copy_file_range and setattr (fs.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/audit.h"
#include "rfs/log.h"
#include "rfs/retention.h"
#include "fs_impl.h"

#define SET_TIMES (RFS_SET_ATIME | RFS_SET_MTIME | RFS_SET_ATIME_NOW | \
	RFS_SET_MTIME_NOW | RFS_SET_CTIME)

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
	uint64_t len;
	int rc;

	if (a->writing || rfs_attr_fresh(a))
		return 0;
	if ((rc = rfs_obj_is_committed(in->obj, a->objlen, a->tail, &len)) <= 0)
		return rc;
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
 * size must be read from its object at every lookup (fs_reconcile_size), an
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
	if (key == NULL && (rc = fs_file_key(fs, &a, &key)) != 0)
		return rc;
	rc = rfs_obj_open(fs->st->objfd, in->ino, 1, key, a.size, &in->obj);
	if (rc == 0)
		in->obj->ulog = fs->st->ulog;
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
int
fs_atime_due(struct rfs_fs *fs, const struct inode *in, int64_t now)
{
	const struct rfs_attr *a = &in->a;

	return !fs->noatime && !fs->st->readonly && now > a->atime &&
	    (a->atime <= a->mtime || a->atime <= a->ctime ||
	    now - a->atime >= 24 * 3600 * RFS_NSEC);
}

/*
 * We negotiated HANDLE_KILLPRIV_V2, so the kernel leaves to us what
 * file_remove_privs does on ext4: a change of a file's contents (write,
 * truncate, fallocate, copy_file_range) by anyone but root, and any chown,
 * clear setuid, and setgid when the file is group-executable (without
 * group execute, setgid marks mandatory locking and stays).  Returns
 * whether the mode changed.  Caller holds meta.
 */
static int
kill_priv(struct inode *in)
{
	mode_t old = in->a.mode;

	if (S_ISDIR(old))
		return 0;
	in->a.mode &= ~(mode_t)S_ISUID;
	if (in->a.mode & S_IXGRP)
		in->a.mode &= ~(mode_t)S_ISGID;
	return old != in->a.mode;
}

/* kill_priv for a change of contents by CTX's caller (NULL: the daemon's
 * own, which judges nobody). */
static int
kill_priv_by(struct inode *in, const struct rfs_ctx *ctx)
{
	return ctx != NULL && ctx->uid != 0 && kill_priv(in);
}

/*
 * Drops one open of IN: a release, or an open that failed after pinning
 * IN (FORGET: and the lookup a create counted, whose entry the kernel
 * never got).  The open count drops in the same hold that may free IN:
 * until then the open pins it (see itab_trim).  The last one out takes
 * the object, which nothing else uses then, so that neither its
 * descriptor nor the file key outlives the last handle.  Returns whether
 * the file is past its deadline now that it is closed (an open file
 * outlives its deadline only until then).
 */
static int
unpin_open(struct rfs_fs *fs, struct inode *in, int forget)
{
	struct rfs_obj *obj = NULL;
	int due = 0;

	meta_lock(fs);
	if (--in->nopen == 0) {
		obj = in->obj;
		in->obj = NULL;
		due = fs->due_hook != NULL && !in->a.hold &&
		    rfs_retention_due(fs->pol, &in->a, fs_event_of(fs, &in->a),
		    now_of(fs));
	}
	if (forget && in->nlookup > 0)
		in->nlookup--;
	fs_iput_maybe(fs, in);
	meta_unlock(fs);
	rfs_obj_close(obj);
	return due;
}

int
rfs_fs_open(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    int flags, struct rfs_handle **hp, int *killed)
{
	struct inode *in = NULL;
	int64_t now = now_of(fs);
	int rc, released = 0;

	meta_lock(fs);
	rc = fs_iget(fs, ino, &in);
	if (rc != 0)
		in = NULL;
	if (rc == 0 && !fs_visible(fs, &in->a, now) && in->nopen == 0)
		rc = -ESTALE;
	if (rc == 0 && !S_ISREG(in->a.mode))
		rc = -EINVAL;
	if (rc == 0 && (flags & O_TRUNC) && in->a.size > 0)
		rc = rfs_retention_may_destroy(fs->pol, &in->a, now);
	if (rc == 0) {
		in->nopen++;
		if ((flags & O_ACCMODE) != O_WRONLY && !(flags & O_NOATIME) &&
		    fs_atime_due(fs, in, now)) {
			in->a.atime = now;
			in->dirty = 1;
		}
	} else if (in != NULL) {
		fs_iput_maybe(fs, in);
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
		/* Truncated inside OPEN (atomic O_TRUNC): no SETATTR comes
		 * with the kernel's kill flag, and the kernel keeps its cached
		 * mode: *KILLED asks the caller to tell it. */
		if (kill_priv_by(in, ctx) && killed != NULL)
			*killed = 1;
		in->dirty = 1;
		meta_unlock(fs);
		rc = persist(fs, in, 1);
	}
	in_unlock(in);
	if (released)
		rfs_store_refill_reserve(fs->st);
	if (rc == 0 && (*hp = handle_new(in, flags)) == NULL)
		rc = -ENOMEM;
	if (rc != 0 && unpin_open(fs, in, 0))
		fs->due_hook();
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

	rc = fs_create_common(fs, ctx, parent, name, S_IFREG | (mode & 07777), 0,
	    NULL, e, &in, &key);
	if (rc != 0)
		return rc;
	in_lock(in);
	rc = obj_get(fs, in, key);
	in_unlock(in);
	if (rc == 0 && (*hp = handle_new(in, flags)) == NULL)
		rc = -ENOMEM;
	if (rc != 0 && unpin_open(fs, in, 1))
		fs->due_hook();
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
		/* (With the writeback cache the kernel writes setuid and
		 * setgid files through, so CTX is the writer's.) */
		if (kill_priv_by(in, ctx) && killed != NULL)
			*killed = 1;
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
	if (rc == 0 && in->obj != NULL &&
	    (rc = obj_sync_unlocked(in, datasync)) == 0)
		rfs_obj_drop_written(in->obj);
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
	int rc;

	in_lock(in);
	rc = persist(fs, in, 1);
	in_unlock(in);
	free(h);
	if (unpin_open(fs, in, 0))
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
rfs_fs_fallocate(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct rfs_handle *h, int mode, uint64_t off, uint64_t len, int *killed)
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
		if (kill_priv_by(in, ctx) && killed != NULL)
			*killed = 1;
		in->dirty = 1;
		meta_unlock(fs);
		rc = persist(fs, in, 1);
	}
out:
	in_unlock(in);
	return rc;
}

ssize_t
rfs_fs_copy_range(struct rfs_fs *fs, const struct rfs_ctx *ctx,
    struct rfs_handle *hin, uint64_t off_in, struct rfs_handle *hout,
    uint64_t off_out, size_t len, int *killed)
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
		w = rfs_fs_write(fs, ctx, hout, buf, (size_t)n,
		    off_out + done, killed);
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
	rc = fs_iget(fs, ino, &in);
	if (rc != 0)
		in = NULL;
	if (rc == 0 && in->nopen == 0 && !fs_visible(fs, &in->a, now)) {
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
			fs_stat_of(&in->a, out);
			*timeout = 0;
			fs_iput_maybe(fs, in);
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
	/* A chown, by whoever (root too, as on ext4), and the kernel's kill
	 * flag (a truncate or chown by a caller without CAP_FSETID). */
	if (!(mask & RFS_SET_MODE) &&
	    (mask & (RFS_SET_UID | RFS_SET_GID | RFS_SET_KILLPRIV)))
		(void)kill_priv(in);
	if (mask & RFS_SET_ATIME_NOW)
		in->a.atime = now;
	else if (mask & RFS_SET_ATIME)
		in->a.atime = fs_ns_of(&s->st_atim);
	if (mask & RFS_SET_MTIME_NOW)
		in->a.mtime = now;
	else if (mask & RFS_SET_MTIME)
		in->a.mtime = fs_ns_of(&s->st_mtim);
	if (mask & RFS_SET_CTIME)
		in->a.ctime = fs_ns_of(&s->st_ctim);
	else
		in->a.ctime = now;
	rc = rfs_cat_inode_put(fs->st->cat, &in->a);
	if (rc == 0) {
		in->dirty = 0;
		if (mask & ~SET_TIMES)
			in->sync_catalog = CAT_SYNC;
		else if (in->sync_catalog == CAT_NONE)
			in->sync_catalog = CAT_COMMIT;
		fs_stat_of(&in->a, out);
		*timeout = fs_timeout_of(fs, &in->a, now);
	}
	meta_unlock(fs);
out:
	meta_lock(fs);
	if (opened)
		in->nopen--;
	if (in != NULL)
		fs_iput_maybe(fs, in);
	meta_unlock(fs);
	if (released)
		rfs_store_refill_reserve(fs->st);
	if (rc == 0)
		fs_blocks_of(fs, out);
	return rc;
}

