/*
 * object.c - block-encrypted objects (object.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "rfs/log.h"
#include "rfs/object.h"
#include "rfs/ulog.h"

void
rfs_obj_shard(unsigned i, char *buf, size_t len)
{
	snprintf(buf, len, "%02x", i % RFS_OBJ_SHARDS);
}

void
rfs_obj_path(uint64_t ino, char *buf, size_t len)
{
	snprintf(buf, len, "%02x/%016" PRIx64,
	    (unsigned)(ino % RFS_OBJ_SHARDS), ino);
}

static uint64_t
size_from_length(uint64_t len)
{
	uint64_t n = len / RFS_RECORD, r = len % RFS_RECORD;

	if (r > RFS_BLOCK_OVERHEAD)
		return n * RFS_BLOCK + r - RFS_BLOCK_OVERHEAD;
	return n * RFS_BLOCK;
}

uint64_t
rfs_obj_next_data(struct rfs_obj *o, uint64_t off)
{
	uint64_t block = off / RFS_BLOCK, next;
	off_t d;

	if (off >= o->size)
		return o->size;
	d = lseek(o->fd, (off_t)(block * RFS_RECORD), SEEK_DATA);
	if (d < 0)
		return errno == ENXIO ? o->size : off;
	next = (uint64_t)d / RFS_RECORD * RFS_BLOCK;
	if (next < off)
		next = off;
	return next < o->size ? next : o->size;
}

/* The object file of INO: 0, or -errno (-ENOENT: none); zeros on error. */
static int
stored_stat(int objdir, uint64_t ino, struct stat *sb)
{
	char path[32];

	rfs_obj_path(ino, path, sizeof(path));
	if (fstatat(objdir, path, sb, 0) != 0) {
		memset(sb, 0, sizeof(*sb));
		return -errno;
	}
	return 0;
}

int
rfs_obj_stored_size(int objdir, uint64_t ino, uint64_t *size)
{
	struct stat sb;
	int rc = stored_stat(objdir, ino, &sb);

	*size = size_from_length((uint64_t)sb.st_size);
	return rc == -ENOENT ? 0 : rc;      /* missing reads as empty */
}

int
rfs_obj_stored_blocks(int objdir, uint64_t ino, uint64_t *blocks)
{
	struct stat sb;
	int rc = stored_stat(objdir, ino, &sb);

	*blocks = (uint64_t)sb.st_blocks;
	return rc;
}

int
rfs_obj_create(int objdir, uint64_t ino)
{
	char path[32];
	int fd;

	rfs_obj_path(ino, path, sizeof(path));
	fd = openat(objdir, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int
rfs_obj_open(int objdir, uint64_t ino, int create, struct rfs_key *key,
    uint64_t catalog_size, struct rfs_obj **out)
{
	struct rfs_obj *o;
	struct stat sb;
	char path[32];
	uint64_t stored;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (o == NULL || (o->cache = malloc(RFS_BLOCK)) == NULL) {
		free(o);
		rfs_key_free(key);
		return -ENOMEM;
	}
	o->ino = ino;
	o->key = key;
	o->wb_lo = UINT64_MAX;
	rfs_obj_path(ino, path, sizeof(path));
	o->fd = openat(objdir, path, O_RDWR | O_CLOEXEC |
	    (create ? O_CREAT : 0), 0600);
	if (o->fd < 0 && errno == EROFS)
		o->fd = openat(objdir, path, O_RDONLY | O_CLOEXEC);
	if (o->fd < 0 || fstat(o->fd, &sb) != 0) {
		int rc = -errno;

		rfs_err("object %" PRIu64 ": %s", ino, strerror(errno));
		rfs_obj_close(o);
		return rc;
	}
	stored = size_from_length((uint64_t)sb.st_size);
	o->size = stored > catalog_size ? stored : catalog_size;
	o->st_valid = sb.st_size == 0;     /* length 0, no last record */
	*out = o;
	return 0;
}

void
rfs_obj_close(struct rfs_obj *o)
{
	if (o == NULL)
		return;
	if (o->fd >= 0) {
		rfs_obj_drop_written(o);
		close(o->fd);
	}
	if (o->cache != NULL) {
		sodium_memzero(o->cache, RFS_BLOCK);
		free(o->cache);
	}
	rfs_key_free(o->key);
	free(o);
}

/* Logical length of block IDX in a file of SIZE bytes. */
static size_t
block_len(uint64_t size, uint64_t idx)
{
	uint64_t start = idx * RFS_BLOCK;

	if (size <= start)
		return 0;
	return size - start >= RFS_BLOCK ? RFS_BLOCK : (size_t)(size - start);
}

static int
all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/*
 * Opens record IDX of LEN logical bytes from REC, of which the object held
 * AVAIL bytes (0 past its end), into the LEN bytes at DST.  Holes (nothing
 * there, or all zeros) read as zeros; anything else must be a whole record
 * that authenticates.
 */
static int
open_record(struct rfs_obj *o, uint64_t idx, size_t len,
    const unsigned char *rec, size_t avail, unsigned char *dst)
{
	size_t reclen = len + RFS_BLOCK_OVERHEAD;

	if (len == 0)
		return 0;
	if (o->cache_valid && o->cache_idx == idx && o->cache_len == len) {
		memcpy(dst, o->cache, len);
		return 0;
	}
	if (avail > reclen)
		avail = reclen;
	if (avail == 0 || all_zero(rec, avail)) {
		memset(dst, 0, len);
		return 0;
	}
	if (avail != reclen ||
	    rfs_block_open(o->key, o->ino, idx, rec, reclen, dst) != 0) {
		rfs_err("object %" PRIu64 ": block %" PRIu64 " fails"
		    " authentication (tampered or torn)", o->ino, idx);
		memset(dst, 0, len);
		return -EIO;
	}
	return 0;
}

/* Reads block IDX (LEN logical bytes) into PLAIN, zero-filled to
 * RFS_BLOCK (see open_record). */
static int
read_block(struct rfs_obj *o, uint64_t idx, size_t len, unsigned char *plain)
{
	unsigned char rec[RFS_RECORD];
	ssize_t n = 0;

	memset(plain, 0, RFS_BLOCK);
	if (len > 0 && !(o->cache_valid && o->cache_idx == idx &&
	    o->cache_len == len) && (n = pread(o->fd, rec,
	    len + RFS_BLOCK_OVERHEAD, (off_t)(idx * RFS_RECORD))) < 0)
		return -errno;
	return open_record(o, idx, len, rec, (size_t)n, plain);
}

/*
 * The records of a read are fetched with one pread (a 1 MiB read was 256
 * of them), then opened one by one.  Reads change nothing in O.
 */
ssize_t
rfs_obj_read(struct rfs_obj *o, void *buf, size_t len, uint64_t off)
{
	unsigned char plain[RFS_BLOCK], *recs;
	unsigned char *out = buf;
	uint64_t first, last;
	size_t done = 0, span;
	ssize_t got;
	int rc = 0;

	if (off >= o->size)
		return 0;
	if (len > o->size - off)
		len = (size_t)(o->size - off);
	if (len == 0)
		return 0;
	first = off / RFS_BLOCK;
	last = (off + len - 1) / RFS_BLOCK;
	span = (size_t)(last - first) * RFS_RECORD +
	    block_len(o->size, last) + RFS_BLOCK_OVERHEAD;
	if ((recs = malloc(span)) == NULL)
		return -ENOMEM;
	if ((got = pread(o->fd, recs, span, (off_t)(first * RFS_RECORD))) < 0)
		rc = -errno;
	while (rc == 0 && done < len) {
		uint64_t pos = off + done, idx = pos / RFS_BLOCK;
		size_t in = (size_t)(pos % RFS_BLOCK);
		size_t blen = block_len(o->size, idx);
		size_t at = (size_t)(idx - first) * RFS_RECORD;
		size_t n = blen - in;

		if (n > len - done)
			n = len - done;
		/* No short read on error: FUSE takes a short read for EOF,
		 * which would turn a tampered block into silent truncation.
		 * A block read whole is opened straight into the caller's
		 * buffer. */
		if (in == 0 && n == blen) {
			rc = open_record(o, idx, blen, recs + at, (size_t)got >
			    at ? (size_t)got - at : 0, out + done);
		} else if ((rc = open_record(o, idx, blen, recs + at,
		    (size_t)got > at ? (size_t)got - at : 0, plain)) == 0) {
			memcpy(out + done, plain + in, n);
		}
		if (rc == 0)
			done += n;
	}
	sodium_memzero(plain, sizeof(plain));
	free(recs);
	return rc != 0 ? rc : (ssize_t)done;
}

/*
 * Write-behind.  A large sequential write (a copy, a `dd`, a log that keeps
 * growing) leaves the object's ciphertext in the backing's page cache:
 * a second copy of data the kernel already caches as plaintext on the
 * mount, all of it dirty until the caller's fsync.  So once a writer has
 * added WB_WINDOW bytes past the last mark, the write-back of those bytes
 * is started, and the window started a mark before that, written by now
 * as a rule, is dropped from the cache.  Nothing here waits for the disk:
 * waiting at each mark for the window before (as this did first) drained
 * the device's queue every 8 MiB and held a 512 MiB `dd` + fsync to
 * 515-540 MB/s; without the wait it makes 640-690 (see
 * docs/performance.md).  A page still being written when its window is
 * dropped stays, clean and reclaimable; rfs_obj_drop_written takes what
 * is left once a sync or the last close has the stream written.  Writes
 * far from the stream's front (random I/O, a rewrite further back) only
 * restart the tracking: nothing is dropped for them.
 *
 * sync_file_range without its wait flags leaves a write-back error to the
 * next fsync; one it returns at once is kept and reported by the next
 * rfs_obj_sync.  Dropping only ever discards clean pages.
 */
#define WB_WINDOW ((uint64_t)8 << 20)

static void
wb_note_error(struct rfs_obj *o, int rc)
{
	int none = 0;

	if (rc != 0)
		(void)atomic_compare_exchange_strong(&o->wb_err, &none, -errno);
}

static void
wb_drop(struct rfs_obj *o, uint64_t from, uint64_t to)
{
	if (from < to)
		(void)posix_fadvise(o->fd, (off_t)from, (off_t)(to - from),
		    POSIX_FADV_DONTNEED);
}

static void
write_behind(struct rfs_obj *o, uint64_t off, size_t len)
{
	uint64_t end = off + len;

	/*
	 * The kernel writes a streaming file back with several requests in
	 * flight, and they reach the object slightly out of order, so the
	 * stream is followed by its front (wb_hi), not write by write.  A
	 * write more than a window ahead of the front or two behind is not
	 * this stream (random I/O, a rewrite far back): start over there,
	 * leaving what the old stream had not dropped to the next
	 * rfs_obj_drop_written.
	 */
	if (off > o->wb_hi + WB_WINDOW || end + 2 * WB_WINDOW < o->wb_hi) {
		o->wb_prev = o->wb_start = o->wb_hi = end;
		return;
	}
	if (end > o->wb_hi)
		o->wb_hi = end;
	if (o->wb_hi < o->wb_start + WB_WINDOW)
		return;
	wb_note_error(o, sync_file_range(o->fd, (off_t)o->wb_start,
	    (off_t)(o->wb_hi - o->wb_start), SYNC_FILE_RANGE_WRITE));
	if (o->wb_prev < o->wb_lo)          /* UINT64_MAX: none yet */
		o->wb_lo = o->wb_prev;
	wb_drop(o, o->wb_prev, o->wb_start);
	o->wb_prev = o->wb_start;
	o->wb_start = o->wb_hi;
}

void
rfs_obj_drop_written(struct rfs_obj *o)
{
	if (o->wb_lo == UINT64_MAX)
		return;
	wb_drop(o, o->wb_lo, o->wb_start);
	o->wb_lo = UINT64_MAX;
}

static int
write_full(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/*
 * Writes the N bytes of records at P to the object at OFF.  Under an undo
 * note (SLOT >= 0) the part below SAVE_TO, which rewrites the object in
 * place and which the note itself does not hold, goes piece by piece, the
 * old bytes of each piece saved first (rfs_ulog_save); the rest (the old
 * last record, which the note holds, and what lies past the old end)
 * goes at once.
 */
_Static_assert(RFS_ULOG_CHUNK % RFS_RECORD == 0,
    "undo pieces must hold whole records");

static int
write_noted(struct rfs_obj *o, int slot, const unsigned char *p, size_t n,
    uint64_t off, uint64_t save_to)
{
	uint64_t end = off + n, in_place = save_to < end ? save_to : end;
	int rc;

	if (slot < 0)
		return write_full(o->fd, p, n, off);
	while (off < end) {
		uint64_t q = off >= in_place ? end : in_place - off >
		    RFS_ULOG_CHUNK ? off + RFS_ULOG_CHUNK : in_place;

		if (off < in_place && (rc = rfs_ulog_save(o->ulog, slot, o->fd,
		    off, (size_t)(q - off))) != 0)
			return rc;
		if ((rc = write_full(o->fd, p, (size_t)(q - off), off)) != 0)
			return rc;
		p += q - off;
		off = q;
	}
	return 0;
}

/*
 * A write that grows the object rewrites its last record in place with a
 * longer one.  If the disk fills up part way, that record would be left
 * torn and the data it held lost.  So the old last record is saved first
 * and put back (in place: no new space needed) when the write fails.
 */
struct undo {
	uint64_t len;            /* object length before the write */
	uint64_t off;            /* where the saved record starts */
	size_t n;
	unsigned char rec[RFS_RECORD];
};

static void
undo_save(struct rfs_obj *o, uint64_t from, struct undo *u)
{
	struct stat sb;
	ssize_t n;

	u->n = 0;
	u->off = 0;
	u->len = UINT64_MAX;
	if (o->st_valid)
		u->len = o->st_len;
	else if (fstat(o->fd, &sb) == 0)
		u->len = (uint64_t)sb.st_size;
	else
		return;
	if (u->len == 0 || from >= u->len)
		return;
	u->off = (u->len - 1) / RFS_RECORD * RFS_RECORD;
	if (u->off < from)
		return;          /* the last record is not touched */
	n = pread(o->fd, u->rec, (size_t)(u->len - u->off), (off_t)u->off);
	if (n == (ssize_t)(u->len - u->off))
		u->n = (size_t)n;
}

/* Puts the saved record back and cuts off whatever the failed write
 * appended (a torn record at the end would read as tampering). */
static void
undo_apply(struct rfs_obj *o, const struct undo *u)
{
	if (u->len == UINT64_MAX)
		return;
	if ((u->n > 0 && pwrite(o->fd, u->rec, u->n, (off_t)u->off) !=
	    (ssize_t)u->n) || ftruncate(o->fd, (off_t)u->len) != 0)
		rfs_err("object %" PRIu64 ": cannot undo a failed write: %s",
		    o->ino, strerror(errno));
}

/* Re-seals block IDX from OLD_LEN to NEW_LEN bytes (zero-extended). */
static int
reseal(struct rfs_obj *o, uint64_t idx, size_t old_len, size_t new_len)
{
	unsigned char plain[RFS_BLOCK], rec[RFS_RECORD];
	struct undo u;
	int rc;


	if ((rc = read_block(o, idx, old_len, plain)) != 0)
		return rc;
	rfs_block_seal(o->key, o->ino, idx, plain, new_len, rec);
	undo_save(o, idx * RFS_RECORD, &u);
	rc = write_full(o->fd, rec, new_len + RFS_BLOCK_OVERHEAD,
	    idx * RFS_RECORD);
	if (rc != 0)
		undo_apply(o, &u);
	if (rc == 0) {
		memcpy(o->cache, plain, new_len);
		o->cache_idx = idx;
		o->cache_len = new_len;
		o->cache_valid = 1;
	}
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

ssize_t
rfs_obj_write(struct rfs_obj *o, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *in = buf;
	uint64_t new_size, first, last, tail;
	unsigned char plain[RFS_BLOCK];
	unsigned char *recs, *nonces;
	struct undo *u;
	size_t pos = 0, n;
	int rc = 0, grow, slot = -1;

	if (len == 0)
		return 0;
	if (off + len < off || off + len > RFS_OBJ_MAX_SIZE)
		return -EFBIG;
	new_size = off + len > o->size ? off + len : o->size;
	first = off / RFS_BLOCK;
	last = (off + len - 1) / RFS_BLOCK;
	n = (size_t)(last - first + 1);
	recs = malloc(n * (RFS_RECORD + RFS_NONCE_BYTES));
	u = malloc(sizeof(*u));
	if (recs == NULL || u == NULL) {
		free(recs);
		free(u);
		return -ENOMEM;
	}
	/*
	 * Keep the invariant: a partial last block outside the written range
	 * is re-sealed at its grown length before the file grows past it.
	 * That re-seal is part of this write: the undo is taken before it,
	 * so a write that fails later puts the old last record back (else it
	 * would stay longer than the size says, and fail authentication).
	 */
	tail = o->size / RFS_BLOCK;
	grow = new_size > o->size && o->size % RFS_BLOCK != 0 && tail < first;
	undo_save(o, (grow ? tail : first) * RFS_RECORD, u);
	/*
	 * The write is noted in the undo log until it returns: a kill part
	 * way through would leave a torn record (see rfs/ulog.h).
	 */
	if (o->ulog != NULL && u->len != UINT64_MAX)
		slot = rfs_ulog_begin(o->ulog, o->ino, u->len, u->off, u->rec,
		    u->n);            /* < 0: no note, as without a log */
	if (grow && (rc = reseal(o, tail, block_len(o->size, tail),
	    block_len(new_size, tail))) != 0)
		goto fail;
	nonces = recs + n * RFS_RECORD;
	randombytes_buf(nonces, n * RFS_NONCE_BYTES);
	for (uint64_t idx = first; idx <= last; idx++) {
		size_t old_len = block_len(o->size, idx);
		size_t new_len = block_len(new_size, idx);
		size_t a = idx == first ? (size_t)(off % RFS_BLOCK) : 0;
		size_t b = idx == last ? (size_t)((off + len - 1) % RFS_BLOCK) + 1
		    : RFS_BLOCK;
		const unsigned char *src = in + pos;

		/*
		 * A write that leaves no old byte of the block (it starts the
		 * block and reaches the old end) makes the block exactly its
		 * own bytes (new_len == b): sealed from the caller's buffer.
		 * Otherwise the old block is read and the new bytes merged.
		 */
		if (a > 0 || b < old_len) {
			if ((rc = read_block(o, idx, old_len, plain)) != 0)
				goto fail;
			memcpy(plain + a, in + pos, b - a);
			src = plain;
		}
		pos += b - a;
		rfs_block_seal_nonce(o->key, o->ino, idx, nonces + (idx -
		    first) * RFS_NONCE_BYTES, src, new_len, recs + (idx - first) *
		    RFS_RECORD);
		if (idx == last) {
			memcpy(o->cache, src, new_len);
			o->cache_idx = idx;
			o->cache_len = new_len;
			o->cache_valid = 1;
		}
	}
	n = (size_t)(last - first) * RFS_RECORD + block_len(new_size, last) +
	    RFS_BLOCK_OVERHEAD;
	/* An append rewrites only the old last record in place: one pwrite. */
	rc = write_noted(o, slot, recs, n, first * RFS_RECORD,
	    u->n > 0 ? u->off : u->len);
	if (rc == 0) {
		o->size = new_size;
		/* Records were written up to the object's end: the last one
		 * is this write's (a write that grows the object always
		 * reaches its new end). */
		if (o->st_valid && first * RFS_RECORD + n >= o->st_len) {
			o->st_len = first * RFS_RECORD + n;
			memcpy(o->st_tail, nonces + (last - first) *
			    RFS_NONCE_BYTES, RFS_NONCE_BYTES);
			o->st_has = 1;
		}
		write_behind(o, first * RFS_RECORD, n);
		goto out;
	}
fail:
	undo_apply(o, u);
	o->cache_valid = 0;
	o->st_valid = 0;
out:
	if (slot >= 0)
		rfs_ulog_end(o->ulog, slot);
	sodium_memzero(plain, sizeof(plain));
	free(recs);
	free(u);
	return rc != 0 ? rc : (ssize_t)len;
}

int
rfs_obj_truncate(struct rfs_obj *o, uint64_t size)
{
	struct stat sb;
	uint64_t idx, cut;
	int rc = 0;

	if (size == o->size)
		return 0;
	if (size > RFS_OBJ_MAX_SIZE)
		return -EFBIG;
	o->st_valid = 0;
	if (size > o->size) {
		idx = o->size / RFS_BLOCK;
		if (o->size % RFS_BLOCK != 0)
			rc = reseal(o, idx, block_len(o->size, idx),
			    block_len(size, idx));
		if (rc == 0)
			o->size = size;
		return rc;
	}
	/*
	 * Cut the object after the new last block: space allocated below the
	 * cut stays, the rest is freed, as a truncate does on a disk
	 * filesystem.  A stored partial last block is sealed again at its new
	 * length first; one in a hole (past the object's end) stays a hole.
	 * Where the object is shorter than the cut, the cut lengthens it,
	 * which frees nothing past the new end, so the length is set a second
	 * time, which does (ext4, XFS).  A length the backing cannot hold
	 * (EFBIG: ext4 past 16 TiB) is not needed: past the object's end is
	 * a hole already.
	 */
	idx = size / RFS_BLOCK;
	cut = idx * RFS_RECORD;
	if (fstat(o->fd, &sb) != 0)
		return -errno;
	if (size % RFS_BLOCK != 0 && (uint64_t)sb.st_size > cut) {
		rc = reseal(o, idx, block_len(o->size, idx),
		    block_len(size, idx));
		if (rc != 0)
			return rc;
		cut += size % RFS_BLOCK + RFS_BLOCK_OVERHEAD;
	} else {
		o->cache_valid = 0;
	}
	if ((uint64_t)sb.st_size < cut && ftruncate(o->fd, (off_t)cut) != 0) {
		if (errno != EFBIG)
			return -errno;
		cut = (uint64_t)sb.st_size;
	}
	if (ftruncate(o->fd, (off_t)cut) != 0)
		return -errno;
	o->size = size;
	return 0;
}

/* Seals zeros over bytes [FROM, TO) of the file, inside its size. */
static int
write_zeros(struct rfs_obj *o, uint64_t from, uint64_t to)
{
	static const unsigned char zeros[16 * RFS_BLOCK];
	ssize_t n;

	while (from < to) {
		size_t len = to - from < sizeof(zeros) ? (size_t)(to - from) :
		    sizeof(zeros);

		if ((n = rfs_obj_write(o, zeros, len, from)) < 0)
			return (int)n;
		from += len;
	}
	return 0;
}

int
rfs_obj_zero(struct rfs_obj *o, uint64_t off, uint64_t len)
{
	uint64_t end = off + len < o->size ? off + len : o->size;
	uint64_t first, past;
	int rc;

	if (off >= end)
		return 0;
	o->st_valid = 0;
	/* Whole blocks inside the range, short of the file's last block,
	 * whose sealed record (its nonce is the catalog's tail) stays. */
	first = (off + RFS_BLOCK - 1) / RFS_BLOCK;
	past = end / RFS_BLOCK;
	if (past > (o->size - 1) / RFS_BLOCK)
		past = (o->size - 1) / RFS_BLOCK;
	if (first < past) {
		if (fallocate(o->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		    (off_t)(first * RFS_RECORD), (off_t)((past - first) *
		    RFS_RECORD)) == 0) {
			if (o->cache_valid && o->cache_idx >= first &&
			    o->cache_idx < past)
				o->cache_valid = 0;
			if ((rc = write_zeros(o, off, first * RFS_BLOCK)) != 0)
				return rc;
			return write_zeros(o, past * RFS_BLOCK, end);
		}
		if (errno != EOPNOTSUPP)
			return -errno;
	}
	return write_zeros(o, off, end);
}

int
rfs_obj_reserve(struct rfs_obj *o, uint64_t off, uint64_t len)
{
	uint64_t first = off / RFS_BLOCK, last;

	if (len == 0)
		return 0;
	if (off + len < off || off + len > RFS_OBJ_MAX_SIZE)
		return -EFBIG;
	last = (off + len - 1) / RFS_BLOCK;
	if (fallocate(o->fd, FALLOC_FL_KEEP_SIZE, (off_t)(first * RFS_RECORD),
	    (off_t)((last - first + 1) * RFS_RECORD)) != 0)
		return -errno;
	return 0;
}

/* The object's length and last nonce as stored, read from the disk. */
static int
stored_state(struct rfs_obj *o, uint64_t *len,
    unsigned char nonce[RFS_NONCE_BYTES], int *has)
{
	struct stat sb;

	if (fstat(o->fd, &sb) != 0)
		return -errno;
	*len = (uint64_t)sb.st_size;
	*has = 0;
	if (sb.st_size == 0)
		return 0;
	if (pread(o->fd, nonce, RFS_NONCE_BYTES, (off_t)(((uint64_t)
	    sb.st_size - 1) / RFS_RECORD * RFS_RECORD)) != RFS_NONCE_BYTES)
		return -EIO;
	*has = 1;
	return 0;
}

int
rfs_obj_state(struct rfs_obj *o, uint64_t *len,
    unsigned char nonce[RFS_NONCE_BYTES], int *has)
{
	int rc;

	if (!o->st_valid) {
		if ((rc = stored_state(o, &o->st_len, o->st_tail,
		    &o->st_has)) != 0)
			return rc;
		o->st_valid = 1;
	}
	*len = o->st_len;
	*has = o->st_has;
	if (o->st_has)
		memcpy(nonce, o->st_tail, RFS_NONCE_BYTES);
	return 0;
}

int
rfs_obj_is_committed(struct rfs_obj *o, uint64_t objlen,
    const unsigned char tail[RFS_NONCE_BYTES], uint64_t *len)
{
	unsigned char last[RFS_NONCE_BYTES];
	int has, rc;

	/* From the disk: this is the check that nobody changed it. */
	if ((rc = stored_state(o, len, last, &has)) != 0)
		return rc;
	if (!has)
		memset(last, 0, sizeof(last));   /* the emptied-file tail */
	return *len != objlen || memcmp(last, tail, sizeof(last)) != 0;
}

int
rfs_obj_sync(struct rfs_obj *o, int datasync)
{
	int rc = atomic_exchange(&o->wb_err, 0);

	if ((datasync ? fdatasync(o->fd) : fsync(o->fd)) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* One overwrite pass over FD's data extents (not its holes). */
static int
overwrite(int fd, off_t size)
{
	unsigned char buf[65536];
	off_t data = 0, hole;
	int rc = 0;

	while (rc == 0 && (data = lseek(fd, data, SEEK_DATA)) >= 0 &&
	    data < size) {
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		for (off_t off = data; off < hole && rc == 0;
		    off += (off_t)sizeof(buf)) {
			size_t n = hole - off < (off_t)sizeof(buf) ?
			    (size_t)(hole - off) : sizeof(buf);

			randombytes_buf(buf, n);
			rc = write_full(fd, buf, n, (uint64_t)off);
		}
		data = hole;
	}
	return rc;
}

/* Objects overwritten together, then flushed with one device flush. */
#define SHRED_GROUP 64

static int
shred_group(int objdir, const uint64_t *ino, size_t n, int passes)
{
	int fd[SHRED_GROUP], err[SHRED_GROUP], last = -1, rc = 0;
	off_t size[SHRED_GROUP];
	char path[32];
	struct stat sb;

	for (size_t i = 0; i < n; i++) {
		rfs_obj_path(ino[i], path, sizeof(path));
		fd[i] = openat(objdir, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		err[i] = fd[i] < 0 && errno != ENOENT ? -errno : 0;
		size[i] = fd[i] >= 0 && fstat(fd[i], &sb) == 0 ? sb.st_size : 0;
	}
	/*
	 * Each pass is written back and waited for (sync_file_range), then
	 * one fdatasync flushes the device's cache for all of them: the
	 * overwrite must be on disk before the unlink frees its blocks, or it
	 * would never land.
	 */
	for (int p = 0; p < passes; p++) {
		/* Start every object's write-back, then wait for each: the
		 * disk gets the whole group at once. */
		for (size_t i = 0; i < n; i++) {
			if (fd[i] < 0 || err[i] != 0)
				continue;
			err[i] = overwrite(fd[i], size[i]);
			if (err[i] == 0 && sync_file_range(fd[i], 0, 0,
			    SYNC_FILE_RANGE_WRITE) != 0)
				err[i] = -errno;
		}
		for (size_t i = 0; i < n; i++) {
			if (fd[i] < 0 || err[i] != 0)
				continue;
			if (sync_file_range(fd[i], 0, 0,
			    SYNC_FILE_RANGE_WAIT_BEFORE |
			    SYNC_FILE_RANGE_WRITE |
			    SYNC_FILE_RANGE_WAIT_AFTER) != 0)
				err[i] = -errno;
			else
				last = (int)i;
		}
		if (last >= 0 && fdatasync(fd[last]) != 0)
			for (size_t i = 0; i < n; i++)
				if (err[i] == 0 && fd[i] >= 0)
					err[i] = -errno;
	}
	for (size_t i = 0; i < n; i++) {
		/*
		 * Overwriting is defence in depth: the file key is already
		 * gone, so the ciphertext is noise to anyone without it.
		 * Only data extents are overwritten (filling a sparse file's
		 * holes could need more space than the disk has), and a
		 * failed overwrite (a full disk) still unlinks: a key-less
		 * object is better gone than kept.
		 */
		if (err[i] != 0)
			rfs_warn("object %" PRIu64 ": overwrite incomplete (%s);"
			    " its key is destroyed, unlinking it anyway",
			    ino[i], strerror(-err[i]));
		if (fd[i] < 0 && err[i] == 0)
			continue;          /* missing: nothing to unlink */
		if (fd[i] >= 0)
			close(fd[i]);
		rfs_obj_path(ino[i], path, sizeof(path));
		if (unlinkat(objdir, path, 0) != 0 && errno != ENOENT &&
		    rc == 0)
			rc = -errno;
	}
	return rc;
}

int
rfs_obj_shred_many(int objdir, const uint64_t *ino, size_t n, int passes)
{
	int rc = 0, r;

	for (size_t i = 0; i < n; i += SHRED_GROUP) {
		r = shred_group(objdir, ino + i,
		    n - i < SHRED_GROUP ? n - i : SHRED_GROUP, passes);
		if (rc == 0)
			rc = r;
	}
	return rc;
}

int
rfs_obj_shred(int objdir, uint64_t ino, int passes)
{
	return rfs_obj_shred_many(objdir, &ino, 1, passes);
}
