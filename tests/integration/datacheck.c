/*
 * datacheck.c - an fsx-like random-operation data checker.
 *
 *   datacheck [-n OPS] [-s SEED] [-S MAXSIZE] [-F] FILE
 *
 * Creates (truncates) FILE and applies OPS random operations to it while
 * keeping an in-memory model of what the file must contain: pread/pwrite at
 * random offsets (some far past EOF, leaving holes; some straddling 4096-byte
 * block boundaries), ftruncate up and down, O_APPEND writes through a second
 * descriptor, MAP_SHARED writes + msync and mmap reads, reads through a fresh
 * descriptor, fallocate in every mode Linux has for regular files (allocate,
 * keep-size, punch-hole, zero-range), copy_file_range from a second file and
 * within the file, fsync/fdatasync, and close/reopen.  Every byte read is compared
 * against the model, and the size is checked after every operation.  Written
 * bytes are never zero, so stale data showing through a hole, or a hole
 * losing data, is caught.
 *
 * A fallocate mode the file system refuses with EOPNOTSUPP is skipped from
 * then on (plain tmpfs has no zero-range), unless -F says every mode must
 * work.  FILE.src is the source of the cross-file copies; it is removed at
 * the end.
 *
 * On a mismatch it prints the tail of the operation log and the first bad
 * offset and exits 1.  Exit 2 is a usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define BLK 4096
#define LOGN 64
#define LOGLEN 160

static const char *path;
static unsigned char *model;   /* expected contents, [0, maxsize) */
static unsigned char *buf;     /* scratch, maxsize bytes */
static off_t fsize;            /* expected size */
static off_t maxsize = 8 << 20;
static long opno;
static int fd = -1;
static long pagesz;

static char oplog[LOGN][LOGLEN];
static long nlogged;

static uint64_t rng;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

/* Uniform-ish in [0, n); n > 0. */
static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

static void logop(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logop(const char *fmt, ...)
{
	va_list ap;
	char *slot = oplog[nlogged % LOGN];
	int n = snprintf(slot, LOGLEN, "%6ld ", opno);

	va_start(ap, fmt);
	if (n > 0 && n < LOGLEN)
		vsnprintf(slot + n, (size_t)(LOGLEN - n), fmt, ap);
	va_end(ap);
	nlogged++;
}

static void dump_log(void)
{
	long first = nlogged > LOGN ? nlogged - LOGN : 0;

	fprintf(stderr, "datacheck: last %ld operations (op# name args):\n",
	    nlogged - first);
	for (long i = first; i < nlogged; i++)
		fprintf(stderr, "  %s\n", oplog[i % LOGN]);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	dump_log();
	fprintf(stderr, "datacheck: %s: FAILED at op %ld: ", path, opno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A non-zero byte that depends on the op and the offset. */
static unsigned char pattern(long op, off_t off)
{
	uint64_t x = (uint64_t)op * 0x9E3779B97F4A7C15ULL ^ (uint64_t)off;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 32;
	return (unsigned char)(1 + x % 255);
}

static void fill(unsigned char *p, off_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(opno, off + (off_t)i);
}

static void compare(const unsigned char *got, off_t off, size_t len,
    const char *how)
{
	for (size_t i = 0; i < len; i++) {
		if (got[i] != model[off + (off_t)i]) {
			size_t j = i;
			while (j < len && got[j] != model[off + (off_t)j])
				j++;
			die("%s: data mismatch at offset %lld (0x%llx): "
			    "expected 0x%02x, got 0x%02x; %zu bad bytes from "
			    "there (read was [%lld, +%zu), file size %lld)",
			    how, (long long)(off + (off_t)i),
			    (long long)(off + (off_t)i), model[off + (off_t)i],
			    got[i], j - i, (long long)off, len,
			    (long long)fsize);
		}
	}
}

static void do_open(void)
{
	fd = open(path, O_RDWR);
	if (fd < 0)
		die("reopen: %s", strerror(errno));
}

static void check_size(const char *after)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		die("fstat after %s: %s", after, strerror(errno));
	if (st.st_size != fsize)
		die("size after %s is %lld, expected %lld", after,
		    (long long)st.st_size, (long long)fsize);
}

static void read_exact(int rfd, off_t off, size_t len, const char *how)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(rfd, buf + done, len - done,
		    off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("%s: pread [%lld, +%zu): %s", how,
			    (long long)off, len, strerror(errno));
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	/* How much the model says is there. */
	size_t want = off >= fsize ? 0 :
	    (size_t)(fsize - off < (off_t)len ? fsize - off : (off_t)len);
	if (done != want)
		die("%s: read [%lld, +%zu) returned %zu bytes, expected %zu "
		    "(file size %lld)", how, (long long)off, len, done, want,
		    (long long)fsize);
	compare(buf, off, done, how);
}

static void write_all(int wfd, off_t off, const unsigned char *p, size_t len,
    int append, const char *how)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = append ? write(wfd, p + done, len - done) :
		    pwrite(wfd, p + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("%s [%lld, +%zu): %s", how, (long long)off, len,
			    strerror(errno));
		}
		if (n == 0)
			die("%s [%lld, +%zu): wrote 0 bytes", how,
			    (long long)off, len);
		done += (size_t)n;
	}
}

/* Model a write of LEN pattern bytes at OFF. */
static void model_write(off_t off, size_t len)
{
	fill(model + off, off, len);
	if (off + (off_t)len > fsize)
		fsize = off + (off_t)len;
}

static size_t pick_len(size_t max)
{
	size_t len;

	switch (below(4)) {
	case 0: len = 1 + below(16); break;
	case 1: len = 1 + below(BLK); break;
	case 2: len = 1 + below(4 * BLK); break;
	default: len = 1 + below(256 * 1024); break;
	}
	if (len > max)
		len = max;
	return len;
}

static void op_write(int kind)
{
	off_t off;
	size_t len;
	const char *name;

	if (kind == 0) {
		/* anywhere up to a little past EOF */
		off = (off_t)below((uint64_t)(fsize + 2 * BLK));
		name = "write";
	} else if (kind == 1) {
		/* far past EOF: leaves a hole */
		off_t room = maxsize - fsize;
		if (room < 2)
			return;
		off = fsize + 1 + (off_t)below((uint64_t)(room / 2));
		name = "write-far";
	} else {
		/* straddling or touching a block boundary */
		off_t nblk = (fsize + 4 * BLK) / BLK;
		off = (off_t)below((uint64_t)nblk) * BLK;
		off += (off_t)below(33) - 16;
		if (off < 0)
			off = 0;
		name = "write-boundary";
	}
	if (off >= maxsize - 1)
		off = maxsize - 2;
	len = kind == 2 ? 1 + below(2 * BLK + 32) :
	    pick_len((size_t)(maxsize - off));
	if (off + (off_t)len > maxsize)
		len = (size_t)(maxsize - off);
	logop("%s off %lld len %zu (size %lld)", name, (long long)off, len,
	    (long long)fsize);
	fill(buf, off, len);
	write_all(fd, off, buf, len, 0, name);
	model_write(off, len);
	check_size(name);
}

static void op_read(void)
{
	/* sometimes at or past EOF: must read short / nothing */
	off_t off = (off_t)below((uint64_t)(fsize + BLK));
	size_t len;

	if (off > maxsize - 1)
		off = maxsize - 1;
	len = pick_len((size_t)(maxsize - off));
	logop("read off %lld len %zu (size %lld)", (long long)off, len,
	    (long long)fsize);
	read_exact(fd, off, len, "read");
}

static void op_read_other(void)
{
	off_t off = fsize ? (off_t)below((uint64_t)fsize) : 0;
	size_t len = pick_len((size_t)(maxsize - off));
	int rfd;

	logop("read-newfd off %lld len %zu (size %lld)", (long long)off, len,
	    (long long)fsize);
	rfd = open(path, O_RDONLY);
	if (rfd < 0)
		die("open O_RDONLY: %s", strerror(errno));
	read_exact(rfd, off, len, "read-newfd");
	close(rfd);
}

static void op_truncate(void)
{
	off_t nsize;

	switch (below(4)) {
	case 0: nsize = 0; break;
	case 1: nsize = fsize ? (off_t)below((uint64_t)fsize) : 0; break;
	case 2: nsize = (off_t)below((uint64_t)maxsize); break;
	default:
		/* to or next to a block boundary */
		nsize = (off_t)below((uint64_t)(maxsize / BLK)) * BLK;
		nsize += (off_t)below(3) - 1;
		if (nsize < 0)
			nsize = 0;
		break;
	}
	logop("truncate %lld -> %lld", (long long)fsize, (long long)nsize);
	if (ftruncate(fd, nsize) != 0)
		die("ftruncate %lld: %s", (long long)nsize, strerror(errno));
	if (nsize < fsize)
		memset(model + nsize, 0, (size_t)(fsize - nsize));
	fsize = nsize;
	check_size("truncate");
}

static void op_append(void)
{
	size_t len;
	int afd;
	off_t pos;

	if (fsize >= maxsize - 1)
		return;
	len = pick_len((size_t)(maxsize - fsize));
	logop("append len %zu at %lld", len, (long long)fsize);
	afd = open(path, O_WRONLY | O_APPEND);
	if (afd < 0)
		die("open O_APPEND: %s", strerror(errno));
	/* O_APPEND must ignore the current position. */
	if (lseek(afd, 0, SEEK_SET) != 0)
		die("lseek on O_APPEND fd: %s", strerror(errno));
	fill(buf, fsize, len);
	write_all(afd, fsize, buf, len, 1, "append");
	model_write(fsize, len);
	pos = lseek(afd, 0, SEEK_CUR);
	if (pos != fsize)
		die("after append the fd offset is %lld, expected %lld",
		    (long long)pos, (long long)fsize);
	if (close(afd) != 0)
		die("close O_APPEND fd: %s", strerror(errno));
	check_size("append");
}

static void op_mmap(int writing)
{
	off_t off, start;
	size_t len, maplen;
	unsigned char *m;

	if (fsize == 0)
		return;
	off = (off_t)below((uint64_t)fsize);
	len = pick_len((size_t)(fsize - off));
	start = off - off % pagesz;
	maplen = (size_t)(off - start) + len;
	logop("%s off %lld len %zu (size %lld)",
	    writing ? "mmap-write" : "mmap-read", (long long)off, len,
	    (long long)fsize);
	m = mmap(NULL, maplen, writing ? PROT_READ | PROT_WRITE : PROT_READ,
	    MAP_SHARED, fd, start);
	if (m == MAP_FAILED)
		die("mmap [%lld, +%zu) %s: %s", (long long)start, maplen,
		    writing ? "PROT_WRITE MAP_SHARED" : "PROT_READ MAP_SHARED",
		    strerror(errno));
	if (writing) {
		fill(m + (off - start), off, len);
		if (msync(m, maplen, MS_SYNC) != 0)
			die("msync: %s", strerror(errno));
		model_write(off, len);
	} else {
		compare(m + (off - start), off, len, "mmap-read");
	}
	if (munmap(m, maplen) != 0)
		die("munmap: %s", strerror(errno));
	check_size(writing ? "mmap-write" : "mmap-read");
}

/* fallocate(2)'s modes for regular files. */
static const struct {
	int mode;
	const char *name;
} fmodes[] = {
	{ 0, "falloc" },
	{ FALLOC_FL_KEEP_SIZE, "falloc-keep" },
	{ FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "punch" },
	{ FALLOC_FL_ZERO_RANGE, "zero" },
	{ FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, "zero-keep" },
};
#define NFMODES (sizeof(fmodes) / sizeof(fmodes[0]))
static int funsupported[NFMODES];
static int strict_falloc;

static void op_fallocate(void)
{
	size_t i = (size_t)below(NFMODES);
	int mode = fmodes[i].mode;
	off_t off, end;
	size_t len;

	if (funsupported[i])
		return;
	off = (off_t)below((uint64_t)(fsize + 4 * BLK));
	if (below(2))
		off -= off % BLK;
	if (off >= maxsize - 1)
		off = maxsize - 2;
	len = pick_len((size_t)(maxsize - off));
	end = off + (off_t)len;
	logop("%s off %lld len %zu (size %lld)", fmodes[i].name,
	    (long long)off, len, (long long)fsize);
	if (fallocate(fd, mode, off, (off_t)len) != 0) {
		if (errno == EOPNOTSUPP && !strict_falloc) {
			funsupported[i] = 1;
			fprintf(stderr, "datacheck: %s: %s is not supported "
			    "here, skipped from now on\n", path,
			    fmodes[i].name);
			return;
		}
		die("fallocate %s [%lld, +%zu): %s", fmodes[i].name,
		    (long long)off, len, strerror(errno));
	}
	/* Zeroed within the old size; past it the model is zero already. */
	if ((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) &&
	    off < fsize)
		memset(model + off, 0, (size_t)((end < fsize ? end : fsize) -
		    off));
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > fsize)
		fsize = end;
	check_size(fmodes[i].name);
}

/* The source of cross-file copies: SRCSIZE pattern bytes in FILE.src. */
#define SRCSIZE (1 << 20)
static char *srcpath;
static int srcfd = -1;
static unsigned char *srcmodel;

static void copy_all(int from, off_t in, off_t out, size_t len,
    const char *how)
{
	loff_t io = in, oo = out;
	size_t done = 0;

	while (done < len) {
		ssize_t n = copy_file_range(from, &io, fd, &oo, len - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("%s [%lld, +%zu) -> %lld: %s", how, (long long)in,
			    len, (long long)out, strerror(errno));
		}
		if (n == 0)
			die("%s [%lld, +%zu) -> %lld: copied 0 bytes at %zu",
			    how, (long long)in, len, (long long)out, done);
		done += (size_t)n;
	}
}

/* copy_file_range from FILE.src, or (WITHIN) between two disjoint ranges
 * of FILE itself. */
static void op_copy(int within)
{
	off_t in, out;
	size_t len;

	if (within && fsize < 2)
		return;
	in = (off_t)below(within ? (uint64_t)fsize : SRCSIZE);
	out = (off_t)below((uint64_t)(fsize + 2 * BLK));
	if (out >= maxsize - 1)
		out = maxsize - 2;
	len = pick_len((size_t)(maxsize - out));
	if ((off_t)len > (within ? fsize : SRCSIZE) - in)
		len = (size_t)((within ? fsize : SRCSIZE) - in);
	if (within && out < in + (off_t)len && in < out + (off_t)len)
		return;         /* overlapping ranges: EINVAL by definition */
	logop("%s in %lld out %lld len %zu (size %lld)",
	    within ? "copy-within" : "copy-from", (long long)in,
	    (long long)out, len, (long long)fsize);
	copy_all(within ? fd : srcfd, in, out, len,
	    within ? "copy-within" : "copy-from");
	memcpy(model + out, within ? model + in : srcmodel + in, len);
	if (out + (off_t)len > fsize)
		fsize = out + (off_t)len;
	check_size(within ? "copy-within" : "copy-from");
}

static void make_source(void)
{
	size_t n = strlen(path) + sizeof(".src");

	srcpath = malloc(n);
	srcmodel = malloc(SRCSIZE);
	if (srcpath == NULL || srcmodel == NULL) {
		fprintf(stderr, "datacheck: out of memory\n");
		exit(2);
	}
	snprintf(srcpath, n, "%s.src", path);
	for (size_t i = 0; i < SRCSIZE; i++)
		srcmodel[i] = pattern(-1, (off_t)i);
	srcfd = open(srcpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (srcfd < 0 || pwrite(srcfd, srcmodel, SRCSIZE, 0) != SRCSIZE) {
		fprintf(stderr, "datacheck: %s: %s\n", srcpath,
		    strerror(errno));
		exit(2);
	}
}

static void op_sync(void)
{
	int data = (int)below(2);

	logop("%s", data ? "fdatasync" : "fsync");
	if ((data ? fdatasync(fd) : fsync(fd)) != 0)
		die("%s: %s", data ? "fdatasync" : "fsync", strerror(errno));
}

static void op_reopen(void)
{
	logop("close+reopen");
	if (close(fd) != 0)
		die("close: %s", strerror(errno));
	do_open();
	check_size("reopen");
}

static void full_check(const char *how)
{
	logop("%s (size %lld)", how, (long long)fsize);
	check_size(how);
	read_exact(fd, 0, (size_t)maxsize, how);
}

static void usage(void)
{
	fprintf(stderr, "usage: datacheck [-n OPS] [-s SEED] [-S maxsize] "
	    "[-F] FILE\n");
	exit(2);
}

static long long number(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || v < 0)
		usage();
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	default: break;
	}
	if (*end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	long nops = 10000;
	uint64_t seed = 1;
	int c;

	while ((c = getopt(argc, argv, "n:s:S:F")) != -1) {
		switch (c) {
		case 'F': strict_falloc = 1; break;
		case 'n': nops = (long)number(optarg); break;
		case 's': seed = (uint64_t)number(optarg); break;
		case 'S': maxsize = (off_t)number(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || maxsize < 2 * BLK)
		usage();
	path = argv[optind];
	pagesz = sysconf(_SC_PAGESIZE);
	rng = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
	if (rng == 0)
		rng = 1;

	model = calloc(1, (size_t)maxsize);
	buf = malloc((size_t)maxsize);
	if (!model || !buf) {
		fprintf(stderr, "datacheck: out of memory\n");
		return 2;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "datacheck: %s: %s\n", path, strerror(errno));
		return 2;
	}
	check_size("create");
	make_source();

	for (opno = 1; opno <= nops; opno++) {
		uint64_t r = below(100);

		if (r < 18)
			op_write(0);
		else if (r < 22)
			op_write(1);
		else if (r < 32)
			op_write(2);
		else if (r < 52)
			op_read();
		else if (r < 57)
			op_read_other();
		else if (r < 65)
			op_truncate();
		else if (r < 73)
			op_append();
		else if (r < 80)
			op_mmap(1);
		else if (r < 85)
			op_mmap(0);
		else if (r < 89)
			op_sync();
		else if (r < 95)
			op_reopen();
		else if (r < 96)
			full_check("full-check");
		else if (r < 98)
			op_fallocate();
		else
			op_copy(r == 98 ? 0 : 1);
	}
	full_check("final-check");
	if (close(fd) != 0)
		die("final close: %s", strerror(errno));
	do_open();
	full_check("check-after-reopen");
	close(fd);
	close(srcfd);
	if (unlink(srcpath) != 0)
		die("unlink %s: %s", srcpath, strerror(errno));
	printf("datacheck: %s: %ld ops ok (seed %" PRIu64 ", final size %lld)\n",
	    path, nops, seed, (long long)fsize);
	free(srcpath);
	free(srcmodel);
	free(model);
	free(buf);
	return 0;
}
