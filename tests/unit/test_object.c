/*
 * test_object.c - block-encrypted objects against a plain model buffer:
 * random writes, reads and truncates (holes, block boundaries, reopen),
 * the logical size rule, and tamper detection per record.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "rfs/crypto.h"
#include "rfs/object.h"
#include "rfs/ulog.h"

#include "harness.h"

#define MODEL_MAX (64 * 1024)

static char tmpdir[64];
static int objdir = -1;

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	return remove(path);
}

static void
rm_rf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh objects directory with the XX/ subdirectories of inos 0..63. */
static int
setup(void)
{
	char sub[8];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rfs-test-object.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	objdir = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (objdir < 0)
		return -1;
	for (int i = 0; i < 64; i++) {
		snprintf(sub, sizeof(sub), "%02x", i);
		if (mkdirat(objdir, sub, 0700) != 0)
			return -1;
	}
	return 0;
}

static void
teardown(void)
{
	if (objdir >= 0)
		close(objdir);
	objdir = -1;
	rm_rf(tmpdir);
}

static struct rfs_key *
file_key(unsigned char fill)
{
	struct rfs_key *k = rfs_key_new();

	if (k != NULL)
		memset(k->k, fill, sizeof(k->k));
	return k;
}

static int
open_obj(uint64_t ino, int create, unsigned char fill, uint64_t catsize,
    struct rfs_obj **o)
{
	return rfs_obj_open(objdir, ino, create, file_key(fill), catsize, o);
}

static off_t
file_len(uint64_t ino)
{
	char path[32];
	struct stat sb;

	rfs_obj_path(ino, path, sizeof(path));
	if (fstatat(objdir, path, &sb, 0) != 0)
		return -1;
	return sb.st_size;
}

/* Raw access to the object file, for tampering. */
static int
raw_rw(uint64_t ino, int write, void *buf, size_t len, off_t off)
{
	char path[32];
	ssize_t n;
	int fd;

	rfs_obj_path(ino, path, sizeof(path));
	fd = openat(objdir, path, write ? O_WRONLY : O_RDONLY);
	if (fd < 0)
		return -errno;
	n = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 13 + (i >> 9) + 1);
}

/* Reads all of O and compares it with MODEL[0..size). */
static int
matches(struct rfs_obj *o, const unsigned char *model, size_t size)
{
	static unsigned char buf[MODEL_MAX + 100];
	ssize_t n;

	if (o->size != size)
		return 0;
	memset(buf, 0xa5, sizeof(buf));
	n = rfs_obj_read(o, buf, sizeof(buf), 0);
	return n == (ssize_t)size && memcmp(buf, model, size) == 0;
}

TEST(path)
{
	char p[32];

	rfs_obj_path(1, p, sizeof(p));
	CHECK_STR(p, "01/0000000000000001");
	rfs_obj_path(0x12345678abcdefULL, p, sizeof(p));
	CHECK_STR(p, "ef/0012345678abcdef");
	rfs_obj_path(UINT64_MAX, p, sizeof(p));
	CHECK_STR(p, "ff/ffffffffffffffff");
}

TEST(create_open_empty)
{
	struct rfs_obj *o = NULL;
	unsigned char buf[16];
	uint64_t sz = 99;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(5, 0, 1, 0, &o), -ENOENT);
	CHECK(o == NULL);
	CHECK_EQ(rfs_obj_stored_size(objdir, 5, &sz), 0);
	CHECK_EQ(sz, 0);
	CHECK_EQ(rfs_obj_create(objdir, 5), 0);
	CHECK_EQ(file_len(5), 0);
	CHECK_EQ(open_obj(5, 0, 1, 0, &o), 0);
	CHECK_EQ(o->size, 0);
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 0);
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 1000), 0);
	CHECK_EQ(rfs_obj_write(o, buf, 0, 0), 0);
	CHECK_EQ(o->size, 0);
	CHECK_EQ(rfs_obj_sync(o, 0), 0);
	CHECK_EQ(rfs_obj_sync(o, 1), 0);
	rfs_obj_close(o);
	rfs_obj_close(NULL);
	/* create truncates an existing object. */
	CHECK_EQ(open_obj(5, 0, 1, 0, &o), 0);
	CHECK_EQ(rfs_obj_write(o, "abc", 3, 0), 3);
	rfs_obj_close(o);
	CHECK_EQ(file_len(5), 3 + RFS_BLOCK_OVERHEAD);
	CHECK_EQ(rfs_obj_create(objdir, 5), 0);
	CHECK_EQ(file_len(5), 0);
	teardown();
}

TEST(write_read_simple)
{
	struct rfs_obj *o = NULL;
	unsigned char buf[64];
	uint64_t sz = 0;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(7, 1, 2, 0, &o), 0);
	CHECK_EQ(rfs_obj_write(o, "hello, world", 12, 0), 12);
	CHECK_EQ(o->size, 12);
	CHECK_EQ(file_len(7), 12 + RFS_BLOCK_OVERHEAD);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 12);
	CHECK_STR((char *)buf, "hello, world");
	CHECK_EQ(rfs_obj_read(o, buf, 5, 7), 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	CHECK_EQ(rfs_obj_read(o, buf, 5, 12), 0);
	rfs_obj_close(o);
	/* Reopen: contents persist, size from the object. */
	CHECK_EQ(rfs_obj_stored_size(objdir, 7, &sz), 0);
	CHECK_EQ(sz, 12);
	CHECK_EQ(open_obj(7, 0, 2, 0, &o), 0);
	CHECK_EQ(o->size, 12);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 12);
	CHECK_STR((char *)buf, "hello, world");
	rfs_obj_close(o);
	/* Not plaintext on disk. */
	{
		unsigned char raw[52];

		CHECK_EQ(raw_rw(7, 0, raw, sizeof(raw), 0), 0);
		CHECK(memmem(raw, sizeof(raw), "hello", 5) == NULL);
	}
	/* The wrong file key cannot read it. */
	CHECK_EQ(open_obj(7, 0, 3, 0, &o), 0);
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), -EIO);
	rfs_obj_close(o);
	teardown();
}

TEST(hole_past_eof)
{
	static unsigned char buf[3 * RFS_BLOCK], zero[3 * RFS_BLOCK];
	struct rfs_obj *o = NULL;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(8, 1, 4, 0, &o), 0);
	CHECK_EQ(rfs_obj_write(o, "tail", 4, 10000), 4);
	CHECK_EQ(o->size, 10004);
	/* Blocks 0 and 1 are holes; block 2 holds 10004 - 8192 bytes. */
	CHECK_EQ(file_len(8), 2 * RFS_RECORD + (10004 - 8192) +
	    RFS_BLOCK_OVERHEAD);
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 10004);
	CHECK(memcmp(buf, zero, 10000) == 0);
	CHECK(memcmp(buf + 10000, "tail", 4) == 0);
	rfs_obj_close(o);
	CHECK_EQ(open_obj(8, 0, 4, 0, &o), 0);
	CHECK_EQ(o->size, 10004);
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 10004);
	CHECK(memcmp(buf, zero, 10000) == 0);
	CHECK(memcmp(buf + 10000, "tail", 4) == 0);
	/* Grow a partial last block by writing past it: it is re-sealed. */
	CHECK_EQ(rfs_obj_write(o, "more", 4, 20000), 4);
	CHECK_EQ(o->size, 20004);
	rfs_obj_close(o);
	CHECK_EQ(open_obj(8, 0, 4, 0, &o), 0);
	CHECK_EQ(o->size, 20004);
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 8192), 20004 - 8192);
	CHECK(memcmp(buf, zero, 10000 - 8192) == 0);
	CHECK(memcmp(buf + 10000 - 8192, "tail", 4) == 0);
	CHECK(memcmp(buf + 10004 - 8192, zero, 20000 - 10004) == 0);
	CHECK_EQ(rfs_obj_read(o, buf, 100, 20000), 4);
	CHECK(memcmp(buf, "more", 4) == 0);
	rfs_obj_close(o);
	teardown();
}

TEST(block_boundaries)
{
	static unsigned char model[5 * RFS_BLOCK], buf[5 * RFS_BLOCK],
	    data[2 * RFS_BLOCK + 10];
	static const size_t offs[] = { 0, 1, RFS_BLOCK - 1, RFS_BLOCK,
	    RFS_BLOCK + 1, 2 * RFS_BLOCK - 3 };
	static const size_t lens[] = { 1, 2, 6, RFS_BLOCK - 1, RFS_BLOCK,
	    RFS_BLOCK + 1, 2 * RFS_BLOCK + 10 };
	struct rfs_obj *o = NULL;
	size_t size = 0;
	unsigned seed = 0;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(9, 1, 5, 0, &o), 0);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			size_t off = offs[i], len = lens[j];

			fill(data, len, ++seed);
			CHECK_EQ(rfs_obj_write(o, data, len, off), len);
			memcpy(model + off, data, len);
			if (off + len > size)
				size = off + len;
			CHECK(matches(o, model, size));
			/* A read spanning the boundary. */
			if (size > RFS_BLOCK + 3) {
				CHECK_EQ(rfs_obj_read(o, buf, 7,
				    RFS_BLOCK - 3), 7);
				CHECK(memcmp(buf, model + RFS_BLOCK - 3, 7)
				    == 0);
			}
		}
	}
	rfs_obj_close(o);
	CHECK_EQ(open_obj(9, 0, 5, size, &o), 0);
	CHECK(matches(o, model, size));
	rfs_obj_close(o);
	teardown();
}

TEST(truncate_grow_shrink)
{
	static unsigned char model[3 * RFS_BLOCK], data[5000];
	struct rfs_obj *o = NULL;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(10, 1, 6, 0, &o), 0);
	fill(data, sizeof(data), 9);
	CHECK_EQ(rfs_obj_write(o, data, 5000, 0), 5000);
	memcpy(model, data, 5000);
	/* Shrink into block 0: the tail record is re-sealed shorter. */
	CHECK_EQ(rfs_obj_truncate(o, 100), 0);
	CHECK_EQ(o->size, 100);
	CHECK_EQ(file_len(10), 100 + RFS_BLOCK_OVERHEAD);
	memset(model + 100, 0, sizeof(model) - 100);
	CHECK(matches(o, model, 100));
	/* Grow: the old bytes must not come back. */
	CHECK_EQ(rfs_obj_truncate(o, 9000), 0);
	CHECK_EQ(o->size, 9000);
	CHECK(matches(o, model, 9000));
	rfs_obj_close(o);
	CHECK_EQ(open_obj(10, 0, 6, 9000, &o), 0);
	CHECK(matches(o, model, 9000));
	/* Shrink to a block multiple, then to zero. */
	CHECK_EQ(rfs_obj_truncate(o, RFS_BLOCK), 0);
	CHECK_EQ(file_len(10), RFS_RECORD);
	CHECK(matches(o, model, RFS_BLOCK));
	CHECK_EQ(rfs_obj_truncate(o, RFS_BLOCK), 0);      /* no-op */
	CHECK_EQ(rfs_obj_truncate(o, 0), 0);
	CHECK_EQ(file_len(10), 0);
	CHECK_EQ(o->size, 0);
	CHECK_EQ(rfs_obj_truncate(o, 10), 0);
	CHECK(matches(o, model + 5000, 10));              /* zeros */
	/* Write after grow at a partial tail. */
	CHECK_EQ(rfs_obj_write(o, "xy", 2, 3), 2);
	memset(model, 0, 10);
	memcpy(model + 3, "xy", 2);
	CHECK(matches(o, model, 10));
	rfs_obj_close(o);
	CHECK_EQ(open_obj(10, 0, 6, 10, &o), 0);
	CHECK(matches(o, model, 10));
	rfs_obj_close(o);
	teardown();
}

/* Random operations against a model, with reopens. */
/* What rfs_obj_state tells (known from the writes where it can be) is
 * what the disk holds. */
static int
state_is_stored(struct rfs_obj *o)
{
	unsigned char tail[RFS_NONCE_BYTES];
	uint64_t len, stored;
	int has;

	if (rfs_obj_state(o, &len, tail, &has) != 0)
		return 0;
	if (!has)
		memset(tail, 0, sizeof(tail));
	return rfs_obj_is_committed(o, len, tail, &stored) == 0;
}

TEST(random_model)
{
	static unsigned char model[MODEL_MAX], data[12000], buf[MODEL_MAX];
	struct rfs_obj *o = NULL;
	size_t size = 0;

	CHECK_EQ(setup(), 0);
	rng_state = 0x9e3779b97f4a7c15ULL;
	memset(model, 0, sizeof(model));
	CHECK_EQ(open_obj(11, 1, 7, 0, &o), 0);
	for (int step = 0; step < 400; step++) {
		unsigned op = (unsigned)(rng() % 11);

		if (op < 5) {
			size_t len = 1 + (size_t)(rng() % sizeof(data));
			size_t off = (size_t)(rng() % (MODEL_MAX - len));

			if (rng() % 3 == 0 && size > 0)    /* append-ish */
				off = size - (size_t)(rng() % (size < 50 ?
				    size : 50));
			if (off + len > MODEL_MAX)
				len = MODEL_MAX - off;
			fill(data, len, (unsigned)step);
			CHECK_EQ(rfs_obj_write(o, data, len, off), len);
			memcpy(model + off, data, len);
			if (off + len > size)
				size = off + len;
		} else if (op < 8) {
			size_t off = (size_t)(rng() % (size + 100));
			size_t len = (size_t)(rng() % 9000);
			size_t want = off >= size ? 0 :
			    (len < size - off ? len : size - off);

			memset(buf, 0x5c, len);
			CHECK_EQ(rfs_obj_read(o, buf, len, off), want);
			CHECK(memcmp(buf, model + off, want) == 0);
		} else if (op == 8) {
			size_t ns = (size_t)(rng() % MODEL_MAX);

			CHECK_EQ(rfs_obj_truncate(o, ns), 0);
			if (ns < size)
				memset(model + ns, 0, size - ns);
			size = ns;
		} else if (op == 9) {
			size_t off = (size_t)(rng() % (size + 100));
			size_t len = 1 + (size_t)(rng() % 12000);

			CHECK_EQ(rfs_obj_zero(o, off, len), 0);
			if (off < size)
				memset(model + off, 0, len < size - off ? len :
				    size - off);
		} else {
			rfs_obj_close(o);
			CHECK_EQ(open_obj(11, 0, 7, size, &o), 0);
		}
		CHECK_EQ(o->size, size);
		CHECK(state_is_stored(o));
		if (step % 25 == 0)
			CHECK(matches(o, model, size));
	}
	CHECK(matches(o, model, size));
	rfs_obj_close(o);
	CHECK_EQ(open_obj(11, 0, 7, size, &o), 0);
	CHECK(matches(o, model, size));
	rfs_obj_close(o);
	teardown();
}

/* Zeroing punches whole blocks out, re-seals the edges, never touches the
 * last record (its nonce is what the catalog checks); reserving allocates
 * without lengthening the object. */
TEST(zero_and_reserve)
{
	static unsigned char model[7 * RFS_BLOCK], rec[RFS_RECORD];
	static const unsigned char zrec[RFS_RECORD];
	unsigned char tail0[RFS_NONCE_BYTES], tail1[RFS_NONCE_BYTES];
	const size_t size = 6 * RFS_BLOCK + 100;
	struct rfs_obj *o = NULL;
	uint64_t len0, len1;
	struct stat sb0, sb1;
	char path[32];
	int has;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(12, 1, 8, 0, &o), 0);
	fill(model, size, 3);
	CHECK_EQ(rfs_obj_write(o, model, size, 0), (ssize_t)size);
	CHECK_EQ(rfs_obj_state(o, &len0, tail0, &has), 0);
	/* Bytes 1000 .. 4 blocks + 1500: blocks 1-3 whole, 0 and 4 partly. */
	CHECK_EQ(rfs_obj_zero(o, 1000, 3 * RFS_BLOCK + 500 + RFS_BLOCK), 0);
	memset(model + 1000, 0, 3 * RFS_BLOCK + 500 + RFS_BLOCK);
	CHECK(matches(o, model, size));
	for (int i = 1; i <= 3; i++) {
		CHECK_EQ(raw_rw(12, 0, rec, RFS_RECORD, (off_t)i * RFS_RECORD), 0);
		CHECK(memcmp(rec, zrec, RFS_RECORD) == 0);      /* a hole */
	}
	CHECK_EQ(raw_rw(12, 0, rec, RFS_RECORD, 0), 0);
	CHECK(memcmp(rec, zrec, RFS_RECORD) != 0);          /* re-sealed */
	/* Through the end: the last block is re-sealed, not punched. */
	CHECK_EQ(rfs_obj_zero(o, 5 * RFS_BLOCK, RFS_BLOCK + 100 + 5000), 0);
	memset(model + 5 * RFS_BLOCK, 0, RFS_BLOCK + 100);
	CHECK(matches(o, model, size));
	CHECK_EQ(o->size, size);
	CHECK_EQ(rfs_obj_state(o, &len1, tail1, &has), 0);
	CHECK_EQ(len1, len0);
	CHECK(memcmp(tail0, tail1, sizeof(tail0)) != 0);  /* last re-sealed */
	CHECK_EQ(rfs_obj_zero(o, size, 100), 0);             /* past the end */
	CHECK_EQ(rfs_obj_zero(o, 2 * RFS_BLOCK, RFS_BLOCK), 0); /* a hole */
	CHECK(matches(o, model, size));
	/* Reserving allocates space past the end; the length stays. */
	rfs_obj_path(12, path, sizeof(path));
	CHECK_EQ(fstatat(objdir, path, &sb0, 0), 0);
	CHECK_EQ(rfs_obj_reserve(o, size, 64 * RFS_BLOCK), 0);
	CHECK_EQ(fstatat(objdir, path, &sb1, 0), 0);
	CHECK_EQ(sb1.st_size, sb0.st_size);
	CHECK(sb1.st_blocks >= sb0.st_blocks + 64 * RFS_RECORD / 512);
	rfs_obj_close(o);
	CHECK_EQ(open_obj(12, 0, 8, size, &o), 0);
	CHECK(matches(o, model, size));
	rfs_obj_close(o);
	teardown();
}

TEST(size_is_max_of_catalog_and_object)
{
	static unsigned char data[2 * RFS_BLOCK], buf[20000], zero[20000];
	struct rfs_obj *o = NULL;
	uint64_t sz = 0;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(12, 1, 8, 0, &o), 0);
	fill(data, sizeof(data), 3);
	CHECK_EQ(rfs_obj_write(o, data, 6000, 0), 6000);
	rfs_obj_close(o);
	CHECK_EQ(rfs_obj_stored_size(objdir, 12, &sz), 0);
	CHECK_EQ(sz, 6000);
	/* The catalog lagging behind (crash after the write): object wins. */
	CHECK_EQ(open_obj(12, 0, 8, 100, &o), 0);
	CHECK_EQ(o->size, 6000);
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 6000);
	CHECK(memcmp(buf, data, 6000) == 0);
	/* Fill block 1, so the object ends on a block boundary. */
	CHECK_EQ(rfs_obj_write(o, data + 6000, sizeof(data) - 6000, 6000),
	    sizeof(data) - 6000);
	rfs_obj_close(o);
	CHECK_EQ(open_obj(12, 0, 8, 0, &o), 0);
	CHECK_EQ(o->size, sizeof(data));
	rfs_obj_close(o);
	/* The catalog ahead (truncate grow): the rest reads as zeros. */
	CHECK_EQ(open_obj(12, 0, 8, 15000, &o), 0);
	CHECK_EQ(o->size, 15000);
	memset(buf, 0xee, sizeof(buf));
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 15000);
	CHECK(memcmp(buf, data, sizeof(data)) == 0);
	CHECK(memcmp(buf + sizeof(data), zero, 15000 - sizeof(data)) == 0);
	/* Writing in the zero tail keeps both. */
	CHECK_EQ(rfs_obj_write(o, "z", 1, 14000), 1);
	rfs_obj_close(o);
	CHECK_EQ(open_obj(12, 0, 8, 15000, &o), 0);
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 15000);
	CHECK(memcmp(buf, data, sizeof(data)) == 0);
	CHECK_EQ(buf[14000], 'z');
	CHECK(memcmp(buf + sizeof(data), zero, 14000 - sizeof(data)) == 0);
	CHECK(memcmp(buf + 14001, zero, 15000 - 14001) == 0);
	rfs_obj_close(o);
	teardown();
}

TEST(size_from_length)
{
	struct rfs_obj *o = NULL;
	unsigned char junk[RFS_RECORD];
	uint64_t sz = 1;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(rfs_obj_create(objdir, 13), 0);
	memset(junk, 0, sizeof(junk));
	/* A trailing fragment no longer than the overhead holds no data. */
	CHECK_EQ(raw_rw(13, 1, junk, RFS_BLOCK_OVERHEAD, 0), 0);
	CHECK_EQ(rfs_obj_stored_size(objdir, 13, &sz), 0);
	CHECK_EQ(sz, 0);
	CHECK_EQ(raw_rw(13, 1, junk, RFS_BLOCK_OVERHEAD + 1, 0), 0);
	CHECK_EQ(rfs_obj_stored_size(objdir, 13, &sz), 0);
	CHECK_EQ(sz, 1);
	CHECK_EQ(raw_rw(13, 1, junk, RFS_RECORD, 0), 0);
	CHECK_EQ(raw_rw(13, 1, junk, 10, RFS_RECORD), 0);
	CHECK_EQ(rfs_obj_stored_size(objdir, 13, &sz), 0);
	CHECK_EQ(sz, RFS_BLOCK);
	CHECK_EQ(open_obj(13, 0, 9, 0, &o), 0);
	CHECK_EQ(o->size, RFS_BLOCK);
	rfs_obj_close(o);
	teardown();
}

/* Writes three full blocks and a short fourth to INO. */
static int
three_and_a_bit(uint64_t ino, unsigned char fill_key, unsigned char *model)
{
	struct rfs_obj *o = NULL;
	int rc;

	fill(model, 3 * RFS_BLOCK + 500, (unsigned)ino);
	if ((rc = open_obj(ino, 1, fill_key, 0, &o)) != 0)
		return rc;
	rc = rfs_obj_write(o, model, 3 * RFS_BLOCK + 500, 0) ==
	    3 * RFS_BLOCK + 500 ? 0 : -EIO;
	rfs_obj_close(o);
	return rc;
}

TEST(tampered_record_fails_alone)
{
	static unsigned char model[4 * RFS_BLOCK], buf[4 * RFS_BLOCK];
	struct rfs_obj *o = NULL;
	unsigned char b;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(three_and_a_bit(20, 10, model), 0);
	/* Flip one ciphertext byte of record 1. */
	CHECK_EQ(raw_rw(20, 0, &b, 1, RFS_RECORD + 1000), 0);
	b ^= 0x01;
	CHECK_EQ(raw_rw(20, 1, &b, 1, RFS_RECORD + 1000), 0);
	CHECK_EQ(open_obj(20, 0, 10, 0, &o), 0);
	CHECK_EQ(o->size, 3 * RFS_BLOCK + 500);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK, RFS_BLOCK), -EIO);
	CHECK_EQ(rfs_obj_read(o, buf, 10, RFS_BLOCK + 4000), -EIO);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK, 0), RFS_BLOCK);
	CHECK(memcmp(buf, model, RFS_BLOCK) == 0);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK, 2 * RFS_BLOCK), RFS_BLOCK);
	CHECK(memcmp(buf, model + 2 * RFS_BLOCK, RFS_BLOCK) == 0);
	CHECK_EQ(rfs_obj_read(o, buf, 500, 3 * RFS_BLOCK), 500);
	CHECK(memcmp(buf, model + 3 * RFS_BLOCK, 500) == 0);
	/* A read that reaches the bad block fails as a whole: a short read
	 * would look like EOF to FUSE. */
	CHECK_EQ(rfs_obj_read(o, buf, 2 * RFS_BLOCK, 100), -EIO);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK - 100, 100), RFS_BLOCK - 100);
	CHECK(memcmp(buf, model + 100, RFS_BLOCK - 100) == 0);
	/* A write that keeps part of the bad block cannot, one that replaces
	 * it wholly heals it. */
	CHECK_EQ(rfs_obj_write(o, "x", 1, RFS_BLOCK + 5), -EIO);
	CHECK_EQ(rfs_obj_write(o, model + RFS_BLOCK, RFS_BLOCK, RFS_BLOCK),
	    RFS_BLOCK);
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 3 * RFS_BLOCK + 500);
	CHECK(memcmp(buf, model, 3 * RFS_BLOCK + 500) == 0);
	rfs_obj_close(o);
	teardown();
}

TEST(tampered_nonce_and_tag)
{
	static unsigned char model[4 * RFS_BLOCK], buf[RFS_BLOCK];
	static const off_t where[] = { 0, RFS_NONCE_BYTES - 1,
	    RFS_NONCE_BYTES, RFS_RECORD - 1 };
	struct rfs_obj *o = NULL;
	unsigned char b;

	CHECK_EQ(setup(), 0);
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		CHECK_EQ(three_and_a_bit(21, 11, model), 0);
		CHECK_EQ(raw_rw(21, 0, &b, 1, where[i]), 0);
		b ^= 0x80;
		CHECK_EQ(raw_rw(21, 1, &b, 1, where[i]), 0);
		CHECK_EQ(open_obj(21, 0, 11, 0, &o), 0);
		CHECK_EQ(rfs_obj_read(o, buf, 1, 0), -EIO);
		CHECK_EQ(rfs_obj_read(o, buf, 1, RFS_BLOCK), 1);
		rfs_obj_close(o);
	}
	/* The last, short record too. */
	CHECK_EQ(three_and_a_bit(21, 11, model), 0);
	CHECK_EQ(raw_rw(21, 0, &b, 1, 3 * RFS_RECORD + 30), 0);
	b ^= 0x02;
	CHECK_EQ(raw_rw(21, 1, &b, 1, 3 * RFS_RECORD + 30), 0);
	CHECK_EQ(open_obj(21, 0, 11, 0, &o), 0);
	CHECK_EQ(rfs_obj_read(o, buf, 10, 3 * RFS_BLOCK), -EIO);
	CHECK_EQ(rfs_obj_read(o, buf, 10, 2 * RFS_BLOCK), 10);
	rfs_obj_close(o);
	teardown();
}

TEST(record_moved_within_file)
{
	static unsigned char model[4 * RFS_BLOCK], rec[RFS_RECORD],
	    buf[RFS_BLOCK];
	struct rfs_obj *o = NULL;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(three_and_a_bit(22, 12, model), 0);
	CHECK_EQ(raw_rw(22, 0, rec, RFS_RECORD, 0), 0);
	CHECK_EQ(raw_rw(22, 1, rec, RFS_RECORD, RFS_RECORD), 0);
	CHECK_EQ(open_obj(22, 0, 12, 0, &o), 0);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK, 0), RFS_BLOCK);
	CHECK(memcmp(buf, model, RFS_BLOCK) == 0);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK, RFS_BLOCK), -EIO);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK, 2 * RFS_BLOCK), RFS_BLOCK);
	rfs_obj_close(o);
	/* Swapping two records fails both. */
	CHECK_EQ(three_and_a_bit(22, 12, model), 0);
	{
		static unsigned char r2[RFS_RECORD];

		CHECK_EQ(raw_rw(22, 0, rec, RFS_RECORD, 0), 0);
		CHECK_EQ(raw_rw(22, 0, r2, RFS_RECORD, 2 * RFS_RECORD), 0);
		CHECK_EQ(raw_rw(22, 1, r2, RFS_RECORD, 0), 0);
		CHECK_EQ(raw_rw(22, 1, rec, RFS_RECORD, 2 * RFS_RECORD), 0);
	}
	CHECK_EQ(open_obj(22, 0, 12, 0, &o), 0);
	CHECK_EQ(rfs_obj_read(o, buf, 1, 0), -EIO);
	CHECK_EQ(rfs_obj_read(o, buf, 1, 2 * RFS_BLOCK), -EIO);
	CHECK_EQ(rfs_obj_read(o, buf, 1, RFS_BLOCK), 1);
	rfs_obj_close(o);
	teardown();
}

TEST(record_from_other_object)
{
	static unsigned char m1[4 * RFS_BLOCK], m2[4 * RFS_BLOCK],
	    rec[RFS_RECORD], buf[RFS_BLOCK];
	struct rfs_obj *o = NULL;

	CHECK_EQ(setup(), 0);
	/* Same file key on purpose: only the ino binding stops the swap. */
	CHECK_EQ(three_and_a_bit(23, 13, m1), 0);
	CHECK_EQ(three_and_a_bit(24, 13, m2), 0);
	CHECK_EQ(raw_rw(24, 0, rec, RFS_RECORD, RFS_RECORD), 0);
	CHECK_EQ(raw_rw(23, 1, rec, RFS_RECORD, RFS_RECORD), 0);
	CHECK_EQ(open_obj(23, 0, 13, 0, &o), 0);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK, RFS_BLOCK), -EIO);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK, 0), RFS_BLOCK);
	CHECK(memcmp(buf, m1, RFS_BLOCK) == 0);
	rfs_obj_close(o);
	/* And a whole object copied over another. */
	CHECK_EQ(three_and_a_bit(23, 13, m1), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(raw_rw(24, 0, rec, RFS_RECORD, i * RFS_RECORD), 0);
		CHECK_EQ(raw_rw(23, 1, rec, RFS_RECORD, i * RFS_RECORD), 0);
	}
	CHECK_EQ(open_obj(23, 0, 13, 0, &o), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(rfs_obj_read(o, buf, 1, (uint64_t)i * RFS_BLOCK),
		    -EIO);
	rfs_obj_close(o);
	teardown();
}

TEST(zero_record_is_hole)
{
	static unsigned char model[4 * RFS_BLOCK], rec[RFS_RECORD],
	    buf[4 * RFS_BLOCK];
	struct rfs_obj *o = NULL;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(three_and_a_bit(25, 14, model), 0);
	memset(rec, 0, sizeof(rec));
	CHECK_EQ(raw_rw(25, 1, rec, RFS_RECORD, RFS_RECORD), 0);
	memset(model + RFS_BLOCK, 0, RFS_BLOCK);
	CHECK_EQ(open_obj(25, 0, 14, 0, &o), 0);
	memset(buf, 0xcc, sizeof(buf));
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), 3 * RFS_BLOCK + 500);
	CHECK(memcmp(buf, model, 3 * RFS_BLOCK + 500) == 0);
	/* Partially zero is not a hole. */
	rfs_obj_close(o);
	CHECK_EQ(raw_rw(25, 1, rec, 100, 2 * RFS_RECORD), 0);
	CHECK_EQ(open_obj(25, 0, 14, 0, &o), 0);
	CHECK_EQ(rfs_obj_read(o, buf, 1, 2 * RFS_BLOCK), -EIO);
	rfs_obj_close(o);
	teardown();
}

TEST(torn_tail)
{
	static unsigned char model[4 * RFS_BLOCK], buf[RFS_BLOCK];
	struct rfs_obj *o = NULL;
	char path[32];

	CHECK_EQ(setup(), 0);
	CHECK_EQ(three_and_a_bit(26, 15, model), 0);
	/* The object loses the last 10 bytes of its last record, while the
	 * catalog still knows the full size. */
	rfs_obj_path(26, path, sizeof(path));
	{
		int fd = openat(objdir, path, O_WRONLY);

		CHECK(fd >= 0);
		CHECK_EQ(ftruncate(fd, 3 * RFS_RECORD + 500 +
		    RFS_BLOCK_OVERHEAD - 10), 0);
		close(fd);
	}
	CHECK_EQ(open_obj(26, 0, 15, 3 * RFS_BLOCK + 500, &o), 0);
	CHECK_EQ(o->size, 3 * RFS_BLOCK + 500);
	CHECK_EQ(rfs_obj_read(o, buf, 10, 3 * RFS_BLOCK), -EIO);
	CHECK_EQ(rfs_obj_read(o, buf, 10, 2 * RFS_BLOCK), 10);
	rfs_obj_close(o);
	teardown();
}

/*
 * A write far past a partial last block re-seals that block at its grown
 * length first.  If the write then fails (here at the file size limit, as
 * it would on a full disk), the block must be put back as it was: else
 * it stays longer than the size says and fails authentication.
 */
TEST(failed_write_keeps_tail)
{
	static unsigned char data[5000], buf[5000];
	struct rlimit old, lim;
	struct rfs_obj *o = NULL;
	void (*prev)(int);

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(28, 1, 17, 0, &o), 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 1);
	CHECK_EQ(rfs_obj_write(o, data, sizeof(data), 0), (ssize_t)sizeof(data));
	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4 * RFS_RECORD;
	prev = signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	CHECK(rfs_obj_write(o, "late", 4, 10 * RFS_BLOCK) < 0);
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	CHECK_EQ(o->size, sizeof(data));
	CHECK_EQ(file_len(28), RFS_RECORD + (sizeof(data) - RFS_BLOCK) +
	    RFS_BLOCK_OVERHEAD);
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CHECK(memcmp(buf, data, sizeof(data)) == 0);
	/* And the file goes on: an append into the same block. */
	CHECK_EQ(rfs_obj_write(o, "more", 4, sizeof(data)), 4);
	CHECK_EQ(rfs_obj_read(o, buf, 4, sizeof(data)), 4);
	CHECK(memcmp(buf, "more", 4) == 0);
	rfs_obj_close(o);
	teardown();
}

TEST(write_overflow)
{
	struct rfs_obj *o = NULL;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(27, 1, 16, 0, &o), 0);
	CHECK_EQ(rfs_obj_write(o, "ab", 2, UINT64_MAX), -EFBIG);
	CHECK_EQ(rfs_obj_write(o, "ab", 2, UINT64_MAX - 1), -EFBIG);
	CHECK_EQ(o->size, 0);
	/* Past the largest size a record offset can address. */
	CHECK_EQ(rfs_obj_write(o, "ab", 2, RFS_OBJ_MAX_SIZE - 1), -EFBIG);
	CHECK_EQ(rfs_obj_truncate(o, RFS_OBJ_MAX_SIZE + 1), -EFBIG);
	CHECK_EQ(rfs_obj_reserve(o, RFS_OBJ_MAX_SIZE, 1), -EFBIG);
	CHECK_EQ(rfs_obj_truncate(o, RFS_OBJ_MAX_SIZE), 0);
	CHECK_EQ(o->size, RFS_OBJ_MAX_SIZE);
	CHECK_EQ(file_len(27), 0);
	CHECK_EQ(rfs_obj_truncate(o, 0), 0);
	rfs_obj_close(o);
	teardown();
}

/* Shrinking into a hole past the object's end: the new last block stays a
 * hole (nothing is sealed there), and the object is never lengthened for
 * it beyond what a cut at a block boundary needs. */
TEST(shrink_into_hole)
{
	static unsigned char model[8 * RFS_BLOCK];
	struct rfs_obj *o = NULL;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(open_obj(28, 1, 17, 0, &o), 0);
	fill(model, 100, 3);
	CHECK_EQ(rfs_obj_write(o, model, 100, 0), 100);
	CHECK_EQ(rfs_obj_truncate(o, 8 * RFS_BLOCK), 0);
	CHECK_EQ(file_len(28), RFS_RECORD);     /* the grown first block */
	CHECK_EQ(rfs_obj_truncate(o, 5 * RFS_BLOCK + 7), 0);
	/* Cut where block 5 starts; block 5 is still a hole. */
	CHECK_EQ(file_len(28), 5 * RFS_RECORD);
	CHECK(matches(o, model, 5 * RFS_BLOCK + 7));
	CHECK_EQ(rfs_obj_truncate(o, 3 * RFS_BLOCK), 0);
	CHECK_EQ(file_len(28), 3 * RFS_RECORD);
	CHECK(matches(o, model, 3 * RFS_BLOCK));
	rfs_obj_close(o);
	CHECK_EQ(open_obj(28, 0, 17, 3 * RFS_BLOCK, &o), 0);
	CHECK(matches(o, model, 3 * RFS_BLOCK));
	CHECK_EQ(rfs_obj_write(o, "z", 1, 3 * RFS_BLOCK), 1);
	model[3 * RFS_BLOCK] = 'z';
	CHECK(matches(o, model, 3 * RFS_BLOCK + 1));
	rfs_obj_close(o);
	teardown();
}

TEST(shred)
{
	static unsigned char model[4 * RFS_BLOCK];
	struct rfs_obj *o = NULL;
	uint64_t sz = 1;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(three_and_a_bit(28, 17, model), 0);
	CHECK(file_len(28) > 0);
	CHECK_EQ(rfs_obj_shred(objdir, 28, 1), 0);
	CHECK_EQ(file_len(28), -1);
	CHECK_EQ(rfs_obj_stored_size(objdir, 28, &sz), 0);
	CHECK_EQ(sz, 0);
	CHECK_EQ(open_obj(28, 0, 17, 0, &o), -ENOENT);
	/* Missing is fine; zero passes just unlinks. */
	CHECK_EQ(rfs_obj_shred(objdir, 28, 1), 0);
	CHECK_EQ(three_and_a_bit(28, 17, model), 0);
	CHECK_EQ(rfs_obj_shred(objdir, 28, 0), 0);
	CHECK_EQ(file_len(28), -1);
	CHECK_EQ(rfs_obj_create(objdir, 28), 0);
	CHECK_EQ(rfs_obj_shred(objdir, 28, 1), 0);
	CHECK_EQ(file_len(28), -1);
	teardown();
}

/* Pages of FD's [OFF, OFF + LEN) in the page cache (-1: cannot tell);
 * OFF is page-aligned. */
static long
resident(int fd, off_t off, size_t len)
{
	size_t pages = (len + 4095) / 4096;
	unsigned char *vec = malloc(pages);
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);
	long n = -1;

	if (vec != NULL && m != MAP_FAILED && mincore(m, len, vec) == 0) {
		n = 0;
		for (size_t i = 0; i < pages; i++)
			n += vec[i] & 1;
	}
	if (m != MAP_FAILED)
		munmap(m, len);
	free(vec);
	return n;
}

/*
 * A streaming writer's older ciphertext leaves the backing's page cache
 * (write_behind in object.c): 40 MiB written in 1 MiB pieces, pairs
 * swapped as the kernel's concurrent write-back delivers them, leave the
 * last piece in the cache and, once synced, the first 8 MiB out of it; a
 * scattered writer's pages stay.  Everything reads back.
 */
TEST(write_behind_drops_a_stream)
{
	const size_t piece = 1 << 20, n = 40;
	unsigned char *buf = malloc(piece), *back = malloc(piece);
	struct rfs_obj *o = NULL;
	struct statfs sf;
	long r;

	CHECK(buf != NULL && back != NULL);
	CHECK_EQ(setup(), 0);
	CHECK_EQ(fstatfs(objdir, &sf), 0);
	if (sf.f_type == TMPFS_MAGIC) {
		printf("note: tmpfs keeps every page: write-behind not checked\n");
		goto out;
	}
	CHECK_EQ(open_obj(9, 1, 3, 0, &o), 0);
	for (size_t k = 0; k < n; k += 2)
		for (size_t j = 2; j-- > 0;) {
			memset(buf, (int)(k + j), piece);
			CHECK_EQ(rfs_obj_write(o, buf, piece, (k + j) * piece),
			    (ssize_t)piece);
		}
	r = resident(o->fd, (off_t)((n - 1) * piece / RFS_BLOCK * RFS_RECORD)
	    & ~(off_t)4095, piece);
	CHECK(r > 200);
	/* Write-behind does not wait for the disk: what was still being
	 * written at its mark stays until the data is synced. */
	CHECK_EQ(rfs_obj_sync(o, 1), 0);
	rfs_obj_drop_written(o);
	r = resident(o->fd, 0, 8 << 20);
	CHECK(r >= 0 && r < 256);           /* of 2,048 pages */
	for (size_t k = 0; k < n; k += 13) {
		CHECK_EQ(rfs_obj_read(o, back, piece, k * piece), (ssize_t)piece);
		memset(buf, (int)k, piece);
		CHECK(memcmp(back, buf, piece) == 0);
	}
	rfs_obj_close(o);
	o = NULL;
	/* Scattered 1 MiB writes, 16 MiB apart: never a stream. */
	CHECK_EQ(open_obj(10, 1, 3, 0, &o), 0);
	for (size_t k = 0; k < 8; k++) {
		memset(buf, (int)k, piece);
		CHECK_EQ(rfs_obj_write(o, buf, piece, k * 16 * piece),
		    (ssize_t)piece);
	}
	r = resident(o->fd, 0, piece);
	CHECK(r > 200);
out:
	rfs_obj_close(o);
	free(buf);
	free(back);
	teardown();
}

/*
 * A child writes LEN bytes of BUF at OFF to O and is killed at byte CUT
 * of the object: RLIMIT_FSIZE cuts its pwrite there, and the next pwrite
 * raises SIGXFSZ, whose default action kills it, deterministically.
 * Closes O.  0 when the child died that way.
 */
static int
kill_in_write(struct rfs_obj *o, rlim_t cut, const void *buf, size_t len,
    uint64_t off)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct rlimit lim = { 0, 0 };

		(void)setrlimit(RLIMIT_CORE, &lim);
		lim.rlim_cur = lim.rlim_max = cut;
		signal(SIGXFSZ, SIG_DFL);
		if (setrlimit(RLIMIT_FSIZE, &lim) == 0)
			(void)rfs_obj_write(o, buf, len, off);
		_exit(0);
	}
	rfs_obj_close(o);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ ? 0 : -1;
}

/*
 * A kill part way through an append (rfs/ulog.h).  The file's last block
 * is partial, so the append rewrites the last record in place, and the
 * kill lands in the middle of it.  With the undo log, the next open puts
 * the object back as it was; without, the file's last block, data written
 * before the append, fails authentication.
 */
static int
killed_append(struct rfs_ulog *ul, uint64_t ino, const unsigned char *data,
    size_t len)
{
	struct rfs_obj *o = NULL;

	if (open_obj(ino, 1, 23, 0, &o) != 0 ||
	    rfs_obj_write(o, data, len, 0) != (ssize_t)len)
		return -1;
	o->ulog = ul;
	return kill_in_write(o, RFS_RECORD + 500, "appended", 8, len);
}

TEST(ulog_undoes_a_killed_append)
{
	static unsigned char data[5000], buf[5000];
	struct rfs_ulog *ul = NULL;
	struct rfs_obj *o = NULL;
	const off_t len = RFS_RECORD + (sizeof(data) - RFS_BLOCK) +
	    RFS_BLOCK_OVERHEAD;
	uint64_t pend;
	unsigned n;

	CHECK_EQ(setup(), 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 13 + 5);
	CHECK_EQ(rfs_ulog_open(objdir, 0, &ul), 0);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(killed_append(ul, 30, data, sizeof(data)), 0);
	/* The kill left a torn last record, and the slot in use. */
	CHECK_EQ(open_obj(30, 0, 23, sizeof(data), &o), 0);
	CHECK(rfs_obj_read(o, buf, sizeof(buf), 0) < 0);
	rfs_obj_close(o);
	rfs_ulog_close(ul);
	CHECK_EQ(rfs_ulog_open(objdir, 1, &ul), 0);
	CHECK_EQ(rfs_ulog_pending(ul, 30, &pend), 1);
	CHECK_EQ(pend, (uint64_t)len);
	CHECK_EQ(rfs_ulog_pending(ul, 31, &pend), 0);
	rfs_ulog_close(ul);
	/* The next read-write open undoes it. */
	CHECK_EQ(rfs_ulog_open(objdir, 0, &ul), 0);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(file_len(30), len);
	CHECK_EQ(open_obj(30, 0, 23, sizeof(data), &o), 0);
	CHECK_EQ(rfs_obj_read(o, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CHECK(memcmp(buf, data, sizeof(data)) == 0);
	rfs_obj_close(o);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	CHECK_EQ(n, 0);
	/*
	 * After a reboot the log on disk may hold a note older than the
	 * object (write-back took the page while a write was in flight, and
	 * not since): such notes are dropped, never undone.
	 */
	CHECK_EQ(killed_append(ul, 32, data, sizeof(data)), 0);
	rfs_ulog_close(ul);
	{
		unsigned char other[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
		int fd = openat(objdir, RFS_ULOG_FILE, O_WRONLY);

		CHECK(fd >= 0);
		CHECK_EQ(pwrite(fd, other, sizeof(other), 8),
		    (ssize_t)sizeof(other));
		close(fd);
	}
	CHECK_EQ(rfs_ulog_open(objdir, 1, &ul), 0);
	CHECK_EQ(rfs_ulog_pending(ul, 32, &pend), 0);
	rfs_ulog_close(ul);
	CHECK_EQ(rfs_ulog_open(objdir, 0, &ul), 0);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(open_obj(32, 0, 23, sizeof(data), &o), 0);
	CHECK(rfs_obj_read(o, buf, sizeof(buf), 0) < 0);
	rfs_obj_close(o);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	CHECK_EQ(n, 0);
	/* Without the log, the same kill costs the last block. */
	CHECK_EQ(killed_append(NULL, 31, data, sizeof(data)), 0);
	CHECK_EQ(open_obj(31, 0, 23, sizeof(data), &o), 0);
	CHECK(rfs_obj_read(o, buf, sizeof(buf), 0) < 0);
	CHECK_EQ(rfs_obj_read(o, buf, RFS_BLOCK, 0), RFS_BLOCK);
	rfs_obj_close(o);
	rfs_ulog_close(ul);
	teardown();
}

/*
 * A kill inside a rewrite in the middle of a file (rfs/ulog.h).  The child
 * overwrites bytes [OFF, OFF + LEN) of an object of SIZE bytes and is
 * killed at byte CUT (kill_in_write).  Fills OLD and NEW with the
 * contents before and after.
 */
static int
killed_rewrite(struct rfs_ulog *ul, uint64_t ino, size_t size, size_t off,
    size_t len, rlim_t cut, unsigned char *old, unsigned char *new)
{
	struct rfs_obj *o = NULL;

	for (size_t i = 0; i < size; i++)
		old[i] = (unsigned char)(i * 7 + ino);
	memcpy(new, old, size);
	for (size_t i = off; i < off + len; i++)
		new[i] = (unsigned char)(i * 11 + 3);
	if (open_obj(ino, 1, 29, 0, &o) != 0 ||
	    rfs_obj_write(o, old, size, 0) != (ssize_t)size)
		return -1;
	o->ulog = ul;
	return kill_in_write(o, cut, new + off, len, off);
}

/* Every block of INO reads, each either all old or all new. */
static int
blocks_old_or_new(uint64_t ino, size_t size, const unsigned char *old,
    const unsigned char *new, size_t *n_new)
{
	unsigned char buf[RFS_BLOCK];
	struct rfs_obj *o = NULL;
	int ok = 1;

	*n_new = 0;
	if (open_obj(ino, 0, 29, size, &o) != 0)
		return 0;
	for (size_t b = 0; b * RFS_BLOCK < size && ok; b++) {
		size_t n = size - b * RFS_BLOCK < RFS_BLOCK ?
		    size - b * RFS_BLOCK : RFS_BLOCK;

		if (rfs_obj_read(o, buf, n, b * RFS_BLOCK) != (ssize_t)n)
			ok = 0;
		else if (memcmp(buf, new + b * RFS_BLOCK, n) == 0 &&
		    memcmp(buf, old + b * RFS_BLOCK, n) != 0)
			(*n_new)++;
		else if (memcmp(buf, old + b * RFS_BLOCK, n) != 0)
			ok = 0;
	}
	rfs_obj_close(o);
	return ok;
}

TEST(ulog_undoes_a_killed_rewrite)
{
	static unsigned char old[40 * RFS_BLOCK + 1000],
	    new[40 * RFS_BLOCK + 1000];
	const size_t size = sizeof(old);
	struct rfs_ulog *ul = NULL;
	size_t n_new;
	unsigned n;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(rfs_ulog_open(objdir, 0, &ul), 0);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	/* Within one piece: blocks 0-3, cut inside record 1. */
	CHECK_EQ(killed_rewrite(ul, 33, size, 100, 3 * RFS_BLOCK,
	    RFS_RECORD + 500, old, new), 0);
	CHECK(!blocks_old_or_new(33, size, old, new, &n_new));
	rfs_ulog_close(ul);
	CHECK_EQ(rfs_ulog_open(objdir, 0, &ul), 0);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	CHECK_EQ(n, 1);
	CHECK(blocks_old_or_new(33, size, old, new, &n_new));
	CHECK_EQ(n_new, 0);
	/* Across pieces: blocks 0-29, cut inside record 19 (the fourth
	 * piece of six records). */
	CHECK_EQ(killed_rewrite(ul, 34, size, 0, 30 * RFS_BLOCK,
	    19 * RFS_RECORD + 700, old, new), 0);
	CHECK(!blocks_old_or_new(34, size, old, new, &n_new));
	rfs_ulog_close(ul);
	CHECK_EQ(rfs_ulog_open(objdir, 0, &ul), 0);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	CHECK_EQ(n, 1);
	CHECK(blocks_old_or_new(34, size, old, new, &n_new));
	CHECK_EQ(n_new, 18);          /* the first three pieces, whole */
	/* Without the log, the same kill leaves a block that fails. */
	CHECK_EQ(killed_rewrite(NULL, 35, size, 0, 30 * RFS_BLOCK,
	    19 * RFS_RECORD + 700, old, new), 0);
	CHECK(!blocks_old_or_new(35, size, old, new, &n_new));
	rfs_ulog_close(ul);
	teardown();
}

/* A write that returns frees its slot; slots are reused; a malformed slot
 * is ignored. */
TEST(ulog_slots)
{
	static unsigned char rec[RFS_RECORD];
	struct rfs_ulog *ul = NULL;
	unsigned char bad[8];
	uint64_t pend;
	unsigned n;
	int a, b;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(rfs_ulog_open(objdir, 0, &ul), 0);
	/* Until the open's replay has claimed the log for this boot, no
	 * note is taken. */
	CHECK_EQ(rfs_ulog_begin(ul, 40, 100, 0, rec, 100), -EROFS);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	a = rfs_ulog_begin(ul, 40, 100, 0, rec, 100);
	b = rfs_ulog_begin(ul, 41, 0, 0, NULL, 0);
	CHECK(a >= 0 && b >= 0 && a != b);
	CHECK_EQ(rfs_ulog_pending(ul, 40, &pend), 1);
	CHECK_EQ(pend, 100);
	rfs_ulog_end(ul, a);
	CHECK_EQ(rfs_ulog_pending(ul, 40, &pend), 0);
	CHECK_EQ(rfs_ulog_pending(ul, 41, &pend), 1);
	CHECK_EQ(rfs_ulog_begin(ul, 42, 0, 0, NULL, 0), a);
	CHECK_EQ(rfs_ulog_begin(ul, 43, 10, 0, rec, RFS_RECORD + 1), -EINVAL);
	for (int i = 0; i < RFS_ULOG_SLOTS - 2; i++)
		CHECK(rfs_ulog_begin(ul, 50 + (uint64_t)i, 0, 0, NULL, 0) >= 0);
	rfs_ulog_close(ul);
	/* Slot 0 rewritten by hand: an impossible record length. */
	memcpy(bad, "RFSU\xff\xff\0\0", 8);
	{
		int fd = openat(objdir, RFS_ULOG_FILE, O_WRONLY);

		CHECK(fd >= 0);
		CHECK_EQ(pwrite(fd, bad, sizeof(bad), RFS_ULOG_SLOT),
		    (ssize_t)sizeof(bad));
		close(fd);
	}
	CHECK_EQ(rfs_ulog_open(objdir, 0, &ul), 0);
	CHECK_EQ(rfs_ulog_replay(ul, objdir, &n), 0);
	CHECK_EQ(n, 0);            /* their objects do not exist */
	CHECK_EQ(rfs_ulog_pending(ul, 41, &pend), 0);
	rfs_ulog_close(ul);
	teardown();
}

int
main(void)
{
	if (rfs_crypto_init() != 0)
		return 1;
	RUN_TESTS("object",
	    CASE(path),
	    CASE(create_open_empty),
	    CASE(write_read_simple),
	    CASE(hole_past_eof),
	    CASE(block_boundaries),
	    CASE(truncate_grow_shrink),
	    CASE(shrink_into_hole),
	    CASE(random_model),
	    CASE(zero_and_reserve),
	    CASE(size_is_max_of_catalog_and_object),
	    CASE(size_from_length),
	    CASE(tampered_record_fails_alone),
	    CASE(tampered_nonce_and_tag),
	    CASE(record_moved_within_file),
	    CASE(record_from_other_object),
	    CASE(zero_record_is_hole),
	    CASE(torn_tail),
	    CASE(failed_write_keeps_tail),
	    CASE(write_overflow),
	    CASE(shred),
	    CASE(write_behind_drops_a_stream),
	    CASE(ulog_undoes_a_killed_append),
	    CASE(ulog_undoes_a_killed_rewrite),
	    CASE(ulog_slots));
}
