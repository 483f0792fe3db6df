/*
 * fuzz_object.c - libFuzzer target for reading (and then modifying) an
 * object file whose bytes are the fuzz input.
 *
 * The input becomes the object of ino 7 in a temporary objects directory;
 * it is opened with a fixed file key (32 bytes of 0x5a, the key of the
 * seeds in corpus/object) twice: with catalog size 0 (the size comes from
 * the object's length) and with a catalog size beyond it (holes, short
 * records at a block that should be full).  Everything is read in odd-
 * sized pieces; then a write and two truncates run against whatever the
 * blocks hold.  Checked: no crash, leak or sanitizer report; the size rule
 * (max of catalog and object); reads return the asked length clipped at
 * EOF, or -EIO; and a later read of untouched data agrees with the first.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rfs/object.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define INO 7

static char dir[64], path[128];
static int objdir = -1;

static int
rm_one(const char *p, const struct stat *sb, int type, struct FTW *f)
{
	return remove(p);
}

static void
cleanup(void)
{
	if (objdir >= 0)
		close(objdir);
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	char rel[32], sub[96];

	if (rfs_crypto_init() != 0)
		abort();
	snprintf(dir, sizeof(dir), "/tmp/rfs-fuzz-object.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	rfs_obj_path(INO, rel, sizeof(rel));
	snprintf(sub, sizeof(sub), "%s/%.2s", dir, rel);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (mkdir(sub, 0700) != 0)
		abort();
	objdir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (objdir < 0)
		abort();
}

static struct rfs_key *
file_key(void)
{
	struct rfs_key *k = rfs_key_new();

	if (k == NULL)
		abort();
	memset(k->k, 0x5a, sizeof(k->k));
	return k;
}

/* Reads O whole in pieces of STEP bytes into OUT (o->size bytes);
 * returns a bitmap-ish count of failed pieces. */
static int
read_all(struct rfs_obj *o, unsigned char *out, size_t step)
{
	int failed = 0;

	for (uint64_t off = 0; off < o->size; off += step) {
		size_t want = o->size - off < step ? (size_t)(o->size - off) :
		    step;
		ssize_t n = rfs_obj_read(o, out + off, step, off);

		if (n == -EIO) {
			memset(out + off, 0xee, want);
			failed++;
		} else if (n != (ssize_t)want) {
			abort();
		}
	}
	/* At and past EOF. */
	if (rfs_obj_read(o, out, 1, o->size) != 0 ||
	    rfs_obj_read(o, out, 1, o->size + RFS_BLOCK) != 0)
		abort();
	return failed;
}

static void
one_pass(uint64_t catsize, size_t size, unsigned seed)
{
	struct rfs_obj *o = NULL;
	unsigned char *a, *b;
	uint64_t stored = 0, want;
	int rc;

	if (rfs_obj_stored_size(objdir, INO, &stored) != 0)
		abort();
	rc = rfs_obj_open(objdir, INO, 0, file_key(), catsize, &o);
	if (rc != 0 || o == NULL)
		abort();
	want = stored > catsize ? stored : catsize;
	if (o->size != want)
		abort();
	a = malloc(o->size + 1);
	b = malloc(o->size + 1);
	if (a == NULL || b == NULL)
		abort();
	/* Whole blocks, then odd pieces crossing every boundary: a piece
	 * fails exactly when it touches a bad block, so where both reads
	 * succeeded they must agree. */
	(void)read_all(o, a, RFS_BLOCK);
	(void)read_all(o, b, 1000 + seed % 3000);
	for (uint64_t i = 0; i < o->size; i++)
		if (a[i] != 0xee && b[i] != 0xee && a[i] != b[i])
			abort();
	free(a);
	free(b);
	/* Writes and truncates over whatever is there. */
	{
		unsigned char buf[300];
		uint64_t off = o->size ? (seed * 2654435761u) % (o->size + 10) :
		    seed % 5000;
		ssize_t n;

		memset(buf, (int)(seed & 0xff), sizeof(buf));
		n = rfs_obj_write(o, buf, sizeof(buf), off);
		if (n != (ssize_t)sizeof(buf) && n != -EIO)
			abort();
		if (n > 0) {
			unsigned char back[300];

			if (rfs_obj_read(o, back, sizeof(back), off) ==
			    (ssize_t)sizeof(back) &&
			    memcmp(back, buf, sizeof(back)) != 0)
				abort();
		}
		rc = rfs_obj_truncate(o, o->size / 2 + 1);
		if (rc != 0 && rc != -EIO)
			abort();
		rc = rfs_obj_truncate(o, o->size + RFS_BLOCK + 17);
		if (rc != 0 && rc != -EIO)
			abort();
		(void)rfs_obj_read(o, buf, sizeof(buf), 0);
	}
	rfs_obj_close(o);
	(void)size;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned seed = 0;
	int fd;

	if (objdir < 0)
		setup();
	/* Keep each run small: at most 16 records. */
	if (size > 16 * RFS_RECORD)
		return 0;
	for (size_t i = 0; i < size && i < 64; i++)
		seed = seed * 31 + data[i];
	for (int pass = 0; pass < 2; pass++) {
		uint64_t stored = 0;

		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			abort();
		if (size > 0 && write(fd, data, size) != (ssize_t)size)
			abort();
		close(fd);
		if (rfs_obj_stored_size(objdir, INO, &stored) != 0)
			abort();
		one_pass(pass == 0 ? 0 : stored + 1 + seed % (3 * RFS_BLOCK),
		    size, seed);
	}
	/* Shredding (no overwrite passes: no fsync per run) removes it. */
	if (rfs_obj_shred(objdir, INO, 0) != 0 || access(path, F_OK) == 0)
		abort();
	return 0;
}
