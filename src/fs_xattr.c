/*
 * fs_xattr.c - extended attributes, stored sealed in the catalog, and
 * the user.retention.* attributes that read and set a file's class and
 * deadline (fs.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "rfs/audit.h"
#include "rfs/keystore.h"
#include "rfs/log.h"
#include "rfs/retention.h"
#include "fs_impl.h"

#define XATTR_MAX 65536

#define RETENTION_PREFIX "user.retention."

static void
xattr_ad(uint64_t ino, const unsigned char *h,
    unsigned char ad[8 + RFS_HASH_BYTES])
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
		    fs_event_of(fs, &in->a));
		rfs_time_format(in->a.hold ? INT64_MAX : d, buf, sizeof(buf));
	} else if (strcmp(attr, "hold") == 0)
		snprintf(buf, sizeof(buf), "%d", in->a.hold ? 1 : 0);
	else if (strcmp(attr, "expired") == 0 && fs->recover)
		snprintf(buf, sizeof(buf), "%d", rfs_retention_visible(fs->pol,
		    &in->a, fs_event_of(fs, &in->a), now_of(fs)) ? 0 : 1);
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
int
fs_retag(struct rfs_fs *fs, struct inode *in, const char *cls,
    int64_t created, const char *op, uint32_t uid, int64_t now)
{
	struct rfs_attr a = in->a;
	struct rfs_key *fk = NULL, *win = NULL;
	int rc;

	if ((rc = fs_file_key(fs, &in->a, &fk)) != 0)
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
	rc = fs_keywin_note(fs, &a);
	a.ctime = now;
	if (rc == 0)
		rc = rfs_cat_inode_put(fs->st->cat, &a);
	if (rc == 0)
		rc = rfs_audit(fs->st, now, op, a.ino, a.class, uid,
		    strcmp(in->a.class, a.class) ? in->a.class : NULL);
	if ((rc = fs_finish_tx(fs, rc)) == 0)
		in->a = a;
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
		return fs_retag(fs, in, v, in->a.created, "class", ctx->uid, now);
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
		return fs_hold_inode(fs, in, hold, ctx->uid, now);
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
rfs_fs_xattr_kept(const char *name)
{
	return !xattr_unsupported(name) &&
	    strncmp(name, RETENTION_PREFIX, strlen(RETENTION_PREFIX)) != 0;
}

/*
 * The inode INO for an xattr call, with a reference in *OUT (NULL on
 * error).  A file no longer visible (expired, trashed) is stale unless it
 * is open, as for every call by inode number.  Caller holds meta.
 */
static int
xattr_inode(struct rfs_fs *fs, uint64_t ino, int64_t now, struct inode **out)
{
	struct inode *in;
	int rc;

	*out = NULL;
	if ((rc = fs_iget(fs, ino, &in)) != 0)
		return rc;
	if (!fs_visible(fs, &in->a, now) && in->nopen == 0) {
		fs_iput_maybe(fs, in);
		return -ESTALE;
	}
	*out = in;
	return 0;
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
	if ((rc = xattr_inode(fs, ino, now, &in)) != 0)
		goto out;
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
		fs_iput_maybe(fs, in);
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
	if ((rc = xattr_inode(fs, ino, now, &in)) != 0)
		goto out;
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
		fs_iput_maybe(fs, in);
	meta_unlock(fs);
	return rc;
}

struct xlist {
	struct rfs_fs *fs;
	uint64_t ino;
	char *buf;
	size_t len, used;
	int trusted;                  /* list trusted.* names too */
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
	if (!x->trusted && strncmp((char *)name, "trusted.", 8) == 0) {
		free(name);
		return 0;
	}
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
rfs_fs_listxattr(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    char *buf, size_t len)
{
	struct xlist x = { .fs = fs, .ino = ino, .buf = buf, .len = len,
	    .trusted = ctx->uid == 0 };
	struct inode *in;
	int rc;

	meta_lock(fs);
	if ((rc = xattr_inode(fs, ino, now_of(fs), &in)) == 0) {
		rc = rfs_cat_xattr_names(fs->st->cat, ino, xlist_one, &x);
		fs_iput_maybe(fs, in);
	}
	meta_unlock(fs);
	return rc != 0 ? rc : (ssize_t)x.used;
}

int
rfs_fs_removexattr(struct rfs_fs *fs, const struct rfs_ctx *ctx, uint64_t ino,
    const char *name)
{
	unsigned char h[RFS_HASH_BYTES];
	int64_t now = now_of(fs);
	struct inode *in;
	int rc;

	if (strncmp(name, RETENTION_PREFIX, strlen(RETENTION_PREFIX)) == 0)
		return -EPERM;
	if (xattr_unsupported(name))
		return -EOPNOTSUPP;
	rfs_name_hash(fs->st->k_hash, ino, name, strlen(name), h);
	meta_lock(fs);
	if ((rc = xattr_inode(fs, ino, now, &in)) != 0)
		goto out;
	/* A removal changes the inode, as a set does: ctime moves. */
	if ((rc = rfs_cat_xattr_remove(fs->st->cat, ino, h)) == 0) {
		in->a.ctime = now;
		rc = rfs_cat_inode_put(fs->st->cat, &in->a);
	}
	fs_iput_maybe(fs, in);
out:
	meta_unlock(fs);
	return rc;
}

