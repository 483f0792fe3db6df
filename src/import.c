/*
 * import.c - an existing directory tree into an offline store (import.h).
 *
 * Everything goes through the fs.h calls, as if written through the
 * mount: the class comes from the same rules, keys, catalog rows and audit
 * records are made the same way.  Only the creation time differs: it is
 * set to the original mtime with rfs_fs_set_created, right after the file
 * is made and before any byte is written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "rfs/clock.h"
#include "rfs/import.h"
#include "rfs/policy.h"
#include "rfs/retention.h"
#include "rfs/store.h"

#define COPY_BUF (256 * 1024)
#define BAR_WIDTH 28

struct hardlink {
	dev_t dev;
	ino_t ino;
	uint64_t sino;           /* the inode in the store */
};

struct imp {
	struct rfs_fs *fs;
	const struct rfs_import_opts *o;
	struct rfs_import_stats *st;
	struct rfs_policy *pol;
	int64_t now;
	char *buf;
	struct hardlink *hl;
	size_t nhl, caphl;
	struct stat own[2];      /* the store's backing dir and key store */
	int nown;
	/* progress */
	uint64_t total_files, total_bytes, done_files, done_bytes;
	int64_t last_draw;
	int bar_shown;
};

/* ---- reporting --------------------------------------------------------- */


static void
human(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB",
	    "PiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

static void
bar_clear(struct imp *im)
{
	if (im->bar_shown) {
		fputs("\r\033[K", im->o->err);
		fflush(im->o->err);
		im->bar_shown = 0;
	}
}

static void
bar_draw(struct imp *im, int force)
{
	char bar[BAR_WIDTH + 1], done[32], total[32];
	double frac;
	int64_t t;
	int i, fill;

	if (!im->o->progress)
		return;
	t = rfs_clock_mono() / 1000000;
	if (!force && im->bar_shown && t - im->last_draw < 100)
		return;
	im->last_draw = t;
	if (im->total_bytes > 0)
		frac = (double)im->done_bytes / (double)im->total_bytes;
	else if (im->total_files > 0)
		frac = (double)im->done_files / (double)im->total_files;
	else
		frac = 1;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * BAR_WIDTH);
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	human(im->done_bytes, done, sizeof(done));
	human(im->total_bytes, total, sizeof(total));
	fprintf(im->o->err, "\r[%s] %" PRIu64 "/%" PRIu64 " files, %s/%s\033[K",
	    bar, im->done_files, im->total_files, done, total);
	fflush(im->o->err);
	im->bar_shown = 1;
}

static void imp_report(struct imp *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void imp_error(struct imp *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A line on OUT (skipped files). */
static void
imp_report(struct imp *im, const char *fmt, ...)
{
	va_list ap;

	bar_clear(im);
	va_start(ap, fmt);
	vfprintf(im->o->out, fmt, ap);
	va_end(ap);
	fputc('\n', im->o->out);
	fflush(im->o->out);
}

/* An error on ERR; makes the exit status 1. */
static void
imp_error(struct imp *im, const char *fmt, ...)
{
	va_list ap;

	bar_clear(im);
	im->st->errors++;
	fputs("retentionctl: import: ", im->o->err);
	va_start(ap, fmt);
	vfprintf(im->o->err, fmt, ap);
	va_end(ap);
	fputc('\n', im->o->err);
	fflush(im->o->err);
}

/* ---- helpers ----------------------------------------------------------- */

static char *
join(const char *a, const char *b)
{
	char *s;

	if (a == NULL || a[0] == '\0')
		return strdup(b);
	if (asprintf(&s, "%s%s%s", a, a[strlen(a) - 1] == '/' ? "" : "/",
	    b) < 0)
		return NULL;
	return s;
}

static int64_t
ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * RFS_NSEC + ts->tv_nsec;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in directory DFD, sorted, without "." and "..". */
static int
list_names(int dfd, char ***out, size_t *nout)
{
	char **names = NULL, **nn;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if ((fd = dup(dfd)) < 0)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rewinddir(d);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nn = realloc(names, cap * sizeof(*nn))) == NULL) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		n++;
		errno = 0;
	}
	if (rc == 0 && errno != 0)
		rc = -errno;
	closedir(d);
	if (rc != 0) {
		names_free(names, n);
		return rc;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*nout = n;
	return 0;
}

static uint64_t
hl_find(struct imp *im, const struct stat *sb)
{
	for (size_t i = 0; i < im->nhl; i++)
		if (im->hl[i].dev == sb->st_dev && im->hl[i].ino == sb->st_ino)
			return im->hl[i].sino;
	return 0;
}

static void
hl_add(struct imp *im, const struct stat *sb, uint64_t sino)
{
	struct hardlink *n;

	if (im->nhl == im->caphl) {
		size_t cap = im->caphl ? im->caphl * 2 : 16;

		if ((n = realloc(im->hl, cap * sizeof(*n))) == NULL)
			return;      /* later links become copies */
		im->hl = n;
		im->caphl = cap;
	}
	im->hl[im->nhl].dev = sb->st_dev;
	im->hl[im->nhl].ino = sb->st_ino;
	im->hl[im->nhl].sino = sino;
	im->nhl++;
}

/* Copies SB's mode (unless NOMODE), owner, group and times to INO. */
static int
set_attrs(struct imp *im, uint64_t ino, struct rfs_handle *h,
    const struct stat *sb, int nomode)
{
	const struct rfs_ctx ctx = { .uid = 0, .gid = 0, .pid = getpid() };
	struct stat in = *sb, out;
	double timeout;
	int mask = RFS_SET_UID | RFS_SET_GID | RFS_SET_ATIME | RFS_SET_MTIME;

	if (!nomode)
		mask |= RFS_SET_MODE;
	return rfs_fs_setattr(im->fs, &ctx, ino, h, &in, mask, &out, &timeout);
}

/*
 * Copies the extended attributes of the open file FD to INO, those the
 * mount keeps (rfs_fs_xattr_kept: not ACLs or SELinux labels, and not
 * user.retention.*, which the import sets itself).  Returns 0, or -1
 * after reporting what could not be copied.
 */
static int
copy_xattrs(struct imp *im, int fd, uint64_t ino, const char *spath)
{
	const struct rfs_ctx ctx = { .uid = 0, .gid = 0, .pid = getpid() };
	char *names = NULL, *val = NULL;
	ssize_t nl, vl;
	int rc, bad = 0;

	nl = flistxattr(fd, NULL, 0);
	if (nl == 0 || (nl < 0 && errno == ENOTSUP))
		return 0;
	if (nl < 0 || (names = malloc((size_t)nl)) == NULL ||
	    (nl = flistxattr(fd, names, (size_t)nl)) < 0) {
		imp_error(im, "%s: cannot list its extended attributes: %s",
		    spath, strerror(errno));
		free(names);
		return -1;
	}
	for (char *n = names; n < names + nl; n += strlen(n) + 1) {
		if (!rfs_fs_xattr_kept(n))
			continue;
		free(val);
		val = NULL;
		if ((vl = fgetxattr(fd, n, NULL, 0)) < 0 ||
		    (val = malloc(vl > 0 ? (size_t)vl : 1)) == NULL ||
		    (vl = fgetxattr(fd, n, val, (size_t)vl)) < 0) {
			imp_error(im, "%s: cannot read extended attribute %s:"
			    " %s", spath, n, strerror(errno));
			bad = 1;
			continue;
		}
		rc = rfs_fs_setxattr(im->fs, &ctx, ino, n, val, (size_t)vl, 0);
		if (rc != 0) {
			imp_error(im, "%s: cannot copy extended attribute %s:"
			    " %s", spath, n, strerror(-rc));
			bad = 1;
		}
	}
	free(val);
	free(names);
	return bad ? -1 : 0;
}

static void
remove_source(struct imp *im, int dfd, const char *name, const char *spath,
    int dir)
{
	if (!im->o->remove_source)
		return;
	if (unlinkat(dfd, name, dir ? AT_REMOVEDIR : 0) == 0)
		return;
	/* A directory still holding skipped files stays, silently. */
	if (dir && (errno == ENOTEMPTY || errno == EEXIST))
		return;
	imp_error(im, "%s: imported, but cannot remove the original: %s", spath,
	    strerror(errno));
}

/* Is SB the store's backing directory or key store? */
static int
is_own(const struct imp *im, const struct stat *sb)
{
	for (int i = 0; i < im->nown; i++)
		if (sb->st_dev == im->own[i].st_dev &&
		    sb->st_ino == im->own[i].st_ino)
			return 1;
	return 0;
}

/* ---- counting (for the progress bar) ----------------------------------- */

static void
count_tree(struct imp *im, int dfd, int depth)
{
	char **names;
	size_t n;

	if (depth > 4096 || list_names(dfd, &names, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		int fd;

		if (fstatat(dfd, names[i], &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISREG(sb.st_mode)) {
			im->total_files++;
			im->total_bytes += (uint64_t)sb.st_size;
		} else if (S_ISDIR(sb.st_mode) && !is_own(im, &sb) &&
		    (fd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) >= 0) {
			count_tree(im, fd, depth + 1);
			close(fd);
		}
	}
	names_free(names, n);
}

/* ---- importing --------------------------------------------------------- */

static int walk(struct imp *im, int dfd, const char *spath, uint64_t dino,
    const char *drel, int depth);

/* Copies FD into H; returns the bytes copied or -errno (*READERR set
 * when reading FD failed). */
static int64_t
copy_data(struct imp *im, int fd, const struct rfs_ctx *ctx,
    struct rfs_handle *h, int *readerr)
{
	uint64_t off = 0;
	ssize_t n, w;

	for (;;) {
		n = pread(fd, im->buf, COPY_BUF, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*readerr = 1;
			return -errno;
		}
		if (n == 0)
			return (int64_t)off;
		for (ssize_t done = 0; done < n; done += w) {
			w = rfs_fs_write(im->fs, ctx, h, im->buf + done,
			    (size_t)(n - done), off + (uint64_t)done, NULL);
			if (w < 0)
				return w;
			if (w == 0)
				return -EIO;
		}
		off += (uint64_t)n;
		im->done_bytes += (uint64_t)n;
		bar_draw(im, 0);
	}
}

static void
import_file(struct imp *im, int dfd, const char *name, const char *spath,
    const struct stat *lsb, uint64_t dino, const char *drel)
{
	struct rfs_handle *h = NULL;
	const struct rfs_class *cls;
	struct rfs_entry e;
	struct rfs_attr a;
	struct rfs_ctx ctx;
	struct stat sb, after;
	uint64_t sino;
	int64_t created, ev, copied = -1;
	int fd, rc, readerr = 0, ok = 0;
	char *dpath = NULL;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC |
	    O_NONBLOCK);
	if (fd < 0) {
		imp_error(im, "%s: %s", spath, strerror(errno));
		goto done;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_ino != lsb->st_ino || sb.st_dev != lsb->st_dev) {
		imp_error(im, "%s: changed while being imported", spath);
		goto done;
	}
	ctx.uid = sb.st_uid;
	ctx.gid = sb.st_gid;
	ctx.pid = getpid();

	/* Another name of a file already imported: link it.  (Not by
	 * st_nlink: with --remove-source the first name is gone already.) */
	if ((sino = hl_find(im, &sb)) != 0) {
		rc = rfs_fs_link(im->fs, &ctx, sino, dino, name, &e);
		if (rc != 0) {
			imp_error(im, "%s: cannot link it in the store: %s",
			    spath, rc == -EEXIST ? "the name already exists" :
			    strerror(-rc));
			goto done;
		}
		rfs_fs_forget(im->fs, e.ino, 1);
		im->st->links++;
		im->done_bytes += (uint64_t)sb.st_size;
		close(fd);
		fd = -1;
		remove_source(im, dfd, name, spath, 0);
		goto done;
	}

	/* Its deadline, from the class the store will give it. */
	if ((dpath = join(drel, name)) == NULL) {
		imp_error(im, "%s: out of memory", spath);
		goto done;
	}
	created = ns_of(&sb.st_mtim);
	if (created > im->now)
		created = im->now;      /* a creation time is never ahead */
	cls = rfs_policy_classify(im->pol, dpath);
	memset(&a, 0, sizeof(a));
	snprintf(a.class, sizeof(a.class), "%s", cls->name);
	a.mode = sb.st_mode;
	a.created = created;
	a.state = RFS_LIVE;
	rfs_fs_lock(im->fs);
	ev = rfs_fs_event_for_locked(im->fs, dino);
	rfs_fs_unlock(im->fs);
	if (rfs_retention_deadline(im->pol, &a, ev) <= im->now) {
		imp_report(im, "skipped, already past its retention: %s",
		    spath);
		im->st->expired++;
		im->done_bytes += (uint64_t)sb.st_size;
		goto done;
	}

	rc = rfs_fs_create(im->fs, &ctx, dino, name, sb.st_mode & 07777,
	    O_WRONLY | O_CREAT | O_EXCL, &e, &h);
	if (rc != 0) {
		imp_error(im, "%s: cannot create %s in the store: %s", spath,
		    dpath, rc == -EEXIST ? "it already exists" :
		    strerror(-rc));
		im->done_bytes += (uint64_t)sb.st_size;
		goto done;
	}
	/* Before any byte is written: the key is re-wrapped for the window
	 * of the original time. */
	rc = rfs_fs_set_created(im->fs, e.ino, created, im->o->uid);
	if (rc != 0) {
		imp_error(im, "%s: cannot set the creation time of %s in the"
		    " store: %s; remove that empty file", spath, dpath,
		    strerror(-rc));
		im->done_bytes += (uint64_t)sb.st_size;
		goto release;
	}
	copied = copy_data(im, fd, &ctx, h, &readerr);
	if (copied < 0) {
		imp_error(im, "%s: %s %s; %s in the store is incomplete",
		    spath, readerr ? "cannot read it:" :
		    "cannot write it to the store:", strerror((int)-copied),
		    dpath);
		goto release;
	}
	if (fstat(fd, &after) != 0 || after.st_size != sb.st_size ||
	    (uint64_t)copied != (uint64_t)sb.st_size ||
	    ns_of(&after.st_mtim) != ns_of(&sb.st_mtim)) {
		/* Written to while we read: keep both copies. */
		imp_error(im, "%s: changed while being imported (stop its"
		    " writer first); %s in the store holds %" PRId64 " bytes"
		    " and the original stays", spath, dpath, copied);
		(void)set_attrs(im, e.ino, h, &sb, 0);
		goto release;
	}
	if (copy_xattrs(im, fd, e.ino, spath) != 0)
		goto release;
	if ((rc = set_attrs(im, e.ino, h, &sb, 0)) != 0) {
		imp_error(im, "%s: cannot set mode, owner or times: %s", spath,
		    strerror(-rc));
		goto release;
	}
	/* The original goes only once the copy is durable. */
	if (im->o->remove_source && (rc = rfs_fs_fsync(im->fs, h, 0)) != 0) {
		imp_error(im, "%s: cannot sync the store: %s", spath,
		    strerror(-rc));
		goto release;
	}
	ok = 1;
release:
	if ((rc = rfs_fs_release(im->fs, h)) != 0) {
		imp_error(im, "%s: cannot write the catalog: %s", spath,
		    strerror(-rc));
		ok = 0;
	}
	rfs_fs_forget(im->fs, e.ino, 1);
	if (ok) {
		im->st->files++;
		im->st->bytes += (uint64_t)copied;
		if (sb.st_nlink > 1)
			hl_add(im, &sb, e.ino);
		close(fd);
		fd = -1;
		remove_source(im, dfd, name, spath, 0);
	}
done:
	if (fd >= 0)
		close(fd);
	free(dpath);
	im->done_files++;
	bar_draw(im, 0);
}

static void
import_symlink(struct imp *im, int dfd, const char *name, const char *spath,
    const struct stat *sb, uint64_t dino)
{
	const struct rfs_ctx ctx = { .uid = sb->st_uid, .gid = sb->st_gid,
	    .pid = getpid() };
	char target[PATH_MAX];
	struct rfs_entry e;
	ssize_t n;
	int rc;

	n = readlinkat(dfd, name, target, sizeof(target));
	if (n < 0 || (size_t)n >= sizeof(target)) {
		imp_error(im, "%s: %s", spath, n < 0 ? strerror(errno) :
		    "link target too long");
		return;
	}
	target[n] = '\0';
	rc = rfs_fs_symlink(im->fs, &ctx, dino, name, target, &e);
	if (rc != 0) {
		imp_error(im, "%s: cannot create the symlink in the store: %s",
		    spath, rc == -EEXIST ? "the name already exists" :
		    strerror(-rc));
		return;
	}
	if ((rc = set_attrs(im, e.ino, NULL, sb, 1)) != 0)
		imp_error(im, "%s: cannot set owner or times: %s", spath,
		    strerror(-rc));
	rfs_fs_forget(im->fs, e.ino, 1);
	im->st->symlinks++;
	if (rc == 0)
		remove_source(im, dfd, name, spath, 0);
}

/*
 * Makes directory NAME in DINO (or finds it there) with SB's mode and
 * owner.  *INO holds one lookup reference on success.
 */
static int
make_dir(struct imp *im, uint64_t dino, const char *name,
    const struct stat *sb, uint64_t *ino)
{
	const struct rfs_ctx ctx = { .uid = sb->st_uid, .gid = sb->st_gid,
	    .pid = getpid() };
	struct rfs_entry e;
	int rc;

	rc = rfs_fs_mkdir(im->fs, &ctx, dino, name, sb->st_mode & 07777, &e);
	if (rc == 0)
		im->st->dirs++;
	if (rc == -EEXIST) {
		rc = rfs_fs_lookup(im->fs, dino, name, &e);
		if (rc == 0 && !S_ISDIR(e.st.st_mode)) {
			rfs_fs_forget(im->fs, e.ino, 1);
			rc = -ENOTDIR;
		}
	}
	if (rc == 0)
		*ino = e.ino;
	return rc;
}

static void
import_dir(struct imp *im, int dfd, const char *name, const char *spath,
    const struct stat *lsb, uint64_t dino, const char *drel, int depth)
{
	struct stat sb;
	uint64_t ino;
	char *sub = NULL;
	int fd, rc;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0) {
		imp_error(im, "%s: %s", spath, strerror(errno));
		return;
	}
	if (fstat(fd, &sb) != 0 || sb.st_ino != lsb->st_ino ||
	    sb.st_dev != lsb->st_dev) {
		imp_error(im, "%s: changed while being imported", spath);
		close(fd);
		return;
	}
	if (is_own(im, &sb)) {
		imp_report(im, "skipped, the store's own directory: %s", spath);
		close(fd);
		return;
	}
	if ((rc = make_dir(im, dino, name, &sb, &ino)) != 0) {
		imp_error(im, "%s: cannot make the directory in the store: %s;"
		    " its contents are not imported", spath,
		    rc == -ENOTDIR ? "a file has that name" : strerror(-rc));
		close(fd);
		return;
	}
	if ((sub = join(drel, name)) == NULL) {
		imp_error(im, "%s: out of memory", spath);
	} else {
		(void)walk(im, fd, spath, ino, sub, depth + 1);
		(void)copy_xattrs(im, fd, ino, spath);
		/* After its contents: making them changed its times. */
		if ((rc = set_attrs(im, ino, NULL, &sb, 0)) != 0)
			imp_error(im, "%s: cannot set mode, owner or times: %s",
			    spath, strerror(-rc));
	}
	rfs_fs_forget(im->fs, ino, 1);
	close(fd);
	free(sub);
	remove_source(im, dfd, name, spath, 1);
}

/* Imports every entry of DFD (source path SPATH) into store dir DINO. */
static int
walk(struct imp *im, int dfd, const char *spath, uint64_t dino,
    const char *drel, int depth)
{
	char **names;
	size_t n;
	int rc;

	if (depth > 4096) {
		imp_error(im, "%s: too deep", spath);
		return -ELOOP;
	}
	if ((rc = list_names(dfd, &names, &n)) != 0) {
		imp_error(im, "%s: cannot list: %s", spath, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		char *path = join(spath, names[i]);
		struct stat sb;

		if (path == NULL) {
			imp_error(im, "%s: out of memory", spath);
			break;
		}
		if (fstatat(dfd, names[i], &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			imp_error(im, "%s: %s", path, strerror(errno));
		} else if (S_ISREG(sb.st_mode)) {
			import_file(im, dfd, names[i], path, &sb, dino, drel);
		} else if (S_ISDIR(sb.st_mode)) {
			import_dir(im, dfd, names[i], path, &sb, dino, drel,
			    depth);
		} else if (S_ISLNK(sb.st_mode)) {
			import_symlink(im, dfd, names[i], path, &sb, dino);
		} else {
			imp_report(im, "skipped, not a regular file, directory or"
			    " symlink: %s", path);
			im->st->special++;
		}
		free(path);
	}
	names_free(names, n);
	return 0;
}

/* The destination directory O->to, made as needed.  One lookup held. */
static int
destination(struct imp *im, const struct stat *srcsb, uint64_t *out,
    char **drel)
{
	char *copy, *save = NULL, *part, *rel = NULL, *nrel;
	uint64_t ino = RFS_ROOT_INO, next;
	struct stat sb = *srcsb;
	int rc = 0;

	*out = RFS_ROOT_INO;
	if (im->o->to == NULL || im->o->to[0] == '\0') {
		*drel = strdup("");
		return *drel == NULL ? -ENOMEM : 0;
	}
	if ((copy = strdup(im->o->to)) == NULL)
		return -ENOMEM;
	/* Parents made on the way belong to the importer, mode 0755. */
	sb.st_mode = S_IFDIR | 0755;
	sb.st_uid = (uid_t)im->o->uid;
	sb.st_gid = getgid();
	for (part = strtok_r(copy, "/", &save); part != NULL;
	    part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			rc = -EINVAL;
			break;
		}
		if ((rc = make_dir(im, ino, part, &sb, &next)) != 0)
			break;
		if (ino != RFS_ROOT_INO)
			rfs_fs_forget(im->fs, ino, 1);
		ino = next;
		nrel = join(rel, part);
		free(rel);
		if ((rel = nrel) == NULL) {
			rc = -ENOMEM;
			break;
		}
	}
	free(copy);
	if (rc != 0) {
		if (ino != RFS_ROOT_INO)
			rfs_fs_forget(im->fs, ino, 1);
		free(rel);
		return rc;
	}
	*out = ino;
	*drel = rel != NULL ? rel : strdup("");
	return *drel == NULL ? -ENOMEM : 0;
}

int
rfs_import(struct rfs_fs *fs, const struct rfs_import_opts *o,
    struct rfs_import_stats *stats)
{
	struct imp im;
	struct stat sb;
	uint64_t dino = RFS_ROOT_INO;
	char *drel = NULL;
	int fd, rc;

	memset(stats, 0, sizeof(*stats));
	memset(&im, 0, sizeof(im));
	im.fs = fs;
	im.o = o;
	im.st = stats;
	fd = open(o->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		fprintf(o->err, "retentionctl: import: %s: %s\n", o->src,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if ((im.buf = malloc(COPY_BUF)) == NULL) {
		close(fd);
		return 1;
	}
	im.pol = rfs_fs_policy(fs);
	im.now = rfs_fs_now(fs);
	/* A store kept under SRC is not imported into itself. */
	if (rfs_fs_store(fs)->dirfd >= 0 &&
	    fstat(rfs_fs_store(fs)->dirfd, &im.own[im.nown]) == 0)
		im.nown++;
	if (rfs_fs_store(fs)->keysfd >= 0 &&
	    fstat(rfs_fs_store(fs)->keysfd, &im.own[im.nown]) == 0)
		im.nown++;
	if (o->progress) {
		count_tree(&im, fd, 0);
		bar_draw(&im, 1);
	}
	if ((rc = destination(&im, &sb, &dino, &drel)) != 0) {
		imp_error(&im, "%s: cannot make it in the store: %s",
		    o->to, strerror(-rc));
	} else {
		(void)walk(&im, fd, o->src, dino, drel, 0);
		/* The destination takes SRC's mode, owner and times, so the
		 * store can be mounted where SRC was. */
		if ((rc = set_attrs(&im, dino, NULL, &sb, 0)) != 0)
			imp_error(&im, "%s: cannot set mode, owner or times of"
			    " the destination: %s", o->src, strerror(-rc));
		if (dino != RFS_ROOT_INO)
			rfs_fs_forget(fs, dino, 1);
	}
	if (o->progress) {
		bar_draw(&im, 1);
		fputc('\n', o->err);
		fflush(o->err);
	}
	fprintf(o->out, "imported %" PRIu64 " files (%" PRIu64 " bytes),"
	    " skipped %" PRIu64 " expired\n", stats->files, stats->bytes,
	    stats->expired);
	fflush(o->out);
	close(fd);
	free(drel);
	free(im.buf);
	free(im.hl);
	rfs_policy_unref(im.pol);
	return stats->errors == 0 ? 0 : 1;
}
