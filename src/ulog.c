/*
 * ulog.c - the undo log of writes in flight (see rfs/ulog.h).
 *
 * The file is a header and RFS_ULOG_SLOTS slots, each RFS_ULOG_SLOT bytes
 * (little-endian):
 *
 *   header: "RFSULOG1" (8) | boot id (8) of the boot that last opened it |
 *           RFS_ULOG_SLOTS (4) | RFS_ULOG_SLOT (4)
 *   slot:   "RFSU" (4) | n (4) | ino (8) | len (8) | off (8) |
 *           the old record (n bytes, at most RFS_RECORD) | ... |
 *           at RFS_ULOG_PIECE: "RFSC" (4) | cn (4) | coff (8) |
 *           the old bytes [coff, coff + cn) (cn at most RFS_ULOG_CHUNK)
 *
 * The piece has its own magic, cleared while it is rewritten, so a kill
 * during rfs_ulog_save leaves no half-saved piece behind.
 *
 * A slot's fields are stored before its magic, and the magic is cleared
 * before the slot is given out again, so a slot that reads "RFSU" is
 * whole.  Stores to a shared mapping are in the page cache as soon as they
 * execute, so this order is what a killed process leaves behind, as long
 * as the page cache survives: within one boot.  After a reboot the file
 * on disk is whatever write-back last took of it, and a slot there may be
 * long stale: undoing it would throw away writes acknowledged since.  So
 * slots are trusted only when the header names the current boot.
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

#include "rfs/bytes.h"
#include "rfs/clock.h"
#include "rfs/log.h"
#include "rfs/object.h"

#define ULOG_SIZE ((size_t)(RFS_ULOG_SLOTS + 1) * RFS_ULOG_SLOT)
#define HDR 32
#define PIECE_DATA (RFS_ULOG_PIECE + 16)
#define SLOT(u, i) ((u)->map + (size_t)((i) + 1) * RFS_ULOG_SLOT)

static const unsigned char magic[4] = { 'R', 'F', 'S', 'U' };
static const unsigned char piece_magic[4] = { 'R', 'F', 'S', 'C' };
static const unsigned char head_magic[8] = { 'R', 'F', 'S', 'U', 'L', 'O',
    'G', '1' };

struct rfs_ulog {
	int fd;
	unsigned char *map;          /* NULL: nothing there (read-only) */
	int readonly;
	int trusted;                 /* written in this boot: slots exact */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned char busy[RFS_ULOG_SLOTS];
};

struct slot {
	uint32_t n, cn;
	uint64_t ino, len, off, coff;
	const unsigned char *rec, *piece;      /* piece: NULL if none */
};

/*
 * Sets or clears the magic of the slot at P as one store, ordered after
 * the stores before it (slots are RFS_ULOG_SLOT aligned in the mapping).
 */
static void
mark(unsigned char *p, const unsigned char *m4, int set)
{
	uint32_t m = 0;

	if (set)
		memcpy(&m, m4, sizeof(m));
	__atomic_store_n((uint32_t *)(void *)p, m, __ATOMIC_RELEASE);
}

static void
slot_mark(unsigned char *p, int used)
{
	mark(p, magic, used);
}

static void
piece_mark(unsigned char *p, int valid)
{
	mark(p + RFS_ULOG_PIECE, piece_magic, valid);
}

/* Slot I, if in use and well formed. */
static int
slot_read(const struct rfs_ulog *u, int i, struct slot *s)
{
	const unsigned char *p = SLOT(u, i);

	if (memcmp(p, magic, sizeof(magic)) != 0)
		return 0;
	s->n = rfs_le32_get(p + 4);
	s->ino = rfs_le64_get(p + 8);
	s->len = rfs_le64_get(p + 16);
	s->off = rfs_le64_get(p + 24);
	s->rec = p + HDR;
	s->piece = NULL;
	if (memcmp(p + RFS_ULOG_PIECE, piece_magic, sizeof(piece_magic)) ==
	    0) {
		s->cn = rfs_le32_get(p + RFS_ULOG_PIECE + 4);
		s->coff = rfs_le64_get(p + RFS_ULOG_PIECE + 8);
		s->piece = p + PIECE_DATA;
	}
	if (s->n > RFS_RECORD || (s->n > 0 && s->off + s->n != s->len) ||
	    (s->piece != NULL && (s->cn > RFS_ULOG_CHUNK ||
	    s->coff + s->cn > s->len))) {
		rfs_warn("undo log: slot %d is malformed; ignored", i);
		return 0;
	}
	return 1;
}

/*
 * Writes the whole file as zeros: a write to a shared mapping of a hole,
 * or of space only reserved (fallocate's unwritten extents), may need new
 * blocks, and on a full disk that is SIGBUS, not an error code.
 */
static int
fill(int fd)
{
	static const unsigned char zeros[RFS_ULOG_SLOT];

	for (off_t off = 0; off < (off_t)ULOG_SIZE;) {
		ssize_t w = pwrite(fd, zeros, sizeof(zeros), off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += w;
	}
	return fdatasync(fd) != 0 ? -errno : 0;
}

int
rfs_ulog_open(int dirfd, int readonly, struct rfs_ulog **out)
{
	struct rfs_ulog *u = calloc(1, sizeof(*u));
	struct stat sb;
	uint64_t boot;
	int rc = 0;

	*out = NULL;
	if (u == NULL)
		return -ENOMEM;
	u->readonly = readonly;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->freed, NULL);
	u->fd = openat(dirfd, RFS_ULOG_FILE, (readonly ? O_RDONLY :
	    O_RDWR | O_CREAT) | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (u->fd < 0 && readonly && errno == ENOENT)
		goto done;                     /* an older store: nothing */
	if (u->fd < 0 || fstat(u->fd, &sb) != 0) {
		rc = -errno;
		goto broken;
	}
	if ((size_t)sb.st_size < ULOG_SIZE) {
		if (readonly)
			goto done;             /* never written whole */
		if ((rc = fill(u->fd)) != 0) {
			/* What it took goes back: the disk is full. */
			(void)unlinkat(dirfd, RFS_ULOG_FILE, 0);
			goto broken;
		}
	}
	u->map = mmap(NULL, ULOG_SIZE, readonly ? PROT_READ :
	    PROT_READ | PROT_WRITE, MAP_SHARED, u->fd, 0);
	if (u->map == MAP_FAILED) {
		u->map = NULL;
		rc = -errno;
		goto broken;
	}
	boot = (uint64_t)rfs_clock_boot_id();
	u->trusted = boot != 0 && memcmp(u->map, head_magic,
	    sizeof(head_magic)) == 0 && rfs_le64_get(u->map + 8) == boot &&
	    rfs_le32_get(u->map + 16) == RFS_ULOG_SLOTS &&
	    rfs_le32_get(u->map + 20) == RFS_ULOG_SLOT;
done:
	*out = u;
	return 0;
broken:
	/* A full or odd backing must not stop a mount (freeing space goes
	 * through it): writes then go on without notes, as before. */
	rfs_warn("undo log %s: %s: writes cut short by a crash cannot be"
	    " undone until it can be made", RFS_ULOG_FILE, strerror(-rc));
	goto done;
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
	if ((s->piece != NULL && s->cn > 0 && pwrite(fd, s->piece, s->cn,
	    (off_t)s->coff) != (ssize_t)s->cn) ||
	    (s->n > 0 && pwrite(fd, s->rec, s->n, (off_t)s->off) !=
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
			slot_mark(SLOT(u, i), 0);
			continue;
		}
		if (!u->trusted) {
			rfs_warn("undo log: object %" PRIu64 ": a write noted"
			    " before a reboot (or in another layout) is not"
			    " undone: the note may be older than the object",
			    s.ino);
			slot_mark(SLOT(u, i), 0);
			cleared = 1;
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
		slot_mark(SLOT(u, i), 0);
		cleared = 1;
	}
	/* From here on the slots are this boot's. */
	if (!u->trusted) {
		memcpy(u->map, head_magic, sizeof(head_magic));
		rfs_le64_put(u->map + 8, (uint64_t)rfs_clock_boot_id());
		rfs_le32_put(u->map + 16, RFS_ULOG_SLOTS);
		rfs_le32_put(u->map + 20, RFS_ULOG_SLOT);
		u->trusted = 1;
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

	if (u == NULL || u->map == NULL || !u->trusted)
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

	if (u->readonly || u->map == NULL || !u->trusted)
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
	p = SLOT(u, i);
	piece_mark(p, 0);
	rfs_le32_put(p + 4, (uint32_t)n);
	rfs_le64_put(p + 8, ino);
	rfs_le64_put(p + 16, len);
	rfs_le64_put(p + 24, off);
	if (n > 0)
		memcpy(p + HDR, rec, n);
	slot_mark(p, 1);
	return i;
}

int
rfs_ulog_save(struct rfs_ulog *u, int slot, int fd, uint64_t off,
    size_t len)
{
	unsigned char *p;
	size_t got = 0;

	if (slot < 0 || slot >= RFS_ULOG_SLOTS || len > RFS_ULOG_CHUNK)
		return -EINVAL;
	p = SLOT(u, slot);
	piece_mark(p, 0);
	while (got < len) {
		ssize_t r = pread(fd, p + PIECE_DATA + got, len - got,
		    (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;          /* past the end: nothing to put back */
		got += (size_t)r;
	}
	rfs_le32_put(p + RFS_ULOG_PIECE + 4, (uint32_t)got);
	rfs_le64_put(p + RFS_ULOG_PIECE + 8, off);
	piece_mark(p, 1);
	return 0;
}

void
rfs_ulog_end(struct rfs_ulog *u, int slot)
{
	if (slot < 0 || slot >= RFS_ULOG_SLOTS)
		return;
	slot_mark(SLOT(u, slot), 0);
	pthread_mutex_lock(&u->lock);
	u->busy[slot] = 0;
	pthread_cond_signal(&u->freed);
	pthread_mutex_unlock(&u->lock);
}
