/*
 * fuse_ops.c - low-level FUSE callbacks (fuse_ops.h).
 *
 * Each callback unpacks the request, calls the matching rfs_fs_* function
 * and replies.  Policy decisions live in fs.c; this file only knows FUSE.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/cpu.h"
#include "rfs/fuse_ops.h"
#include "rfs/log.h"

static struct rfs_fuse *
rf_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct rfs_fs *
fs_of(fuse_req_t req)
{
	return rf_of(req)->fs;
}

static void
ctx_of(fuse_req_t req, struct rfs_ctx *c)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);

	c->uid = fc->uid;
	c->gid = fc->gid;
	c->pid = fc->pid;
}

static struct rfs_handle *
handle_of(struct fuse_file_info *fi)
{
	return (struct rfs_handle *)(uintptr_t)fi->fh;
}

static void
entry_param(const struct rfs_entry *e, struct fuse_entry_param *p)
{
	memset(p, 0, sizeof(*p));
	p->ino = e->ino;
	p->attr = e->st;
	p->attr_timeout = e->attr_timeout;
	p->entry_timeout = e->timeout;
}

static void
reply_entry(fuse_req_t req, int rc, const struct rfs_entry *e)
{
	struct rfs_fs *fs = fs_of(req);     /* req is freed by the reply */
	struct fuse_entry_param p;

	if (rc != 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	entry_param(e, &p);
	if (fuse_reply_entry(req, &p) == -ENOENT)
		rfs_fs_forget(fs, e->ino, 1);
}

static void
op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct rfs_fuse *rf = userdata;

	if (!rf->readonly && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		rf->writeback = 1;
	}
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Locks are local to this host: the kernel handles them. */
	conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	conn->time_gran = 1;
}

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rfs_entry e;
	int rc = rfs_fs_lookup(fs_of(req), parent, name, &e);

	if (rc == -ENOENT) {
		/* Negative entries are not cached: a restore from the trash
		 * must show at once. */
		fuse_reply_err(req, ENOENT);
		return;
	}
	reply_entry(req, rc, &e);
}

static void
op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	rfs_fs_forget(fs_of(req), ino, n);
	fuse_reply_none(req);
}

static void
op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		rfs_fs_forget(fs_of(req), f[i].ino, f[i].nlookup);
	fuse_reply_none(req);
}

static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	double t;
	int rc = rfs_fs_getattr(fs_of(req), ino, &st, &t);

	if (rc != 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, t);
}

static void
op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct rfs_ctx c;
	struct stat out;
	double t;
	int mask = 0, rc;

	ctx_of(req, &c);
	if (to_set & FUSE_SET_ATTR_MODE) mask |= RFS_SET_MODE;
	if (to_set & FUSE_SET_ATTR_UID) mask |= RFS_SET_UID;
	if (to_set & FUSE_SET_ATTR_GID) mask |= RFS_SET_GID;
	if (to_set & FUSE_SET_ATTR_SIZE) mask |= RFS_SET_SIZE;
	if (to_set & FUSE_SET_ATTR_ATIME) mask |= RFS_SET_ATIME;
	if (to_set & FUSE_SET_ATTR_MTIME) mask |= RFS_SET_MTIME;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) mask |= RFS_SET_ATIME_NOW;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) mask |= RFS_SET_MTIME_NOW;
	if (to_set & FUSE_SET_ATTR_CTIME) mask |= RFS_SET_CTIME;
	if (to_set & (FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID |
	    FUSE_SET_ATTR_KILL_PRIV))
		mask |= RFS_SET_KILLPRIV;
	rc = rfs_fs_setattr(fs_of(req), &c, ino, fi ? handle_of(fi) : NULL,
	    attr, mask, &out, &t);
	if (rc != 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &out, t);
}

static void
op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	int rc = rfs_fs_readlink(fs_of(req), ino, buf, sizeof(buf));

	if (rc != 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, buf);
}

static void
op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev)
{
	struct rfs_ctx c;
	struct rfs_entry e;

	ctx_of(req, &c);
	reply_entry(req, rfs_fs_mknod(fs_of(req), &c, parent, name, mode, rdev,
	    &e), &e);
}

static void
op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct rfs_ctx c;
	struct rfs_entry e;

	ctx_of(req, &c);
	reply_entry(req, rfs_fs_mkdir(fs_of(req), &c, parent, name, mode, &e),
	    &e);
}

static void
op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
    const char *name)
{
	struct rfs_ctx c;
	struct rfs_entry e;

	ctx_of(req, &c);
	reply_entry(req, rfs_fs_symlink(fs_of(req), &c, parent, name, link,
	    &e), &e);
}

static void
op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	struct rfs_ctx c;
	struct rfs_entry e;

	ctx_of(req, &c);
	reply_entry(req, rfs_fs_link(fs_of(req), &c, ino, parent, name, &e),
	    &e);
}

static void
op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rfs_ctx c;

	ctx_of(req, &c);
	fuse_reply_err(req, -rfs_fs_unlink(fs_of(req), &c, parent, name));
}

static void
op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rfs_ctx c;

	ctx_of(req, &c);
	fuse_reply_err(req, -rfs_fs_rmdir(fs_of(req), &c, parent, name));
}

static void
op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct rfs_ctx c;

	ctx_of(req, &c);
	fuse_reply_err(req, -rfs_fs_rename(fs_of(req), &c, parent, name,
	    newparent, newname, flags));
}

/*
 * With the writeback cache the kernel applies O_APPEND itself and sends
 * page-sized writes at explicit offsets; applying it again here would
 * corrupt files (also for O_CREAT|O_APPEND, so create drops it too).
 */
static int
open_flags(fuse_req_t req, int flags)
{
	if (rf_of(req)->writeback)
		flags &= ~O_APPEND;
	return flags;
}

static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rfs_fs *fs = fs_of(req);
	struct rfs_fuse *rf = rf_of(req);     /* req is gone after the reply */
	struct rfs_handle *h;
	struct rfs_ctx c;
	int rc, killed = 0;

	ctx_of(req, &c);
	rc = rfs_fs_open(fs, &c, ino, open_flags(req, fi->flags), &h, &killed);
	if (rc != 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	/* Only this daemon changes contents: the page cache stays valid. */
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		rfs_fs_release(fs, h);
	else if (killed)
		(void)fuse_lowlevel_notify_inval_inode(rf->se, ino, -1, 0);
}

static void
op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct rfs_fs *fs = fs_of(req);
	struct fuse_entry_param p;
	struct rfs_handle *h;
	struct rfs_entry e;
	struct rfs_ctx c;
	int rc;

	ctx_of(req, &c);
	rc = rfs_fs_create(fs, &c, parent, name, mode,
	    open_flags(req, fi->flags), &e, &h);
	if (rc != 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1;
	entry_param(&e, &p);
	if (fuse_reply_create(req, &p, fi) == -ENOENT) {
		rfs_fs_release(fs, h);
		rfs_fs_forget(fs, e.ino, 1);
	}
}

static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	ssize_t n;

	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = rfs_fs_read(fs_of(req), handle_of(fi), buf, size, (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void
op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct rfs_fuse *rf = rf_of(req);     /* req is gone after the reply */
	struct rfs_ctx c;
	int killed = 0;
	ssize_t n;

	ctx_of(req, &c);
	n = rfs_fs_write(fs_of(req), &c, handle_of(fi), buf, size,
	    (uint64_t)off, &killed);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	/* Attributes only (offset < 0): no page lock, safe from here. */
	if (killed)
		(void)fuse_lowlevel_notify_inval_inode(rf->se, ino, -1, 0);
}

static void
op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -rfs_fs_flush(fs_of(req), handle_of(fi)));
}

static void
op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -rfs_fs_release(fs_of(req), handle_of(fi)));
}

static void
op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	fuse_reply_err(req, -rfs_fs_fsync(fs_of(req), handle_of(fi),
	    datasync));
}

struct dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	int plus;
};

static int
dir_fill(void *ctx, const char *name, const struct rfs_entry *e, int64_t next)
{
	struct dirbuf *d = ctx;
	size_t n;

	if (d->plus) {
		struct fuse_entry_param p;

		entry_param(e, &p);
		n = fuse_add_direntry_plus(d->req, d->buf + d->used,
		    d->size - d->used, name, &p, next);
	} else {
		n = fuse_add_direntry(d->req, d->buf + d->used,
		    d->size - d->used, name, &e->st, next);
	}
	if (n > d->size - d->used)
		return 1;
	d->used += n;
	return 0;
}

static void
readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    int plus)
{
	struct dirbuf d = { .req = req, .size = size, .plus = plus };
	int rc;

	d.buf = malloc(size ? size : 1);
	if (d.buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = rfs_fs_readdir(fs_of(req), ino, off, plus, dir_fill, &d);
	if (rc != 0 && d.used == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, 0);
}

static void
op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, 1);
}

static void
op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	fuse_reply_err(req, -rfs_fs_fsyncdir(fs_of(req)));
}

static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int rc = rfs_fs_statfs(fs_of(req), &sv);

	if (rc != 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_statfs(req, &sv);
}

static void
op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
    const char *value, size_t size, int flags)
{
	struct rfs_ctx c;

	ctx_of(req, &c);
	fuse_reply_err(req, -rfs_fs_setxattr(fs_of(req), &c, ino, name, value,
	    size, flags));
}

static void
op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *buf = NULL;
	ssize_t n;

	if (size > 0 && (buf = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = rfs_fs_getxattr(fs_of(req), ino, name, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void
op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct rfs_ctx c;
	char *buf = NULL;
	ssize_t n;

	if (size > 0 && (buf = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ctx_of(req, &c);
	n = rfs_fs_listxattr(fs_of(req), &c, ino, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void
op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct rfs_ctx c;

	ctx_of(req, &c);
	fuse_reply_err(req, -rfs_fs_removexattr(fs_of(req), &c, ino, name));
}

static void
op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
    struct fuse_file_info *fi)
{
	struct rfs_fuse *rf = rf_of(req);     /* req is gone after the reply */
	struct rfs_ctx c;
	int killed = 0;

	ctx_of(req, &c);
	fuse_reply_err(req, -rfs_fs_fallocate(fs_of(req), &c, handle_of(fi),
	    mode, (uint64_t)off, (uint64_t)len, &killed));
	if (killed)
		(void)fuse_lowlevel_notify_inval_inode(rf->se, ino, -1, 0);
}

static void
op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
    struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
    struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct rfs_fuse *rf = rf_of(req);     /* req is gone after the reply */
	struct rfs_ctx c;
	int killed = 0;
	ssize_t n;

	/* The reply's count is 32 bits (fuse_write_out.size): a longer copy
	 * is answered short, as copy_file_range(2) allows, never with a count
	 * cut modulo 2^32. */
	if (len > UINT32_MAX)
		len = UINT32_MAX & ~(size_t)(RFS_BLOCK - 1);
	ctx_of(req, &c);
	n = rfs_fs_copy_range(fs_of(req), &c, handle_of(fi_in),
	    (uint64_t)off_in, handle_of(fi_out), (uint64_t)off_out, len,
	    &killed);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	if (killed)
		(void)fuse_lowlevel_notify_inval_inode(rf->se, ino_out, -1, 0);
}

/*
 * No lseek: SEEK_DATA and SEEK_HOLE get the kernel's generic answer (the
 * whole file is data).  The kernel sends FUSE_LSEEK without writing back
 * dirty pages first, so with the writeback cache a range that is a hole in
 * the object may hold data still in the page cache; reporting it as a hole
 * would make `cp --sparse` skip data.  The generic answer is never wrong.
 */
static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
	.copy_file_range = op_copy_file_range,
};

const struct fuse_lowlevel_ops *
rfs_fuse_ops(void)
{
	return &ops;
}


/*
 * HANDLE_KILLPRIV_V2.  A filesystem with getxattr receives a GETXATTR
 * "security.capability" before every write(2) unless it tells the kernel
 * it clears setuid/setgid itself (measured: appends 20x slower).  libfuse
 * 3.14 has no capability bit for the flag, so the session's I/O is wrapped:
 * the INIT request is noted on the way in and the flag is added to its
 * reply on the way out when the kernel offered it.  rfs_fs_write and
 * rfs_fs_setattr clear the bits as POSIX requires.
 */
#include <linux/fuse.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

static uint64_t init_unique;
static int init_offers_killpriv;

/*
 * Idle workers wait in poll(2), not in a blocking read(2), on a
 * non-blocking /dev/fuse.  A blocking read waits exclusively and the
 * kernel hands each request to the longest-waiting worker, usually one
 * whose CPU is idle, so every request paid a cross-CPU wake-up (about
 * 20 us on a 2-core VM).  Pollers are all woken and the first to run,
 * typically on the requester's own CPU, takes the request: a GETATTR round
 * trip fell from 17-20 us to 6-12 us.  The others read EAGAIN and wait
 * again.
 */
static ssize_t
fuse_read(int fd, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	/* A signal (EINTR) goes back to libfuse, which checks for exit. */
	for (;;) {
		rfs_cpu_worker_wait();
		if ((n = read(fd, buf, len)) >= 0 || errno != EAGAIN)
			return n;
		if (poll(&p, 1, -1) < 0)
			return -1;
	}
}

static ssize_t
kp_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = fuse_read(fd, buf, len);
	struct fuse_in_header h;
	struct fuse_init_in in;

	if (n >= (ssize_t)(sizeof(h) + sizeof(in))) {
		memcpy(&h, buf, sizeof(h));
		if (h.opcode == FUSE_INIT) {
			memcpy(&in, (char *)buf + sizeof(h), sizeof(in));
			init_unique = h.unique;
			init_offers_killpriv =
			    (in.flags & FUSE_HANDLE_KILLPRIV_V2) != 0;
		}
	}
	return n;
}

static ssize_t
kp_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fuse_out_header h;
	struct fuse_init_out out;

	if (init_unique != 0 && count >= 2 && iov[0].iov_len >= sizeof(h)) {
		memcpy(&h, iov[0].iov_base, sizeof(h));
		if (h.unique == init_unique && h.error == 0 &&
		    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) +
		    sizeof(out.flags)) {
			if (init_offers_killpriv) {
				memcpy(&out.flags, (char *)iov[1].iov_base +
				    offsetof(struct fuse_init_out, flags),
				    sizeof(out.flags));
				out.flags |= FUSE_HANDLE_KILLPRIV_V2;
				memcpy((char *)iov[1].iov_base +
				    offsetof(struct fuse_init_out, flags),
				    &out.flags, sizeof(out.flags));
			}
			init_unique = 0;
		}
	}
	return writev(fd, iov, count);
}

int
rfs_fuse_custom_io(struct rfs_fuse *rf)
{
	static const struct fuse_custom_io io = {
		.read = kp_read,
		.writev = kp_writev,
	};

	int fd = fuse_session_fd(rf->se);
	int fl = fcntl(fd, F_GETFL), rc;

	/* Non-blocking only once our reads are the ones in use: libfuse's
	 * own read would take EAGAIN for the end of the session. */
	if (fl < 0)
		return -errno;
	if ((rc = fuse_session_custom_io(rf->se, &io, fd)) != 0)
		return rc;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}
