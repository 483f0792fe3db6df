/*
 * ulog.c - the undo log of writes in flight (see rfs/ulog.h).
 *
 * Slot layout (little-endian): "RFSU" (4) | n (4) | ino (8) | len (8) |
 * off (8) | the old record (n bytes, at most RFS_RECORD).  The slot's
 * fields are stored before its magic, and the magic is cleared before the
 * slot is given out again, so a slot that reads "RFSU" is whole.  Stores
 * to a shared mapping are in the page cache as soon as they execute, so
 * this order is what a killed process leaves behind.
 */
#include "rfs/ulog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rfs/log.h"
#include "rfs/object.h"

#define ULOG_SIZE ((size_t)RFS_ULOG_SLOTS * RFS_ULOG_SLOT)
#define HDR 32

static const unsigned char magic[4] = { 'R', 'F', 'S', 'U' };

struct rfs_ulog {
	int fd;
	unsigned char *map;          /* NULL: nothing there (read-only) */
	int readonly;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned char busy[RFS_ULOG_SLOTS];
};

struct slot {
	uint32_t n;
	uint64_t ino, len, off;
	const unsigned char *rec;
};

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Slot I, if in use and well formed. */
static int
slot_read(const struct rfs_ulog *u, int i, struct slot *s)
{
	const unsigned char *p = u->map + (size_t)i * RFS_ULOG_SLOT;

	if (memcmp(p, magic, sizeof(magic)) != 0)
		return 0;
	s->n = get32(p + 4);
	s->ino = get64(p + 8);
	s->len = get64(p + 16);
	s->off = get64(p + 24);
	s->rec = p + HDR;
	if (s->n > RFS_RECORD || (s->n > 0 && s->off + s->n != s->len)) {
		rfs_warn("undo log: slot %d is malformed; ignored", i);
		return 0;
	}
	return 1;
}

int
rfs_ulog_open(int dirfd, int readonly, struct rfs_ulog **out)
{
	struct rfs_ulog *u = calloc(1, sizeof(*u));
	struct stat sb;
	int rc = 0;

	*out = NULL;
	if (u == NULL)
		return -ENOMEM;
	u->readonly = readonly;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->freed, NULL);
	u->fd = openat(dirfd, RFS_ULOG_FILE, (readonly ? O_RDONLY :
	    O_RDWR | O_CREAT) | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (u->fd < 0) {
		if (readonly && errno == ENOENT)
			goto done;             /* an older store: nothing */
		rc = -errno;
		goto fail;
	}
	if (fstat(u->fd, &sb) != 0) {
		rc = -errno;
		goto fail;
	}
	if ((size_t)sb.st_size < ULOG_SIZE) {
		if (readonly)
			goto done;             /* never written whole */
		/* Allocated now, so a write in flight never needs space. */
		if (ftruncate(u->fd, (off_t)ULOG_SIZE) != 0 ||
		    (posix_fallocate(u->fd, 0, (off_t)ULOG_SIZE) != 0 &&
		    errno != EOPNOTSUPP)) {
			rc = -errno;
			goto fail;
		}
	}
	u->map = mmap(NULL, ULOG_SIZE, readonly ? PROT_READ :
	    PROT_READ | PROT_WRITE, MAP_SHARED, u->fd, 0);
	if (u->map == MAP_FAILED) {
		u->map = NULL;
		rc = -errno;
		goto fail;
	}
done:
	*out = u;
	return 0;
fail:
	rfs_ulog_close(u);
	return rc;
}

void
rfs_ulog_close(struct rfs_ulog *u)
{
	if (u == NULL)
		return;
	if (u->map != NULL)
		munmap(u->map, ULOG_SIZE);
	if (u->fd >= 0)
		close(u->fd);
	pthread_cond_destroy(&u->freed);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/*
 * Puts the object of S back as it was before its write, made durable
 * before the slot is freed.  Returns 1 when done, 0 when the object is
 * gone (destroyed since: nothing to undo), or -errno.
 */
static int
undo(int objfd, const struct slot *s)
{
	char path[32];
	int fd, rc = 1;

	rfs_obj_path(s->ino, path, sizeof(path));
	if ((fd = openat(objfd, path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? 0 : -errno;
	errno = EIO;
	if ((s->n > 0 && pwrite(fd, s->rec, s->n, (off_t)s->off) !=
	    (ssize_t)s->n) || ftruncate(fd, (off_t)s->len) != 0 ||
	    fdatasync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
rfs_ulog_replay(struct rfs_ulog *u, int objfd, unsigned *n)
{
	struct slot s;
	int rc = 0, r, cleared = 0;

	*n = 0;
	if (u->readonly || u->map == NULL)
		return 0;
	for (int i = 0; i < RFS_ULOG_SLOTS; i++) {
		if (!slot_read(u, i, &s)) {
			memset(u->map + (size_t)i * RFS_ULOG_SLOT, 0,
			    sizeof(magic));
			continue;
		}
		if ((r = undo(objfd, &s)) < 0) {
			rfs_err("undo log: object %" PRIu64 ": cannot undo an"
			    " interrupted write: %s", s.ino, strerror(-r));
			if (rc == 0)
				rc = r;
			continue;      /* kept for the next open */
		}
		if (r > 0) {
			rfs_warn("undo log: object %" PRIu64 ": undid a write"
			    " cut short by a crash (back to %" PRIu64
			    " bytes)", s.ino, s.len);
			(*n)++;
		}
		memset(u->map + (size_t)i * RFS_ULOG_SLOT, 0, sizeof(magic));
		cleared = 1;
	}
	if (cleared && msync(u->map, ULOG_SIZE, MS_SYNC) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

int
rfs_ulog_pending(const struct rfs_ulog *u, uint64_t ino, uint64_t *len)
{
	struct slot s;

	if (u == NULL || u->map == NULL)
		return 0;
	for (int i = 0; i < RFS_ULOG_SLOTS; i++)
		if (slot_read(u, i, &s) && s.ino == ino) {
			*len = s.len;
			return 1;
		}
	return 0;
}

int
rfs_ulog_begin(struct rfs_ulog *u, uint64_t ino, uint64_t len,
    uint64_t off, const void *rec, size_t n)
{
	unsigned char *p;
	int i;

	if (u->readonly || u->map == NULL)
		return -EROFS;
	if (n > RFS_RECORD)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	for (;;) {
		for (i = 0; i < RFS_ULOG_SLOTS && u->busy[i]; i++)
			;
		if (i < RFS_ULOG_SLOTS)
			break;
		pthread_cond_wait(&u->freed, &u->lock);
	}
	u->busy[i] = 1;
	pthread_mutex_unlock(&u->lock);
	p = u->map + (size_t)i * RFS_ULOG_SLOT;
	put32(p + 4, (uint32_t)n);
	put64(p + 8, ino);
	put64(p + 16, len);
	put64(p + 24, off);
	if (n > 0)
		memcpy(p + HDR, rec, n);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(p, magic, sizeof(magic));
	return i;
}

void
rfs_ulog_end(struct rfs_ulog *u, int slot)
{
	if (slot < 0 || slot >= RFS_ULOG_SLOTS)
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memset(u->map + (size_t)slot * RFS_ULOG_SLOT, 0, sizeof(magic));
	pthread_mutex_lock(&u->lock);
	u->busy[slot] = 0;
	pthread_cond_signal(&u->freed);
	pthread_mutex_unlock(&u->lock);
}
